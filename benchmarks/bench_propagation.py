"""Benchmark: the seed's polychromatic PMMA sphere (syris's README example) in xrai, syris and plain numpy.

For each size n: a point-sampled PMMA sphere of radius n/4 pixels (0.4 µm), 20 energies (10–29 keV), 2 m,
syris's default mollified Fresnel propagator, float32/complex64. Timed in one process, best of ``--repeats``
warm runs (the first run of each contender, which compiles kernels, is not counted):

- ``xrai numpy``  : :func:`xrai.physics.propagation.polychromatic_intensity` on numpy arrays,
- ``xrai torch``  : the same on torch CPU tensors (and CUDA tensors when a GPU is present),
- ``syris``       : ``syris.physics.propagate`` on its OpenCL device (PoCL on a CPU) when syris is installed,
- ``plain numpy`` : the same algorithm written plainly (complex exp, scipy.fft with all workers, complex64),
- ``FFT floor``   : only the 2 FFTs per energy that every FFT-based implementation must do (scipy.fft).

Prints each time, the ratios and the agreement (relative RMS) of every image with xrai numpy. The contenders
run interleaved (one of each per round), so a drifting load on a shared machine affects all alike; the load
average is printed before and after.

    python benchmarks/bench_propagation.py --sizes 1024 2048
    python benchmarks/bench_propagation.py --small          # n = 256, quick

syris's ``make_henke`` needs the internet, so its material is built from xraylib's δ/β, exactly as in
``../shared/reference/syris_sphere_n256.json``; syris needs ``pkg_resources``, which new setuptools lack, so a
minimal stand-in is installed in ``sys.modules`` for this process only.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ENERGIES_KEV = np.arange(10.0, 30.0)
PIXEL_M = 0.4e-6
DISTANCE_M = 2.0


def interleaved_best(contenders: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Best wall time of each contender over ``repeats`` rounds; each round runs every contender once.

    Interleaving makes the comparison fair on a shared machine whose load drifts. Every contender runs once
    before the first round (JIT, OpenCL kernel builds, FFT plans, caches).
    """
    results = {name: run() for name, run in contenders.items()}
    best = dict.fromkeys(contenders, math.inf)
    for _ in range(repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            results[name] = run()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (best[name], results[name]) for name in contenders}


def pmma_constants() -> tuple[np.ndarray, np.ndarray]:
    from xrai.physics.materials import get_material

    pmma = get_material("pmma")
    return pmma.delta(ENERGIES_KEV), pmma.beta(ENERGIES_KEV)


def thickness_map(n: int) -> np.ndarray:
    from xrai.physics.bodies import Sphere, project_bodies

    return project_bodies([Sphere(radius_m=n / 4 * PIXEL_M, material="pmma")], (n, n), pixel_size_m=PIXEL_M)[
        "pmma"
    ]


def run_xrai(thickness: Any) -> Any:
    from xrai.physics.propagation import polychromatic_intensity

    return polychromatic_intensity(
        {"pmma": thickness},
        energies_kev=ENERGIES_KEV,
        distance_m=DISTANCE_M,
        pixel_size_m=PIXEL_M,
        mollified=True,
        dtype="float32",
    )


def run_plain_numpy(thickness: np.ndarray, delta: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The algorithm as one would write it directly (syris's formulas; no xrai code)."""
    import scipy.fft

    n = thickness.shape[0]
    m = np.fft.fftfreq(n) * n
    f2 = (m[:, None] ** 2 + m[None, :] ** 2) / (n * PIXEL_M) ** 2
    intensity = np.zeros((n, n), dtype=np.float32)
    for energy, d, b in zip(ENERGIES_KEV, delta, beta, strict=True):
        lam = 1.239841842144513e-9 / energy
        k = 2 * np.pi / lam
        cutoff = math.floor(
            min(n, max(1, n * 2 * PIXEL_M * math.sin(math.atan(n * PIXEL_M / (2 * DISTANCE_M))) / lam))
        )
        sigma = cutoff / (2 * math.sqrt(2 * math.log(10)))
        propagator = np.exp(
            -1j * np.pi * lam * DISTANCE_M * f2 - (m[:, None] ** 2 + m[None, :] ** 2) / (2 * sigma**2)
        )
        transmission = np.exp(-k * thickness * np.complex64(b + 1j * d))
        spectrum = scipy.fft.fft2(transmission, workers=-1, overwrite_x=True)
        spectrum *= propagator.astype(np.complex64)
        field = scipy.fft.ifft2(spectrum, workers=-1, overwrite_x=True)
        intensity += np.abs(field) ** 2
    return intensity


def run_fft_floor(field: np.ndarray) -> None:
    import scipy.fft

    for _ in ENERGIES_KEV:
        spectrum = scipy.fft.fft2(field, workers=-1)
        scipy.fft.ifft2(spectrum, workers=-1, overwrite_x=True)


def _install_pkg_resources_shim() -> None:
    if "pkg_resources" in sys.modules:
        return
    try:
        import pkg_resources  # noqa: F401

        return
    except ImportError:
        pass
    shim = types.ModuleType("pkg_resources")

    def resource_filename(module: str, name: str) -> str:
        # pkg_resources resolves `name` relative to the directory of `module` (a package or a plain module)
        return str(Path(sys.modules[module].__file__ or "").parent / name)

    def resource_string(module: str, name: str) -> bytes:
        return Path(resource_filename(module, name)).read_bytes()

    shim.resource_string = resource_string  # type: ignore[attr-defined]
    shim.resource_filename = resource_filename  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim


def make_syris_runner(n: int, delta: np.ndarray, beta: np.ndarray) -> Callable[[], np.ndarray] | None:
    try:
        _install_pkg_resources_shim()
        import logging

        import quantities as q
        import syris
        import syris.bodies.simple
        import syris.materials
        import syris.physics
    except Exception as exc:  # any failure just means "no syris here"
        print(
            f"syris not available ({type(exc).__name__}: {exc}); pip install syris pyopencl pocl-binary-distribution"
        )
        return None
    warnings.filterwarnings("ignore", message=".*has been retrieved more than once")  # pyopencl, in syris
    if not getattr(make_syris_runner, "initialised", False):
        syris.init(loglevel=logging.CRITICAL)  # syris configures the root logger; keep it quiet
        make_syris_runner.initialised = True  # type: ignore[attr-defined]
    energies = ENERGIES_KEV * q.keV
    material = syris.materials.Material("PMMA", delta + 1j * beta, energies)
    pixel = PIXEL_M * q.m
    sample = syris.bodies.simple.make_sphere(n, n / 4 * pixel, pixel_size=pixel, material=material)

    def run() -> np.ndarray:
        return syris.physics.propagate(
            [sample], (n, n), energies, DISTANCE_M * q.m, pixel, mollified=True
        ).get()

    return run


def relative_rms(a: Any, b: Any) -> float:
    from xrai._backend import to_numpy

    a64, b64 = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    return float(np.sqrt(np.mean((a64 - b64) ** 2) / np.mean(b64**2)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--small", action="store_true", help="only n = 256 (quick check)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-syris", action="store_true")
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    sizes = [256] if args.small else args.sizes

    from xrai.ops.fft import default_workers

    print(
        f"PMMA sphere, {ENERGIES_KEV.size} energies, 2 m, 0.4 µm, mollified, float32; {default_workers()} CPU(s); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    delta, beta = pmma_constants()
    torch: Any = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("torch not installed: skipping the torch backend")
    for n in sizes:
        thickness = thickness_map(n)
        contenders: dict[str, Callable[[], Any]] = {"xrai numpy": lambda th=thickness: run_xrai(th)}
        if torch is not None:
            tensor = torch.from_numpy(thickness)
            threads = torch.get_num_threads()
            contenders[f"xrai torch cpu ({threads} threads)"] = lambda t=tensor: run_xrai(t)
            if threads > 1:

                def one_thread(t: Any = tensor, threads: int = threads) -> Any:
                    torch.set_num_threads(1)  # this benchmark process only
                    try:
                        return run_xrai(t)
                    finally:
                        torch.set_num_threads(threads)

                contenders["xrai torch cpu (1 thread)"] = one_thread
            if torch.cuda.is_available():
                on_device = tensor.cuda()

                def on_gpu(cuda: Any = on_device) -> Any:
                    result = run_xrai(cuda)
                    torch.cuda.synchronize()
                    return result

                contenders[f"xrai torch {torch.cuda.get_device_name()}"] = on_gpu
        if not args.no_syris:
            runner = make_syris_runner(n, delta, beta)
            if runner is not None:
                contenders["syris (OpenCL)"] = runner
        contenders["plain numpy/scipy"] = lambda th=thickness: run_plain_numpy(th, delta, beta)
        field = np.exp(1j * thickness).astype(np.complex64)
        contenders["FFT floor (2 FFTs/energy)"] = lambda f=field: run_fft_floor(f)
        timings = interleaved_best(contenders, args.repeats)
        t_xrai, image = timings["xrai numpy"]
        t_floor = timings["FFT floor (2 FFTs/energy)"][0]
        rows = [
            (name, seconds, None if name.startswith(("xrai numpy", "FFT")) else relative_rms(out, image))
            for name, (seconds, out) in timings.items()
        ]

        print(f"\nn = {n}")
        print(f"{'contender':42s} {'time [s]':>9s} {'÷ xrai numpy':>13s} {'rel. RMS vs xrai':>17s}")
        for name, seconds, rms in rows:
            agreement = "" if rms is None else f"{rms:.2e}"
            print(f"{name:42s} {seconds:9.3f} {seconds / t_xrai:13.2f} {agreement:>17s}")
        print(f"xrai numpy / FFT floor = {t_xrai / t_floor:.2f}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
