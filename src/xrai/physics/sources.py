"""X-ray sources: bending magnet, wiggler, undulator, monochromatic beam, X-ray tube, tabulated spectrum.

Every source is a frozen configuration with a ``spectrum(energies_kev, *, bin_widths_kev=None)`` method that
returns a :class:`~xrai.physics.spectrum.Spectrum`: photons per second per m² in each energy bin, on axis at the
sample, ``distance_m`` from the source. Synchrotron sources also give the spectral angular flux density in the
synchrotron-radiation unit photons/s/mrad²/0.1 %bw (``angular_flux_density``).

Bins are integrated, not point-sampled: a smooth spectrum with Gauss–Legendre quadrature inside each bin, the
undulator's narrow lines analytically (sine integral).

Conventions and approximations
------------------------------
- Energies in keV, angles in rad (vertical angle ψ measured from the orbit plane), distances and source sizes
  (FWHM) in m, ring energy in GeV, current in A, field in T.
- The flux density at the sample is the angular flux density divided by the solid angle of 1 m² at
  ``distance_m``: Φ [photons/s/m²/bin] = ∫_bin d²F/dθdψ / (10⁻³ E) dE / (10⁻⁶ R²). This far-field picture is
  exact for a bending magnet (for R ≫ source size); for an undulator it holds within the central cone.
- Source sizes do not change the on-axis flux density; they are carried for partial coherence and penumbral
  blurring (:meth:`BendingMagnet.angular_source_size_rad`).

References
----------
.. [1] K.-J. Kim, "Characteristics of synchrotron radiation", AIP Conf. Proc. 184, 565 (1989).
   doi:10.1063/1.38046 ; X-ray Data Booklet, section 2.1 (LBNL, 2009), https://xdb.lbl.gov
.. [2] J. D. Jackson, Classical Electrodynamics, 3rd ed., section 14.6 (Wiley, 1999).
.. [3] J. Als-Nielsen and D. McMorrow, Elements of Modern X-ray Physics, 2nd ed., ch. 2 (Wiley, 2011).
   doi:10.1002/9781119998365
.. [4] G. Poludniowski, A. Omar et al., "SpekPy v2.0 — a software toolkit for modeling x-ray tube spectra",
   Med. Phys. 48, 3630 (2021). doi:10.1002/mp.14945
.. [5] T. Faragó et al., "syris: a flexible and efficient framework for X-ray imaging experiments simulation",
   J. Synchrotron Rad. 24, 1283 (2017). doi:10.1107/S1600577517012255

Examples
--------
>>> bm = BendingMagnet(ring_energy_gev=2.5, field_t=1.5, current_a=0.106, distance_m=30.0)
>>> round(bm.critical_energy_kev, 2)
6.23
>>> s = bm.spectrum(energy_grid(8.0, 30.0, 1.0))
>>> s.n_bins
23
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xrai.errors import ApproximationWarning, ConfigError, DataError, check_range
from xrai.physics.spectrum import Spectrum, bin_widths

__all__ = [
    "ALPHA",
    "DCM_BANDWIDTH",
    "DMM_BANDWIDTH",
    "ELECTRON_REST_ENERGY_GEV",
    "BendingMagnet",
    "Monochromatic",
    "Source",
    "TabulatedSource",
    "Undulator",
    "Wiggler",
    "XRayTube",
    "energy_grid",
    "lorentz_factor",
]

# CODATA 2018
ALPHA = 7.297_352_5693e-3  #: fine-structure constant
ELEMENTARY_CHARGE_C = 1.602_176_634e-19
ELECTRON_REST_ENERGY_GEV = 0.510_998_950_00e-3
HBAR_C_KEV_M = 1.973_269_804e-10  # ħc in keV·m
HC_KEV_M = 1.239_841_984e-9  # hc in keV·m
SPEED_OF_LIGHT_M_S = 299_792_458.0

#: Relative bandwidth (FWHM ΔE/E) of a Si(111) double-crystal monochromator, order of magnitude.
DCM_BANDWIDTH = 1e-4
#: Relative bandwidth (FWHM ΔE/E) of a double-multilayer monochromator, typical.
DMM_BANDWIDTH = 2e-2

_PER_MRAD2 = 1e-6  # rad² per mrad²
_BW = 1e-3  # 0.1 % bandwidth
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)


@runtime_checkable
class Source(Protocol):
    """What every source provides: a binned spectrum on axis at its ``distance_m``."""

    def spectrum(self, energies_kev: ArrayLike, *, bin_widths_kev: ArrayLike | None = None) -> Spectrum:
        """Photons/s/m² per bin at the sample."""
        ...


def energy_grid(start_kev: float, stop_kev: float, step_kev: float) -> NDArray[np.float64]:
    """Bin centres from ``start_kev`` to ``stop_kev`` inclusive in steps of ``step_kev``.

    Examples
    --------
    >>> energy_grid(8, 30, 1).size
    23
    """
    start = check_range("start_kev", start_kev, low=0, low_inclusive=False, unit="keV")
    stop = check_range("stop_kev", stop_kev, low=start, unit="keV")
    step = check_range("step_kev", step_kev, low=0, low_inclusive=False, unit="keV")
    count = math.floor((stop - start) / step + 1e-9) + 1
    return start + step * np.arange(count, dtype=np.float64)


def lorentz_factor(ring_energy_gev: float) -> float:
    """γ = E / (m_e c²) of the stored electrons."""
    return float(ring_energy_gev) / ELECTRON_REST_ENERGY_GEV


def _positive(name: str, value: float, unit: str, *, high: float | None = None) -> float:
    return check_range(name, value, low=0, low_inclusive=False, high=high, unit=unit)


def _edges(energies_kev: ArrayLike, bin_widths_kev: ArrayLike | None) -> tuple[NDArray[np.float64], ...]:
    """Centres, widths, lower and upper edges, validated the way :class:`Spectrum` validates them."""
    centres = np.atleast_1d(np.asarray(energies_kev, dtype=np.float64))
    if centres.ndim != 1 or not np.all(np.isfinite(centres)) or np.any(centres <= 0):
        raise ConfigError(f"energies_kev = {centres.tolist()} must be a 1-D array of energies > 0 keV")
    if bin_widths_kev is None:
        widths = bin_widths(centres)
    else:
        widths = np.broadcast_to(np.asarray(bin_widths_kev, dtype=np.float64), centres.shape).copy()
        if not np.all(np.isfinite(widths)) or np.any(widths <= 0):
            raise ConfigError(f"bin_widths_kev = {widths.tolist()} must be finite and > 0 keV")
    low = centres - 0.5 * widths
    if np.any(low <= 0):
        raise ConfigError(f"bins reach down to {low.min():g} keV: the lowest bin edge must be > 0 keV")
    return centres, widths, low, centres + 0.5 * widths


def _integrate_bins(per_bw: Any, low: NDArray[np.float64], high: NDArray[np.float64]) -> NDArray[np.float64]:
    """∫_bin f(E) / (10⁻³ E) dE for f in units per 0.1 %bw, by 8-point Gauss–Legendre per bin."""
    half = 0.5 * (high - low)
    nodes = (0.5 * (high + low))[:, None] + half[:, None] * _GL_NODES[None, :]
    values = per_bw(nodes) / (_BW * nodes)
    return np.asarray(np.sum(values * _GL_WEIGHTS[None, :], axis=1) * half, dtype=np.float64)


def _at_sample(per_mrad2: NDArray[np.float64], distance_m: float) -> NDArray[np.float64]:
    """photons/s/mrad² → photons/s/m² at ``distance_m`` (small-angle far field)."""
    return per_mrad2 / (_PER_MRAD2 * distance_m**2)


# --------------------------------------------------------------------------------------------------------------
# Bending magnet and wiggler
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BendingMagnet:
    """A bending-magnet source.

    Parameters
    ----------
    ring_energy_gev
        Electron energy in GeV (0.1–20).
    field_t
        Magnetic field in T (0–20).
    current_a
        Ring current in A (0–10), e.g. 0.106 for 106 mA.
    distance_m
        Source–sample distance in m.
    source_size_h_m, source_size_v_m
        Source size, FWHM, horizontal and vertical, in m (0 = point source).
    name
        A label.

    Notes
    -----
    With γ = E/(m_e c²), bending radius ρ = E/(e c B), critical energy E_c = 3ħcγ³/(2ρ) (= 0.665 E²[GeV] B[T]
    keV), y = E_ph/E_c, X = γψ and ξ = y (1 + X²)^{3/2} / 2, the spectral angular flux density is [1]_

    .. math:: \\frac{d^2F}{d\\theta\\,d\\psi} = \\frac{3\\alpha}{4\\pi^2}\\,\\gamma^2\\,\\frac{\\Delta\\omega}{\\omega}
              \\frac{I}{e}\\,y^2 (1+X^2)^2 \\left[K_{2/3}^2(\\xi) + \\frac{X^2}{1+X^2} K_{1/3}^2(\\xi)\\right]

    per rad² (θ horizontal, ψ vertical), here in photons/s/mrad²/0.1 %bw. On axis it reduces to
    1.327·10¹³ E² I H₂(y) with H₂(y) = y² K²_{2/3}(y/2); integrated over ψ to 2.457·10¹³ E I G₁(y) per mrad
    of θ, G₁(y) = y ∫_y^∞ K_{5/3}.
    """

    ring_energy_gev: float
    field_t: float
    current_a: float
    distance_m: float
    source_size_h_m: float = 0.0
    source_size_v_m: float = 0.0
    name: str = "bending magnet"

    def __post_init__(self) -> None:
        _check_ring(
            self.ring_energy_gev, self.current_a, self.distance_m, self.source_size_h_m, self.source_size_v_m
        )
        _positive("field_t", self.field_t, "T", high=20.0)

    @property
    def gamma(self) -> float:
        """Lorentz factor γ of the electrons."""
        return lorentz_factor(self.ring_energy_gev)

    @property
    def bending_radius_m(self) -> float:
        """Radius of the orbit in the magnet, ρ = E / (e c B), in m."""
        return self.ring_energy_gev * 1e9 / (SPEED_OF_LIGHT_M_S * self.field_t)

    @property
    def critical_energy_kev(self) -> float:
        """Critical photon energy E_c = 3ħcγ³ / (2ρ) in keV (half the power is emitted above it)."""
        return 1.5 * HBAR_C_KEV_M * self.gamma**3 / self.bending_radius_m

    def angular_source_size_rad(self) -> tuple[float, float]:
        """Source size seen from the sample, (horizontal, vertical) FWHM in rad."""
        return self.source_size_h_m / self.distance_m, self.source_size_v_m / self.distance_m

    def angular_flux_density(self, energies_kev: ArrayLike, psi_rad: ArrayLike = 0.0) -> NDArray[np.float64]:
        """Spectral angular flux density d²F/dθdψ in photons/s/mrad²/0.1 %bw.

        Parameters
        ----------
        energies_kev
            Photon energies in keV (any shape).
        psi_rad
            Vertical angle from the orbit plane in rad; broadcast against ``energies_kev``.

        Returns
        -------
        numpy.ndarray
            float64, the broadcast shape of the inputs.
        """
        return _bm_angular(
            self.ring_energy_gev, self.current_a, self.critical_energy_kev, energies_kev, psi_rad
        )

    def on_axis_flux_density(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """d²F/dθdψ at ψ = 0 in photons/s/mrad²/0.1 %bw."""
        return self.angular_flux_density(energies_kev, 0.0)

    def vertically_integrated_flux(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """dF/dθ = ∫ d²F/dθdψ dψ in photons/s/mrad(horizontal)/0.1 %bw, by quadrature over ψ."""
        energies = np.asarray(energies_kev, dtype=np.float64)
        y = energies / self.critical_energy_kev
        # Integrate over X = γψ >= 0 (the distribution is even) with X = sinh(u), u in [0, asinh(X_max)];
        # beyond X_max, ξ exceeds y/2 + 50 and K(ξ)² < e^{-100} of its on-axis value.
        x_max = np.sqrt((1.0 + 100.0 / y) ** (2.0 / 3.0) - 1.0)
        nodes, weights = np.polynomial.legendre.leggauss(96)
        t = 0.5 * (nodes + 1.0)
        u_max = np.arcsinh(x_max)[..., None]
        u = u_max * t
        x = np.sinh(u)
        values = self.angular_flux_density(energies[..., None], x / self.gamma)
        integral = np.sum(values * np.cosh(u) * (0.5 * weights), axis=-1) * u_max[..., 0]
        return np.asarray(2.0 * integral / self.gamma * 1e3, dtype=np.float64)  # dψ[mrad] = dX / γ · 10³

    def spectrum(
        self,
        energies_kev: ArrayLike,
        *,
        bin_widths_kev: ArrayLike | None = None,
        vertical_offset_m: float = 0.0,
    ) -> Spectrum:
        """Photons/s/m² per energy bin at the sample, ``vertical_offset_m`` above the orbit plane.

        The vertical offset sets ψ = offset / distance (flux drops off-plane, harder photons first).
        """
        _, widths, low, high = _edges(energies_kev, bin_widths_kev)
        psi = float(vertical_offset_m) / self.distance_m
        per_mrad2 = _integrate_bins(lambda e: self.angular_flux_density(e, psi), low, high)
        return Spectrum(
            energies_kev=0.5 * (low + high),
            photons_per_s_m2=_at_sample(per_mrad2, self.distance_m),
            bin_widths_kev=widths,
            name=self.name,
        )

    def photons_per_pixel(
        self,
        energies_kev: ArrayLike,
        *,
        pixel_size_m: float,
        exposure_s: float,
        bin_widths_kev: ArrayLike | None = None,
    ) -> NDArray[np.float64]:
        """Mean photons per pixel per energy bin in one exposure at the sample (on axis), float64."""
        spectrum = self.spectrum(energies_kev, bin_widths_kev=bin_widths_kev)
        return spectrum.photons_per_pixel(pixel_size_m=pixel_size_m, exposure_s=exposure_s)


def _check_ring(energy: float, current: float, distance: float, size_h: float, size_v: float) -> None:
    _positive("ring_energy_gev", energy, "GeV", high=20.0)
    _positive("current_a", current, "A", high=10.0)
    _positive("distance_m", distance, "m")
    check_range("source_size_h_m", size_h, low=0, unit="m")
    check_range("source_size_v_m", size_v, low=0, unit="m")


def _bm_angular(
    ring_energy_gev: float, current_a: float, critical_kev: float, energies_kev: ArrayLike, psi_rad: ArrayLike
) -> NDArray[np.float64]:
    from scipy.special import kv

    energies = np.asarray(energies_kev, dtype=np.float64)
    if np.any(~np.isfinite(energies)) or np.any(energies <= 0):
        raise ConfigError(f"energies_kev = {np.ravel(energies)[:5].tolist()} must be finite and > 0 keV")
    gamma = lorentz_factor(ring_energy_gev)
    y = energies / critical_kev
    x2 = (gamma * np.asarray(psi_rad, dtype=np.float64)) ** 2
    xi = 0.5 * y * (1.0 + x2) ** 1.5
    shape = y**2 * (1.0 + x2) ** 2 * (kv(2.0 / 3.0, xi) ** 2 + x2 / (1.0 + x2) * kv(1.0 / 3.0, xi) ** 2)
    prefactor = (
        3.0 * ALPHA / (4.0 * math.pi**2) * gamma**2 * _BW * current_a / ELEMENTARY_CHARGE_C * _PER_MRAD2
    )
    return np.asarray(prefactor * shape, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wiggler:
    """A wiggler: 2N bending magnets of its peak field, added incoherently.

    Parameters
    ----------
    ring_energy_gev, current_a, distance_m, source_size_h_m, source_size_v_m
        As for :class:`BendingMagnet`.
    field_t
        Peak magnetic field in T.
    n_periods
        Number of periods N (>= 1).
    period_m
        Period length in m (optional): if given, K = e B λ_u / (2π m_e c) is checked to be ≫ 1.

    Notes
    -----
    d²F/dθdψ = 2N × that of a bending magnet with the peak field [1]_. Valid for K ≫ 1 (an
    :class:`~xrai.errors.ApproximationWarning` below K = 5) and within the horizontal fan |θ| < K/γ; the field
    variation along each pole (a lower local critical energy away from the peak) and the different distances of
    the 2N poles from the sample are neglected.
    """

    ring_energy_gev: float
    field_t: float
    current_a: float
    n_periods: int
    distance_m: float
    period_m: float | None = None
    source_size_h_m: float = 0.0
    source_size_v_m: float = 0.0
    name: str = "wiggler"

    def __post_init__(self) -> None:
        _check_ring(
            self.ring_energy_gev, self.current_a, self.distance_m, self.source_size_h_m, self.source_size_v_m
        )
        _positive("field_t", self.field_t, "T", high=20.0)
        _check_periods(self.n_periods)
        if self.period_m is not None:
            _positive("period_m", self.period_m, "m")
            if self.k < 5.0:
                warnings.warn(
                    f"wiggler K = {self.k:.3g} (field_t = {self.field_t}, period_m = {self.period_m}) is not ≫ 1: "
                    "the 2N × bending-magnet model overestimates the flux; use Undulator",
                    ApproximationWarning,
                    stacklevel=3,
                )

    @property
    def k(self) -> float:
        """Deflection parameter K = e B λ_u / (2π m_e c) (needs ``period_m``)."""
        if self.period_m is None:
            raise ConfigError("period_m is not set: K needs the period length")
        return deflection_parameter(field_t=self.field_t, period_m=self.period_m)

    @property
    def bending_magnet(self) -> BendingMagnet:
        """The bending magnet of the peak field (one pole)."""
        return BendingMagnet(
            ring_energy_gev=self.ring_energy_gev,
            field_t=self.field_t,
            current_a=self.current_a,
            distance_m=self.distance_m,
            source_size_h_m=self.source_size_h_m,
            source_size_v_m=self.source_size_v_m,
            name=self.name,
        )

    @property
    def critical_energy_kev(self) -> float:
        """Critical energy of the peak field, keV."""
        return self.bending_magnet.critical_energy_kev

    def angular_flux_density(self, energies_kev: ArrayLike, psi_rad: ArrayLike = 0.0) -> NDArray[np.float64]:
        """2N × the bending magnet's d²F/dθdψ, photons/s/mrad²/0.1 %bw."""
        return 2 * self.n_periods * self.bending_magnet.angular_flux_density(energies_kev, psi_rad)

    def on_axis_flux_density(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """On-axis d²F/dθdψ, photons/s/mrad²/0.1 %bw."""
        return self.angular_flux_density(energies_kev, 0.0)

    def spectrum(
        self,
        energies_kev: ArrayLike,
        *,
        bin_widths_kev: ArrayLike | None = None,
        vertical_offset_m: float = 0.0,
    ) -> Spectrum:
        """Photons/s/m² per bin at the sample (see :meth:`BendingMagnet.spectrum`)."""
        single = self.bending_magnet.spectrum(
            energies_kev, bin_widths_kev=bin_widths_kev, vertical_offset_m=vertical_offset_m
        )
        return single.scaled(2 * self.n_periods)

    def photons_per_pixel(
        self,
        energies_kev: ArrayLike,
        *,
        pixel_size_m: float,
        exposure_s: float,
        bin_widths_kev: ArrayLike | None = None,
    ) -> NDArray[np.float64]:
        """Mean photons per pixel per energy bin in one exposure, float64."""
        spectrum = self.spectrum(energies_kev, bin_widths_kev=bin_widths_kev)
        return spectrum.photons_per_pixel(pixel_size_m=pixel_size_m, exposure_s=exposure_s)


def _check_periods(n_periods: int) -> None:
    if isinstance(n_periods, bool) or not isinstance(n_periods, int | np.integer) or n_periods < 1:
        raise ConfigError(f"n_periods = {n_periods!r} is not allowed: must be an integer >= 1")


def deflection_parameter(*, field_t: float, period_m: float) -> float:
    """K = e B λ_u / (2π m_e c) ≈ 93.36 B[T] λ_u[m]."""
    electron_mass_kg = ELECTRON_REST_ENERGY_GEV * 1e9 * ELEMENTARY_CHARGE_C / SPEED_OF_LIGHT_M_S**2
    return ELEMENTARY_CHARGE_C * field_t * period_m / (2 * math.pi * electron_mass_kg * SPEED_OF_LIGHT_M_S)


# --------------------------------------------------------------------------------------------------------------
# Undulator
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Undulator:
    """A planar undulator, on-axis far-field spectrum of a filament beam.

    Parameters
    ----------
    ring_energy_gev, current_a, distance_m, source_size_h_m, source_size_v_m
        As for :class:`BendingMagnet`.
    period_m
        Period length λ_u in m.
    n_periods
        Number of periods N (>= 1).
    k
        Deflection parameter K (>= 0); see :meth:`from_field`.

    Notes
    -----
    Harmonic energies on axis, E_n = n · 2γ²hc / (λ_u (1 + K²/2)) = n · 0.950 E²[GeV] / (λ_u[cm] (1 + K²/2)) keV.
    Peak on-axis flux density of odd harmonic n [1]_:

    .. math:: \\frac{d^2F}{d\\Omega} = \\alpha N^2 \\gamma^2 \\frac{\\Delta\\omega}{\\omega}\\frac{I}{e} F_n(K),\\quad
              F_n(K) = \\frac{n^2K^2}{(1+K^2/2)^2}\\left[J_{(n-1)/2}(x) - J_{(n+1)/2}(x)\\right]^2,\\quad
              x = \\frac{nK^2}{4(1+K^2/2)}

    (= 1.744·10¹⁴ N² E² I F_n(K) photons/s/mrad²/0.1 %bw). Each line has the single-electron, finite-N shape
    sinc²(πnN(E/E_n − 1)) in photons per unit energy; even harmonics vanish on axis.

    Approximations: filament beam (no emittance, no energy spread, which broaden and lower real lines), ideal
    sinusoidal field, far field, on axis; F_n held at its value at E_n across each line. The flux density per m² applies to a field of view inside the central cone,
    R·√(λ/2L) with L = Nλ_u.
    """

    ring_energy_gev: float
    current_a: float
    period_m: float
    n_periods: int
    k: float
    distance_m: float
    source_size_h_m: float = 0.0
    source_size_v_m: float = 0.0
    name: str = "undulator"

    def __post_init__(self) -> None:
        _check_ring(
            self.ring_energy_gev, self.current_a, self.distance_m, self.source_size_h_m, self.source_size_v_m
        )
        _positive("period_m", self.period_m, "m", high=1.0)
        _check_periods(self.n_periods)
        check_range("k", self.k, low=0.0, high=100.0)

    @classmethod
    def from_field(cls, *, field_t: float, period_m: float, **kwargs: Any) -> Undulator:
        """An undulator from its peak field (T) and period (m): K = e B λ_u / (2π m_e c)."""
        return cls(period_m=period_m, k=deflection_parameter(field_t=field_t, period_m=period_m), **kwargs)

    @property
    def gamma(self) -> float:
        """Lorentz factor γ."""
        return lorentz_factor(self.ring_energy_gev)

    def harmonic_energy_kev(self, harmonic: int = 1, *, theta_rad: float = 0.0) -> float:
        """Energy of harmonic ``n`` at observation angle θ: n · 2γ²hc / (λ_u (1 + K²/2 + γ²θ²)), keV."""
        if isinstance(harmonic, bool) or not isinstance(harmonic, int | np.integer) or harmonic < 1:
            raise ConfigError(f"harmonic = {harmonic!r} is not allowed: must be an integer >= 1")
        g = self.gamma
        return float(
            harmonic * 2 * g**2 * HC_KEV_M / (self.period_m * (1 + self.k**2 / 2 + (g * theta_rad) ** 2))
        )

    def harmonic_amplitude(self, harmonic: int) -> float:
        """F_n(K) (dimensionless); 0 for even harmonics (on axis)."""
        from scipy.special import jv

        if harmonic % 2 == 0:
            return 0.0
        k2 = self.k**2
        x = harmonic * k2 / (4 * (1 + k2 / 2))
        bessel = jv((harmonic - 1) // 2, x) - jv((harmonic + 1) // 2, x)
        return float(harmonic**2 * k2 / (1 + k2 / 2) ** 2 * bessel**2)

    def peak_flux_density(self, harmonic: int = 1) -> float:
        """On-axis peak d²F/dΩ of a harmonic, photons/s/mrad²/0.1 %bw."""
        g = self.gamma
        prefactor = ALPHA * self.n_periods**2 * g**2 * _BW * self.current_a / ELEMENTARY_CHARGE_C * _PER_MRAD2
        return prefactor * self.harmonic_amplitude(harmonic)

    def _harmonics(self, max_energy_kev: float) -> list[int]:
        first = self.harmonic_energy_kev(1)
        top = max(1, int(max_energy_kev * 1.05 / first))
        return [n for n in range(1, top + 1, 2)]

    def on_axis_flux_density(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """On-axis d²F/dΩ(E) in photons/s/mrad²/0.1 %bw: Σₙ peakₙ · (E/Eₙ) · sinc²(πnN(E/Eₙ − 1)), float64.

        The line shape sinc² is that of the photon number per unit energy (hence E/Eₙ per 0.1 %bw), which
        makes :meth:`spectrum` its exact bin integral.
        """
        energies = np.asarray(energies_kev, dtype=np.float64)
        if np.any(~np.isfinite(energies)) or np.any(energies <= 0):
            raise ConfigError(f"energies_kev = {np.ravel(energies)[:5].tolist()} must be finite and > 0 keV")
        total = np.zeros_like(energies)
        for n in self._harmonics(float(energies.max(initial=0.0))):
            e_n = self.harmonic_energy_kev(n)
            line = np.sinc(n * self.n_periods * (energies / e_n - 1.0)) ** 2
            total += self.peak_flux_density(n) * (energies / e_n) * line
        return total

    def spectrum(self, energies_kev: ArrayLike, *, bin_widths_kev: ArrayLike | None = None) -> Spectrum:
        """Photons/s/m² per bin on axis at the sample; each line integrated over the bins analytically.

        Notes
        -----
        ∫ sinc²(x) dx = Si(2x) − sin²(x)/x, with x = πnN(E/Eₙ − 1), so a line carries peakₙ · 10³/(nN)
        photons/s/mrad² in total.
        """
        from scipy.special import sici

        def antiderivative(x: NDArray[np.float64]) -> NDArray[np.float64]:
            safe = np.where(x == 0, 1.0, x)
            return np.asarray(
                np.where(x == 0, 0.0, sici(2 * x)[0] - np.sin(safe) ** 2 / safe), dtype=np.float64
            )

        centres, widths, low, high = _edges(energies_kev, bin_widths_kev)
        per_mrad2 = np.zeros_like(centres)
        for n in self._harmonics(float(high.max())):
            e_n = self.harmonic_energy_kev(n)
            scale = math.pi * n * self.n_periods
            integral = antiderivative(scale * (high / e_n - 1)) - antiderivative(scale * (low / e_n - 1))
            per_mrad2 += self.peak_flux_density(n) / (_BW * e_n) * e_n / scale * integral
        return Spectrum(
            energies_kev=centres,
            photons_per_s_m2=_at_sample(np.maximum(per_mrad2, 0.0), self.distance_m),
            bin_widths_kev=widths,
            name=self.name,
        )

    def central_cone_rad(self, harmonic: int = 1) -> float:
        """RMS opening angle of the central cone of harmonic ``n``, √(λₙ / 2L), in rad."""
        wavelength = HC_KEV_M / self.harmonic_energy_kev(harmonic)
        return math.sqrt(wavelength / (2 * self.n_periods * self.period_m))

    def photons_per_pixel(
        self,
        energies_kev: ArrayLike,
        *,
        pixel_size_m: float,
        exposure_s: float,
        bin_widths_kev: ArrayLike | None = None,
    ) -> NDArray[np.float64]:
        """Mean photons per pixel per energy bin in one exposure (on axis), float64."""
        spectrum = self.spectrum(energies_kev, bin_widths_kev=bin_widths_kev)
        return spectrum.photons_per_pixel(pixel_size_m=pixel_size_m, exposure_s=exposure_s)


# --------------------------------------------------------------------------------------------------------------
# Monochromatic beam
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Monochromatic:
    """A monochromatic beam: a Gaussian line of relative FWHM ``relative_bandwidth`` at ``energy_kev``.

    Parameters
    ----------
    energy_kev
        Centre energy in keV.
    photons_per_s_m2
        Total photon flux density of the line at the sample (photons/s/m²).
    relative_bandwidth
        FWHM ΔE/E: :data:`DCM_BANDWIDTH` (1e-4, Si(111)) or :data:`DMM_BANDWIDTH` (2e-2, multilayer).
    name
        A label.

    Notes
    -----
    The line shape is taken as Gaussian; a real DCM's Darwin-curve convolution has flatter top and longer tails.
    Harmonics passed by the monochromator (3E for Si(111)) are not modelled.
    """

    energy_kev: float
    photons_per_s_m2: float
    relative_bandwidth: float = DCM_BANDWIDTH
    name: str = "monochromatic"

    def __post_init__(self) -> None:
        _positive("energy_kev", self.energy_kev, "keV")
        check_range("photons_per_s_m2", self.photons_per_s_m2, low=0.0)
        _positive("relative_bandwidth", self.relative_bandwidth, "", high=0.5)

    @classmethod
    def from_source(
        cls,
        source: Source,
        *,
        energy_kev: float,
        relative_bandwidth: float = DCM_BANDWIDTH,
        efficiency: float = 1.0,
        name: str | None = None,
    ) -> Monochromatic:
        """The line a monochromator cuts from ``source``: the source's photons in ΔE = bandwidth · E times
        ``efficiency`` (peak reflectivity of the crystals or multilayers, 0..1)."""
        energy = _positive("energy_kev", energy_kev, "keV")
        bandwidth = _positive("relative_bandwidth", relative_bandwidth, "", high=0.5)
        eff = check_range("efficiency", efficiency, low=0.0, high=1.0)
        line = source.spectrum([energy], bin_widths_kev=[bandwidth * energy])
        return cls(
            energy_kev=energy,
            photons_per_s_m2=float(line.photons_per_s_m2[0]) * eff,
            relative_bandwidth=bandwidth,
            name=name or f"{getattr(source, 'name', 'source')} + monochromator",
        )

    @property
    def fwhm_kev(self) -> float:
        """Line width (FWHM) in keV."""
        return self.energy_kev * self.relative_bandwidth

    def spectrum(
        self,
        energies_kev: ArrayLike | None = None,
        *,
        bin_widths_kev: ArrayLike | None = None,
        n_bins: int = 1,
    ) -> Spectrum:
        """The line as a :class:`Spectrum`.

        Without ``energies_kev``: one bin at ``energy_kev`` of width FWHM (``n_bins = 1``), or ``n_bins`` bins
        over ±1.5 FWHM holding the Gaussian's photons (renormalised to the total). With ``energies_kev``: the
        Gaussian integrated over the given bins (photons outside them are lost).
        """
        from scipy.special import erf

        if energies_kev is None:
            if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
                raise ConfigError(f"n_bins = {n_bins!r} is not allowed: must be an integer >= 1")
            if n_bins == 1:
                return Spectrum(
                    energies_kev=np.array([self.energy_kev]),
                    photons_per_s_m2=np.array([self.photons_per_s_m2]),
                    bin_widths_kev=np.array([self.fwhm_kev]),
                    name=self.name,
                )
            width = 3.0 * self.fwhm_kev / n_bins
            energies_kev = self.energy_kev + width * (np.arange(n_bins) - (n_bins - 1) / 2)
            bin_widths_kev = np.full(n_bins, width)
            renormalise = True
        else:
            renormalise = False
        centres, widths, low, high = _edges(energies_kev, bin_widths_kev)
        sigma = self.fwhm_kev / (2 * math.sqrt(2 * math.log(2)))

        def cdf(energy: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.asarray(0.5 * (1 + erf((energy - self.energy_kev) / (math.sqrt(2) * sigma))))

        fractions = cdf(high) - cdf(low)
        if renormalise:
            fractions = fractions / fractions.sum()
        return Spectrum(
            energies_kev=centres,
            photons_per_s_m2=self.photons_per_s_m2 * fractions,
            bin_widths_kev=widths,
            name=self.name,
        )


# --------------------------------------------------------------------------------------------------------------
# Tabulated source
# --------------------------------------------------------------------------------------------------------------

TableUnit = Literal["photons/s/mrad2/0.1%bw", "photons/s/m2/kev"]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TabulatedSource:
    """A source given by a table of spectral flux density (e.g. from SPECTRA, XOP or a measurement).

    Parameters
    ----------
    energies_kev
        Table energies in keV, strictly increasing.
    flux_density
        Spectral flux density at those energies, in ``unit``.
    unit
        ``"photons/s/mrad2/0.1%bw"`` (angular, on axis; converted with ``distance_m``) or
        ``"photons/s/m2/kev"`` (at the sample already).
    distance_m
        Source–sample distance in m (needed for the angular unit).
    name
        A label.

    Notes
    -----
    Between table points the density is interpolated linearly; outside the table it is zero.
    """

    energies_kev: NDArray[np.float64]
    flux_density: NDArray[np.float64]
    unit: TableUnit = "photons/s/mrad2/0.1%bw"
    distance_m: float = 1.0
    name: str = "tabulated"

    def __post_init__(self) -> None:
        energies = np.asarray(self.energies_kev, dtype=np.float64)
        values = np.asarray(self.flux_density, dtype=np.float64)
        if energies.ndim != 1 or energies.size < 2 or values.shape != energies.shape:
            raise ConfigError(
                f"energies_kev (shape {energies.shape}) and flux_density (shape {values.shape}) must be 1-D "
                "of the same length >= 2"
            )
        if not np.all(np.isfinite(energies)) or np.any(energies <= 0) or np.any(np.diff(energies) <= 0):
            raise ConfigError(
                f"energies_kev = {energies.tolist()[:8]}... must be > 0 and strictly increasing"
            )
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ConfigError(f"flux_density = {values.tolist()[:8]}... must be finite and >= 0")
        if self.unit not in ("photons/s/mrad2/0.1%bw", "photons/s/m2/kev"):
            raise ConfigError(
                f"unit = {self.unit!r} is not allowed: must be 'photons/s/mrad2/0.1%bw' or 'photons/s/m2/kev'"
            )
        _positive("distance_m", self.distance_m, "m")
        for name, array in (("energies_kev", energies), ("flux_density", values)):
            array = array.copy()
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        unit: TableUnit = "photons/s/mrad2/0.1%bw",
        distance_m: float = 1.0,
    ) -> TabulatedSource:
        """Read two columns (energy in keV, flux density in ``unit``); commas or whitespace, ``#`` comments."""
        file = Path(path)
        if not file.is_file():
            raise DataError(f"source table {str(file)!r} does not exist")
        try:
            table = np.loadtxt(file, delimiter=None if "," not in file.read_text()[:4096] else ",", ndmin=2)
        except ValueError as exc:
            raise DataError(f"source table {str(file)!r} is not a table of numbers: {exc}") from None
        if table.shape[1] < 2:
            raise DataError(f"source table {str(file)!r} needs two columns (energy_kev, flux density)")
        return cls(
            energies_kev=table[:, 0],
            flux_density=table[:, 1],
            unit=unit,
            distance_m=distance_m,
            name=file.stem,
        )

    def _density(self, energies: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.interp(energies, self.energies_kev, self.flux_density, left=0.0, right=0.0)

    def spectrum(self, energies_kev: ArrayLike, *, bin_widths_kev: ArrayLike | None = None) -> Spectrum:
        """Photons/s/m² per bin at the sample (Gauss–Legendre over each bin of the interpolated table)."""
        centres, widths, low, high = _edges(energies_kev, bin_widths_kev)
        if self.unit == "photons/s/mrad2/0.1%bw":
            photons = _at_sample(_integrate_bins(self._density, low, high), self.distance_m)
        else:
            photons = _integrate_bins(lambda e: self._density(e) * (_BW * e), low, high)
        return Spectrum(energies_kev=centres, photons_per_s_m2=photons, bin_widths_kev=widths, name=self.name)


# --------------------------------------------------------------------------------------------------------------
# X-ray tube (SpekPy)
# --------------------------------------------------------------------------------------------------------------

_SPEKPY_TARGETS = ("W", "Mo", "Rh", "Cu", "Ag", "Cr", "Au")


@dataclass(frozen=True, slots=True, kw_only=True)
class XRayTube:
    """A laboratory X-ray tube, spectrum from SpekPy [4]_ (bremsstrahlung + characteristic lines).

    Parameters
    ----------
    voltage_kv
        Tube voltage (kVp) in kV, 10–150.
    current_a
        Tube current in A (e.g. 1e-4 for 100 µA of a micro-focus tube).
    distance_m
        Focal spot–sample distance in m.
    anode
        Target element: W, Mo, Rh, Cu, Ag, Cr or Au.
    anode_angle_deg
        Anode (take-off) angle in degrees.
    focal_spot_m
        Focal spot size (FWHM) in m, carried for penumbral blurring.
    name
        A label.

    Notes
    -----
    The spectrum is SpekPy's unfiltered spectrum on axis (no tube window: add e.g. a beryllium window with
    :func:`xrai.physics.filters.apply_filters`), photons per keV per cm² per mAs at ``distance_m``, scaled
    by the current and rebinned (photon-conserving) onto the requested bins. SpekPy is an optional
    dependency (``pip install spekpy``); it needs no network.
    """

    voltage_kv: float
    current_a: float
    distance_m: float
    anode: str = "W"
    anode_angle_deg: float = 12.0
    focal_spot_m: float = 0.0
    name: str = "X-ray tube"

    def __post_init__(self) -> None:
        check_range("voltage_kv", self.voltage_kv, low=10.0, high=150.0, unit="kV")
        _positive("current_a", self.current_a, "A", high=10.0)
        _positive("distance_m", self.distance_m, "m")
        check_range(
            "anode_angle_deg", self.anode_angle_deg, low=0.0, high=90.0, low_inclusive=False, unit="deg"
        )
        check_range("focal_spot_m", self.focal_spot_m, low=0.0, unit="m")
        if self.anode not in _SPEKPY_TARGETS:
            raise ConfigError(
                f"anode = {self.anode!r} is not allowed: must be one of {', '.join(_SPEKPY_TARGETS)}"
            )

    def spectrum(self, energies_kev: ArrayLike, *, bin_widths_kev: ArrayLike | None = None) -> Spectrum:
        """Photons/s/m² per bin at the sample (SpekPy spectrum on a 0.05 keV grid, rebinned)."""
        centres, widths, _, _ = _edges(energies_kev, bin_widths_kev)
        fine_energies, per_kev_cm2_mas = _spekpy_spectrum(
            float(self.voltage_kv), self.anode, float(self.anode_angle_deg), 0.05
        )
        # SpekPy: photons / keV / cm² / mAs at 1 m. → photons / keV / m² / s at distance_m.
        per_kev = per_kev_cm2_mas * 1e4 * (self.current_a * 1e3) / self.distance_m**2
        fine = Spectrum.from_table(fine_energies, per_kev, bin_widths_kev=0.05, per_kev=True, name=self.name)
        return fine.rebinned(centres, bin_widths_kev=widths)


@functools.lru_cache(maxsize=32)
def _spekpy_spectrum(
    kvp: float, anode: str, angle: float, dk: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    try:
        import spekpy
    except ImportError:
        raise ConfigError(
            "XRayTube needs the optional package spekpy (pip install spekpy); it works offline"
        ) from None
    model = spekpy.Spek(kvp=kvp, th=angle, dk=dk, targ=anode, z=100.0, mas=1.0)
    energies, fluence = model.get_spectrum()
    energies = np.asarray(energies, dtype=np.float64)
    fluence = np.nan_to_num(np.asarray(fluence, dtype=np.float64), nan=0.0)
    energies.setflags(write=False)
    fluence.setflags(write=False)
    return energies, fluence
