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
    python benchmarks/bench_tomo_sim.py --case demo                    # xrai screen's demo scan (voxel fish)
    python benchmarks/bench_tomo_sim.py --case demo --small            # ... at 32³ × 40 projections

The sample is scaled with the detector width (scale = size/2016 · 1.22/1.22) so that it fills the same fraction
of the field of view as the seed's 1.5 mm sample on the full 2016² sensor.

``--case demo`` times the scan ``xrai screen``'s embedded demo simulates (``xrai.pipeline.demo.write_demo_scan``):
a 64³ voxel fish phantom (11 labels, 10 materials of 3 compositions) at the seed's detector, 120 projections,
6 energies, Beer–Lambert. Besides the whole chain (with and without announcing the angles to the sample,
:meth:`xrai.physics.experiment.VolumeSample.prefetch`) it times the thickness maps of every projection four ways:
xrai's one-pass label projection, as the acquisition asks for it (one angle per call) and for all angles at once;
the per-material loop xrai used before (a mask per material, one projection each); and scikit-image's ``radon``
per slice and material (a peer).
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
    parser.add_argument(
        "--case",
        choices=("wax-needle", "demo"),
        default="wax-needle",
        help="the seed's wax on a needle (analytic bodies), or xrai screen's demo scan (voxel fish phantom)",
    )
    args = parser.parse_args()
    if args.case == "demo":
        _demo_case(32 if args.small else 64, 40 if args.small else 120)
        return
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


# -- xrai screen's demo scan: a voxel phantom ------------------------------------------------------------------------


def _best_of(function: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _demo_case(size: int, projections: int) -> None:
    """The demo's scan (as ``xrai.pipeline.demo.write_demo_scan`` makes it), whole chain and thickness maps."""
    from xrai.physics.acquisition import (
        Imperfections,
        Propagation,
        TomographyScan,
        plan_frames,
        simulate_scan,
    )
    from xrai.physics.experiment import (
        BeamConfig,
        DetectorConfig,
        VolumeSample,
        build_detector,
        build_spectrum,
    )
    from xrai.physics.specimens import FishLine, fish_phantom
    from xrai.physics.volumes import VoxelSample, project_fractions, projected_thickness

    fish = fish_phantom(shape=(size, size, size), line=FishLine(name="HdrR"), rng=1)
    volume = VoxelSample(
        labels=fish.labels,
        materials={k: m for k, m in enumerate(fish.materials) if k > 0},
        voxel_size_m=fish.voxel_size_m,
    )
    detector = build_detector(
        DetectorConfig(preset="seed", shape=(size, size), effective_pixel_size_m=fish.voxel_size_m)
    )
    spectrum = build_spectrum(BeamConfig(energies_kev=(10.0, 14.0, 18.0, 22.0, 26.0, 30.0)))
    scan = TomographyScan(
        n_projections=projections, exposure_s=3e-6, frame_rate_hz=25, n_darks=5, n_flats_before=5,
        n_flats_after=5,
    )  # fmt: skip
    plan = plan_frames(scan)
    angles = plan.angles_rad[plan.image_key == 0]
    grid = {"shape": (size, size), "pixel_size_m": detector.pixel_size_m, "center_col": (size - 1) / 2}
    n_materials = len(volume.material_keys)
    print(
        f"xrai screen demo scan: {size}³ voxel fish, {len(volume.materials)} labels, {n_materials} materials, "
        f"{size}² × {projections} projections, 6 energies, Beer-Lambert, seed detector"
    )

    def whole_chain(prefetch: bool) -> Any:
        sample = VolumeSample(volume=volume)
        if prefetch:
            sample.prefetch(angles, **grid)
        return simulate_scan(
            sample, scan=scan, detector=detector, energies_kev=spectrum.energies_kev,
            photons_per_s_m2=spectrum.photons_per_s_m2, propagation=Propagation(distance_m=0.0),
            imperfections=Imperfections(), rng=0,
        )  # fmt: skip

    whole_chain(False)  # warm-up: numba, xraylib tables, FFT plans
    chain = _best_of(lambda: whole_chain(False), 3)
    chain_prefetch = _best_of(lambda: whole_chain(True), 3)
    print(f"xrai whole scan ({plan.n_frames} frames)          {chain:9.3f} s")
    print(f"xrai whole scan, angles prefetched         {chain_prefetch:9.3f} s")

    # thickness maps of every projection
    per_call = {"n_rows": size, "n_cols": size, "pixel_size_m": detector.pixel_size_m}

    def one_pass_per_angle() -> None:
        for angle in angles:
            projected_thickness(volume, angles_rad=float(angle), group_compositions=True, **per_call)

    def one_pass_all_angles() -> None:
        projected_thickness(volume, angles_rad=angles, group_compositions=True, **per_call)

    def per_material_loop() -> None:  # what xrai did before: a float mask per material, one projection each
        for angle in angles:
            for key in volume.material_keys:
                mask = volume.mask(key).astype(np.float32)
                project_fractions(
                    {key: mask}, voxel_size_m=volume.voxel_size_m, angles_rad=float(angle), **per_call
                )

    one_pass_per_angle()
    one_pass_all_angles()
    t_angle = _best_of(one_pass_per_angle, 3)
    t_all = _best_of(one_pass_all_angles, 3)
    t_loop = _best_of(per_material_loop, 1)
    from skimage.transform import radon

    masks = [volume.mask(key).astype(np.float64) for key in volume.material_keys]
    theta = np.rad2deg(angles)
    n_slices = max(1, size // 8)  # radon is slow: time a few slices, scale to all
    start = time.perf_counter()
    for mask in masks:
        for z in range(n_slices):
            radon(mask[z], theta=theta, circle=False)
    t_radon = (time.perf_counter() - start) * size / n_slices
    print(f"thickness maps, {projections} angles:")
    print(f"  xrai one pass over the labels, per angle  {t_angle:9.3f} s   (what the acquisition does)")
    print(f"  xrai one pass over the labels, all angles {t_all:9.3f} s")
    print(f"  xrai per-material loop (the old algorithm) {t_loop:8.3f} s")
    print(
        f"  scikit-image radon per slice and material {t_radon:9.3f} s   (extrapolated from {n_slices} slices)"
    )
    print(f"ratio per-material loop / one pass (per angle) {t_loop / t_angle:9.1f}")
    print(f"ratio scikit-image / one pass (per angle)       {t_radon / t_angle:9.1f}")


if __name__ == "__main__":
    main()
