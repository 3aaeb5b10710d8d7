"""Benchmark: flat-field + minus-log + Paganin on a projection stack, xrai vs a plain-numpy TomoPy-style baseline.

Data: ``n`` uint16 projections ``rows × cols`` of a sphere (counts ~ 20 000, Poisson noise), 20 flats, 10 darks,
flats before only. Contenders, in one process, best of ``--repeats`` runs after a warm-up (repeats interleave the contenders):

- ``xrai numpy``  : :func:`xrai.tomo.flat_field_correct` (dead/saturated pixel handling included), then
  :func:`xrai.tomo.minus_log` (absorption path) or :func:`xrai.tomo.retrieve_phase_paganin` (phase path);
- ``xrai torch``  : the same kernels on torch CPU tensors (and CUDA when a GPU is present);
- ``baseline``    : the TomoPy recipe written plainly in numpy, as TomoPy 1.x does it: ``normalize``
  (``(P - D̄)/(F̄ - D̄)`` with the denominator clipped at 1e-6), ``minus_log``, and ``retrieve_phase``
  (pad to the next power of two of ``size + π λ z / p²`` with the edge mean, complex ``numpy.fft.fft2`` per
  projection, Paganin filter,
  ``ifft2``, real part) followed by ``-log``.

Prints times, throughput (projections/s), the ratio baseline/xrai and the agreement of the outputs.

    python benchmarks/bench_preprocessing.py                 # 200 × 512 × 512 (the issue's size)
    python benchmarks/bench_preprocessing.py --small         # 40 × 256 × 256, quick
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

ENERGY_KEV = 20.0
DISTANCE_M = 0.1
PIXEL_M = 1e-6
DELTA_BETA = 1000.0


def make_data(n: int, rows: int, cols: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:rows, :cols]
    gain = (
        20000.0
        * (1 + 0.2 * np.exp(-((xx - cols / 2) ** 2) / (0.3 * cols) ** 2))
        * rng.uniform(0.95, 1.05, (rows, cols))
    )
    r2 = ((xx - cols / 2) ** 2 + (yy - rows / 2) ** 2) / (0.3 * min(rows, cols)) ** 2
    transmission = np.exp(-0.5 * np.sqrt(np.clip(1 - r2, 0, None)))
    proj = np.empty((n, rows, cols), np.uint16)
    for i in range(n):
        proj[i] = np.clip(rng.poisson(transmission * gain) + 100, 0, 65535)
    flats = np.clip(rng.poisson(gain, (20, rows, cols)) + 100, 0, 65535).astype(np.uint16)
    darks = (100 + rng.poisson(2.0, (10, rows, cols))).astype(np.uint16)
    return {"projections": proj, "flats": flats, "darks": darks}


# -- the baseline, TomoPy-style, plain numpy ------------------------------------------------------------------


def baseline_normalize(projections: np.ndarray, flats: np.ndarray, darks: np.ndarray) -> np.ndarray:
    dark = darks.astype(np.float32).mean(axis=0)
    flat = flats.astype(np.float32).mean(axis=0)
    denom = flat - dark
    denom[denom < 1e-6] = 1e-6
    return (projections.astype(np.float32) - dark) / denom


def baseline_minus_log(t: np.ndarray) -> np.ndarray:
    return -np.log(t)


def baseline_paganin(t: np.ndarray) -> np.ndarray:
    n, rows, cols = t.shape
    lam = 1.239841984e-9 / ENERGY_KEV
    # TomoPy's _calc_pad: the next power of two of the size plus pi * lambda * z / p^2 pixels
    extra = math.ceil(math.pi * lam * DISTANCE_M / PIXEL_M**2)
    py, px = 2 ** math.ceil(math.log2(rows + extra)), 2 ** math.ceil(math.log2(cols + extra))
    fy = np.fft.fftfreq(py, d=PIXEL_M)
    fx = np.fft.fftfreq(px, d=PIXEL_M)
    filt = 1.0 / (1.0 + np.pi * lam * DISTANCE_M * DELTA_BETA * (fy[:, None] ** 2 + fx[None, :] ** 2))
    out = np.empty_like(t)
    r0, c0 = (py - rows) // 2, (px - cols) // 2
    for i in range(n):
        pad = np.full((py, px), float(np.mean([t[i, 0].mean(), t[i, -1].mean(), t[i, :, 0].mean(), t[i, :, -1].mean()])),
                      dtype=np.float32)  # fmt: skip
        pad[r0 : r0 + rows, c0 : c0 + cols] = t[i]
        res = np.real(np.fft.ifft2(np.fft.fft2(pad) * filt))
        out[i] = -np.log(np.clip(res[r0 : r0 + rows, c0 : c0 + cols], 1e-6, None))
    return out


# -- xrai ------------------------------------------------------------------------------------------------------


def xrai_absorption(d: dict[str, Any]) -> Any:
    from xrai.tomo import flat_field_correct, minus_log

    return minus_log(flat_field_correct(d["projections"], d["flats"], d["darks"]))


def xrai_phase(d: dict[str, Any]) -> Any:
    from xrai.tomo import flat_field_correct, retrieve_phase_paganin

    t = flat_field_correct(d["projections"], d["flats"], d["darks"])
    return retrieve_phase_paganin(t, delta_beta=DELTA_BETA, energy_kev=ENERGY_KEV, distance_m=DISTANCE_M,
                                  pixel_size_m=PIXEL_M)  # fmt: skip


def rel_rms(a: Any, b: np.ndarray, region: tuple[slice, ...] = (slice(None),)) -> float:
    from xrai._backend import to_numpy

    a = to_numpy(a)[region]
    b = b[region]
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="projections")
    parser.add_argument("--size", type=int, default=512, help="rows = cols")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="40 x 256 x 256")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    n, size = (40, 256) if args.small else (args.n, args.size)
    data = make_data(n, size, size)
    print(f"stack {n} x {size} x {size} uint16, 20 flats, 10 darks; best of {args.repeats}")

    interior = (slice(None), slice(size // 8, -size // 8), slice(size // 8, -size // 8))
    contenders: dict[str, dict[str, Callable[[], Any]]] = {
        "baseline (numpy, TomoPy-style)": {
            "abs": lambda: baseline_minus_log(baseline_normalize(**data)),
            "phase": lambda: baseline_paganin(baseline_normalize(**data)),
        },
        "xrai numpy": {"abs": lambda: xrai_absorption(data), "phase": lambda: xrai_phase(data)},
    }
    if not args.no_torch:
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        for dev in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
            td = {k: torch.from_numpy(v.astype(np.int32)).to(dev) for k, v in data.items()}

            def run(f: Callable[[Any], Any], td: Any = td, dev: str = dev) -> Any:
                out = f(td)
                if dev == "cuda":
                    torch.cuda.synchronize()
                return out

            name = f"xrai torch cpu ({torch.get_num_threads()} thr)" if dev == "cpu" else "xrai torch cuda"
            contenders[name] = {
                "abs": lambda run=run: run(xrai_absorption),
                "phase": lambda run=run: run(xrai_phase),
            }
    # repeats interleave the contenders, so a change of load on a shared machine hits all of them alike
    best = {(c, k): math.inf for c in contenders for k in ("abs", "phase")}
    outputs: dict[tuple[str, str], Any] = {}
    for c, fns in contenders.items():  # warm-up
        for k, f in fns.items():
            outputs[(c, k)] = f()
    for _ in range(args.repeats):
        for c, fns in contenders.items():
            for k, f in fns.items():
                start = time.perf_counter()
                f()
                best[(c, k)] = min(best[(c, k)], time.perf_counter() - start)
    base = "baseline (numpy, TomoPy-style)"
    ref_abs, ref_ph = outputs[(base, "abs")], outputs[(base, "phase")]
    t_base_abs, t_base_ph = best[(base, "abs")], best[(base, "phase")]
    rows = [
        (c, best[(c, "abs")], best[(c, "phase")],
         None if c == base else rel_rms(outputs[(c, "abs")], ref_abs),
         None if c == base else rel_rms(outputs[(c, "phase")], ref_ph, interior))
        for c in contenders
    ]  # fmt: skip

    print(f"{'contender':34s} {'FF+log s':>9s} {'proj/s':>8s} {'ratio':>6s} {'FF+Paganin s':>13s} {'proj/s':>8s} "
          f"{'ratio':>6s}  rel.RMS vs baseline (log, Paganin interior)")  # fmt: skip
    for name, ta, tp, ea, ep in rows:
        agree = "" if ea is None else f"  {ea:.1e}, {ep:.1e}"
        print(f"{name:34s} {ta:9.3f} {n / ta:8.0f} {t_base_abs / ta:6.2f} {tp:13.3f} {n / tp:8.0f} "
              f"{t_base_ph / tp:6.2f}{agree}")  # fmt: skip
    print("ratio = baseline time / contender time (> 1: faster than the baseline)")


if __name__ == "__main__":
    main()
