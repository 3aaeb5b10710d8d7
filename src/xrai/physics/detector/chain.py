"""The whole indirect detector: X-ray photons per pixel and energy → camera counts.

:func:`detect` is the noisy chain (one frame, numpy, ``rng``); :func:`mean_counts` is its expectation, written
with the array API so that numpy arrays and torch tensors (CPU or CUDA) both work and gradients flow back to the
photon image (for learned inversion and detector-aware losses).

The chain, for X-ray photons N_E per pixel at energy E during one exposure:

1. absorbed quanta A_E = N_E η_E (:func:`~xrai.physics.detector.scintillator.absorbed_fraction`);
2. visible photons reaching the camera per absorbed quantum G_E = Y E c T (light yield Y, collection
   efficiency c of the objective, transmission T);
3. the light is blurred by the detector OTF (diffraction × depth defocus × optional Gaussian);
4. the camera turns light into counts (:mod:`~xrai.physics.detector.camera`).

Noise is a cascade (Cunningham's cascaded linear systems; Swank 1973): the number of absorbed X-ray quanta is
Poisson, each makes a Poisson number of light quanta, and the camera's photo-electrons are a Poisson thinning of
those. For a polychromatic beam the absorbed quanta K of different energies carry different gains; :func:`detect`
draws K ~ Poisson(Λ) with a single effective gain g that match the mean m = Σ A_E G_E and the variance
s = Σ A_E G_E² of the sum exactly (Λ = m²/s, g = s/m), then blurs K·g and draws the photo-electrons.
Without blur, an unsaturated pixel's electron variance is therefore m η (1 + g η) — the Poisson variance of the
X-rays amplified by the conversion gain, plus the secondary (light) Poisson noise.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai._backend import array_namespace, as_rng, device_of, real_dtype, to_numpy
from xrai._typing import Array, RngLike
from xrai.errors import ConfigError, check_range
from xrai.physics.detector.camera import (
    Camera,
    PixelMaps,
    camera_mean_counts,
    camera_readout,
    check_frame_timing,
)
from xrai.physics.detector.optics import (
    FWHM_TO_SIGMA,
    Optics,
    collection_efficiency,
    defocus_mtf,
    diffraction_mtf,
    gaussian_mtf,
)
from xrai.physics.detector.scintillator import Scintillator, absorbed_fraction, emission_depths

__all__ = [
    "Detector",
    "apply_detector_blur",
    "conversion_gain",
    "detect",
    "detect_light",
    "detector_otf",
    "detector_psf",
    "light_weights",
    "mean_counts",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Detector:
    """Scintillator + optics + camera.

    Parameters
    ----------
    scintillator, optics, camera
        The three parts.
    effective_pixel_size_m
        Pixel size in the scintillator (sample) plane (m); ``None`` = ``camera.pixel_size_m /
        optics.magnification``. A calibrated value often differs from the nominal one (a tube lens of another
        focal length than the objective's design changes M), so both can be given.
    blur
        Apply the optical blur (switch off for tests of the noise alone).
    name
        Free text.
    """

    scintillator: Scintillator
    optics: Optics
    camera: Camera
    effective_pixel_size_m: float | None = None
    blur: bool = True
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name, kind in (("scintillator", Scintillator), ("optics", Optics), ("camera", Camera)):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(f"{name} = {getattr(self, name)!r} is not a {kind.__name__}")
        if self.effective_pixel_size_m is not None:
            check_range(
                "effective_pixel_size_m",
                self.effective_pixel_size_m,
                low=0,
                low_inclusive=False,
                high=1e-2,
                unit="m",
            )

    @property
    def pixel_size_m(self) -> float:
        """Unbinned pixel size in the scintillator plane (m)."""
        if self.effective_pixel_size_m is not None:
            return float(self.effective_pixel_size_m)
        return self.camera.pixel_size_m / self.optics.magnification

    @property
    def nominal_pixel_size_m(self) -> float:
        """camera.pixel_size_m / optics.magnification (m)."""
        return self.camera.pixel_size_m / self.optics.magnification

    @property
    def output_pixel_size_m(self) -> float:
        """Pixel size of the output images, binning included (m)."""
        return self.pixel_size_m * self.camera.binning

    @property
    def shape(self) -> tuple[int, int]:
        """Unbinned image shape (rows, cols)."""
        return self.camera.shape

    @property
    def collection(self) -> float:
        """Fraction of the emitted light that reaches the camera (collection efficiency × transmission)."""
        return (
            collection_efficiency(
                self.optics.numerical_aperture, refractive_index=self.scintillator.refractive_index
            )
            * self.optics.transmission
        )


def _energies(energies_kev: npt.ArrayLike) -> npt.NDArray[np.float64]:
    energies = np.atleast_1d(np.asarray(energies_kev, dtype=np.float64))
    if energies.ndim != 1 or energies.size == 0:
        raise ConfigError(f"energies_kev must be a non-empty 1-D array, got shape {energies.shape}")
    return energies


def conversion_gain(detector: Detector, energies_kev: npt.ArrayLike) -> dict[str, npt.NDArray[np.float64]]:
    """The per-energy factors of the chain.

    Returns
    -------
    dict
        ``"absorbed"``: absorbed fraction η_E; ``"light_per_quantum"``: visible photons reaching the camera per
        absorbed X-ray G_E = Y E c T; ``"photons_per_xray"``: η_E G_E (visible photons at the camera per incident
        X-ray); ``"electrons_per_xray"``: η_E G_E × QE; ``"counts_per_xray"``: electrons / (e⁻/count). All float64
        of the shape of ``energies_kev``.
    """
    energies = _energies(energies_kev)
    absorbed = absorbed_fraction(detector.scintillator, energies)
    per_quantum = detector.scintillator.light_yield_per_kev * energies * detector.collection
    photons = absorbed * per_quantum
    electrons = photons * detector.camera.quantum_efficiency
    return {
        "absorbed": absorbed,
        "light_per_quantum": per_quantum,
        "photons_per_xray": photons,
        "electrons_per_xray": electrons,
        "counts_per_xray": electrons / detector.camera.electrons_per_count,
    }


# -- blur ---------------------------------------------------------------------------------------------------------


def _blur_radius_px(
    detector: Detector, pixel_size_m: float, depth_offsets_m: npt.NDArray[np.float64]
) -> float:
    optics, scint = detector.optics, detector.scintillator
    wavelength = scint.emission_wavelength_m
    airy = 1.22 * wavelength / (2 * optics.numerical_aperture) * 3  # a few Airy rings
    sin_theta = optics.numerical_aperture / scint.refractive_index
    defocus = float(np.max(np.abs(depth_offsets_m))) * sin_theta / math.sqrt(1 - sin_theta**2)
    gauss = 4 * optics.extra_blur_fwhm_m * FWHM_TO_SIGMA
    return (airy + defocus + gauss) / pixel_size_m


def _depth_model(
    detector: Detector, energies_kev: npt.ArrayLike | None, weights: npt.ArrayLike | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Defocus distances of the emission layers from the focal plane, and their light fractions."""
    scint = detector.scintillator
    energies = np.array([20.0]) if energies_kev is None else _energies(energies_kev)
    depths, fractions = emission_depths(scint, energies, weights=weights, n_layers=16)
    focus = detector.optics.focus_depth_m
    if focus is None:
        focus = float(np.sum(depths * fractions))
    return depths - focus, fractions


@functools.lru_cache(maxsize=32)
def _otf_cached(
    detector: Detector,
    shape: tuple[int, int],
    pixel_size_m: float,
    energies: bytes | None,
    weights: bytes | None,
) -> npt.NDArray[np.float64]:
    energies_kev = None if energies is None else np.frombuffer(energies, dtype=np.float64)
    weight_values = None if weights is None else np.frombuffer(weights, dtype=np.float64)
    offsets, fractions = _depth_model(detector, energies_kev, weight_values)
    fy = np.fft.fftfreq(shape[0], d=pixel_size_m)
    fx = np.fft.rfftfreq(shape[1], d=pixel_size_m)
    radial = np.hypot(fy[:, None], fx[None, :])
    optics, scint = detector.optics, detector.scintillator
    otf = diffraction_mtf(
        radial, numerical_aperture=optics.numerical_aperture, wavelength_m=scint.emission_wavelength_m
    )
    sin_theta = optics.numerical_aperture / scint.refractive_index
    tan_theta = sin_theta / math.sqrt(1.0 - sin_theta**2)
    depth_otf = np.zeros_like(radial)
    for offset, fraction in zip(offsets, fractions, strict=True):
        depth_otf += fraction * defocus_mtf(radial, blur_radius_m=offset * tan_theta)
    otf = otf * depth_otf
    if optics.extra_blur_fwhm_m:
        otf = otf * gaussian_mtf(radial, fwhm_m=optics.extra_blur_fwhm_m)
    result = np.asarray(otf, dtype=np.float64)
    result.setflags(write=False)
    return result


def detector_otf(
    detector: Detector,
    shape: tuple[int, int],
    *,
    pixel_size_m: float | None = None,
    energies_kev: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """The detector's optical transfer function on the ``rfft2`` grid of an image of ``shape``.

    Parameters
    ----------
    detector
        The detector.
    shape
        (rows, cols) of the (padded) image the OTF multiplies.
    pixel_size_m
        Sampling of the image in the scintillator plane (m); default ``detector.pixel_size_m``.
    energies_kev, weights
        Spectrum that sets the emission depth profile (default 20 keV).

    Returns
    -------
    numpy.ndarray
        float64 (rows, cols // 2 + 1), real and non-negative where defocus is small (the disk OTF has
        negative lobes), 1 at zero frequency. Read-only (cached).

    Notes
    -----
    OTF(f) = OTF_diff(f; NA, λ) × Σ_l w_l 2J₁(2π r_l f)/(2π r_l f) × exp(−2π²σ²f²), with r_l = |z_l − z_f|
    tan(asin(NA/n)) the geometric defocus radius of emission layer l (light fraction w_l) for the focal depth
    z_f, and σ from ``optics.extra_blur_fwhm_m``.
    """
    pixel = detector.pixel_size_m if pixel_size_m is None else float(pixel_size_m)
    e_bytes = None if energies_kev is None else _energies(energies_kev).tobytes()
    w_bytes = None if weights is None else np.asarray(weights, dtype=np.float64).tobytes()
    return _otf_cached(detector, (int(shape[0]), int(shape[1])), pixel, e_bytes, w_bytes)


def _padded_indices(n: int, pad: int) -> npt.NDArray[np.int64]:
    return np.clip(np.arange(-pad, n + pad), 0, n - 1)


def _fast_length(n: int) -> int:
    from scipy import fft

    return int(fft.next_fast_len(n, real=True))


def apply_detector_blur(
    image: Array,
    detector: Detector,
    *,
    pixel_size_m: float | None = None,
    energies_kev: npt.ArrayLike | None = None,
    weights: npt.ArrayLike | None = None,
) -> Array:
    """Blur ``image`` (..., rows, cols) with the detector OTF; edges are extended by replication.

    Works on numpy arrays and torch tensors (differentiable); the total of an image far from its edges is kept
    (OTF(0) = 1).
    """
    if not detector.blur:
        return image
    xp = array_namespace(image)
    device = device_of(image)
    pixel = detector.pixel_size_m if pixel_size_m is None else float(pixel_size_m)
    offsets, _ = _depth_model(detector, energies_kev, weights)
    radius = _blur_radius_px(detector, pixel, offsets)
    pad = max(4, math.ceil(radius))
    rows, cols = image.shape[-2], image.shape[-1]
    shape = (_fast_length(rows + 2 * pad), _fast_length(cols + 2 * pad))
    row_index = _padded_indices(rows, pad)
    col_index = _padded_indices(cols, pad)
    row_index = np.concatenate([row_index, np.full(shape[0] - row_index.size, rows - 1)])
    col_index = np.concatenate([col_index, np.full(shape[1] - col_index.size, cols - 1)])
    padded = xp.take(image, xp.asarray(row_index, device=device), axis=-2)
    padded = xp.take(padded, xp.asarray(col_index, device=device), axis=-1)
    otf = detector_otf(detector, shape, pixel_size_m=pixel, energies_kev=energies_kev, weights=weights)
    otf_x = xp.asarray(np.array(otf), dtype=padded.dtype, device=device)  # a writable copy (torch wants one)
    spectrum = xp.fft.rfftn(padded, axes=(-2, -1))
    blurred = xp.fft.irfftn(spectrum * otf_x, s=shape, axes=(-2, -1))
    return blurred[..., pad : pad + rows, pad : pad + cols]


def detector_psf(
    detector: Detector,
    size: int = 65,
    *,
    pixel_size_m: float | None = None,
    energies_kev: npt.ArrayLike | None = None,
) -> npt.NDArray[np.float64]:
    """The detector PSF sampled on a ``size × size`` grid centred on pixel (size // 2, size // 2); sums to 1."""
    if size < 3 or size % 2 == 0:
        raise ConfigError(f"size = {size!r} is not allowed: must be an odd integer >= 3")
    otf = detector_otf(detector, (size, size), pixel_size_m=pixel_size_m, energies_kev=energies_kev)
    psf = np.fft.fftshift(np.fft.irfft2(otf, s=(size, size)))
    return np.asarray(psf / psf.sum(), dtype=np.float64)


# -- the chain ----------------------------------------------------------------------------------------------------


def _check_photons(photons_shape: tuple[int, ...], energies: npt.NDArray[np.float64]) -> bool:
    """True if ``photons`` has an energy axis (-3)."""
    if len(photons_shape) >= 3 and photons_shape[-3] == energies.size:
        return True
    if energies.size == 1 and len(photons_shape) >= 2:
        return False
    raise ConfigError(
        f"photons has shape {photons_shape}; expected (n_energies = {energies.size}, rows, cols) "
        "or (rows, cols) for one energy"
    )


def mean_counts(
    photons: Array,
    detector: Detector,
    *,
    energies_kev: npt.ArrayLike,
    exposure_s: float,
    pixel_maps: PixelMaps | None = None,
    frame_rate_hz: float | None = None,
) -> Array:
    """Expected camera counts for X-ray photons per pixel and energy (noise-free, differentiable).

    Parameters
    ----------
    photons
        X-ray photons per pixel during the exposure at the scintillator, (n_energies, rows, cols) or (rows, cols)
        for a single energy; numpy array or torch tensor. Intensity images (flat = 1) times the incident photons
        per pixel of each energy (``Spectrum.photons_per_pixel``).
    detector
        The detector.
    energies_kev
        The energies of the first axis (keV).
    exposure_s
        Exposure time (s).
    pixel_maps
        Fixed-pattern camera maps (``None`` = ideal sensor).
    frame_rate_hz
        If given, check that the exposure fits in the frame period (:func:`check_frame_timing`).

    Returns
    -------
    Array
        Expected counts (rows // b, cols // b), dtype of ``photons`` (float).
    """
    energies = _energies(energies_kev)
    if frame_rate_hz is not None:
        check_frame_timing(detector.camera, exposure_s=exposure_s, frame_rate_hz=frame_rate_hz)
    has_energy_axis = _check_photons(tuple(photons.shape), energies)
    xp = array_namespace(photons)
    dtype = photons.dtype if photons.dtype in (xp.float32, xp.float64) else real_dtype(xp)
    per_xray = conversion_gain(detector, energies)["photons_per_xray"]
    if has_energy_axis:
        factors = xp.asarray(per_xray, dtype=dtype, device=device_of(photons))
        light = xp.sum(photons * factors[:, None, None], axis=-3)
    else:
        light = photons * float(per_xray[0])
    light = apply_detector_blur(
        light, detector, energies_kev=energies, weights=_mean_weights(photons, has_energy_axis)
    )
    return camera_mean_counts(light, detector.camera, exposure_s=exposure_s, pixel_maps=pixel_maps)


def _mean_weights(photons: Any, has_energy_axis: bool) -> npt.NDArray[np.float64] | None:
    """Spectrum (photons per energy, summed over the image) for the emission depth profile, rounded for caching."""
    if not has_energy_axis:
        return None
    values = to_numpy(photons)
    totals = np.asarray([float(np.sum(values[..., i, :, :])) for i in range(values.shape[-3])])
    if not np.any(totals > 0):
        return None
    relative = totals / totals.max()
    return np.asarray(
        np.round(relative, 1), dtype=np.float64
    )  # coarse: the depth profile hardly changes, and the OTF cache stays small


def detect(
    photons: npt.ArrayLike,
    detector: Detector,
    *,
    energies_kev: npt.ArrayLike,
    exposure_s: float,
    rng: RngLike,
    pixel_maps: PixelMaps | None = None,
    frame_rate_hz: float | None = None,
    extra_electrons: npt.ArrayLike | None = None,
    noise: bool = True,
    dtype: Any = None,
) -> npt.NDArray[Any]:
    """One detected frame: noisy, digitised camera counts for X-ray photons per pixel and energy.

    Parameters
    ----------
    photons
        X-ray photons per pixel during the exposure, (n_energies, rows, cols) or (rows, cols) for one energy.
    detector
        The detector.
    energies_kev
        Energies of the first axis (keV).
    exposure_s
        Exposure time (s).
    rng
        Seed or numpy Generator.
    pixel_maps
        Fixed-pattern maps from :func:`~xrai.physics.detector.camera.make_pixel_maps` (``None`` = ideal).
    frame_rate_hz
        If given, the exposure must fit in the frame period, else :class:`ConfigError`.
    extra_electrons
        Electrons added in the sensor (zingers), (rows, cols).
    noise
        ``False`` gives the expected counts rounded to whole counts (no Poisson or read noise).
    dtype
        Output float dtype (default from ``xrai.options``); values are whole counts.

    Returns
    -------
    numpy.ndarray
        Counts (rows // b, cols // b).

    Examples
    --------
    >>> import numpy as np
    >>> from xrai.physics.detector import seed_detector, detect
    >>> det = seed_detector(shape=(32, 32))
    >>> frame = detect(np.full((1, 32, 32), 2000.0), det, energies_kev=[20.0], exposure_s=0.01, rng=0)
    >>> frame.shape
    (32, 32)
    """
    energies = _energies(energies_kev)
    if frame_rate_hz is not None:
        check_frame_timing(detector.camera, exposure_s=exposure_s, frame_rate_hz=frame_rate_hz)
    values = np.asarray(photons, dtype=np.float64)
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise ConfigError("photons must be finite and >= 0")
    has_energy_axis = _check_photons(values.shape, energies)
    gains = conversion_gain(detector, energies)
    absorbed_per_incident = gains["absorbed"]
    per_quantum = gains["light_per_quantum"]
    if has_energy_axis:
        absorbed = values * absorbed_per_incident[:, None, None]
        mean_light = np.tensordot(per_quantum, absorbed, axes=(0, -3))
        second = np.tensordot(per_quantum**2, absorbed, axes=(0, -3))
    else:
        absorbed = values * absorbed_per_incident[0]
        mean_light = absorbed * per_quantum[0]
        second = absorbed * per_quantum[0] ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.where(mean_light > 0, second / mean_light, 0.0)
    return detect_light(
        mean_light,
        detector,
        quantum_gain=gain,
        exposure_s=exposure_s,
        rng=rng,
        pixel_maps=pixel_maps,
        extra_electrons=extra_electrons,
        noise=noise,
        energies_kev=energies,
        spectrum_weights=_mean_weights(values, has_energy_axis),
        dtype=dtype,
    )


def light_weights(
    detector: Detector, energies_kev: npt.ArrayLike, photons_per_pixel: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], float]:
    """Per-energy weights of the detected light and the effective quantum gain, for :func:`detect_light`.

    Parameters
    ----------
    detector
        The detector.
    energies_kev
        Energies (keV).
    photons_per_pixel
        Incident X-ray photons per pixel per energy in one exposure (the flat field).

    Returns
    -------
    weights, quantum_gain
        ``weights[E]`` = visible photons reaching the camera per pixel from energy E for a transmission of 1
        (N_E η_E G_E); a polychromatic intensity image weighted by them (``Σ_E weights[E] I_E``) is the light
        image :func:`detect_light` takes. ``quantum_gain`` = Σ N η G² / Σ N η G, the effective light per
        absorbed quantum of the incident spectrum (beam hardening by the sample changes it by a few %, which
        only affects the noise variance).
    """
    energies = _energies(energies_kev)
    photons = np.asarray(photons_per_pixel, dtype=np.float64).reshape(-1)
    if photons.shape != energies.shape:
        raise ConfigError(f"photons_per_pixel has shape {photons.shape}, expected {energies.shape}")
    gains = conversion_gain(detector, energies)
    absorbed = photons * gains["absorbed"]
    weights = absorbed * gains["light_per_quantum"]
    total = float(weights.sum())
    gain = float(np.sum(weights * gains["light_per_quantum"]) / total) if total > 0 else 0.0
    return np.asarray(weights, dtype=np.float64), gain


def detect_light(
    light: npt.ArrayLike,
    detector: Detector,
    *,
    quantum_gain: float | npt.ArrayLike,
    exposure_s: float,
    rng: RngLike,
    pixel_maps: PixelMaps | None = None,
    extra_electrons: npt.ArrayLike | None = None,
    noise: bool = True,
    energies_kev: npt.ArrayLike | None = None,
    spectrum_weights: npt.ArrayLike | None = None,
    frame_rate_hz: float | None = None,
    dtype: Any = None,
) -> npt.NDArray[Any]:
    """One detected frame from the *mean light* image (the second half of :func:`detect`).

    Parameters
    ----------
    light
        Mean visible photons reaching the camera per pixel, before the optical blur, (rows, cols): Σ_E N_E η_E G_E
        (see :func:`light_weights`).
    quantum_gain
        Mean visible photons at the camera per absorbed X-ray quantum (a number or a map): the X-ray quanta are
        drawn as Poisson(light / gain), each giving ``gain`` photons on average.
    energies_kev, spectrum_weights
        Spectrum for the emission-depth profile of the blur (default 20 keV).
    exposure_s, rng, pixel_maps, extra_electrons, noise, frame_rate_hz, dtype
        As in :func:`detect`.
    """
    if frame_rate_hz is not None:
        check_frame_timing(detector.camera, exposure_s=exposure_s, frame_rate_hz=frame_rate_hz)
    mean_light = np.asarray(light, dtype=np.float64)
    if np.any(mean_light < 0) or not np.all(np.isfinite(mean_light)):
        raise ConfigError("light must be finite and >= 0")
    gain = np.asarray(quantum_gain, dtype=np.float64)
    if np.any(gain < 0):
        raise ConfigError("quantum_gain must be >= 0")
    generator = as_rng(rng)
    if noise:
        with np.errstate(invalid="ignore", divide="ignore"):
            quanta_mean = np.where(gain > 0, mean_light / gain, 0.0)
        values = np.asarray(generator.poisson(quanta_mean) * gain, dtype=np.float64)
    else:
        values = mean_light
    blurred = apply_detector_blur(values, detector, energies_kev=energies_kev, weights=spectrum_weights)
    blurred = np.clip(blurred, 0.0, None)  # ringing of the disk OTF must not make negative photon numbers
    return camera_readout(
        blurred,
        detector.camera,
        exposure_s=exposure_s,
        rng=generator,
        pixel_maps=pixel_maps,
        extra_electrons=extra_electrons,
        shot_noise=noise,
        read_noise=noise,
        dtype=dtype,
    )
