"""The embedded demo batch of ``xrai screen``: synthetic fish of two lines and pupae, some parasitised.

Each specimen is a procedural phantom (:mod:`xrai.physics.specimens`) imaged with the seed's beamline (2.5 GeV
bending magnet, 1.5 T, 106 mA, 0.7 mm Al; :func:`xrai.physics.presets.seed_beamline`) and the seed's indirect
detector (LSO:Tb, 10× optics, PCO.dimax; :func:`xrai.physics.detector.seed_detector`) with its noise and
defects, written as an NXtomo file exactly as a beamline would write it, with the truth beside it. The pipeline
then processes these files as it processes real scans.

Scaled down to run in minutes on 2 CPU cores: a specimen is a 64³-voxel volume imaged on a 64 × 64 region of
interest with the pixel size set to the voxel size (≈ 74 µm: a whole 4 mm medaka larva in the field of view)
and 120 projections over 180°. At this pixel size the Fresnel number p²/(λz) at the seed's 82 mm is ≈ 500, so
free-space propagation changes nothing measurable and the demo images in the contact (absorption) regime;
the exposure is chosen so that the flat fields fill about half of the camera's 12-bit range.

The built-in truth: line ``Cab`` differs from the reference line ``HdrR`` by a larger swim bladder (linear factor
1.3, volume ×2.2); nothing else differs. ``n_parasitised`` of the pupae carry a parasitoid wasp.

Why the swim bladder: at this scaled-down resolution the U-Net segments every organ (Dice ≈ 0.76 against the
exact labels) but only the high-contrast, air-filled swim bladder has volumes that follow the image; the volumes of
soft-tissue organs (eyes, liver: 5–10 % contrast, a few hundred voxels) regress to the network's shape prior, so a
line difference in them is not measurable at 64³ (see ``docs/segmentation.md``). At the seed's full resolution it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xrai.errors import ConfigError, check_range

__all__ = ["DEMO_LINES", "DemoBatch", "DemoSpecimen", "demo_specimens", "write_demo_scan"]

#: The demo's fish lines and their built-in differences (linear organ size factors).
DEMO_LINES: Mapping[str, Mapping[str, float]] = {"HdrR": {}, "Cab": {"swim_bladder": 1.3}}

_ENERGIES_KEV = (10.0, 14.0, 18.0, 22.0, 26.0, 30.0)
_TARGET_FLAT_COUNTS = 2000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoBatch:
    """Size and composition of the demo batch.

    Parameters
    ----------
    n_fish_per_line
        Fish per line (two lines, :data:`DEMO_LINES`).
    n_pupae, n_parasitised
        Pupae in the batch and how many of them carry a parasitoid.
    size
        Edge of the cubic specimen volume in voxels (= detector columns and rows).
    n_projections
        Projections over 180°.
    seed
        Seed of everything random (specimens, noise, detector defects).
    """

    n_fish_per_line: int = 4
    n_pupae: int = 4
    n_parasitised: int = 2
    size: int = 64
    n_projections: int = 120
    seed: int = 2026

    def __post_init__(self) -> None:
        check_range("n_fish_per_line", self.n_fish_per_line, low=0, high=1000)
        check_range("n_pupae", self.n_pupae, low=0, high=1000)
        check_range("n_parasitised", self.n_parasitised, low=0, high=self.n_pupae)
        check_range("size", self.size, low=24, high=512)
        check_range("n_projections", self.n_projections, low=8, high=20000)
        if self.n_fish_per_line + self.n_pupae == 0:
            raise ConfigError("n_fish_per_line = 0 and n_pupae = 0: the demo batch would be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoSpecimen:
    """One specimen of the demo batch (enough to re-create it exactly)."""

    name: str
    kind: str  # "fish" | "pupa"
    group: str  # fish line, or "pupa"
    seed: int
    size: int
    n_projections: int
    parasitoid: bool = False
    organ_scale: Mapping[str, float] = field(default_factory=dict)


def demo_specimens(batch: DemoBatch) -> list[DemoSpecimen]:
    """The specimens of ``batch``, each with its own seed drawn from ``batch.seed``."""
    seeds = np.random.default_rng(batch.seed).integers(
        0, 2**31 - 1, size=2 * batch.n_fish_per_line + batch.n_pupae
    )
    specimens: list[DemoSpecimen] = []
    for i, (line, scale) in enumerate(DEMO_LINES.items()):
        for j in range(batch.n_fish_per_line):
            specimens.append(
                DemoSpecimen(
                    name=f"fish-{line}-{j + 1:02d}", kind="fish", group=line,
                    seed=int(seeds[i * batch.n_fish_per_line + j]), size=batch.size,
                    n_projections=batch.n_projections, organ_scale=dict(scale),
                )
            )  # fmt: skip
    # parasitised pupae are spread through the batch, not bunched at the end
    parasitised = set(np.linspace(0, batch.n_pupae - 1, batch.n_parasitised).round().astype(int).tolist())
    if batch.n_parasitised == 0:
        parasitised = set()
    for k in range(batch.n_pupae):
        specimens.append(
            DemoSpecimen(
                name=f"pupa-{k + 1:02d}", kind="pupa", group="pupa", seed=int(seeds[2 * batch.n_fish_per_line + k]),
                size=batch.size, n_projections=batch.n_projections, parasitoid=k in parasitised,
            )
        )  # fmt: skip
    return specimens


def _phantom(spec: DemoSpecimen) -> Any:
    from xrai.physics.specimens import FishLine, fish_phantom, pupa_phantom

    shape = (spec.size, spec.size, spec.size)
    if spec.kind == "fish":
        reference = FishLine(name="HdrR")
        voxel = reference.body_length_m / (0.85 * spec.size)  # one voxel size for all lines
        return fish_phantom(
            shape=shape, voxel_size_m=voxel, line=FishLine(name=spec.group, organ_scale=spec.organ_scale),
            rng=spec.seed,
        )  # fmt: skip
    return pupa_phantom(shape=shape, parasitoid=spec.parasitoid, rng=spec.seed)


def _exposure_s(detector: Any, spectrum: Any) -> float:
    """Exposure that fills the flats to about :data:`_TARGET_FLAT_COUNTS` above the dark level."""
    from xrai.physics.acquisition import TomographyScan, simulate_scan

    probe = 1e-7
    scan = TomographyScan(
        n_projections=1, exposure_s=probe, frame_rate_hz=25.0, n_darks=1, n_flats_before=1, n_flats_after=0
    )
    result = simulate_scan(
        None, scan=scan, detector=detector, energies_kev=spectrum.energies_kev,
        photons_per_s_m2=spectrum.photons_per_s_m2, noise=False, rng=0,
    )  # fmt: skip
    signal = float(np.mean(result.flats) - np.mean(result.darks))
    if signal <= 0:
        raise ConfigError("the demo beam gives no signal on the detector")
    return probe * _TARGET_FLAT_COUNTS / signal


def write_demo_scan(spec: DemoSpecimen, folder: str | os.PathLike[str]) -> Path:
    """Simulate ``spec`` and write ``<folder>/<name>.nxs`` (+ ``<name>.truth.npz``); return the scan path.

    An existing complete file made from the same specification is kept (the demo is memoised on disk too).
    """
    from xrai.io.nxtomo import NXtomoWriter
    from xrai.physics.acquisition import Imperfections, Propagation, TomographyScan, simulate_scan
    from xrai.physics.experiment import (
        BeamConfig,
        DetectorConfig,
        VolumeSample,
        build_detector,
        build_spectrum,
    )
    from xrai.physics.volumes import VoxelSample

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}.nxs"
    truth_path = folder / f"{spec.name}.truth.npz"
    configuration = {
        "xrai_demo": asdict(spec),
        "specimen": {"name": spec.name, "kind": spec.kind, "line": spec.group},
    }
    if path.exists() and truth_path.exists() and _same_configuration(path, configuration):
        return path
    phantom = _phantom(spec)
    sample = VoxelSample(
        labels=phantom.labels,
        materials={k: m for k, m in enumerate(phantom.materials) if k > 0},
        voxel_size_m=phantom.voxel_size_m,
    )
    detector = build_detector(
        DetectorConfig(
            preset="seed", shape=(spec.size, spec.size), effective_pixel_size_m=phantom.voxel_size_m
        )
    )
    spectrum = build_spectrum(BeamConfig(energies_kev=_ENERGIES_KEV))
    scan = TomographyScan(
        n_projections=spec.n_projections, exposure_s=_exposure_s(detector, spectrum), frame_rate_hz=25.0,
        n_darks=5, n_flats_before=5, n_flats_after=5,
    )  # fmt: skip
    result = simulate_scan(
        VolumeSample(volume=sample), scan=scan, detector=detector, energies_kev=spectrum.energies_kev,
        photons_per_s_m2=spectrum.photons_per_s_m2, propagation=Propagation(distance_m=0.0),
        imperfections=Imperfections(), rng=spec.seed,
    )  # fmt: skip
    mean_energy = float(np.average(spectrum.energies_kev, weights=spectrum.photons_per_s_m2))
    configuration["scan"] = {"exposure_s": scan.exposure_s, "mean_energy_kev": mean_energy}
    np.savez_compressed(
        truth_path, labels=phantom.labels, label_names=np.array(phantom.label_names),
        has_parasitoid=phantom.has_parasitoid, voxel_size_m=phantom.voxel_size_m,
    )  # fmt: skip
    tmp = path.with_suffix(".nxs.tmp")
    tmp.unlink(missing_ok=True)
    with NXtomoWriter(
        tmp, frame_shape=(spec.size, spec.size), dtype="uint16", pixel_size_m=result.pixel_size_m,
        energy_kev=mean_energy, distance_m=result.distance_m, configuration=configuration, sample_name=spec.name,
    ) as writer:  # fmt: skip
        for key, frame, angle in zip(result.image_key, result.frames, result.angles_rad, strict=True):
            if key == 0:
                writer.write_projections(frame[None], angles_rad=[angle])
            elif key == 1:
                writer.write_flats(frame[None], angle_rad=float(angle))
            else:
                writer.write_darks(frame[None], angle_rad=float(angle))
    os.replace(tmp, path)  # a crash leaves a .tmp file, never a half-written scan under the final name
    return path


def _same_configuration(path: Path, configuration: Mapping[str, Any]) -> bool:
    try:
        from xrai.io import read_scan

        scan = read_scan(path)
        try:
            stored = scan.configuration.get("xrai_demo")
        finally:
            scan.close()
    except Exception:
        return False
    return bool(json.loads(json.dumps(stored)) == json.loads(json.dumps(configuration["xrai_demo"])))
