"""Projector benchmark: forward + adjoint (back-projection) of a parallel-beam ray-sum operator.

Cases (default): a 256² slice × 180 angles, and a 64 × 256² volume × 180 angles. Measured in one run:

- xrai ``ParallelProjector`` on numpy arrays (numba kernels) and on torch CPU tensors (numba inside autograd),
  plus the vectorised torch code that serves CUDA (timed on the CPU here, 2-D only, as a reference);
- scikit-image ``radon`` + ``iradon(filter_name=None)`` (the unfiltered back-projection), slice by slice in 3-D;
- ASTRA Toolbox CPU ``strip`` projector (the same area-exact model as ours) when ``astra`` imports; ASTRA's 3-D
  projectors need CUDA, so on the CPU it runs slice by slice too.

Every time is the best of ``--repeat`` runs after one warm-up (numba compilation excluded); ratios are peer time
divided by ours (> 1: we are faster).

    python benchmarks/bench_projector.py            # 256² × 180 angles, 64 slices
    python benchmarks/bench_projector.py --small    # 128² × 90 angles, 16 slices
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _best(function: Callable[[], Any], repeat: int) -> float:
    function()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _astra_pair(n: int, angles: np.ndarray) -> Callable[[np.ndarray], None] | None:
    try:
        import astra
    except ImportError:
        return None
    vol_geom = astra.create_vol_geom(n, n)
    proj_geom = astra.create_proj_geom("parallel", 1.0, n, angles)
    projector = astra.create_projector("strip", proj_geom, vol_geom)

    def run(image: np.ndarray) -> None:
        sino_id, sino = astra.create_sino(image, projector)
        bp_id, _ = astra.create_backprojection(sino, projector)
        astra.data2d.delete([sino_id, bp_id])

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="128² × 90 angles, 16 slices")
    parser.add_argument("--n", type=int, default=256, help="slice size (pixels)")
    parser.add_argument("--angles", type=int, default=180, help="number of angles over 180°")
    parser.add_argument("--slices", type=int, default=64, help="slices of the 3-D case")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (best reported)")
    args = parser.parse_args()
    n, n_angles, n_slices = (128, 90, 16) if args.small else (args.n, args.angles, args.slices)

    import numba
    import torch
    from skimage.transform import iradon, radon

    from xrai.ops import ParallelProjector
    from xrai.ops import projector as projector_module

    rng = np.random.default_rng(0)
    angles = np.linspace(0.0, np.pi, n_angles, endpoint=False)
    degrees = np.rad2deg(angles)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    disc = (xx**2 + yy**2 < (0.45 * n) ** 2).astype(np.float32)
    image = disc * rng.random((n, n), dtype=np.float32)
    volume = np.stack([image] * n_slices)
    op2 = ParallelProjector((n, n), angles)
    op3 = ParallelProjector((n_slices, n, n), angles)

    print(
        f"parallel-beam forward + adjoint; numba threads = {numba.get_num_threads()}, torch {torch.__version__}"
    )
    rows: list[tuple[str, str, float]] = []

    def both(op: ParallelProjector, data: Any) -> None:
        op.adjoint(op.forward(data))

    # ---------------------------------------------------------------- 2-D
    case = f"2-D {n}² × {n_angles}"
    rows.append((case, "xrai numba (numpy)", _best(lambda: both(op2, image), args.repeat)))
    image_t = torch.from_numpy(image)
    rows.append((case, "xrai torch CPU (numba in autograd)", _best(lambda: both(op2, image_t), args.repeat)))
    projector_module._TORCH_CPU_USES_NUMBA = False
    rows.append((case, "xrai torch vectorised (CUDA path) on CPU", _best(lambda: both(op2, image_t), 1)))
    projector_module._TORCH_CPU_USES_NUMBA = True
    rows.append(
        (
            case,
            "scikit-image radon + iradon(filter=None)",
            _best(
                lambda: iradon(radon(image, degrees, circle=True), degrees, filter_name=None, circle=True),
                args.repeat,
            ),
        )
    )
    astra_run = _astra_pair(n, angles)
    if astra_run is not None:
        rows.append((case, "ASTRA CPU strip", _best(lambda: astra_run(image), args.repeat)))

    # ---------------------------------------------------------------- 3-D
    case3 = f"3-D {n_slices} × {n}² × {n_angles}"
    rows.append((case3, "xrai numba (numpy)", _best(lambda: both(op3, volume), args.repeat)))
    volume_t = torch.from_numpy(volume)
    rows.append(
        (case3, "xrai torch CPU (numba in autograd)", _best(lambda: both(op3, volume_t), args.repeat))
    )

    def skimage_slices() -> None:
        for s in volume:
            iradon(radon(s, degrees, circle=True), degrees, filter_name=None, circle=True)

    rows.append((case3, "scikit-image, slice by slice", _best(skimage_slices, 1)))
    if astra_run is not None:
        rows.append(
            (case3, "ASTRA CPU strip, slice by slice", _best(lambda: [astra_run(s) for s in volume], 1))
        )

    ours = {case: rows[0][2], case3: next(t for c, name, t in rows if c == case3)}
    width = max(len(name) for _, name, _ in rows)
    current = ""
    for c, name, seconds in rows:
        if c != current:
            print(f"\n{c}")
            current = c
        ratio = seconds / ours[c]
        print(f"  {name:<{width}}  {seconds * 1e3:10.1f} ms   {ratio:6.2f}x our numba time")


if __name__ == "__main__":
    main()
