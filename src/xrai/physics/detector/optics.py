"""The light optics of an indirect detector: magnification, light collection and the optical transfer function.

A microscope objective images the scintillator onto the camera. Its magnification sets the effective pixel size
(camera pixel / M), its numerical aperture (NA) how much of the isotropically emitted light it collects and how
sharp the image is. Two blurs are modelled, as optical transfer functions (OTFs) of the spatial frequency f
(cycles/m, in the scintillator plane):

* **diffraction** of an aberration-free circular pupil (the Airy pattern, FWHM ≈ 0.51 λ/NA), and
* **defocus**: the screen has a thickness; light from a depth Δz away from the focal plane makes a geometric
  disk of radius Δz·tan(asin(NA/n)) (n the screen's refractive index), averaged over the emission depths.

The two are multiplied (a common engineering approximation: it reduces to the exact diffraction OTF in focus
and to geometric optics far from focus). An optional Gaussian term stands for everything else (light scattering
in the screen, the camera's own PSF).

References
----------
Goodman, J. W., *Introduction to Fourier Optics*, 3rd ed. (2005), §6.3 (incoherent OTF of a circular pupil).
Koch, A., Raven, C., Spanne, P., Snigirev, A. (1998), X-ray imaging with submicrometer resolution employing
transparent luminescent screens, J. Opt. Soc. Am. A 15, 1940–1951, doi:10.1364/JOSAA.15.001940.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from xrai.errors import ConfigError, check_range

__all__ = [
    "Optics",
    "airy_fwhm_m",
    "collection_efficiency",
    "defocus_mtf",
    "diffraction_mtf",
    "gaussian_mtf",
    "koch_resolution_m",
]

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Optics:
    """A microscope objective (with its tube lens) between scintillator and camera.

    Parameters
    ----------
    magnification
        Optical magnification M (camera pixel / M = effective pixel), > 0.
    numerical_aperture
        Object-side NA, in (0, ``immersion_index``].
    transmission
        Fraction of the collected light that reaches the camera (lens and mirror losses), in (0, 1].
    immersion_index
        Refractive index of the medium between screen and objective (1 for a dry objective).
    focus_depth_m
        Depth of the focal plane below the screen's entrance face (m); ``None`` = the light-weighted mean
        emission depth (the plane of best focus).
    extra_blur_fwhm_m
        FWHM (m, scintillator plane) of an additional Gaussian blur; 0 = none.
    name
        Free text (e.g. ``"Mitutoyo Plan Apo 10x"``).
    """

    magnification: float
    numerical_aperture: float
    transmission: float = 1.0
    immersion_index: float = 1.0
    focus_depth_m: float | None = None
    extra_blur_fwhm_m: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        check_range("magnification", self.magnification, low=0, low_inclusive=False, high=1e4)
        check_range("immersion_index", self.immersion_index, low=1.0, high=2.0)
        check_range(
            "numerical_aperture",
            self.numerical_aperture,
            low=0,
            low_inclusive=False,
            high=self.immersion_index,
        )
        check_range("transmission", self.transmission, low=0, low_inclusive=False, high=1)
        if self.focus_depth_m is not None:
            check_range("focus_depth_m", self.focus_depth_m, low=0, unit="m")
        check_range("extra_blur_fwhm_m", self.extra_blur_fwhm_m, low=0, high=1e-3, unit="m")


def collection_efficiency(numerical_aperture: float, *, refractive_index: float) -> float:
    """Fraction of the light of an isotropic point emitter inside a medium of index n that an objective collects.

    Notes
    -----
    Refraction at the screen's flat exit face maps the objective's acceptance cone (sin θ = NA in air) onto a
    cone of half-angle θₙ = asin(NA/n) inside the screen; an isotropic emitter sends the fraction
    (1 − cos θₙ)/2 of its light into it, ≈ NA²/(4n²) for small NA (Koch et al. 1998, eq. 5). Fresnel reflection
    losses at the exit face and light reflected back from the substrate are neglected (they roughly cancel).

    Examples
    --------
    >>> round(collection_efficiency(0.28, refractive_index=1.82), 5)
    0.00595
    """
    check_range("refractive_index", refractive_index, low=1.0)
    check_range("numerical_aperture", numerical_aperture, low=0, high=refractive_index)
    sin_theta = numerical_aperture / refractive_index
    return 0.5 * (1.0 - math.sqrt(1.0 - sin_theta * sin_theta))


def diffraction_mtf(
    frequencies_per_m: npt.ArrayLike, *, numerical_aperture: float, wavelength_m: float
) -> npt.NDArray[np.float64]:
    """Incoherent diffraction-limited OTF of a circular pupil (Goodman eq. 6-31).

    MTF(f) = (2/π)[acos(ν) − ν √(1 − ν²)] for ν = f / f_c ≤ 1, 0 beyond; f_c = 2 NA / λ.
    """
    cutoff = 2.0 * numerical_aperture / wavelength_m
    nu = np.minimum(np.abs(np.asarray(frequencies_per_m, dtype=np.float64)) / cutoff, 1.0)
    return np.asarray((2.0 / np.pi) * (np.arccos(nu) - nu * np.sqrt(1.0 - nu * nu)), dtype=np.float64)


def defocus_mtf(frequencies_per_m: npt.ArrayLike, *, blur_radius_m: float) -> npt.NDArray[np.float64]:
    """OTF of a uniform disk of radius ``blur_radius_m`` (geometric defocus): 2 J₁(2π r f)/(2π r f)."""
    x = 2.0 * np.pi * abs(blur_radius_m) * np.abs(np.asarray(frequencies_per_m, dtype=np.float64))
    out = np.ones_like(x)
    nonzero = x > 1e-12
    out[nonzero] = 2.0 * special.j1(x[nonzero]) / x[nonzero]
    return out


def gaussian_mtf(frequencies_per_m: npt.ArrayLike, *, fwhm_m: float) -> npt.NDArray[np.float64]:
    """OTF of a Gaussian PSF of the given FWHM: exp(−2π² σ² f²)."""
    sigma = fwhm_m * FWHM_TO_SIGMA
    f = np.asarray(frequencies_per_m, dtype=np.float64)
    return np.exp(-2.0 * np.pi**2 * sigma**2 * f * f)


def airy_fwhm_m(*, numerical_aperture: float, wavelength_m: float) -> float:
    """FWHM of the Airy intensity pattern: 0.5145 λ / NA (m)."""
    return 0.5145 * wavelength_m / numerical_aperture


def koch_resolution_m(*, numerical_aperture: float, thickness_m: float) -> float:
    """Koch et al.'s (1998) empirical spatial resolution (FWHM of the line spread function) of a thin screen.

    R = √((p / NA)² + (q · t · NA)²) with p = 0.18 µm, q = 0.075, t in µm (for λ ≈ 550 nm); returned in m.
    A cross-check of the OTF model, not used by it.
    """
    if thickness_m < 0:
        raise ConfigError(f"thickness_m = {thickness_m!r} is not allowed: must be >= 0 m")
    t_um = thickness_m * 1e6
    return 1e-6 * math.hypot(0.18 / numerical_aperture, 0.075 * t_um * numerical_aperture)
