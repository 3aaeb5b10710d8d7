"""Time to simulate a tomogram with the seed's detector: wax on a steel needle, seed beamline, 82 mm, PCO.dimax.

Runs, in one process:

* **xrai**: the whole chain per frame (analytic bodies → polychromatic Fresnel propagation with source blur →
  scintillator/optics/camera with cascaded noise, defects, zingers), frames streamed and discarded, as
  ``xrai simulate`` does (NXtomo writing is not timed);
* a **plain-numpy peer** on the same thickness maps: Beer–Lambert at every energy, spectrum-weighted sum and one
  Poisson draw per pixel (no propagation, no detector blur, no camera model): the floor a minimal simulator
  pays;
* a per-stage breakdown of xrai on a few frames (thickness maps, propagation, detector).

    python benchmarks/bench_tomo_sim.py                                # 128² × 90 projections (small, ~30 s)
    python benchmarks/bench_tomo_sim.py --size 512 --projections 1500  # the issue's figure (long on 2 cores)
    python benchmarks/bench_tomo_sim.py --size 512 --projections 1500 --limit 20   # ... extrapolated
    python benchmarks/bench_tomo_sim.py --small                        # 64² × 20 projections

The sample is scaled with the detector width (scale = size/2016 · 1.22/1.22) so that it fills the same fraction
of the field of view as the seed's 1.5 mm sample on the full 2016² sensor.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from typing import Any

import numpy as np


def _experiment(size: int, projections: int, energies: int, sampling: str) -> Any:
    from xrai.physics.experiment import BeamConfig, DetectorConfig, SampleConfig, get_experiment

    seed = get_experiment("wax-needle")
    grid = None if energies >= 23 else tuple(np.linspace(10.0, 30.0, energies).round(3).tolist())
    return dataclasses.replace(
        seed,
        beam=BeamConfig(energies_kev=grid),
        sample=SampleConfig(kind="wax_on_needle", scale=size / 2016 * 1.6, sampling=sampling),  # type: ignore[arg-type]
        detector=DetectorConfig(preset="seed", shape=(size, size)),
        scan=dataclasses.replace(
            seed.scan, n_projections=projections, n_darks=5, n_flats_before=5, n_flats_after=5
        ),
    )


def _extrapolate(durations: dict[int, list[float]], counts: dict[int, int]) -> float:
    """Whole-scan time from the frames timed so far: mean time per frame kind × frames of that kind."""
    return sum(
        float(np.mean(durations[key])) * counts[key] for key in counts if counts[key] and durations[key]
    )


def _run_xrai(experiment: Any, limit: int | None) -> tuple[float, bool]:
    from xrai.physics.experiment import iter_experiment

    plan, frames = iter_experiment(experiment, ground_truth=False)
    counts = {key: int(np.count_nonzero(plan.image_key == key)) for key in (0, 1, 2)}
    durations: dict[int, list[float]] = {0: [], 1: [], 2: []}
    start = time.perf_counter()
    for frame in frames:
        now = time.perf_counter()
        durations[frame.image_key].append(now - start)
        start = now
        if limit is not None and len(durations[0]) >= limit:
            return _extrapolate(durations, counts), True
    return sum(sum(v) for v in durations.values()), False


def _run_peer(experiment: Any, limit: int | None) -> tuple[float, bool]:
    """Plain numpy: Beer–Lambert per energy on the same thickness maps, weighted sum, Poisson."""
    from xrai.physics.experiment import _inputs
    from xrai.physics.materials import get_material

    sample, detector, spectrum, _ = _inputs(experiment)
    rows, cols = detector.shape
    pixel = detector.pixel_size_m
    plan = experiment.plan
    counts = {key: int(np.count_nonzero(plan.image_key == key)) for key in (0, 1, 2)}
    durations: dict[int, list[float]] = {0: [], 1: [], 2: []}
    photons = spectrum.photons_per_pixel(pixel_size_m=pixel, exposure_s=plan.exposure_s)
    rng = np.random.default_rng(0)
    mus: dict[str, np.ndarray] = {}
    for index in range(plan.n_frames):
        key = int(plan.image_key[index])
        start = time.perf_counter()
        if key != 0:
            rng.poisson(np.full((rows, cols), photons.sum() if key == 1 else 0.0))
        else:
            maps = sample.thickness_maps(
                angle_rad=float(plan.angles_rad[index]), time_s=0.0, shape=(rows, cols), pixel_size_m=pixel,
                center_col=(cols - 1) / 2,
            )  # fmt: skip
            total = np.zeros((rows, cols))
            for e, n_e in enumerate(photons):
                attenuation = np.zeros((rows, cols))
                for name, t in maps.items():
                    if name not in mus:
                        mus[name] = get_material(name).linear_attenuation_per_m(spectrum.energies_kev)
                    attenuation += mus[name][e] * t
                total += n_e * np.exp(-attenuation)
            rng.poisson(total)
        durations[key].append(time.perf_counter() - start)
        if limit is not None and len(durations[0]) >= limit:
            return _extrapolate(durations, counts), True
    return sum(sum(v) for v in durations.values()), False


def _breakdown(experiment: Any, frames: int = 3) -> dict[str, float]:
    from xrai.physics.acquisition import weighted_intensity
    from xrai.physics.detector import detect_light, light_weights, make_pixel_maps
    from xrai.physics.experiment import _inputs

    sample, detector, spectrum, propagation = _inputs(experiment)
    shape = detector.shape
    pixel = detector.pixel_size_m / propagation.magnification
    incident = spectrum.photons_per_pixel(
        pixel_size_m=detector.pixel_size_m, exposure_s=experiment.plan.exposure_s
    )
    weights, gain = light_weights(detector, spectrum.energies_kev, incident)
    maps = make_pixel_maps(detector.camera, rng=0, shape=shape)
    times = {"thickness maps": 0.0, "propagation": 0.0, "detector": 0.0}
    for k in range(frames):
        t0 = time.perf_counter()
        thickness = sample.thickness_maps(
            angle_rad=0.3 * k, time_s=0.0, shape=shape, pixel_size_m=pixel, center_col=(shape[1] - 1) / 2
        )
        t1 = time.perf_counter()
        light = weighted_intensity(
            thickness,
            energies_kev=spectrum.energies_kev,
            weights=weights,
            pixel_size_m=pixel,
            propagation=propagation,
        )
        t2 = time.perf_counter()
        detect_light(light, detector, quantum_gain=gain, exposure_s=0.015, rng=k, pixel_maps=maps,
                     energies_kev=spectrum.energies_kev, spectrum_weights=incident)  # fmt: skip
        t3 = time.perf_counter()
        times["thickness maps"] += t1 - t0
        times["propagation"] += t2 - t1
        times["detector"] += t3 - t2
    return {key: value / frames for key, value in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=128, help="detector rows = cols (pixels)")
    parser.add_argument("--projections", type=int, default=90, help="number of projections")
    parser.add_argument(
        "--energies", type=int, default=23, help="energy bins (23 = the seed's 8-30 keV grid)"
    )
    parser.add_argument("--sampling", choices=("area", "point"), default="area", help="thickness sampling")
    parser.add_argument("--small", action="store_true", help="64² × 20 projections")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="time only this many projections and extrapolate to the whole scan",
    )
    args = parser.parse_args()
    size, projections = (64, 20) if args.small else (args.size, args.projections)
    experiment = _experiment(size, projections, args.energies, args.sampling)
    warnings.simplefilter("ignore")  # the steel edge's sampling warning is expected here
    print(f"seed tomography: {size}² × {projections} projections, {args.energies} energies, "
          f"{args.sampling}-sampled bodies, continuous rotation, 82 mm, seed detector")  # fmt: skip
    _breakdown(experiment, frames=1)  # warm-up: numba, xraylib tables, FFT plans
    stages = _breakdown(experiment)
    print("per projection: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in stages.items()))
    from xrai.physics.acquisition import _sub_frame_count

    subs = _sub_frame_count(experiment.plan, (size, size), None)
    print(f"continuous rotation: {subs} sub-frame(s) per projection (xrai); the peer images each angle once")
    ours, estimated = _run_xrai(experiment, args.limit)
    peer, _ = _run_peer(experiment, args.limit)
    n_frames = experiment.plan.n_frames
    note = f" (extrapolated from {args.limit} projections)" if estimated else ""
    print(f"xrai (full chain)                  {ours:9.2f} s  {ours / n_frames * 1e3:7.1f} ms/frame{note}")
    print(f"plain numpy (Beer-Lambert+Poisson) {peer:9.2f} s  {peer / n_frames * 1e3:7.1f} ms/frame{note}")
    print(f"ratio xrai / plain numpy           {ours / peer:9.2f}")


if __name__ == "__main__":
    main()
