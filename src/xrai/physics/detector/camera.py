"""The camera of an indirect detector: quantum efficiency, noise, saturation, pixel defects, binning, timing.

The model follows the EMVA 1288 linear camera model (EMVA Standard 1288, release 4.0, 2021): visible photons
per pixel → photo-electrons (quantum efficiency η, Poisson) → plus dark electrons (dark current × exposure,
Poisson) → fixed-pattern effects (PRNU: a per-pixel gain; DSNU: a per-pixel offset; hot, dead and nonlinear
pixels) → full-well clipping → read noise (Gaussian, σ_r electrons) → analogue-to-digital conversion
(``electrons_per_count`` = 1/K, an offset, rounding, clipping at 2^bits − 1) → optional digital binning.

Two paths share one description of the camera:

* :func:`camera_mean_counts`: the noise-free expected counts (no rounding), written with the array API so that it
  runs on numpy arrays and torch tensors (gradients flow; saturation is a clip);
* :func:`camera_readout`: one noisy frame (numpy, with an ``rng``).

Pixel defects live in :class:`PixelMaps`, drawn once per camera with :func:`make_pixel_maps` and reused for every
frame of a scan: fixed defects are what turns into rings in a reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai._backend import array_namespace, as_rng, device_of, real_dtype
from xrai._typing import Array, RngLike
from xrai.errors import ConfigError, check_range

__all__ = [
    "Camera",
    "PixelMaps",
    "bin_image",
    "camera_mean_counts",
    "camera_readout",
    "check_frame_timing",
    "make_pixel_maps",
    "zinger_electrons",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Camera:
    """A scientific camera (CMOS or CCD).

    Parameters
    ----------
    n_rows, n_cols
        Sensor size in pixels.
    pixel_size_m
        Physical pixel pitch (m).
    quantum_efficiency
        Photo-electrons per visible photon at the scintillator's emission wavelength, in (0, 1].
    electrons_per_count
        Conversion factor of the ADC (e⁻ per count, = 1/K in EMVA 1288), > 0.
    full_well_electrons
        Saturation capacity (e⁻).
    read_noise_electrons
        Temporal dark noise σ_r (e⁻ rms).
    dark_current_e_per_s
        Mean dark current (e⁻ per pixel per second).
    offset_counts
        Black level added by the ADC (counts).
    bit_depth
        ADC resolution (bits); counts are clipped to [0, 2^bit_depth − 1].
    max_frame_rate_hz
        Highest frame rate the camera delivers in the chosen mode (frames/s).
    readout_time_s
        Dead time per frame in which no light is integrated (s); exposure ≤ 1/frame rate − readout time.
    prnu
        Photo-response non-uniformity: relative rms of the per-pixel gain (0.01 = 1 %).
    dsnu_electrons
        Dark-signal non-uniformity: rms of the per-pixel offset (e⁻).
    hot_pixel_fraction, hot_pixel_dark_current_e_per_s
        Fraction of pixels with a high dark current, and that dark current (e⁻/s).
    dead_pixel_fraction
        Fraction of pixels that read only the black level.
    nonlinear_pixel_fraction, nonlinearity_rms
        Fraction of pixels whose response is e_ref (e/e_ref)^(1+γ) with γ ~ N(0, nonlinearity_rms), e_ref the
        half full well. Flat-field correction cannot remove such a pixel's error (it depends on the signal):
        the source of ring artefacts.
    binning
        Digital binning factor (b × b pixels summed after digitisation, as CMOS cameras do).
    name
        Free text (e.g. ``"PCO.dimax"``).
    """

    n_rows: int
    n_cols: int
    pixel_size_m: float
    quantum_efficiency: float
    electrons_per_count: float
    full_well_electrons: float
    read_noise_electrons: float = 0.0
    dark_current_e_per_s: float = 0.0
    offset_counts: float = 0.0
    bit_depth: int = 16
    max_frame_rate_hz: float = 1e6
    readout_time_s: float = 0.0
    prnu: float = 0.0
    dsnu_electrons: float = 0.0
    hot_pixel_fraction: float = 0.0
    hot_pixel_dark_current_e_per_s: float = 0.0
    dead_pixel_fraction: float = 0.0
    nonlinear_pixel_fraction: float = 0.0
    nonlinearity_rms: float = 0.0
    binning: int = 1
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name in ("n_rows", "n_cols", "bit_depth", "binning"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ConfigError(f"{name} = {value!r} is not allowed: must be an integer")
        check_range("n_rows", self.n_rows, low=1, high=65536)
        check_range("n_cols", self.n_cols, low=1, high=65536)
        check_range("bit_depth", self.bit_depth, low=1, high=32)
        check_range("binning", self.binning, low=1, high=min(self.n_rows, self.n_cols))
        check_range("pixel_size_m", self.pixel_size_m, low=0, low_inclusive=False, high=1e-2, unit="m")
        check_range("quantum_efficiency", self.quantum_efficiency, low=0, low_inclusive=False, high=1)
        check_range(
            "electrons_per_count", self.electrons_per_count, low=0, low_inclusive=False, unit="e-/count"
        )
        check_range("full_well_electrons", self.full_well_electrons, low=0, low_inclusive=False, unit="e-")
        check_range("read_noise_electrons", self.read_noise_electrons, low=0, unit="e-")
        check_range("dark_current_e_per_s", self.dark_current_e_per_s, low=0, unit="e-/s")
        check_range("offset_counts", self.offset_counts, low=0, high=2.0**self.bit_depth - 1, unit="counts")
        check_range("max_frame_rate_hz", self.max_frame_rate_hz, low=0, low_inclusive=False, unit="Hz")
        check_range(
            "readout_time_s",
            self.readout_time_s,
            low=0,
            high=1.0 / self.max_frame_rate_hz,
            high_inclusive=False,
            unit="s",
        )
        check_range("prnu", self.prnu, low=0, high=0.5)
        check_range("dsnu_electrons", self.dsnu_electrons, low=0, unit="e-")
        for name in ("hot_pixel_fraction", "dead_pixel_fraction", "nonlinear_pixel_fraction"):
            check_range(name, getattr(self, name), low=0, high=1)
        check_range("hot_pixel_dark_current_e_per_s", self.hot_pixel_dark_current_e_per_s, low=0, unit="e-/s")
        check_range("nonlinearity_rms", self.nonlinearity_rms, low=0, high=0.5)

    @property
    def shape(self) -> tuple[int, int]:
        """Sensor shape (rows, cols) before binning."""
        return (self.n_rows, self.n_cols)

    @property
    def max_count(self) -> int:
        """Largest ADC value, 2^bit_depth − 1."""
        return int(2**self.bit_depth - 1)

    @property
    def saturation_count(self) -> float:
        """Counts at full well (before the ADC clip): offset + full well / electrons_per_count, ≤ max_count."""
        return min(
            self.offset_counts + self.full_well_electrons / self.electrons_per_count, float(self.max_count)
        )

    @property
    def dynamic_range(self) -> float:
        """Full well / read noise (∞ without read noise)."""
        return (
            self.full_well_electrons / self.read_noise_electrons
            if self.read_noise_electrons
            else float("inf")
        )

    @property
    def frame_period_s(self) -> float:
        """1 / max_frame_rate_hz (s)."""
        return 1.0 / self.max_frame_rate_hz


def check_frame_timing(camera: Camera, *, exposure_s: float, frame_rate_hz: float) -> None:
    """Raise :class:`ConfigError` if the camera cannot take frames of ``exposure_s`` at ``frame_rate_hz``.

    The frame period 1/frame_rate_hz must hold the exposure plus the camera's readout dead time, and the frame
    rate must not exceed ``camera.max_frame_rate_hz``. The message names both values.
    """
    check_range("exposure_s", exposure_s, low=0, low_inclusive=False, unit="s")
    check_range("frame_rate_hz", frame_rate_hz, low=0, low_inclusive=False, unit="Hz")
    if frame_rate_hz > camera.max_frame_rate_hz * (1 + 1e-12):
        raise ConfigError(
            f"frame_rate_hz = {frame_rate_hz:g} Hz is not allowed: the camera "
            f"{camera.name or ''} delivers at most max_frame_rate_hz = {camera.max_frame_rate_hz:g} Hz".replace(
                "camera  ", "camera "
            )
        )
    period = 1.0 / frame_rate_hz
    available = period - camera.readout_time_s
    if exposure_s > available * (1 + 1e-12):
        extra = f" minus readout_time_s = {camera.readout_time_s:g} s" if camera.readout_time_s else ""
        raise ConfigError(
            f"exposure_s = {exposure_s:g} s is longer than the frame period 1/frame_rate_hz = {period:g} s"
            f"{extra} (frame_rate_hz = {frame_rate_hz:g} Hz): lower the exposure or the frame rate"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PixelMaps:
    """Fixed per-pixel properties of one camera (drawn once, used for every frame).

    Attributes
    ----------
    gain
        Relative photo-response (mean 1), float64 (rows, cols).
    offset_electrons
        Fixed offset (e⁻) from DSNU, float64 (rows, cols).
    dark_current_e_per_s
        Dark current per pixel including hot pixels (e⁻/s), float64 (rows, cols).
    dead
        True where a pixel reads only the black level, bool (rows, cols).
    nonlinearity
        Exponent deviation γ per pixel (0 = linear), float64 (rows, cols).
    """

    gain: npt.NDArray[np.float64] = field(repr=False)
    offset_electrons: npt.NDArray[np.float64] = field(repr=False)
    dark_current_e_per_s: npt.NDArray[np.float64] = field(repr=False)
    dead: npt.NDArray[np.bool_] = field(repr=False)
    nonlinearity: npt.NDArray[np.float64] = field(repr=False)

    def __post_init__(self) -> None:
        shape = np.shape(self.gain)
        for name in ("offset_electrons", "dark_current_e_per_s", "dead", "nonlinearity"):
            if np.shape(getattr(self, name)) != shape:
                raise ConfigError(
                    f"PixelMaps.{name} has shape {np.shape(getattr(self, name))}, expected {shape}"
                )

    @property
    def shape(self) -> tuple[int, ...]:
        """(rows, cols)."""
        return tuple(np.shape(self.gain))

    @classmethod
    def ideal(cls, shape: tuple[int, int], *, dark_current_e_per_s: float = 0.0) -> PixelMaps:
        """Maps of a defect-free camera."""
        return cls(
            gain=np.ones(shape),
            offset_electrons=np.zeros(shape),
            dark_current_e_per_s=np.full(shape, float(dark_current_e_per_s)),
            dead=np.zeros(shape, dtype=bool),
            nonlinearity=np.zeros(shape),
        )


def make_pixel_maps(camera: Camera, *, rng: RngLike, shape: tuple[int, int] | None = None) -> PixelMaps:
    """Draw the fixed-pattern maps of ``camera`` (PRNU, DSNU, hot, dead and nonlinear pixels).

    Parameters
    ----------
    camera
        The camera; its ``prnu``, ``dsnu_electrons`` and defect fractions set the statistics.
    rng
        Seed or numpy Generator.
    shape
        (rows, cols) of the simulated region; default the full sensor. The maps are unbinned.

    Returns
    -------
    PixelMaps
    """
    generator = as_rng(rng)
    rows, cols = camera.shape if shape is None else (int(shape[0]), int(shape[1]))
    size = (rows, cols)
    gain = 1.0 + camera.prnu * generator.standard_normal(size) if camera.prnu else np.ones(size)
    gain = np.clip(gain, 0.0, None)
    offset = (
        camera.dsnu_electrons * generator.standard_normal(size) if camera.dsnu_electrons else np.zeros(size)
    )
    dark = np.full(size, camera.dark_current_e_per_s)
    if camera.hot_pixel_fraction:
        hot = generator.random(size) < camera.hot_pixel_fraction
        dark[hot] += camera.hot_pixel_dark_current_e_per_s
    dead = (
        generator.random(size) < camera.dead_pixel_fraction
        if camera.dead_pixel_fraction
        else np.zeros(size, dtype=bool)
    )
    nonlinearity = np.zeros(size)
    if camera.nonlinear_pixel_fraction and camera.nonlinearity_rms:
        chosen = generator.random(size) < camera.nonlinear_pixel_fraction
        nonlinearity[chosen] = camera.nonlinearity_rms * generator.standard_normal(int(chosen.sum()))
    return PixelMaps(
        gain=gain, offset_electrons=offset, dark_current_e_per_s=dark, dead=dead, nonlinearity=nonlinearity
    )


def _maps_for(camera: Camera, pixel_maps: PixelMaps | None, shape: tuple[int, ...]) -> PixelMaps:
    if pixel_maps is None:
        return PixelMaps.ideal((shape[-2], shape[-1]), dark_current_e_per_s=camera.dark_current_e_per_s)
    if pixel_maps.shape != tuple(shape[-2:]):
        raise ConfigError(f"pixel_maps has shape {pixel_maps.shape}, but the image is {tuple(shape[-2:])}")
    return pixel_maps


def _nonlinear(electrons: Any, gamma: Any, e_ref: float, xp: Any) -> Any:
    floor = 1e-9 * e_ref
    ratio = xp.clip(electrons, floor, None) / e_ref
    return e_ref * ratio ** (1.0 + gamma)


def bin_image(image: Array, factor: int) -> Array:
    """Sum ``factor × factor`` blocks of the last two axes (edges that do not fill a block are dropped)."""
    if factor == 1:
        return image
    xp = array_namespace(image)
    rows, cols = image.shape[-2] // factor, image.shape[-1] // factor
    cropped = image[..., : rows * factor, : cols * factor]
    blocks = xp.reshape(cropped, (*image.shape[:-2], rows, factor, cols, factor))
    return xp.sum(xp.sum(blocks, axis=-1), axis=-2)


def camera_mean_counts(
    photons: Array,
    camera: Camera,
    *,
    exposure_s: float,
    pixel_maps: PixelMaps | None = None,
    extra_electrons: Array | None = None,
) -> Array:
    """Expected counts (noise-free, not rounded) for a mean visible-photon image.

    Parameters
    ----------
    photons
        Mean visible photons arriving per pixel during the exposure, (..., rows, cols), numpy or torch.
    camera
        The camera.
    exposure_s
        Integration time (s) for the dark current.
    pixel_maps
        Fixed-pattern maps (``None`` = an ideal sensor with the camera's mean dark current).
    extra_electrons
        Electrons added before saturation (e.g. zingers), broadcastable to ``photons``.

    Returns
    -------
    Array
        Counts of the dtype of ``photons``, shape (..., rows // binning, cols // binning).

    Notes
    -----
    μ_e = η g_ij N + D_ij t + o_ij (+ extra); nonlinear pixels: e_ref (μ_e/e_ref)^(1+γ_ij); then
    counts = min(offset + min(μ_e, full well)/(e⁻/count), 2^bits − 1); dead pixels give the offset; bins sum.
    """
    check_range("exposure_s", exposure_s, low=0, unit="s")
    xp = array_namespace(photons)
    dtype = photons.dtype if photons.dtype in (xp.float32, xp.float64) else real_dtype(xp)
    device = device_of(photons)
    maps = _maps_for(camera, pixel_maps, tuple(photons.shape))

    def put(a: Any) -> Any:
        return xp.asarray(np.ascontiguousarray(a), dtype=dtype, device=device)

    electrons = camera.quantum_efficiency * put(maps.gain) * photons
    electrons = electrons + put(maps.dark_current_e_per_s * exposure_s + maps.offset_electrons)
    if extra_electrons is not None:
        electrons = electrons + extra_electrons
    if np.any(maps.nonlinearity):
        electrons = _nonlinear(electrons, put(maps.nonlinearity), 0.5 * camera.full_well_electrons, xp)
    electrons = xp.clip(electrons, 0.0, camera.full_well_electrons)
    counts = camera.offset_counts + electrons / camera.electrons_per_count
    if np.any(maps.dead):
        alive = put(~maps.dead)
        counts = counts * alive + camera.offset_counts * (1.0 - alive)
    counts = xp.clip(counts, 0.0, float(camera.max_count))
    return bin_image(counts, camera.binning)


def camera_readout(
    photons: npt.ArrayLike,
    camera: Camera,
    *,
    exposure_s: float,
    rng: RngLike,
    pixel_maps: PixelMaps | None = None,
    extra_electrons: npt.ArrayLike | None = None,
    shot_noise: bool = True,
    read_noise: bool = True,
    dtype: Any = None,
) -> npt.NDArray[Any]:
    """One noisy frame: integer-valued counts for a mean visible-photon image.

    Parameters
    ----------
    photons
        Mean visible photons per pixel during the exposure (..., rows, cols).
    camera, exposure_s, pixel_maps, extra_electrons
        As in :func:`camera_mean_counts`.
    rng
        Seed or numpy Generator for the shot and read noise.
    shot_noise, read_noise
        Switch the Poisson photo/dark-electron noise and the Gaussian read noise.
    dtype
        Output float dtype (default: the ``xrai.options`` dtype); the values are whole counts.

    Returns
    -------
    numpy.ndarray
        Counts in [0, 2^bits − 1] (times binning²), shape (..., rows // binning, cols // binning).

    Notes
    -----
    Photo-electrons ~ Poisson(η g_ij N) (Poisson thinning of Poisson photons), dark electrons ~
    Poisson(D_ij t); then the fixed offset o_ij, nonlinearity, clip to [0, full well], read noise
    N(0, σ_r²), ADC: round(offset + e/(e⁻/count)) clipped to [0, 2^bits − 1]. Variance in counts of a linear,
    unsaturated pixel: (μ_e + σ_r²)/(e⁻/count)² + 1/12 (EMVA 1288 eq. 6).
    """
    generator = as_rng(rng)
    check_range("exposure_s", exposure_s, low=0, unit="s")
    mean_photons = np.asarray(photons, dtype=np.float64)
    if np.any(mean_photons < 0) or not np.all(np.isfinite(mean_photons)):
        raise ConfigError("photons must be finite and >= 0")
    out_dtype = np.dtype(real_dtype(np, dtype))
    maps = _maps_for(camera, pixel_maps, mean_photons.shape)
    signal = camera.quantum_efficiency * maps.gain * mean_photons
    dark = np.broadcast_to(maps.dark_current_e_per_s * exposure_s, signal.shape)
    if shot_noise:
        electrons = generator.poisson(signal).astype(np.float64) + generator.poisson(dark)
    else:
        electrons = signal + dark
    electrons += maps.offset_electrons
    if extra_electrons is not None:
        electrons = electrons + np.asarray(extra_electrons, dtype=np.float64)
    if np.any(maps.nonlinearity):
        electrons = _nonlinear(electrons, maps.nonlinearity, 0.5 * camera.full_well_electrons, np)
    np.clip(electrons, 0.0, camera.full_well_electrons, out=electrons)
    if read_noise and camera.read_noise_electrons:
        electrons += camera.read_noise_electrons * generator.standard_normal(electrons.shape)
    counts = np.rint(camera.offset_counts + electrons / camera.electrons_per_count)
    if np.any(maps.dead):
        counts[..., maps.dead] = round(camera.offset_counts)
    np.clip(counts, 0.0, float(camera.max_count), out=counts)
    return np.asarray(bin_image(counts, camera.binning), dtype=out_dtype)


def zinger_electrons(
    shape: tuple[int, ...],
    *,
    mean_per_frame: float,
    full_well_electrons: float,
    rng: RngLike,
) -> npt.NDArray[np.float64]:
    """Electrons deposited directly in the sensor by stray X-rays or cosmic rays ("zingers") in one frame.

    Each frame gets Poisson(``mean_per_frame``) events at uniform random positions; an event is a 1×1, 1×2, 2×1
    or 2×2 cluster that receives U(0.2, 2) × full well (so many saturate), the signature that zinger filters
    look for.

    Returns
    -------
    numpy.ndarray
        float64 of ``shape`` (rows, cols), mostly zeros.
    """
    check_range("mean_per_frame", mean_per_frame, low=0)
    generator = as_rng(rng)
    out = np.zeros(shape, dtype=np.float64)
    rows, cols = shape[-2], shape[-1]
    for _ in range(int(generator.poisson(mean_per_frame))):
        r, c = int(generator.integers(rows)), int(generator.integers(cols))
        dr, dc = int(generator.integers(1, 3)), int(generator.integers(1, 3))
        out[..., r : r + dr, c : c + dc] += generator.uniform(0.2, 2.0) * full_well_electrons
    return out
