"""Acquisition: radiography time series, tomography (step-and-shoot or continuous) and 4D cine-tomography.

An acquisition turns a sample that can be projected at any pose into the frames a beamline records: darks,
flats (before, after, interleaved) and projections, detected by an indirect detector
(:mod:`xrai.physics.detector`), with the imperfections of a real scan:

* **rotation**: step-and-shoot (the sample stands still during an exposure) or continuous (the frame integrates
  the rotation: sub-frames at evenly spaced angles within the exposure, each propagated, their intensities
  averaged);
* **geometry**: rotation-axis offset and in-plane tilt, linear and random-walk sample drift (all exact 2-D
  transforms of the projected thickness for a parallel beam, applied before propagation);
* **beam**: current decay I(t) = exp(−t/τ) and frame-to-frame fluctuations; a structured beam profile that
  moves vertically (flat-field changes during the scan, so flats taken at other times correct imperfectly);
* **camera**: fixed-pattern defects from the detector (nonlinear pixels make rings), zingers.

Frames come one at a time from :func:`iter_frames` (a writer streams them to disk) or all at once from
:func:`simulate_scan` as a frozen :class:`SimulatedScan` with the ground truth.

Conventions (see :mod:`xrai.geometry`): frames ``[row, col]``, rows along the rotation axis; angles in rad;
a projection's angle is the *mid-exposure* angle; the rotation axis projects onto column
``(n_cols − 1)/2 + axis_offset_px``; ``image_key`` 0 projection, 1 flat, 2 dark (NXtomo).

A sample is anything with a method ``thickness_maps(*, angle_rad, time_s, shape, pixel_size_m, center_col)``
returning a mapping material name → projected thickness (m) on a ``shape`` grid whose rotation axis projects onto
column ``center_col`` (the :class:`Sample` protocol); :mod:`xrai.physics.experiment` adapts analytic bodies and
voxel volumes to it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from xrai._backend import as_rng
from xrai._typing import RngLike
from xrai.errors import ConfigError, XraiWarning, check_range
from xrai.physics.detector import (
    Detector,
    PixelMaps,
    check_frame_timing,
    detect_light,
    light_weights,
    make_pixel_maps,
    zinger_electrons,
)

__all__ = [
    "IMAGE_KEY_DARK",
    "IMAGE_KEY_FLAT",
    "IMAGE_KEY_PROJECTION",
    "CineTomographyScan",
    "Frame",
    "FramePlan",
    "Imperfections",
    "Propagation",
    "RadiographyScan",
    "Sample",
    "ScanConfig",
    "SimulatedScan",
    "TomographyScan",
    "beam_profile",
    "iter_frames",
    "plan_frames",
    "simulate_scan",
    "weighted_intensity",
]

IMAGE_KEY_PROJECTION = 0
IMAGE_KEY_FLAT = 1
IMAGE_KEY_DARK = 2


@runtime_checkable
class Sample(Protocol):
    """What an acquisition needs from a sample: projected thickness per material at a pose."""

    def thickness_maps(
        self,
        *,
        angle_rad: float,
        time_s: float,
        shape: tuple[int, int],
        pixel_size_m: float,
        center_col: float,
    ) -> Mapping[Any, npt.NDArray[np.floating[Any]]]:
        """Material name → projected thickness (m) on a ``shape`` grid, rotation axis at column ``center_col``."""
        ...


# -- scan descriptions ---------------------------------------------------------------------------------------------


def _check_int(name: str, value: Any, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} = {value!r} is not allowed: must be an integer")
    check_range(name, float(value), low=low, high=high)
    return int(value)


def _check_common(scan: Any) -> None:
    check_range("exposure_s", scan.exposure_s, low=0, low_inclusive=False, high=3600, unit="s")
    check_range("frame_rate_hz", scan.frame_rate_hz, low=0, low_inclusive=False, unit="Hz")
    if scan.exposure_s > 1.0 / scan.frame_rate_hz * (1 + 1e-12):
        raise ConfigError(
            f"exposure_s = {scan.exposure_s:g} s is longer than the frame period 1/frame_rate_hz = "
            f"{1.0 / scan.frame_rate_hz:g} s (frame_rate_hz = {scan.frame_rate_hz:g} Hz)"
        )
    for name in ("n_darks", "n_flats_before", "n_flats_after", "n_darks_after"):
        _check_int(name, getattr(scan, name), low=0, high=100_000)


@dataclass(frozen=True, slots=True, kw_only=True)
class TomographyScan:
    """A tomographic scan: ``n_projections`` angles over ``angular_range_deg``, with flats and darks.

    Parameters
    ----------
    n_projections
        Number of projections.
    angular_range_deg
        Rotation range (deg): 180 (parallel-beam minimum) or 360 (e.g. for an off-centre axis); the angles are
        ``start_angle_deg + i · range / n`` (no end point).
    rotation
        ``"step"`` (step-and-shoot) or ``"continuous"`` (the sample turns during each exposure).
    exposure_s, frame_rate_hz
        Exposure time and frame rate; the exposure must fit in the frame period.
    n_darks, n_flats_before, n_flats_after, n_darks_after
        Frame counts; darks first, then flats, projections, flats after, darks after.
    flat_every, n_flats_interleaved
        Insert ``n_flats_interleaved`` flats after every ``flat_every`` projections (0 = never).
    start_angle_deg
        Angle of the first projection (deg).
    sub_frames
        Sub-frames per exposure for continuous rotation; ``None`` = enough that a point at the detector edge
        moves ≤ 0.5 px between sub-frames.
    """

    kind: Literal["tomography"] = "tomography"
    n_projections: int
    angular_range_deg: float = 180.0
    rotation: Literal["step", "continuous"] = "step"
    exposure_s: float
    frame_rate_hz: float
    n_darks: int = 10
    n_flats_before: int = 10
    n_flats_after: int = 10
    n_darks_after: int = 0
    flat_every: int = 0
    n_flats_interleaved: int = 0
    start_angle_deg: float = 0.0
    sub_frames: int | None = None

    def __post_init__(self) -> None:
        _check_int("n_projections", self.n_projections, low=1, high=10_000_000)
        check_range(
            "angular_range_deg", self.angular_range_deg, low=0, low_inclusive=False, high=3600, unit="deg"
        )
        if self.rotation not in ("step", "continuous"):
            raise ConfigError(f"rotation = {self.rotation!r} is not allowed: must be 'step' or 'continuous'")
        _check_common(self)
        _check_int("flat_every", self.flat_every, low=0)
        _check_int("n_flats_interleaved", self.n_flats_interleaved, low=0, high=100_000)
        check_range("start_angle_deg", self.start_angle_deg, low=-3600, high=3600, unit="deg")
        if self.sub_frames is not None:
            _check_int("sub_frames", self.sub_frames, low=1, high=1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class RadiographyScan:
    """A radiography time series: ``n_frames`` images of a (possibly moving) sample at a fixed angle."""

    kind: Literal["radiography"] = "radiography"
    n_frames: int
    exposure_s: float
    frame_rate_hz: float
    angle_deg: float = 0.0
    n_darks: int = 10
    n_flats_before: int = 10
    n_flats_after: int = 0
    n_darks_after: int = 0
    sub_frames: int = 1

    def __post_init__(self) -> None:
        _check_int("n_frames", self.n_frames, low=1, high=10_000_000)
        _check_common(self)
        check_range("angle_deg", self.angle_deg, low=-3600, high=3600, unit="deg")
        _check_int("sub_frames", self.sub_frames, low=1, high=1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class CineTomographyScan:
    """4D cine-tomography: continuous rotation, ``n_tomograms`` tomograms of ``projections_per_tomogram`` each.

    The frame rate is ``tomograms_per_s × projections_per_tomogram`` (the seed: 20 tomograms/s); the exposure
    defaults to the whole frame period. Frame k is taken at t = k / frame rate around the angle
    ``start + k · range / projections_per_tomogram`` (angles keep increasing; tomogram ``k // projections``).
    """

    kind: Literal["cine"] = "cine"
    n_tomograms: int
    projections_per_tomogram: int
    tomograms_per_s: float
    angular_range_deg: float = 180.0
    exposure_s: float | None = None
    n_darks: int = 10
    n_flats_before: int = 10
    n_flats_after: int = 0
    n_darks_after: int = 0
    start_angle_deg: float = 0.0
    sub_frames: int | None = None

    def __post_init__(self) -> None:
        _check_int("n_tomograms", self.n_tomograms, low=1, high=1_000_000)
        _check_int("projections_per_tomogram", self.projections_per_tomogram, low=1, high=1_000_000)
        check_range("tomograms_per_s", self.tomograms_per_s, low=0, low_inclusive=False, high=1e6, unit="Hz")
        check_range(
            "angular_range_deg", self.angular_range_deg, low=0, low_inclusive=False, high=3600, unit="deg"
        )
        if self.exposure_s is None:
            object.__setattr__(self, "exposure_s", 1.0 / self.frame_rate_hz)
        _check_common(self)
        check_range("start_angle_deg", self.start_angle_deg, low=-3600, high=3600, unit="deg")
        if self.sub_frames is not None:
            _check_int("sub_frames", self.sub_frames, low=1, high=1000)

    @property
    def frame_rate_hz(self) -> float:
        """tomograms_per_s × projections_per_tomogram (Hz)."""
        return self.tomograms_per_s * self.projections_per_tomogram

    @property
    def n_projections(self) -> int:
        """All projections of all tomograms."""
        return self.n_tomograms * self.projections_per_tomogram

    @property
    def rotation(self) -> str:
        """Always ``"continuous"``."""
        return "continuous"


ScanConfig = TomographyScan | RadiographyScan | CineTomographyScan


@dataclass(frozen=True, slots=True, kw_only=True)
class Imperfections:
    """What makes a real scan differ from the ideal one. All default to a perfect instrument.

    Parameters
    ----------
    axis_offset_px
        Rotation axis position relative to the detector centre (columns; + = towards higher columns).
    axis_tilt_rad
        In-plane tilt of the rotation axis: its direction on the detector is (cos φ, sin φ) in (row, col).
    drift_px_per_s
        Linear sample drift (row, col) in px/s.
    drift_random_walk_px
        rms of a random-walk drift step per frame (px, both axes).
    beam_lifetime_s
        Beam current decay time τ (s): I(t) = exp(−t/τ); ``None`` = constant current (top-up).
    beam_fluctuation_rms
        Relative rms of frame-to-frame incident-intensity fluctuations.
    flat_structure_rms
        Relative rms of the structure of the beam profile (monochromator, windows, scintillator).
    flat_drift_px_per_s
        Vertical motion of that structure (px/s): flats and projections then see different profiles.
    zingers_per_frame
        Mean number of zinger events per frame (direct hits in the sensor).
    camera_defects
        Draw the camera's fixed-pattern maps (PRNU, DSNU, hot/dead/nonlinear pixels) from its settings.
    """

    axis_offset_px: float = 0.0
    axis_tilt_rad: float = 0.0
    drift_px_per_s: tuple[float, float] = (0.0, 0.0)
    drift_random_walk_px: float = 0.0
    beam_lifetime_s: float | None = None
    beam_fluctuation_rms: float = 0.0
    flat_structure_rms: float = 0.0
    flat_drift_px_per_s: float = 0.0
    zingers_per_frame: float = 0.0
    camera_defects: bool = True

    def __post_init__(self) -> None:
        check_range("axis_offset_px", self.axis_offset_px, low=-1e5, high=1e5, unit="px")
        check_range("axis_tilt_rad", self.axis_tilt_rad, low=-0.5, high=0.5, unit="rad")
        drift = tuple(float(v) for v in np.asarray(self.drift_px_per_s, dtype=np.float64).reshape(-1))
        if len(drift) != 2:
            raise ConfigError(f"drift_px_per_s = {self.drift_px_per_s!r} is not allowed: must be (row, col)")
        for axis, value in zip(("row", "col"), drift, strict=True):
            check_range(f"drift_px_per_s[{axis}]", value, low=-1e6, high=1e6, unit="px/s")
        object.__setattr__(self, "drift_px_per_s", drift)
        check_range("drift_random_walk_px", self.drift_random_walk_px, low=0, high=1e3, unit="px")
        if self.beam_lifetime_s is not None:
            check_range("beam_lifetime_s", self.beam_lifetime_s, low=0, low_inclusive=False, unit="s")
        check_range("beam_fluctuation_rms", self.beam_fluctuation_rms, low=0, high=0.5)
        check_range("flat_structure_rms", self.flat_structure_rms, low=0, high=0.5)
        check_range("flat_drift_px_per_s", self.flat_drift_px_per_s, low=-1e6, high=1e6, unit="px/s")
        check_range("zingers_per_frame", self.zingers_per_frame, low=0, high=1e4)


@dataclass(frozen=True, slots=True, kw_only=True)
class Propagation:
    """How the exit wave reaches the detector (:func:`xrai.physics.propagation.polychromatic_intensity`).

    ``distance_m`` 0 gives Beer–Lambert contrast only. ``pad`` ``"auto"`` pads to the sampling-safe FFT size
    (``None``: periodic, as syris). ``source_distance_m`` makes the incident wave spherical (Fresnel scaling
    theorem; the sample-plane pixel is the detector pixel / magnification) and ``source_size_m`` (vertical,
    horizontal FWHM) blurs the image by the source's penumbra s·z/D (partial coherence).
    """

    distance_m: float = 0.0
    method: Literal["fresnel", "angular_spectrum"] = "fresnel"
    mollified: bool = False
    pad: Literal["auto"] | None = None
    source_distance_m: float | None = None
    source_size_m: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        check_range("distance_m", self.distance_m, low=0, high=1e3, unit="m")
        if self.source_distance_m is not None:
            check_range("source_distance_m", self.source_distance_m, low=0, low_inclusive=False, unit="m")
        size = tuple(float(v) for v in np.asarray(self.source_size_m, dtype=np.float64).reshape(-1))
        if len(size) != 2:
            raise ConfigError(
                f"source_size_m = {self.source_size_m!r} is not allowed: must be (vertical, horizontal)"
            )
        for axis, value in zip(("vertical", "horizontal"), size, strict=True):
            check_range(f"source_size_m[{axis}]", value, low=0, high=0.1, unit="m")
        if max(size) > 0 and self.source_distance_m is None:
            raise ConfigError(f"source_size_m = {size} needs source_distance_m (the source–sample distance)")
        object.__setattr__(self, "source_size_m", size)

    @property
    def magnification(self) -> float:
        """Geometric magnification (D + z)/D of the incident spherical wave (1 for a plane wave)."""
        if self.source_distance_m is None:
            return 1.0
        return (self.source_distance_m + self.distance_m) / self.source_distance_m
        if self.method not in ("fresnel", "angular_spectrum"):
            raise ConfigError(
                f"method = {self.method!r} is not allowed: must be 'fresnel' or 'angular_spectrum'"
            )
        if self.pad not in ("auto", None):
            raise ConfigError(f"pad = {self.pad!r} is not allowed: must be 'auto' or None")


# -- the frame plan ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FramePlan:
    """When, where and what every frame of a scan is (known before anything is simulated).

    Attributes
    ----------
    image_key
        int32 (n_frames,): 0 projection, 1 flat, 2 dark.
    angles_rad
        float64 (n_frames,): mid-exposure rotation angle (flats and darks: the stage angle at that time).
    times_s
        float64 (n_frames,): start of each exposure (s from the first frame).
    sweep_rad
        float64 (n_frames,): angle swept during the exposure (0 for step-and-shoot, flats and darks).
    tomogram
        int32 (n_frames,): tomogram index of a projection (cine), 0 otherwise; −1 for flats and darks.
    exposure_s, frame_rate_hz
        The scan's exposure and frame rate.
    """

    image_key: npt.NDArray[np.int32] = field(repr=False)
    angles_rad: npt.NDArray[np.float64] = field(repr=False)
    times_s: npt.NDArray[np.float64] = field(repr=False)
    sweep_rad: npt.NDArray[np.float64] = field(repr=False)
    tomogram: npt.NDArray[np.int32] = field(repr=False)
    exposure_s: float
    frame_rate_hz: float

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.image_key.size)

    def counts(self) -> dict[str, int]:
        """Number of projections, flats and darks."""
        return {
            "projections": int(np.count_nonzero(self.image_key == IMAGE_KEY_PROJECTION)),
            "flats": int(np.count_nonzero(self.image_key == IMAGE_KEY_FLAT)),
            "darks": int(np.count_nonzero(self.image_key == IMAGE_KEY_DARK)),
        }


def plan_frames(scan: ScanConfig) -> FramePlan:
    """The frame sequence of ``scan``: darks, flats, projections (with interleaved flats), flats, darks.

    Frames follow one another at the frame rate. For continuous rotation the stage pauses while interleaved
    flats are taken, so projection i is always centred on ``start + i · step``.
    """
    keys: list[int] = []
    angles: list[float] = []
    sweeps: list[float] = []
    tomos: list[int] = []
    if isinstance(scan, RadiographyScan):
        start = math.radians(scan.angle_deg)
        step = 0.0
        n_proj = scan.n_frames
        continuous = False
        per_tomogram = n_proj
        flat_every, n_interleaved = 0, 0
    else:
        start = math.radians(scan.start_angle_deg)
        per_tomogram = (
            scan.projections_per_tomogram if isinstance(scan, CineTomographyScan) else scan.n_projections
        )
        step = math.radians(scan.angular_range_deg) / per_tomogram
        n_proj = scan.n_projections
        continuous = scan.rotation == "continuous"
        flat_every = getattr(scan, "flat_every", 0)
        n_interleaved = getattr(scan, "n_flats_interleaved", 0)
    exposure = float(scan.exposure_s)  # type: ignore[arg-type]
    frame_period = 1.0 / scan.frame_rate_hz
    sweep = step * exposure / frame_period if continuous else 0.0

    def add(key: int, angle: float, swept: float = 0.0, tomo: int = -1) -> None:
        keys.append(key)
        angles.append(angle)
        sweeps.append(swept)
        tomos.append(tomo)

    for _ in range(scan.n_darks):
        add(IMAGE_KEY_DARK, start)
    for _ in range(scan.n_flats_before):
        add(IMAGE_KEY_FLAT, start)
    for i in range(n_proj):
        add(IMAGE_KEY_PROJECTION, start + i * step, sweep, i // per_tomogram)
        if flat_every and n_interleaved and (i + 1) % flat_every == 0 and i + 1 < n_proj:
            for _ in range(n_interleaved):
                add(IMAGE_KEY_FLAT, start + i * step)
    last = start + (n_proj - 1) * step
    for _ in range(scan.n_flats_after):
        add(IMAGE_KEY_FLAT, last)
    for _ in range(scan.n_darks_after):
        add(IMAGE_KEY_DARK, last)
    n = len(keys)
    return FramePlan(
        image_key=np.asarray(keys, dtype=np.int32),
        angles_rad=np.asarray(angles, dtype=np.float64),
        times_s=np.arange(n, dtype=np.float64) * frame_period,
        sweep_rad=np.asarray(sweeps, dtype=np.float64),
        tomogram=np.asarray(tomos, dtype=np.int32),
        exposure_s=exposure,
        frame_rate_hz=float(scan.frame_rate_hz),
    )


# -- physics of one frame ------------------------------------------------------------------------------------------


def _material(key: Any) -> Any:
    from xrai.physics.materials import get_material

    return get_material(key)


def weighted_intensity(
    thickness_m: Mapping[Any, npt.ArrayLike],
    *,
    energies_kev: npt.ArrayLike,
    weights: npt.ArrayLike,
    pixel_size_m: float,
    propagation: Propagation,
    dtype: Any = None,
) -> npt.NDArray[np.floating[Any]]:
    """Σ_E w_E I_E: the intensity behind the sample summed over energies with weights ``weights`` (flat = Σ w).

    A thin wrapper of :func:`xrai.physics.propagation.polychromatic_intensity` with the settings of
    ``propagation``; at distance 0 (and no source blur) this is Beer–Lambert, Σ_E w_E exp(−Σ_m μ_m(E) t_m).
    """
    from xrai.physics.propagation import polychromatic_intensity

    if not thickness_m:
        raise ConfigError("thickness_m is empty: the sample has no material")
    maps: dict[str, npt.NDArray[Any]] = {}
    materials: dict[str, Any] = {}
    for i, (key, value) in enumerate(thickness_m.items()):
        name = key if isinstance(key, str) else f"material{i}"  # a Material object keys its own map
        maps[name] = np.asarray(value)
        materials[name] = key
    blurred = max(propagation.source_size_m) > 0 and propagation.distance_m > 0
    return np.asarray(
        polychromatic_intensity(
            maps,
            materials,
            energies_kev=np.atleast_1d(np.asarray(energies_kev, dtype=np.float64)),
            weights=weights,
            distance_m=propagation.distance_m,
            pixel_size_m=pixel_size_m,
            method=propagation.method,
            mollified=propagation.mollified,
            pad=propagation.pad,
            source_distance_m=propagation.source_distance_m,
            source_size_m=propagation.source_size_m if blurred else 0.0,
            dtype=dtype,
        )
    )


def beam_profile(
    shape: tuple[int, int], *, rms: float, shift_rows: float, rng: RngLike, n_modes: int = 12
) -> npt.NDArray[np.float64]:
    """A smooth structured beam profile 1 + rms · S(row − shift, col), S a random sum of low-frequency waves.

    The same ``rng`` seed gives the same structure at every ``shift_rows`` (so the profile can move).
    """
    generator = as_rng(rng)
    rows, cols = shape
    if rms == 0:
        return np.ones(shape)
    fr = generator.uniform(-4.0, 4.0, n_modes) / rows
    fc = generator.uniform(-4.0, 4.0, n_modes) / cols
    phase = generator.uniform(0.0, 2 * np.pi, n_modes)
    amp = generator.standard_normal(n_modes)
    amp *= math.sqrt(2.0) / np.sqrt(np.sum(amp**2))  # a sum of cosines with Σ a² = 2 has rms 1
    # cos(a + b) = cos a cos b − sin a sin b: two outer products per mode instead of a cosine per pixel
    a = (
        2 * np.pi * np.outer(fr, np.arange(rows, dtype=np.float64) - shift_rows) + phase[:, None]
    )  # (modes, rows)
    b = 2 * np.pi * np.outer(fc, np.arange(cols, dtype=np.float64))  # (modes, cols)
    structure = (amp[:, None] * np.cos(a)).T @ np.cos(b) - (amp[:, None] * np.sin(a)).T @ np.sin(b)
    return np.clip(1.0 + rms * structure, 0.0, None)


def _place(
    maps: Mapping[Any, npt.NDArray[np.floating[Any]]],
    *,
    shape: tuple[int, int],
    center_col: float,
    tilt_rad: float,
    drift_rows: float,
) -> dict[Any, npt.NDArray[np.floating[Any]]]:
    """Apply the vertical drift and the in-plane axis tilt to thickness maps rendered with an upright axis.

    The sample was rendered with its axis at column ``center_col`` (offset and horizontal drift included).
    The image point o (row, col) then sees the rendered point R(φ)ᵀ (o − a) + a − (d_row, 0), with a =
    ((rows − 1)/2 + d_row, center_col) the point where the axis crosses the detector's middle row and R(φ)
    the rotation taking the column direction (1, 0) to (cos φ, sin φ). Exact for a parallel beam (projection
    commutes with rotations about the beam); interpolation is cubic, integer shifts are exact.
    """
    if tilt_rad == 0 and drift_rows == 0:
        return dict(maps)
    if tilt_rad == 0 and float(drift_rows).is_integer():
        return {key: _integer_shift(np.asarray(value), int(drift_rows)) for key, value in maps.items()}
    from scipy import ndimage

    pivot = np.array([(shape[0] - 1) / 2.0 + drift_rows, center_col])
    cos, sin = math.cos(tilt_rad), math.sin(tilt_rad)
    matrix = np.array([[cos, sin], [-sin, cos]])
    offset = pivot - matrix @ pivot - np.array([drift_rows, 0.0])
    out = {}
    for key, value in maps.items():
        image = np.asarray(value)
        moved = ndimage.affine_transform(image, matrix, offset=offset, order=3, mode="nearest")
        out[key] = np.clip(moved, 0.0, None).astype(image.dtype, copy=False)  # cubic overshoot: no t < 0
    return out


def _integer_shift(image: npt.NDArray[Any], rows_down: int) -> npt.NDArray[Any]:
    rows = np.clip(np.arange(image.shape[0]) - rows_down, 0, image.shape[0] - 1)
    return np.ascontiguousarray(image[rows])


def _sub_frame_count(plan: FramePlan, shape: tuple[int, int], requested: int | None) -> int:
    if requested is not None:
        return requested
    sweep = float(plan.sweep_rad.max(initial=0.0))
    radius_px = shape[1] / 2.0  # the rotation moves points across the columns only
    return max(1, math.ceil(sweep * radius_px / 0.5))


# -- results -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One simulated frame, as :func:`iter_frames` yields it."""

    index: int
    image_key: int
    angle_rad: float
    time_s: float
    tomogram: int
    counts: npt.NDArray[np.floating[Any]] = field(repr=False)
    transmission: npt.NDArray[np.floating[Any]] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatedScan:
    """A simulated scan: frames in acquisition order with their metadata and the ground truth.

    Attributes
    ----------
    frames
        Counts ``[frame, row, col]`` (whole numbers, float32 by default).
    image_key, angles_rad, times_s, tomogram
        Per frame (see :class:`FramePlan`).
    energies_kev, photons_per_s_m2
        The spectrum at the sample (bin centres and photons/s/m² per bin).
    distance_m
        Sample-to-detector distance (m).
    pixel_size_m
        Pixel size of the frames in the sample plane (m), binning included.
    configuration
        The full configuration (JSON-serialisable), for provenance.
    ground_truth
        ``center_col`` (rotation axis column), ``axis_tilt_rad``, ``drift_px`` (frame, 2), ``beam_factor``
        (frame), and, when asked for, ``transmission`` (noise-free flat-field-corrected projections), plus
        what the sample provides (e.g. ``labels``).
    """

    frames: npt.NDArray[np.floating[Any]] = field(repr=False)
    image_key: npt.NDArray[np.int32] = field(repr=False)
    angles_rad: npt.NDArray[np.float64] = field(repr=False)
    times_s: npt.NDArray[np.float64] = field(repr=False)
    tomogram: npt.NDArray[np.int32] = field(repr=False)
    energies_kev: npt.NDArray[np.float64] = field(repr=False)
    photons_per_s_m2: npt.NDArray[np.float64] = field(repr=False)
    distance_m: float
    pixel_size_m: float
    configuration: Mapping[str, Any] = field(default_factory=dict, repr=False)
    ground_truth: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def projections(self) -> npt.NDArray[np.floating[Any]]:
        """Projection frames ``[angle, row, col]``."""
        return np.asarray(self.frames[self.image_key == IMAGE_KEY_PROJECTION])

    @property
    def flats(self) -> npt.NDArray[np.floating[Any]]:
        """Flat frames."""
        return np.asarray(self.frames[self.image_key == IMAGE_KEY_FLAT])

    @property
    def darks(self) -> npt.NDArray[np.floating[Any]]:
        """Dark frames."""
        return np.asarray(self.frames[self.image_key == IMAGE_KEY_DARK])

    @property
    def projection_angles_rad(self) -> npt.NDArray[np.float64]:
        """Angles of the projections (rad)."""
        return np.asarray(self.angles_rad[self.image_key == IMAGE_KEY_PROJECTION], dtype=np.float64)


# -- the engine ----------------------------------------------------------------------------------------------------


def iter_frames(
    sample: Sample | None,
    *,
    scan: ScanConfig,
    detector: Detector,
    energies_kev: npt.ArrayLike,
    photons_per_s_m2: npt.ArrayLike,
    propagation: Propagation = Propagation(),
    imperfections: Imperfections = Imperfections(),
    rng: RngLike = None,
    noise: bool = True,
    keep_transmission: bool = False,
    truth: dict[str, Any] | None = None,
) -> Iterator[Frame]:
    """Simulate a scan frame by frame (a generator; frames in acquisition order).

    Parameters
    ----------
    sample
        The sample (:class:`Sample`); ``None`` = empty beam.
    scan
        A :class:`TomographyScan`, :class:`RadiographyScan` or :class:`CineTomographyScan`.
    detector
        The detector; its camera sets the image shape (rows, cols) and its pixel size the sampling.
    energies_kev, photons_per_s_m2
        The spectrum at the sample: bin centres (keV) and photons/s/m² in each bin.
    propagation
        Distance, propagator and source.
    imperfections
        Scan imperfections.
    rng
        Seed or Generator: camera defects, beam fluctuations, drift, zingers and noise all draw from it.
    noise
        ``False``: expected counts (rounded), no shot/read noise, no zingers.
    keep_transmission
        Attach the noise-free, detector-weighted transmission (flat = 1, no beam profile) to each projection.
    truth
        If given, a dict that receives the ground truth as the frames are made (``drift_px``, ``beam_factor``,
        ``center_col``, ``axis_tilt_rad``, ``sub_frames``).

    Yields
    ------
    Frame

    Notes
    -----
    Per frame, the light reaching the camera is L = b(t) P(t) Σ_E w_E I_E, with w_E = N_E η_E G_E the light of
    energy E in a flat pixel (:func:`~xrai.physics.detector.light_weights`), I_E the intensity behind the sample
    (averaged over sub-frames for continuous rotation), b(t) the beam factor and P(t) the beam profile; the
    detector then draws the X-ray quanta, blurs and reads out (:func:`~xrai.physics.detector.detect_light`).
    """
    plan = plan_frames(scan)
    check_frame_timing(detector.camera, exposure_s=plan.exposure_s, frame_rate_hz=plan.frame_rate_hz)
    generator = as_rng(rng)
    energies = np.atleast_1d(np.asarray(energies_kev, dtype=np.float64))
    flux = np.atleast_1d(np.asarray(photons_per_s_m2, dtype=np.float64))
    if flux.shape != energies.shape:
        raise ConfigError(
            f"photons_per_s_m2 has shape {flux.shape}, expected {energies.shape} like energies_kev"
        )
    shape = detector.shape
    pixel = detector.pixel_size_m
    incident = flux * pixel * pixel * plan.exposure_s  # photons per detector pixel per bin per exposure
    weights, quantum_gain = light_weights(detector, energies, incident)
    flat_light = float(weights.sum())
    camera = detector.camera
    maps: PixelMaps | None = None
    if imperfections.camera_defects:
        maps = make_pixel_maps(camera, rng=generator, shape=shape)
    profile_seed = int(generator.integers(2**63))
    n_sub = _sub_frame_count(plan, shape, getattr(scan, "sub_frames", None))
    lifetime = imperfections.beam_lifetime_s
    centre_col = (shape[1] - 1) / 2.0
    record: dict[str, Any] = truth if truth is not None else {}
    record["center_col"] = centre_col + imperfections.axis_offset_px
    record["axis_tilt_rad"] = imperfections.axis_tilt_rad
    record["drift_px"] = np.zeros((plan.n_frames, 2))
    record["beam_factor"] = np.ones(plan.n_frames)
    record["sub_frames"] = n_sub
    drift_rate = np.asarray(imperfections.drift_px_per_s)
    walk = np.zeros(2)
    reported: set[type[Warning]] = set()
    profile: tuple[float, npt.NDArray[np.float64]] | None = None
    for index in range(plan.n_frames):
        key = int(plan.image_key[index])
        t0 = float(plan.times_s[index])
        t_mid = t0 + 0.5 * plan.exposure_s
        if imperfections.drift_random_walk_px and index > 0:
            walk = walk + imperfections.drift_random_walk_px * generator.standard_normal(2)
        frame_drift = walk + drift_rate * t_mid
        record["drift_px"][index] = frame_drift
        beam = 1.0 if lifetime is None else math.exp(-t_mid / lifetime)
        if imperfections.beam_fluctuation_rms:
            beam *= max(0.0, 1.0 + imperfections.beam_fluctuation_rms * float(generator.standard_normal()))
        record["beam_factor"][index] = beam
        zingers = None
        if noise and imperfections.zingers_per_frame:
            zingers = zinger_electrons(
                shape,
                mean_per_frame=imperfections.zingers_per_frame,
                full_well_electrons=camera.full_well_electrons,
                rng=generator,
            )
        transmission: npt.NDArray[np.floating[Any]] | None = None
        if key == IMAGE_KEY_DARK:
            light = np.zeros(shape)
        else:
            shift = imperfections.flat_drift_px_per_s * t_mid
            if profile is None or shift != profile[0]:  # a static structure is computed once
                profile = (
                    shift,
                    beam_profile(
                        shape, rms=imperfections.flat_structure_rms, shift_rows=shift, rng=profile_seed
                    ),
                )
            light = beam * profile[1]
            if key == IMAGE_KEY_PROJECTION and sample is not None:
                behind = _reporting_once(
                    reported,
                    _projection_intensity,
                    sample,
                    plan=plan,
                    index=index,
                    n_sub=n_sub,
                    shape=shape,
                    pixel_size_m=pixel / propagation.magnification,
                    energies=energies,
                    weights=weights / flat_light,
                    propagation=propagation,
                    center_col=centre_col + imperfections.axis_offset_px + float(frame_drift[1]),
                    tilt_rad=imperfections.axis_tilt_rad,
                    drift_rows=float(frame_drift[0]),
                )
                light = light * behind
                if keep_transmission:
                    transmission = np.array(behind)
            light = light * flat_light
        counts = detect_light(
            light,
            detector,
            quantum_gain=quantum_gain,
            exposure_s=plan.exposure_s,
            rng=generator,
            pixel_maps=maps,
            extra_electrons=zingers,
            noise=noise,
            energies_kev=energies,
            spectrum_weights=incident,
        )
        yield Frame(
            index=index,
            image_key=key,
            angle_rad=float(plan.angles_rad[index]),
            time_s=t0,
            tomogram=int(plan.tomogram[index]),
            counts=counts,
            transmission=transmission,
        )


def _reporting_once(
    reported: set[type[Warning]], function: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """Call ``function``; re-emit each category of xrai warning it raises only the first time in a scan."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    for item in caught:
        category = item.category
        if issubclass(category, XraiWarning) and category in reported:
            continue
        reported.add(category)
        message = str(item.message)
        if issubclass(category, XraiWarning):
            message += " (reported once per scan; other frames may have the same problem)"
        warnings.warn(message, category, stacklevel=4)
    return result


def _projection_intensity(
    sample: Sample,
    *,
    plan: FramePlan,
    index: int,
    n_sub: int,
    shape: tuple[int, int],
    pixel_size_m: float,
    energies: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    propagation: Propagation,
    center_col: float,
    tilt_rad: float,
    drift_rows: float,
) -> npt.NDArray[np.floating[Any]]:
    """Mean weighted intensity behind the sample over the exposure (sub-frames for continuous rotation)."""
    sweep = float(plan.sweep_rad[index])
    subs = n_sub if sweep > 0 else 1
    total: npt.NDArray[np.floating[Any]] | None = None
    for s in range(subs):
        fraction = (s + 0.5) / subs  # midpoints of equal sub-intervals of the exposure
        angle = float(plan.angles_rad[index]) + (fraction - 0.5) * sweep
        time = float(plan.times_s[index]) + fraction * plan.exposure_s
        maps = sample.thickness_maps(
            angle_rad=angle, time_s=time, shape=shape, pixel_size_m=pixel_size_m, center_col=center_col
        )
        maps = _place(maps, shape=shape, center_col=center_col, tilt_rad=tilt_rad, drift_rows=drift_rows)
        intensity = weighted_intensity(
            maps, energies_kev=energies, weights=weights, pixel_size_m=pixel_size_m, propagation=propagation
        )
        total = intensity if total is None else total + intensity
    assert total is not None
    return total / subs if subs > 1 else total


def simulate_scan(
    sample: Sample | None,
    *,
    scan: ScanConfig,
    detector: Detector,
    energies_kev: npt.ArrayLike,
    photons_per_s_m2: npt.ArrayLike,
    propagation: Propagation = Propagation(),
    imperfections: Imperfections = Imperfections(),
    rng: RngLike = None,
    noise: bool = True,
    keep_transmission: bool = False,
    configuration: Mapping[str, Any] | None = None,
    ground_truth: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulatedScan:
    """Simulate a whole scan into memory (see :func:`iter_frames` for the parameters).

    ``configuration`` and ``ground_truth`` (e.g. the sample's label volume) are stored in the result;
    ``progress`` is called with 1 after every frame.
    """
    plan = plan_frames(scan)
    energies = np.atleast_1d(np.asarray(energies_kev, dtype=np.float64))
    truth: dict[str, Any] = dict(ground_truth or {})
    frames: npt.NDArray[np.floating[Any]] | None = None
    transmissions: list[npt.NDArray[np.floating[Any]]] = []
    for frame in iter_frames(
        sample,
        scan=scan,
        detector=detector,
        energies_kev=energies,
        photons_per_s_m2=photons_per_s_m2,
        propagation=propagation,
        imperfections=imperfections,
        rng=rng,
        noise=noise,
        keep_transmission=keep_transmission,
        truth=truth,
    ):
        if frames is None:
            frames = np.empty((plan.n_frames, *frame.counts.shape), dtype=frame.counts.dtype)
        frames[frame.index] = frame.counts
        if frame.transmission is not None:
            transmissions.append(frame.transmission)
        if progress is not None:
            progress(1)
    assert frames is not None
    if transmissions:
        truth["transmission"] = np.stack(transmissions)
    return SimulatedScan(
        frames=frames,
        image_key=plan.image_key,
        angles_rad=plan.angles_rad,
        times_s=plan.times_s,
        tomogram=plan.tomogram,
        energies_kev=energies,
        photons_per_s_m2=np.atleast_1d(np.asarray(photons_per_s_m2, dtype=np.float64)),
        distance_m=propagation.distance_m,
        pixel_size_m=detector.output_pixel_size_m,
        configuration=dict(configuration or {}),
        ground_truth=truth,
    )
