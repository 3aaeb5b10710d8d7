"""Experiment configurations: beam, sample, detector, geometry and scan in one validated, TOML-able object.

An :class:`Experiment` says everything a virtual experiment needs; :func:`simulate_experiment` runs it into a
:class:`~xrai.physics.acquisition.SimulatedScan` and :func:`iter_experiment` streams its frames. Configurations
come from presets (:data:`EXPERIMENT_PRESETS`: the seed's wax-on-needle tomography at full size, a small variant
that runs in seconds, a small 4D cine-tomography) or from TOML files with units as strings::

    name = "my-scan"
    seed = 1
    [beam]
    preset = "seed"                     # xrai.physics.presets
    energies_kev = [10, 14, 18, 22, 26, 30]   # optional coarser grid (photons rebinned, conserved)
    [sample]
    kind = "wax_on_needle"              # wax_on_needle | sphere | shepp_logan | none
    scale = 0.08
    [detector]
    preset = "seed"
    shape = [128, 128]
    effective_pixel_size_m = "1.22 um"  # or "nominal" (camera pixel / magnification)
    [geometry]
    distance_m = "82 mm"
    [scan]
    kind = "tomography"                 # tomography | radiography | cine
    n_projections = 90
    rotation = "continuous"
    exposure_s = "15 ms"
    frame_rate_hz = "25 Hz"
    [imperfections]
    zingers_per_frame = 0.5

Every value is checked when the configuration is built; an error names the section, the field, the bad value
and the allowed range. :func:`experiment_to_dict` gives the canonical (SI, JSON-serialisable) form that
:func:`experiment_from_dict` reads back unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xrai._typing import RngLike
from xrai.errors import ConfigError, UnitError, check_range
from xrai.physics.acquisition import (
    CineTomographyScan,
    Frame,
    FramePlan,
    Imperfections,
    Propagation,
    RadiographyScan,
    ScanConfig,
    SimulatedScan,
    TomographyScan,
    iter_frames,
    plan_frames,
    simulate_scan,
)
from xrai.physics.detector import Detector, get_detector
from xrai.units import canonical_unit, to_canonical

__all__ = [
    "EXPERIMENT_PRESETS",
    "BeamConfig",
    "BodySample",
    "DetectorConfig",
    "Experiment",
    "SampleConfig",
    "VolumeSample",
    "build_detector",
    "build_sample",
    "build_spectrum",
    "experiment_from_dict",
    "experiment_to_dict",
    "get_experiment",
    "iter_experiment",
    "label_volume",
    "load_experiment",
    "simulate_experiment",
]


# -- sample adapters -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BodySample:
    """Analytic bodies (:mod:`xrai.physics.bodies`) as an acquisition :class:`~xrai.physics.acquisition.Sample`.

    Parameters
    ----------
    bodies
        The bodies (later ones displace earlier ones).
    sampling, supersampling
        ``"area"`` (anti-aliased, edge pixels supersampled ``supersampling²`` times) or ``"point"``.
    trajectory
        A rigid motion (:mod:`xrai.physics.motion`, anything with ``pose(time_s)``) applied to all bodies, for
        4D scans. Its rotation must be the identity (analytic bodies are moved, not turned: use a voxel sample
        for tumbling motion); the translation moves every body's centre.
    """

    bodies: tuple[Any, ...]
    sampling: Literal["area", "point"] = "area"
    supersampling: int = 4
    trajectory: Any = None

    def bodies_at(self, time_s: float) -> tuple[Any, ...]:
        """The bodies at time ``time_s`` (moved by the trajectory)."""
        if self.trajectory is None:
            return self.bodies
        pose = self.trajectory.pose(time_s)
        if not np.allclose(pose.rotation, np.eye(3), atol=1e-12):
            raise ConfigError(
                f"the trajectory turns the sample at time_s = {time_s:g}: analytic bodies can only be translated"
            )
        shift = np.asarray(pose.translation_m, dtype=np.float64)
        return tuple(
            dataclasses.replace(body, centre_m=tuple(float(c) for c in np.asarray(body.centre_m) + shift))
            for body in self.bodies
        )

    def thickness_maps(
        self,
        *,
        angle_rad: float,
        time_s: float,
        shape: tuple[int, int],
        pixel_size_m: float,
        center_col: float,
    ) -> Mapping[Any, npt.NDArray[np.floating[Any]]]:
        """Projected thickness per material (:func:`xrai.physics.bodies.project_bodies`)."""
        from xrai.physics.bodies import project_bodies

        maps: Mapping[Any, npt.NDArray[np.floating[Any]]] = project_bodies(
            self.bodies_at(time_s),
            shape,
            pixel_size_m=pixel_size_m,
            angle_rad=angle_rad,
            center_col=center_col,
            sampling=self.sampling,
            supersampling=self.supersampling,
        )
        return maps


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeSample:
    """A voxel sample (:class:`xrai.physics.volumes.VoxelSample`) as an acquisition sample, optionally deforming.

    Parameters
    ----------
    volume
        The voxel sample (at time 0).
    displacement_px
        A displacement field ``[3, z, y, x]`` (voxels, :mod:`xrai.physics.deformation`); at time t the labels
        are warped by ``amplitude(t) · displacement_px``.
    period_s
        Period of the deformation: amplitude(t) = sin(2π t / period_s) (e.g. breathing or a heartbeat).
    group_compositions
        Project materials of the same composition (e.g. tissues that differ only in density) into one map of
        density-equivalent thickness (:func:`xrai.physics.volumes.composition_groups`): the same image to
        float rounding, with fewer maps to project and propagate.
    cache_bytes
        Memory (bytes) for thickness maps projected ahead of time: a static sample projects the angles announced
        with :meth:`prefetch` in blocks that fit, each block in one pass of the projector (bitwise the maps of
        one angle at a time). The last projected block is kept, so a repeated angle (a radiography series) is
        projected once.

    Examples
    --------
    >>> import numpy as np
    >>> from xrai.physics.volumes import VoxelSample
    >>> labels = np.zeros((4, 8, 8), dtype=np.uint8); labels[:, 2:6, 2:6] = 1
    >>> sample = VolumeSample(volume=VoxelSample(labels=labels, materials={1: "pmma"}, voxel_size_m=1e-6))
    >>> angles = np.linspace(0.0, np.pi, 6, endpoint=False)
    >>> grid = {"shape": (4, 8), "pixel_size_m": 1e-6, "center_col": 3.5}
    >>> sample.prefetch(angles, **grid)                    # optional: the angles about to be asked for
    >>> maps = sample.thickness_maps(angle_rad=float(angles[0]), time_s=0.0, **grid)   # projects all 6
    >>> maps["pmma"].shape, round(float(maps["pmma"][0, 3]) * 1e6, 3)       # 4 voxels of 1 µm at column 3
    ((4, 8), 4.0)
    """

    volume: Any
    displacement_px: Any = None
    period_s: float = 1.0
    group_compositions: bool = True
    cache_bytes: int = 64 * 2**20
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_range("period_s", self.period_s, low=0, low_inclusive=False, unit="s")
        check_range("cache_bytes", self.cache_bytes, low=0, high=2**40, unit="bytes")

    def __getstate__(self) -> dict[str, Any]:
        # the cache stays behind (a pickled sample, e.g. for a Dask worker, starts empty)
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "_cache"}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_cache", {})

    def volume_at(self, time_s: float) -> Any:
        """The (deformed) voxel sample at ``time_s``."""
        if self.displacement_px is None:
            return self.volume
        from xrai.physics.deformation import deform_sample

        amplitude = math.sin(2 * math.pi * time_s / self.period_s)
        return deform_sample(self.volume, amplitude * np.asarray(self.displacement_px))

    def prefetch(
        self,
        angles_rad: npt.ArrayLike,
        *,
        shape: tuple[int, int],
        pixel_size_m: float,
        center_col: float,
    ) -> None:
        """Announce the angles (in the order they will be asked for) of coming :meth:`thickness_maps` calls.

        A static sample then projects them in blocks of up to ``cache_bytes`` (one pass of the projector per
        block instead of one per angle). Calls with other angles or another grid are answered as without it;
        a deforming sample ignores it.
        """
        angles = tuple(float(a) for a in np.atleast_1d(np.asarray(angles_rad, dtype=np.float64)).ravel())
        first: dict[float, int] = {}
        for i, angle in enumerate(angles):
            first.setdefault(angle, i)
        self._cache["plan"] = (self._grid(shape, pixel_size_m, center_col), angles, first)

    def thickness_maps(
        self,
        *,
        angle_rad: float,
        time_s: float,
        shape: tuple[int, int],
        pixel_size_m: float,
        center_col: float,
    ) -> Mapping[Any, npt.NDArray[np.floating[Any]]]:
        """Projected thickness per material (:func:`xrai.physics.volumes.projected_thickness`; read-only maps)."""
        angle = float(angle_rad)
        if self.displacement_px is not None:
            return self._project(self.volume_at(time_s), (angle,), shape, pixel_size_m, center_col)[angle]
        grid = self._grid(shape, pixel_size_m, center_col)
        block = self._cache.get("block")
        if block is not None and block[0] == grid and angle in block[1]:
            maps: Mapping[Any, npt.NDArray[np.floating[Any]]] = block[1][angle]
            return maps
        angles = self._planned_block(angle, grid)
        projected = self._project(self.volume, angles, shape, pixel_size_m, center_col)
        self._cache["block"] = (grid, projected)
        return projected[angle]

    @staticmethod
    def _grid(shape: tuple[int, int], pixel_size_m: float, center_col: float) -> tuple[Any, ...]:
        from xrai.options import get_options

        rows, cols = (int(n) for n in shape)
        return (rows, cols, float(pixel_size_m), float(center_col), get_options().dtype)

    def _planned_block(self, angle: float, grid: tuple[Any, ...]) -> tuple[float, ...]:
        """``angle`` and the planned angles after it that fit in ``cache_bytes`` (just ``angle`` without a plan)."""
        plan = self._cache.get("plan")
        if plan is None or plan[0] != grid or angle not in plan[2]:
            return (angle,)
        rows, cols, _, _, dtype = grid
        maps = len(self.volume.material_keys)
        per_angle = maps * max(rows, self.volume.shape[0]) * cols * np.dtype(dtype).itemsize
        n_block = max(1, int(self.cache_bytes) // max(per_angle, 1))
        block: dict[float, None] = {}
        for candidate in plan[1][plan[2][angle] :]:
            block.setdefault(candidate, None)
            if len(block) == n_block:
                break
        return tuple(block)

    def _project(
        self,
        volume: Any,
        angles: tuple[float, ...],
        shape: tuple[int, int],
        pixel_size_m: float,
        center_col: float,
    ) -> dict[float, dict[Any, npt.NDArray[np.floating[Any]]]]:
        """Angle → material → read-only thickness map, all angles in one pass of the projector."""
        from xrai.physics.volumes import projected_thickness

        stacks = projected_thickness(
            volume,
            angles_rad=np.asarray(angles, dtype=np.float64),
            pixel_size_m=pixel_size_m,
            n_rows=shape[0],
            n_cols=shape[1],
            center_col=center_col,
            group_compositions=self.group_compositions,
        )
        for stack in stacks.values():
            stack.flags.writeable = False
        return {angle: {key: stack[i] for key, stack in stacks.items()} for i, angle in enumerate(angles)}


def label_volume(
    bodies: tuple[Any, ...], shape: tuple[int, int, int], *, voxel_size_m: float
) -> tuple[npt.NDArray[np.uint8], dict[int, str]]:
    """Rasterise analytic bodies into a label volume ``[z, y, x]`` (voxel centres inside a body get its label).

    The grid is centred on the rotation axis (voxel k of n at ``(k − (n − 1)/2) · voxel_size_m``), z along the
    rotation axis and x along the detector columns at angle 0, as the projections. Labels 1, 2, … number the
    materials in order of first appearance; later bodies overwrite earlier ones (as in the projections).

    Returns
    -------
    labels, materials
        uint8 labels and the label → material name table.
    """
    nz, ny, nx = (int(n) for n in shape)
    for name, n in zip(("nz", "ny", "nx"), (nz, ny, nx), strict=True):
        check_range(f"shape[{name}]", n, low=1, high=4096)
    names: dict[str, int] = {}
    for body in bodies:
        names.setdefault(body.material, len(names) + 1)
    if len(names) > 255:
        raise ConfigError(f"{len(names)} materials do not fit uint8 labels")
    z = (np.arange(nz) - (nz - 1) / 2.0) * voxel_size_m
    y = (np.arange(ny) - (ny - 1) / 2.0) * voxel_size_m
    x = (np.arange(nx) - (nx - 1) / 2.0) * voxel_size_m
    labels = np.zeros((nz, ny, nx), dtype=np.uint8)
    direction = np.array([0.0, 1.0, 0.0])
    zz, xx = np.meshgrid(z, x, indexing="ij")
    origin = np.stack(
        [xx, np.zeros_like(xx), zz]
    )  # rays along +y through every (z, x): τ is the y coordinate
    for body in bodies:
        enter, leave = body.interval(origin, direction)
        inside = (y[None, :, None] >= enter[:, None, :]) & (y[None, :, None] <= leave[:, None, :])
        labels[inside] = names[body.material]
    return labels, {label: name for name, label in names.items()}


# -- configuration sections ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BeamConfig:
    """The beam: a beamline preset (:mod:`xrai.physics.presets`), optionally rebinned and scaled.

    Parameters
    ----------
    preset
        Beamline preset name (``"seed"``).
    energies_kev
        New energy bin centres (keV); photons are rebinned (conserved). ``None`` = the preset's grid.
    flux_scale
        Multiplies the flux (e.g. another ring current or a beam-sharing fraction).
    source_blur
        Blur the image by the source size (partial coherence) and use the source distance (spherical wave).
    """

    preset: str = "seed"
    energies_kev: tuple[float, ...] | None = None
    flux_scale: float = 1.0
    source_blur: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.preset, str) or not self.preset:
            raise ConfigError(f"preset = {self.preset!r} is not allowed: must be a beamline preset name")
        if self.energies_kev is not None:
            energies = tuple(float(e) for e in np.atleast_1d(np.asarray(self.energies_kev, dtype=np.float64)))
            if not energies:
                raise ConfigError("energies_kev = [] is not allowed: give at least one energy")
            for energy in energies:
                check_range("energies_kev", energy, low=1.0, high=150.0, unit="keV")
            object.__setattr__(self, "energies_kev", energies)
        check_range("flux_scale", self.flux_scale, low=0, low_inclusive=False, high=1e6)


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleConfig:
    """The sample.

    Parameters
    ----------
    kind
        ``"wax_on_needle"`` (the seed's sample, :func:`xrai.physics.bodies.wax_on_needle`), ``"sphere"``,
        ``"shepp_logan"`` (:func:`xrai.physics.phantoms.shepp_logan_3d`) or ``"none"`` (empty beam).
    scale
        Size factor of the wax-on-needle sample (1 = 1.5 mm).
    radius_m, material
        Sphere radius (m) and material.
    volume_shape, voxel_size_m
        Shepp–Logan volume shape (z, y, x) and voxel size (m; ``None`` = the detector's pixel size).
    sampling, supersampling
        Thickness sampling of analytic bodies (``"area"`` anti-aliased or ``"point"``).
    velocity_m_s
        Uniform linear motion (x, y, z) of analytic bodies (m/s; :class:`xrai.physics.motion.LinearTrajectory`),
        for 4D.
    deformation_max_px, deformation_smoothness_px, deformation_period_s
        4D deformation of a voxel sample: a smooth random displacement field
        (:func:`xrai.physics.deformation.random_displacement_field`, drawn from the experiment's seed) of this
        largest displacement (voxels) and correlation length, played as sin(2π t / period); 0 = rigid.
    """

    kind: Literal["wax_on_needle", "sphere", "shepp_logan", "none"] = "wax_on_needle"
    scale: float = 1.0
    radius_m: float = 25.6e-6
    material: str = "pmma"
    volume_shape: tuple[int, int, int] = (64, 64, 64)
    voxel_size_m: float | None = None
    sampling: Literal["area", "point"] = "area"
    supersampling: int = 4
    velocity_m_s: tuple[float, float, float] = (0.0, 0.0, 0.0)
    deformation_max_px: float = 0.0
    deformation_smoothness_px: float = 8.0
    deformation_period_s: float = 1.0

    def __post_init__(self) -> None:
        kinds = ("wax_on_needle", "sphere", "shepp_logan", "none")
        if self.kind not in kinds:
            raise ConfigError(f"kind = {self.kind!r} is not allowed: must be one of {', '.join(kinds)}")
        check_range("scale", self.scale, low=0, low_inclusive=False, high=100)
        check_range("radius_m", self.radius_m, low=0, low_inclusive=False, high=0.1, unit="m")
        shape = tuple(int(n) for n in np.asarray(self.volume_shape).reshape(-1))
        if len(shape) != 3:
            raise ConfigError(f"volume_shape = {self.volume_shape!r} is not allowed: must be (nz, ny, nx)")
        for n in shape:
            check_range("volume_shape", n, low=1, high=4096)
        object.__setattr__(self, "volume_shape", shape)
        if self.voxel_size_m is not None:
            check_range("voxel_size_m", self.voxel_size_m, low=0, low_inclusive=False, high=0.01, unit="m")
        if self.sampling not in ("area", "point"):
            raise ConfigError(f"sampling = {self.sampling!r} is not allowed: must be 'area' or 'point'")
        check_range("supersampling", self.supersampling, low=1, high=64)
        velocity = tuple(float(v) for v in np.asarray(self.velocity_m_s, dtype=np.float64).reshape(-1))
        if len(velocity) != 3:
            raise ConfigError(f"velocity_m_s = {self.velocity_m_s!r} is not allowed: must be (x, y, z)")
        for value in velocity:
            check_range("velocity_m_s", value, low=-1e3, high=1e3, unit="m/s")
        object.__setattr__(self, "velocity_m_s", velocity)
        check_range("deformation_max_px", self.deformation_max_px, low=0, high=1e3, unit="px")
        check_range("deformation_smoothness_px", self.deformation_smoothness_px, low=0, low_inclusive=False)
        check_range("deformation_period_s", self.deformation_period_s, low=0, low_inclusive=False, unit="s")
        if self.deformation_max_px and self.kind != "shepp_logan":
            raise ConfigError(
                f"deformation_max_px = {self.deformation_max_px!r} needs a voxel sample (kind = 'shepp_logan'), "
                f"not kind = {self.kind!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorConfig:
    """The detector: a preset (:mod:`xrai.physics.detector.presets`) with overrides.

    Parameters
    ----------
    preset
        Detector preset name (``"seed"``).
    shape
        Camera region of interest (rows, cols); ``None`` = the full sensor.
    effective_pixel_size_m
        Pixel size in the scintillator plane (m); ``"preset"`` keeps the preset's value (1.22 µm for the seed),
        ``"nominal"`` uses camera pixel / magnification (1.1 µm).
    defects
        Camera fixed-pattern defects (PRNU, DSNU, hot/dead/nonlinear pixels).
    blur
        Optical blur of the detector.
    camera
        Overrides of :class:`~xrai.physics.detector.Camera` fields (e.g. ``{"max_frame_rate_hz": 5000}``).
    """

    preset: str = "seed"
    shape: tuple[int, int] | None = None
    effective_pixel_size_m: float | Literal["preset", "nominal"] = "preset"
    defects: bool = True
    blur: bool = True
    camera: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.shape is not None:
            shape = tuple(int(n) for n in np.asarray(self.shape).reshape(-1))
            if len(shape) != 2:
                raise ConfigError(f"shape = {self.shape!r} is not allowed: must be (rows, cols)")
            for n in shape:
                check_range("shape", n, low=1, high=65536)
            object.__setattr__(self, "shape", shape)
        if isinstance(self.effective_pixel_size_m, str):
            if self.effective_pixel_size_m not in ("preset", "nominal"):
                raise ConfigError(
                    f"effective_pixel_size_m = {self.effective_pixel_size_m!r} is not allowed: "
                    "must be a length, 'preset' or 'nominal'"
                )
        else:
            check_range(
                "effective_pixel_size_m", self.effective_pixel_size_m, low=0, low_inclusive=False, high=0.01,
                unit="m",
            )  # fmt: skip
        object.__setattr__(self, "camera", dict(self.camera))
        build_detector(self)  # validate the overrides now


_SCAN_TYPES: dict[str, type[Any]] = {
    "tomography": TomographyScan,
    "radiography": RadiographyScan,
    "cine": CineTomographyScan,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Experiment:
    """A whole virtual experiment.

    Parameters
    ----------
    name, description
        Free text.
    beam, sample, detector
        The three configuration sections.
    geometry
        Distances and the propagator (:class:`~xrai.physics.acquisition.Propagation`); the source distance and
        size come from the beamline when ``beam.source_blur`` is set and ``geometry.source_distance_m`` is unset.
    scan
        :class:`~xrai.physics.acquisition.TomographyScan`, ``RadiographyScan`` or ``CineTomographyScan``.
    imperfections
        :class:`~xrai.physics.acquisition.Imperfections`.
    seed
        Seed of all randomness (defects, noise, beam fluctuations, drift, zingers).
    """

    name: str = "experiment"
    description: str = ""
    beam: BeamConfig = field(default_factory=BeamConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    geometry: Propagation = field(default_factory=Propagation)
    scan: ScanConfig
    imperfections: Imperfections = field(default_factory=Imperfections)
    seed: int = 0

    def __post_init__(self) -> None:
        for name, kind in (
            ("beam", BeamConfig),
            ("sample", SampleConfig),
            ("detector", DetectorConfig),
            ("geometry", Propagation),
            ("imperfections", Imperfections),
        ):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(f"{name} = {getattr(self, name)!r} is not a {kind.__name__}")
        if not isinstance(self.scan, TomographyScan | RadiographyScan | CineTomographyScan):
            raise ConfigError(
                f"scan = {self.scan!r} is not a TomographyScan, RadiographyScan or CineTomographyScan"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed = {self.seed!r} is not allowed: must be an integer >= 0")
        camera = build_detector(self.detector).camera
        from xrai.physics.detector import check_frame_timing

        plan = plan_frames(self.scan)
        try:
            check_frame_timing(camera, exposure_s=plan.exposure_s, frame_rate_hz=plan.frame_rate_hz)
        except ConfigError as exc:
            raise ConfigError(f"[scan] {exc}") from None

    @property
    def plan(self) -> FramePlan:
        """The frame plan of the scan."""
        return plan_frames(self.scan)


# -- building the parts --------------------------------------------------------------------------------------------


def build_detector(config: DetectorConfig) -> Detector:
    """The :class:`~xrai.physics.detector.Detector` a :class:`DetectorConfig` describes."""
    overrides: dict[str, Any] = {"shape": config.shape, "defects": config.defects}
    if config.effective_pixel_size_m == "nominal":
        overrides["effective_pixel_size_m"] = None
    elif not isinstance(config.effective_pixel_size_m, str):
        overrides["effective_pixel_size_m"] = float(config.effective_pixel_size_m)
    detector = get_detector(config.preset, **overrides)
    if config.camera:
        from xrai.physics.detector import Camera

        allowed = {f.name for f in dataclasses.fields(Camera)} - {"n_rows", "n_cols"}
        unknown = sorted(set(config.camera) - allowed)
        if unknown:
            raise ConfigError(f"camera has unknown field(s) {unknown}; allowed: {sorted(allowed)}")
        detector = dataclasses.replace(detector, camera=dataclasses.replace(detector.camera, **config.camera))
    if not config.blur:
        detector = dataclasses.replace(detector, blur=False)
    return detector


def build_spectrum(config: BeamConfig) -> Any:
    """The :class:`~xrai.physics.spectrum.Spectrum` at the sample for a :class:`BeamConfig`."""
    from xrai.physics.presets import get_preset

    spectrum = get_preset(config.preset).spectrum()
    if config.energies_kev is not None:
        spectrum = spectrum.rebinned(np.asarray(config.energies_kev))
    if config.flux_scale != 1.0:
        spectrum = spectrum.scaled(config.flux_scale)
    return spectrum


def _propagation(experiment: Experiment) -> Propagation:
    geometry = experiment.geometry
    if not experiment.beam.source_blur or geometry.source_distance_m is not None:
        return geometry
    from xrai.physics.presets import get_preset

    source = get_preset(experiment.beam.preset).source
    distance = getattr(source, "distance_m", None)
    if distance is None:
        return geometry
    size = (float(getattr(source, "source_size_v_m", 0.0)), float(getattr(source, "source_size_h_m", 0.0)))
    return dataclasses.replace(geometry, source_distance_m=float(distance), source_size_m=size)


def build_sample(config: SampleConfig, *, pixel_size_m: float, seed: int = 0) -> Any:
    """The acquisition sample (or ``None`` for ``kind = "none"``) of a :class:`SampleConfig`.

    ``seed`` draws the random deformation field of a deforming voxel sample.
    """
    if config.kind == "none":
        return None
    if config.kind == "shepp_logan":
        from xrai.physics.phantoms import shepp_logan_3d

        voxel = config.voxel_size_m if config.voxel_size_m is not None else pixel_size_m
        volume = shepp_logan_3d(config.volume_shape, voxel_size_m=voxel)
        field = None
        if config.deformation_max_px:
            from xrai.physics.deformation import random_displacement_field

            field = random_displacement_field(
                volume.shape,
                max_displacement_px=config.deformation_max_px,
                smoothness_px=config.deformation_smoothness_px,
                rng=seed,
            )
        return VolumeSample(volume=volume, displacement_px=field, period_s=config.deformation_period_s)
    from xrai.physics import bodies as analytic

    if config.kind == "wax_on_needle":
        parts = analytic.wax_on_needle(scale=config.scale)
    else:
        parts = (analytic.Sphere(radius_m=config.radius_m, material=config.material),)
    trajectory = None
    if any(config.velocity_m_s):
        from xrai.physics.motion import LinearTrajectory

        trajectory = LinearTrajectory(velocity_m_s=np.asarray(config.velocity_m_s))
    return BodySample(
        bodies=tuple(parts),
        sampling=config.sampling,
        supersampling=config.supersampling,
        trajectory=trajectory,
    )


def _ground_truth(experiment: Experiment, sample: Any, *, max_voxels: int) -> dict[str, Any]:
    """Label volume of the sample at the detector's pixel size (coarser if it would exceed ``max_voxels``)."""
    if sample is None:
        return {}
    if isinstance(sample, VolumeSample):
        volume = sample.volume
        return {
            "labels": np.asarray(volume.labels),
            "label_materials": {int(k): str(getattr(v, "name", v)) for k, v in volume.materials.items()},
            "voxel_size_m": float(volume.voxel_size_m),
        }
    detector = build_detector(experiment.detector)
    rows, cols = detector.shape
    pixel = detector.pixel_size_m / _propagation(experiment).magnification
    factor = max(1, math.ceil((rows * cols * cols / max_voxels) ** (1 / 3)))
    shape = (math.ceil(rows / factor), math.ceil(cols / factor), math.ceil(cols / factor))
    labels, table = label_volume(sample.bodies_at(0.0), shape, voxel_size_m=pixel * factor)
    return {"labels": labels, "label_materials": table, "voxel_size_m": pixel * factor}


def _inputs(experiment: Experiment) -> tuple[Any, Detector, Any, Propagation]:
    detector = build_detector(experiment.detector)
    propagation = _propagation(experiment)
    sample = build_sample(
        experiment.sample,
        pixel_size_m=detector.pixel_size_m / propagation.magnification,
        seed=experiment.seed,
    )
    spectrum = build_spectrum(experiment.beam)
    return sample, detector, spectrum, propagation


def simulate_experiment(
    experiment: Experiment,
    *,
    rng: RngLike = None,
    noise: bool = True,
    keep_transmission: bool = False,
    ground_truth: bool = True,
    max_truth_voxels: int = 256**3,
    progress: Callable[[int], None] | None = None,
) -> SimulatedScan:
    """Run an experiment into memory.

    Parameters
    ----------
    experiment
        The configuration.
    rng
        Seed or Generator; ``None`` uses ``experiment.seed``.
    noise, keep_transmission
        See :func:`xrai.physics.acquisition.iter_frames`.
    ground_truth
        Add the sample's label volume (``labels``, ``label_materials``, ``voxel_size_m``) to the ground truth.
    max_truth_voxels
        Largest label volume; a larger sample is rasterised at a coarser voxel size.
    progress
        Called with 1 after each frame.

    Examples
    --------
    >>> from xrai.physics.experiment import get_experiment, simulate_experiment
    >>> scan = simulate_experiment(get_experiment("wax-needle-small"))     # doctest: +SKIP
    >>> scan.projections.shape                                            # doctest: +SKIP
    (90, 128, 128)
    """
    sample, detector, spectrum, propagation = _inputs(experiment)
    truth = _ground_truth(experiment, sample, max_voxels=max_truth_voxels) if ground_truth else {}
    return simulate_scan(
        sample,
        scan=experiment.scan,
        detector=detector,
        energies_kev=spectrum.energies_kev,
        photons_per_s_m2=spectrum.photons_per_s_m2,
        propagation=propagation,
        imperfections=experiment.imperfections,
        rng=experiment.seed if rng is None else rng,
        noise=noise,
        keep_transmission=keep_transmission,
        configuration=experiment_to_dict(experiment),
        ground_truth=truth,
        progress=progress,
    )


def iter_experiment(
    experiment: Experiment,
    *,
    rng: RngLike = None,
    noise: bool = True,
    truth: dict[str, Any] | None = None,
    ground_truth: bool = True,
    max_truth_voxels: int = 256**3,
) -> tuple[FramePlan, Iterator[Frame]]:
    """The frame plan and a generator of the frames (for writers that stream to disk).

    ``truth`` (a dict), if given, receives the ground truth: the label volume at once (with ``ground_truth``),
    the per-frame geometry and beam truth as the frames are made.
    """
    sample, detector, spectrum, propagation = _inputs(experiment)
    record = truth if truth is not None else {}
    if ground_truth:
        record.update(_ground_truth(experiment, sample, max_voxels=max_truth_voxels))
    frames = iter_frames(
        sample,
        scan=experiment.scan,
        detector=detector,
        energies_kev=spectrum.energies_kev,
        photons_per_s_m2=spectrum.photons_per_s_m2,
        propagation=propagation,
        imperfections=experiment.imperfections,
        rng=experiment.seed if rng is None else rng,
        noise=noise,
        truth=record,
    )
    return plan_frames(experiment.scan), frames


# -- dict / TOML ---------------------------------------------------------------------------------------------------

_SECTIONS: dict[str, type[Any]] = {
    "beam": BeamConfig,
    "sample": SampleConfig,
    "detector": DetectorConfig,
    "geometry": Propagation,
    "imperfections": Imperfections,
}
_PLAIN_SUFFIXES = ("_px", "_per_s", "_electrons", "_rms", "_fraction")


def _unit_of(name: str) -> str | None:
    """The canonical unit a field's name promises, or ``None`` for plain numbers (px, counts, ratios)."""
    if name.endswith("_m_s"):
        return "m/s"
    if name.endswith(_PLAIN_SUFFIXES):
        return None
    try:
        return canonical_unit(name)
    except UnitError:
        return None


def _convert(section: str, name: str, value: Any) -> Any:
    unit = _unit_of(name)
    if isinstance(value, dict):
        return value
    if unit is None or isinstance(value, bool):
        return value
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return tuple(float(v) for v in value)
        return tuple(float(v) for v in np.atleast_1d(to_canonical(list(value), name=name, unit=unit)))
    if isinstance(value, str) and value in ("preset", "nominal"):
        return value
    try:
        return to_canonical(value, name=name, unit=unit)
    except UnitError as exc:
        raise ConfigError(f"[{section}] {exc}") from None


def _build(section: str, kind: type[Any], values: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"[{section}] must be a table of fields, got {values!r}")
    allowed = [f.name for f in dataclasses.fields(kind) if f.name not in skip and f.init]
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ConfigError(f"[{section}] unknown field(s) {unknown}; allowed: {', '.join(allowed)}")
    kwargs = {}
    for name, value in values.items():
        converted = _convert(section, name, value)
        kwargs[name] = tuple(converted) if isinstance(converted, list) else converted
    try:
        return kind(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"[{section}] {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"[{section}] {exc}") from None


def experiment_from_dict(data: Mapping[str, Any]) -> Experiment:
    """An :class:`Experiment` from a nested mapping (a parsed TOML file or :func:`experiment_to_dict` output).

    Lengths, times, energies, angles and rates may be strings with units (``"82 mm"``, ``"15 ms"``); plain
    numbers are in the unit the field name ends with. Unknown sections or fields are errors.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"an experiment must be a table, got {type(data).__name__}")
    top = {"name", "description", "seed", "scan", *_SECTIONS}
    unknown = sorted(set(data) - top)
    if unknown:
        raise ConfigError(f"unknown section(s) or field(s) {unknown}; allowed: {', '.join(sorted(top))}")
    if "scan" not in data:
        raise ConfigError(
            "[scan] is missing: give kind = 'tomography', 'radiography' or 'cine' and its fields"
        )
    scan_values = dict(data["scan"])
    kind_name = scan_values.pop("kind", "tomography")
    if kind_name not in _SCAN_TYPES:
        raise ConfigError(
            f"[scan] kind = {kind_name!r} is not allowed: must be one of {', '.join(_SCAN_TYPES)}"
        )
    kwargs: dict[str, Any] = {
        "scan": _build("scan", _SCAN_TYPES[kind_name], scan_values, skip=("kind",)),
    }
    for section, kind in _SECTIONS.items():
        if section in data:
            kwargs[section] = _build(section, kind, data[section])
    for key in ("name", "description", "seed"):
        if key in data:
            kwargs[key] = data[key]
    return Experiment(**kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def experiment_to_dict(experiment: Experiment) -> dict[str, Any]:
    """The canonical, JSON-serialisable form of an experiment (SI units, ``None`` fields left out)."""
    out: dict[str, Any] = {
        "name": experiment.name,
        "description": experiment.description,
        "seed": experiment.seed,
    }
    for section in (*_SECTIONS, "scan"):
        config = getattr(experiment, section)
        values = {}
        for f in dataclasses.fields(config):
            if not f.init:
                continue
            value = getattr(config, f.name)
            if value is not None:
                values[f.name] = _plain(value)
        out[section] = values
    return out


def load_experiment(path: str | os.PathLike[str]) -> Experiment:
    """Read an experiment from a TOML file (see the module documentation for the layout)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such experiment file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    try:
        return experiment_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None


# -- presets -------------------------------------------------------------------------------------------------------

_SEED_IMPERFECTIONS = Imperfections(
    beam_lifetime_s=10 * 3600.0,
    beam_fluctuation_rms=0.002,
    flat_structure_rms=0.02,
    flat_drift_px_per_s=0.02,
    zingers_per_frame=0.2,
)


def _wax_needle() -> Experiment:
    return Experiment(
        name="wax-needle",
        description=(
            "The seed's tomography: wax on a steel needle (1.5 mm), seed beamline (BM 2.5 GeV, 1.5 T, 106 mA, "
            "8-30 keV, 0.7 mm Al), 82 mm propagation, LSO:Tb 12 um + 10x NA 0.28 + PCO.dimax 2016^2 at "
            "1.22 um, 3000 projections over 180 deg, continuous rotation at 25 frames/s, flats and darks."
        ),
        sample=SampleConfig(kind="wax_on_needle", scale=1.0),
        detector=DetectorConfig(preset="seed"),
        geometry=Propagation(distance_m=0.082),
        scan=TomographyScan(
            n_projections=3000,
            angular_range_deg=180.0,
            rotation="continuous",
            exposure_s=0.015,
            frame_rate_hz=25.0,
            n_darks=20,
            n_flats_before=20,
            n_flats_after=20,
        ),
        imperfections=_SEED_IMPERFECTIONS,
    )


def _wax_needle_small() -> Experiment:
    return Experiment(
        name="wax-needle-small",
        description=(
            "The seed's tomography scaled to run in seconds: a 128 x 128 region of the same detector (1.22 um), "
            "the wax-on-needle sample scaled by 0.08, 6 energy bins, 90 projections."
        ),
        beam=BeamConfig(energies_kev=(10.0, 14.0, 18.0, 22.0, 26.0, 30.0)),
        sample=SampleConfig(kind="wax_on_needle", scale=0.08),
        detector=DetectorConfig(preset="seed", shape=(128, 128)),
        geometry=Propagation(distance_m=0.082),
        scan=TomographyScan(
            n_projections=90,
            angular_range_deg=180.0,
            rotation="continuous",
            exposure_s=0.015,
            frame_rate_hz=25.0,
            n_darks=5,
            n_flats_before=5,
            n_flats_after=5,
        ),
        imperfections=_SEED_IMPERFECTIONS,
    )


def _cine_small() -> Experiment:
    return Experiment(
        name="cine-small",
        description=(
            "4D cine-tomography as in the seed (20 tomograms/s, continuous rotation) on a 64 x 64 region: "
            "2 tomograms of 30 projections at 600 frames/s of a slowly rising wax-on-needle sample; the flux is "
            "scaled by 8 (a wiggler or multilayer beam, as cine-tomography needs) to expose 1.7 ms frames."
        ),
        beam=BeamConfig(energies_kev=(12.0, 18.0, 24.0, 30.0), flux_scale=8.0),
        sample=SampleConfig(kind="wax_on_needle", scale=0.04, velocity_m_s=(0.0, 0.0, -2e-4)),
        detector=DetectorConfig(preset="seed", shape=(64, 64), camera={"max_frame_rate_hz": 5000.0}),
        geometry=Propagation(distance_m=0.082),
        scan=CineTomographyScan(
            n_tomograms=2, projections_per_tomogram=30, tomograms_per_s=20.0, n_darks=3, n_flats_before=3
        ),
    )


#: Preset name → factory.
EXPERIMENT_PRESETS: dict[str, Callable[[], Experiment]] = {
    "wax-needle": _wax_needle,
    "wax-needle-small": _wax_needle_small,
    "cine-small": _cine_small,
}


def get_experiment(name: str) -> Experiment:
    """An experiment preset by name (see :data:`EXPERIMENT_PRESETS`)."""
    factory = EXPERIMENT_PRESETS.get(name)
    if factory is None:
        raise ConfigError(
            f"experiment preset = {name!r} is unknown; available: {', '.join(EXPERIMENT_PRESETS)}"
        )
    return factory()
