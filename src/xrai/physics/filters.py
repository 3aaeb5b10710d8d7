"""Filters, windows and mirrors between the source and the sample.

- :class:`Filter`: a slab of any material (an attenuator, a beryllium window, a diamond or glassy-carbon
  window, a vacuum-to-air path), Beer–Lambert transmission T = exp(−μ d) with xraylib's μ.
- :class:`MirrorCutoff`: a grazing-incidence mirror used as a low-pass filter (harmonic rejection, heat
  load), as the Fresnel reflectivity of one smooth interface with Névot–Croce roughness (an approximation,
  see its Notes).

Both have a ``transmission(energies_kev)`` method (the fraction of photons passed, per energy), so a beamline
is a tuple of them, applied to a spectrum with :func:`apply_filters`.

References
----------
.. [1] J. Als-Nielsen and D. McMorrow, Elements of Modern X-ray Physics, 2nd ed., ch. 3 (Wiley, 2011).
   doi:10.1002/9781119998365
.. [2] L. Névot and P. Croce, "Caractérisation des surfaces par réflexion rasante de rayons X",
   Rev. Phys. Appl. 15, 761–779 (1980). doi:10.1051/rphysap:01980001503076100

Examples
--------
>>> from xrai.physics.sources import BendingMagnet, energy_grid
>>> bm = BendingMagnet(ring_energy_gev=2.5, field_t=1.5, current_a=0.106, distance_m=30.0)
>>> white = bm.spectrum(energy_grid(8, 30, 1))
>>> pink = apply_filters(white, [Filter(material="Al", thickness_m=0.7e-3)])
>>> bool(pink.mean_energy_kev > white.mean_energy_kev)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xrai.errors import ConfigError, check_range
from xrai.physics.materials import HC_KEV_M, Material, get_material
from xrai.physics.spectrum import Spectrum

__all__ = ["Filter", "MirrorCutoff", "Optic", "apply_filters", "transmission"]


@runtime_checkable
class Optic(Protocol):
    """Anything that passes a fraction of the photons at each energy (a filter, a mirror, a window)."""

    @property
    def label(self) -> str:
        """A short description for tables and plots."""
        ...

    def transmission(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """Fraction of photons passed at each energy (float64, shape of ``energies_kev``)."""
        ...


def transmission(
    material: str | Material,
    energies_kev: ArrayLike,
    *,
    thickness_m: float,
    kind: Literal["total", "photo"] = "total",
) -> NDArray[np.float64]:
    """Beer–Lambert transmission exp(−μ(E) d) of a slab (float64, shape of ``energies_kev``).

    Parameters
    ----------
    material
        A :class:`~xrai.physics.materials.Material` or a library name.
    energies_kev
        Photon energies in keV (1–150).
    thickness_m
        Thickness d in m (>= 0).
    kind
        ``"total"`` (scattered photons leave the beam) or ``"photo"``.

    Examples
    --------
    >>> round(float(transmission("Al", 20.0, thickness_m=0.7e-3)), 3)
    0.522
    """
    mat = get_material(material)
    thickness = check_range("thickness_m", thickness_m, low=0.0, unit="m")
    return np.exp(-mat.linear_attenuation_per_m(energies_kev, kind=kind) * thickness)


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """A slab filter or window of ``material`` and ``thickness_m`` (m, >= 0).

    ``material`` may be a library name; it is resolved to a :class:`Material` on construction.
    """

    material: Material
    thickness_m: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "material", get_material(self.material))
        object.__setattr__(
            self, "thickness_m", check_range("thickness_m", self.thickness_m, low=0.0, unit="m")
        )

    @property
    def label(self) -> str:
        """E.g. ``"0.7 mm al"``."""
        return f"{_format_length(self.thickness_m)} {self.material.name}"

    def transmission(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """exp(−μ_total d) at each energy."""
        return transmission(self.material, energies_kev, thickness_m=self.thickness_m)


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorCutoff:
    """A grazing-incidence mirror as a low-pass filter (an approximation of a real mirror's reflectivity).

    Parameters
    ----------
    material
        Mirror surface (coating) material, e.g. ``"Si"``, ``"Rh"``, ``"Pt"`` (element symbols work).
    angle_rad
        Grazing angle θ in rad (typically 1–5 mrad).
    roughness_m
        RMS surface roughness σ in m (Névot–Croce factor).
    n_reflections
        Number of identical reflections (2 for a double-mirror system keeping the beam direction).

    Notes
    -----
    With n = 1 − δ + iβ the reflectivity of one smooth, infinitely thick interface at small grazing angles is
    (Fresnel, [1]_)

    .. math:: R = \\left|\\frac{\\theta - \\sqrt{\\theta^2 - 2\\delta + 2i\\beta}}
                             {\\theta + \\sqrt{\\theta^2 - 2\\delta + 2i\\beta}}\\right|^2
              \\;\\left|e^{-2 k_{z,1} k_{z,2} \\sigma^2}\\right|^2

    with the Névot–Croce roughness factor [2]_, k_{z,1} = kθ, k_{z,2} = k√(θ² − 2δ + 2iβ). Total external
    reflection holds below the critical angle θ_c = √(2δ); since δ ∝ E⁻², the cut-off energy is where
    θ = θ_c(E) (:attr:`cutoff_energy_kev`). Not modelled: coating thickness and layers beneath it (a thin
    coating over a substrate), slope errors, polarisation (at mrad angles s and p coincide), footprint
    overfilling, and the mirror's focusing.
    """

    material: Material
    angle_rad: float
    roughness_m: float = 0.0
    n_reflections: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "material", get_material(self.material))
        check_range("angle_rad", self.angle_rad, low=0.0, high=0.1, low_inclusive=False, unit="rad")
        check_range("roughness_m", self.roughness_m, low=0.0, high=1e-7, unit="m")
        if (
            isinstance(self.n_reflections, bool)
            or not isinstance(self.n_reflections, int)
            or self.n_reflections < 1
        ):
            raise ConfigError(
                f"n_reflections = {self.n_reflections!r} is not allowed: must be an integer >= 1"
            )

    @property
    def label(self) -> str:
        """E.g. ``"Rh mirror 3 mrad"``."""
        times = f" ×{self.n_reflections}" if self.n_reflections > 1 else ""
        return f"{self.material.name} mirror {self.angle_rad * 1e3:g} mrad{times}"

    @property
    def cutoff_energy_kev(self) -> float:
        """Energy (keV) at which the grazing angle equals the critical angle √(2δ(E)).

        Found on the xraylib δ(E) (which includes absorption edges) by bisection in 1–150 keV; 150 keV if the
        angle stays below the critical angle up to there, 1 keV if it never does.
        """
        low, high = 1.0, 150.0

        def excess(energy: float) -> float:
            return math.sqrt(2 * float(self.material.delta(energy))) - self.angle_rad

        if excess(high) > 0:
            return high
        if excess(low) < 0:
            return low
        for _ in range(60):
            middle = math.sqrt(low * high)
            if excess(middle) > 0:
                low = middle
            else:
                high = middle
        return math.sqrt(low * high)

    def reflectivity(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """Reflectivity of one reflection (float64, shape of ``energies_kev``)."""
        energies = np.asarray(energies_kev, dtype=np.float64)
        delta, beta = self.material.refractive_index(energies)
        theta = self.angle_rad
        root = np.sqrt(theta**2 - 2 * delta + 2j * beta)
        amplitude = (theta - root) / (theta + root)
        if self.roughness_m > 0:
            k = 2 * np.pi * energies / HC_KEV_M
            amplitude = amplitude * np.exp(-2 * (k * theta) * (k * root) * self.roughness_m**2)
        return np.asarray(np.abs(amplitude) ** 2, dtype=np.float64)

    def transmission(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """Fraction of photons passed: R^n_reflections."""
        return self.reflectivity(energies_kev) ** self.n_reflections


def apply_filters(spectrum: Spectrum, filters: Iterable[Optic]) -> Spectrum:
    """The spectrum after passing every filter/mirror in ``filters`` (in order; the order does not matter)."""
    if not isinstance(spectrum, Spectrum):
        raise ConfigError(f"spectrum = {spectrum!r} is not a Spectrum")
    result = spectrum
    for optic in filters:
        if not isinstance(optic, Optic):
            raise ConfigError(f"filter {optic!r} has no transmission(energies_kev) method and label")
        result = result.multiplied(optic.transmission(result.energies_kev), label=optic.label)
    return result


def _format_length(metres: float) -> str:
    if metres == 0:
        return "0 m"
    if metres >= 1:
        return f"{metres:g} m"
    if metres >= 1e-4:
        return f"{metres * 1e3:g} mm"
    return f"{metres * 1e6:g} µm"
