"""FBP speed and accuracy: xrai (numba, torch CPU) against scikit-image ``iradon`` and ASTRA's CPU FBP, same run.

Usage::

    python benchmarks/bench_fbp.py            # one 512-wide slice from 1500 angles + a small 4D-like case
    python benchmarks/bench_fbp.py --small    # quick: 256 wide, 400 angles
    python benchmarks/bench_fbp.py --issue    # issue 5: 2048 wide from 1500 and 3000 angles, a 512³ volume
    python benchmarks/bench_fbp.py --size 1024 --angles 2000

Every code reconstructs the same sinogram: the strip integrals of a Shepp–Logan phantom computed by
:class:`xrai.ops.projector.ParallelProjector` (a different discretisation from every FBP measured). Sizes are made
odd so that scikit-image's rotation centre (``N // 2``) coincides with ours and ASTRA's (``(N - 1) / 2``). Times
are the best of ``--repeat`` rounds after a warm-up (numba compilation excluded); every round runs every method
once, so a varying load on a shared machine affects all alike. Volumes larger than a few slices
are timed on ``--volume-slices`` slices (peers on ``--peer-slices``) and extrapolated linearly (marked "est.").
The RMSE is computed inside the reconstruction circle against the phantom.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def phantom(n: int) -> np.ndarray:
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    return resize(shepp_logan_phantom(), (n, n), anti_aliasing=True).astype(np.float32)


def sinogram(image: np.ndarray, angles: np.ndarray) -> np.ndarray:
    from xrai.ops.projector import ParallelProjector

    return ParallelProjector(image.shape, angles).forward(image).astype(np.float32)


# ---------------------------------------------------------------------------------------------------- methods


def xrai_numba(sino: np.ndarray, angles: np.ndarray, **kw: Any) -> np.ndarray:
    from xrai.tomo.fbp import reconstruct_fbp

    return reconstruct_fbp(sino, angles_rad=angles, progress=False, **kw)


def xrai_torch(sino: np.ndarray, angles: np.ndarray, *, pure: bool = False, **kw: Any) -> np.ndarray:
    """A CPU tensor runs the numba kernel zero-copy; ``pure=True`` (a tensor that requires grad) forces the
    differentiable torch gather kernel, the one CUDA tensors use."""
    import torch

    from xrai.tomo.fbp import reconstruct_fbp

    tensor = torch.from_numpy(sino).requires_grad_(pure)
    return reconstruct_fbp(tensor, angles_rad=angles, progress=False, **kw).detach().numpy()


def skimage_iradon(sino: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """scikit-image's FBP, slice by slice; its θ runs the other way round (θ_sk = -θ)."""
    from skimage.transform import iradon

    stack = sino[:, None, :] if sino.ndim == 2 else sino
    theta = -np.rad2deg(angles)
    out = np.stack([iradon(stack[:, r, :].T, theta, filter_name="ramp") for r in range(stack.shape[1])])
    return out[0] if sino.ndim == 2 else out


def astra_available() -> bool:
    try:
        import astra  # noqa: F401
    except ImportError:
        return False
    return True


def astra_fbp(sino: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """ASTRA's CPU FBP (Ram-Lak, linear projector), slice by slice; ASTRA's angles run the other way round."""
    import astra

    stack = sino[:, None, :] if sino.ndim == 2 else sino
    n = stack.shape[2]
    vol_geom = astra.create_vol_geom(n, n)
    proj_geom = astra.create_proj_geom("parallel", 1.0, n, -angles)
    projector = astra.create_projector("linear", proj_geom, vol_geom)
    out = np.empty((stack.shape[1], n, n), dtype=np.float32)
    for r in range(stack.shape[1]):
        sino_id = astra.data2d.create("-sino", proj_geom, np.ascontiguousarray(stack[:, r, :]))
        rec_id = astra.data2d.create("-vol", vol_geom)
        cfg = astra.astra_dict("FBP")
        cfg.update(
            ReconstructionDataId=rec_id, ProjectionDataId=sino_id, ProjectorId=projector, FilterType="Ram-Lak"
        )
        alg = astra.algorithm.create(cfg)
        astra.algorithm.run(alg)
        out[r] = astra.data2d.get(rec_id)
        astra.algorithm.delete(alg)
        astra.data2d.delete([sino_id, rec_id])
    astra.projector.delete(projector)
    return out[0] if sino.ndim == 2 else out


# ------------------------------------------------------------------------------------------------------ cases


def rmse(image: np.ndarray, truth: np.ndarray) -> float:
    n = truth.shape[-1]
    c = np.arange(n) - (n - 1) / 2
    circle = c[:, None] ** 2 + c[None, :] ** 2 < (0.98 * (n - 1) / 2) ** 2
    return float(np.sqrt(np.mean((image - truth)[..., circle] ** 2)))


def measure(methods: dict[str, Callable[[], Any]], repeat: int) -> dict[str, tuple[float, Any]]:
    """Best time of every method over ``repeat`` rounds; each round runs every method once, so that a load
    that varies over the run (a shared machine) hits all methods alike. xrai's methods are warmed up first."""
    results: dict[str, tuple[float, Any]] = {}
    if repeat == 0:  # one timed call each, no warm-up (long runs; numba kernels come from numba's cache)
        for name, fn in methods.items():
            start = time.perf_counter()
            value = fn()
            results[name] = (time.perf_counter() - start, value)
        return results
    for name, fn in methods.items():  # warm-up: numba compilation, FFT plans (the peers need none)
        results[name] = (float("inf"), fn() if name.startswith("xrai") else None)
    for _ in range(repeat):
        for name, fn in methods.items():
            start = time.perf_counter()
            value = fn()
            elapsed = time.perf_counter() - start
            if elapsed < results[name][0]:
                results[name] = (elapsed, value)
    return results


def slice_case(
    n: int, n_angles: int, repeat: int, peers: bool = True, variants: bool = True
) -> dict[str, float]:
    n = n | 1
    angles = np.linspace(0, np.pi, n_angles, endpoint=False)
    truth = phantom(n)
    sino = sinogram(truth, angles)
    print(f"\n== one slice {n}² from {n_angles} projections (float32)")
    methods: dict[str, Callable[[], Any]] = {"xrai numba, ram-lak": lambda: xrai_numba(sino, angles)}
    if variants:
        methods["xrai numba, shepp-logan ×2 oversampled"] = lambda: xrai_numba(
            sino, angles, filter_name="shepp-logan"
        )
        methods["xrai numba, ram-lak ×2 oversampled"] = lambda: xrai_numba(sino, angles, oversampling=2)
    methods["xrai gridrec, ram-lak"] = lambda: xrai_numba(sino, angles, method="gridrec")
    if variants:
        methods["xrai torch CPU tensor, ram-lak"] = lambda: xrai_torch(sino, angles)
    if n * n * n_angles <= 260**2 * 500:  # memory-bound on a CPU: only at small sizes
        methods["xrai torch autograd kernel (CUDA path) on CPU"] = lambda: xrai_torch(sino, angles, pure=True)
    if peers and astra_available():
        methods["ASTRA CPU FBP, Ram-Lak"] = lambda: astra_fbp(sino, angles)
    elif peers:
        print("   (astra-toolbox not importable: `pip install astra-toolbox` to compare)")
    if peers:
        methods["scikit-image iradon, ramp"] = lambda: skimage_iradon(sino, angles)
    results = measure(methods, repeat)
    rows = [(name, t, rmse(rec, truth)) for name, (t, rec) in results.items()]
    report(rows, reference=rows[0][1])
    return {name: t for name, t, _ in rows}


def volume_case(n: int, n_angles: int, n_slices: int, measured: int, peer_slices: int, repeat: int) -> None:
    n = n | 1
    angles = np.linspace(0, np.pi, n_angles, endpoint=False)
    truth = phantom(n)
    sino = sinogram(truth, angles)
    k = min(measured, n_slices)
    p = min(peer_slices, n_slices)
    stack = np.ascontiguousarray(np.repeat(sino[:, None, :], k, axis=1))
    peer_stack = np.ascontiguousarray(stack[:, :p])
    est = "" if k == n_slices else f" (est. from {k} slices)"
    peer_est = "" if p == n_slices else f" (est. from {p} slices)"
    print(f"\n== volume {n}² × {n_slices} slices from {n_angles} projections")
    methods: dict[str, Callable[[], Any]] = {
        "xrai numba" + est: lambda: xrai_numba(stack, angles),
        "xrai torch CPU tensor" + est: lambda: xrai_torch(stack, angles),
        "xrai gridrec" + est: lambda: xrai_numba(stack, angles, method="gridrec"),
    }
    if astra_available():
        methods["ASTRA CPU FBP" + peer_est] = lambda: astra_fbp(peer_stack, angles)
    methods["scikit-image iradon" + peer_est] = lambda: skimage_iradon(peer_stack, angles)
    results = measure(methods, repeat)
    rows = []
    for name, (t, rec) in results.items():
        slices = k if name.startswith("xrai") else p
        rows.append((name, t * n_slices / slices, rmse(rec[0], truth)))
    report(rows, reference=rows[0][1])
    for name, seconds, _ in rows:
        if name.startswith("xrai"):
            print(
                f"   {name}: {1.0 / seconds:.3g} tomograms/s of {n}² × {n_slices} from {n_angles} projections"
            )


def report(rows: list[tuple[str, float, float]], *, reference: float) -> None:
    width = max(len(name) for name, _, _ in rows)
    print(f"   {'method':<{width}}  {'time s':>9}  {'÷ xrai':>7}  {'RMSE':>8}")
    for name, seconds, error in rows:
        print(f"   {name:<{width}}  {seconds:9.3f}  {seconds / reference:7.2f}  {error:8.5f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512, help="slice width (made odd)")
    parser.add_argument("--angles", type=int, default=1500)
    parser.add_argument("--small", action="store_true", help="quick run: 256 wide, 400 angles")
    parser.add_argument("--issue", action="store_true", help="issue 5's cases (long: minutes)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--volume-slices", type=int, default=32, help="slices timed for xrai in volume cases")
    parser.add_argument(
        "--peer-slices", type=int, default=2, help="slices timed for the peers in volume cases"
    )
    args = parser.parse_args()

    import numba
    import torch

    print(f"CPU cores: {os.cpu_count()}, numba threads: {numba.get_num_threads()}, torch threads: "
          f"{torch.get_num_threads()}; scikit-image and ASTRA's CPU FBP run on one thread")  # fmt: skip
    if args.small:
        slice_case(256, 400, args.repeat)
        volume_case(64, 90, 64, 64, 64, args.repeat)
        return
    if args.issue:
        slice_case(2048, 1500, 0, variants=False)  # one timed call each (numba compiled by its cache)
        times = slice_case(2048, 3000, 0, variants=False)
        volume_case(512, 1500, 512, args.volume_slices, args.peer_slices, 0)
        direct, gridrec = times["xrai numba, ram-lak"], times["xrai gridrec, ram-lak"]
        print(f"\n== extrapolation to 2048³ from 3000 projections on this CPU (2048 such slices): "
              f"direct {direct * 2048:.0f} s, gridrec {gridrec * 2048:.0f} s; no GPU was lent to this run")  # fmt: skip
        return
    slice_case(args.size, args.angles, args.repeat)
    volume_case(128, 180, 128, 128, 128, args.repeat)  # 4D-like: small, fast tomograms


if __name__ == "__main__":
    main()
