"""Materials: X-ray optical constants δ(E), β(E) and attenuation μ(E) from xraylib.

A :class:`Material` is a density plus a composition, given either as an xraylib formula (``"C5H8O2"``) or as
mass fractions of elements or formulas (``{"H2O": 0.99, "C12H18O9": 0.01}``). Its optical constants come from
xraylib [1]_, energy by energy, and are cached per element and energy grid, so repeated calls on the same grid
cost one dictionary lookup per element.

The built-in library (:data:`LIBRARY`, see :func:`get_material`) holds the materials this field images and builds
instruments from, each with its density and a reference. Users add their own in a TOML file
(:func:`load_materials`, or the ``XRAI_MATERIALS`` environment variable, a list of paths separated by
``os.pathsep``)::

    [materials.epoxy]
    density_g_cm3 = 1.15
    formula = "C21H25ClO5"
    aliases = ["araldite"]
    reference = "manufacturer data sheet"

    [materials.fixative]
    density_g_cm3 = 1.02
    mass_fractions = { H2O = 0.96, CH2O = 0.04 }

Conventions
-----------
- Energies in keV, valid range 1–150 keV (:data:`ENERGY_RANGE_KEV`); outside it a :class:`MaterialError`.
- ``delta`` is 1 − Re(n) (xraylib ``Refractive_Index_Re``), ``beta`` is Im(n) (xraylib ``Refractive_Index_Im``,
  which uses the *total* cross section, coherent and incoherent scattering included, as syris does), so
  4πβ/λ = μ_total.
- ``linear_attenuation_per_m`` is μ in 1/m: ``kind="total"`` (photo-absorption + coherent + incoherent
  scattering, what a detector behind the sample sees) or ``kind="photo"`` (photo-absorption only, the energy
  deposited, e.g. in a scintillator).

References
----------
.. [1] T. Schoonjans et al., "The xraylib library for X-ray–matter interactions. Recent developments",
   Spectrochim. Acta B 66, 776–784 (2011). doi:10.1016/j.sab.2011.09.011
.. [2] ICRU Report 44, "Tissue substitutes in radiation dosimetry and measurement" (1989); ICRU Report 46,
   "Photon, electron, proton and neutron interaction data for body tissues" (1992).
.. [3] J. H. Hubbell and S. M. Seltzer, "Tables of X-ray mass attenuation coefficients and mass
   energy-absorption coefficients", NIST Standard Reference Database 126 (2004). doi:10.18434/T4D01F
.. [4] M. J. Berger et al., "XCOM: Photon cross sections database", NIST Standard Reference Database 8.
   doi:10.18434/T48G6X
.. [5] T. Martin and A. Koch, "Recent developments in X-ray imaging with micrometer spatial resolution",
   J. Synchrotron Rad. 13, 180–194 (2006). doi:10.1107/S0909049506000550

Examples
--------
>>> water = get_material("water")
>>> round(float(water.linear_attenuation_per_m(20.0)), 1)   # 1/m, NIST XCOM: 80.96
81.0
>>> pmma = compound("C5H8O2", density_g_cm3=1.18, name="PMMA")
>>> delta, beta = pmma.refractive_index([15.0, 20.0])
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
import threading
import tomllib
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xrai.errors import ConfigError, MaterialError

__all__ = [
    "ENERGY_RANGE_KEV",
    "LIBRARY",
    "MATERIALS_ENV_VAR",
    "Material",
    "available_materials",
    "compound",
    "get_material",
    "load_materials",
    "mixture",
    "register_material",
]

#: Energies (keV) for which xraylib's tables are used; outside this range a :class:`MaterialError` is raised.
ENERGY_RANGE_KEV: tuple[float, float] = (1.0, 150.0)

#: Environment variable with user material files (TOML), separated by ``os.pathsep``.
MATERIALS_ENV_VAR = "XRAI_MATERIALS"

#: Planck constant times speed of light in keV·m (CODATA 2018).
HC_KEV_M = 1.239_841_984_332_003e-9

AttenuationKind = Literal["total", "photo"]


# --------------------------------------------------------------------------------------------------------------
# The Material dataclass
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Material:
    """A material for X-ray optics: density and composition.

    Parameters
    ----------
    name
        A human-readable name (used in messages and tables).
    density_g_cm3
        Mass density in g/cm³, > 0.
    formula
        An xraylib compound formula (``"C5H8O2"``, ``"Lu2SiO5"``, ``"Ca5(PO4)3OH"``). Exactly one of ``formula``
        and ``mass_fractions`` must be given.
    mass_fractions
        Mass fractions by element symbol or by formula (``{"H": 0.112, "O": 0.888}`` or
        ``{"H2O": 0.99, "C12H18O9": 0.01}``). They must sum to 1 within 1 %, and are normalised to sum to 1.
    reference
        Where the density and composition come from (free text, shown in the library documentation).

    Raises
    ------
    MaterialError
        Unknown element or malformed formula, or negative/zero density.

    Examples
    --------
    >>> Material(name="water", density_g_cm3=1.0, formula="H2O").beta(20.0).item() > 0
    True
    """

    name: str
    density_g_cm3: float
    formula: str | None = None
    mass_fractions: Mapping[str, float] | None = None
    reference: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        density = _check_density(self.density_g_cm3, name=self.name)
        object.__setattr__(self, "density_g_cm3", density)
        if (self.formula is None) == (self.mass_fractions is None):
            raise MaterialError(
                f"material {self.name!r}: give exactly one of formula= and mass_fractions= "
                f"(got formula={self.formula!r}, mass_fractions={self.mass_fractions!r})"
            )
        if self.formula is not None:
            if not isinstance(self.formula, str) or not self.formula.strip():
                raise MaterialError(f"material {self.name!r}: formula = {self.formula!r} is not a formula")
            object.__setattr__(self, "formula", self.formula.strip())
        else:
            assert self.mass_fractions is not None
            object.__setattr__(self, "mass_fractions", _normalise_fractions(self.mass_fractions, self.name))
        _composition(self._composition_key())  # validate the formula / element symbols now

    def __hash__(self) -> int:
        return hash((self.name, self.density_g_cm3, self._composition_key()))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # mappingproxy does not pickle; rebuild from plain values (for multiprocessing, Dask).
        fractions = None if self.mass_fractions is None else dict(self.mass_fractions)
        return (_rebuild, (self.name, self.density_g_cm3, self.formula, fractions, self.reference))

    def _composition_key(self) -> str | tuple[tuple[str, float], ...]:
        if self.formula is not None:
            return self.formula
        assert self.mass_fractions is not None
        return tuple(sorted(self.mass_fractions.items()))

    @property
    def composition(self) -> dict[str, float]:
        """Mass fractions by element symbol (sum 1)."""
        return {_symbol(z): w for z, w in _composition(self._composition_key())}

    def with_density(self, density_g_cm3: float) -> Material:
        """Return the same composition at another density (g/cm³)."""
        return Material(
            name=self.name,
            density_g_cm3=density_g_cm3,
            formula=self.formula,
            mass_fractions=self.mass_fractions,
            reference=self.reference,
        )

    # -- optical constants ----------------------------------------------------------------------------------

    def delta(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """Refractive index decrement δ = 1 − Re(n) (dimensionless), float64, shape of ``energies_kev``.

        Notes
        -----
        δ = ρ Σᵢ wᵢ K (Zᵢ + f′ᵢ(E)) / (Aᵢ E²) with xraylib's anomalous scattering factors f′ (``Fi``); computed
        with xraylib ``Refractive_Index_Re`` element by element and summed with the mass fractions wᵢ.
        """
        return self._property(energies_kev, 0) * self.density_g_cm3

    def beta(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """Absorption index β = Im(n) (dimensionless), float64, shape of ``energies_kev``.

        Notes
        -----
        β = μ_total λ / 4π with the total cross section (xraylib ``Refractive_Index_Im``), as in syris.
        """
        return self._property(energies_kev, 1) * self.density_g_cm3

    def refractive_index(self, energies_kev: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(delta, beta)``, each float64 of the shape of ``energies_kev``; n = 1 − δ + iβ."""
        return self.delta(energies_kev), self.beta(energies_kev)

    def mass_attenuation_cm2_g(
        self, energies_kev: ArrayLike, *, kind: AttenuationKind = "total"
    ) -> NDArray[np.float64]:
        """Mass attenuation coefficient μ/ρ in cm²/g (xraylib ``CS_Total`` or ``CS_Photo``)."""
        return self._property(energies_kev, _KIND_INDEX[_check_kind(kind)])

    def linear_attenuation_per_m(
        self, energies_kev: ArrayLike, *, kind: AttenuationKind = "total"
    ) -> NDArray[np.float64]:
        """Linear attenuation coefficient μ in 1/m, float64, shape of ``energies_kev``.

        Parameters
        ----------
        energies_kev
            Photon energies in keV (1–150).
        kind
            ``"total"``: photo-absorption + coherent + incoherent scattering (what is missing behind a sample);
            ``"photo"``: photo-absorption only (energy deposited).

        Notes
        -----
        μ = 100 ρ Σᵢ wᵢ (μ/ρ)ᵢ(E) [1/m] with ρ in g/cm³ and (μ/ρ)ᵢ in cm²/g. For ``kind="total"``,
        μ = 4πβ/λ.
        """
        return self.mass_attenuation_cm2_g(energies_kev, kind=kind) * (100.0 * self.density_g_cm3)

    def delta_beta_ratio(self, energies_kev: ArrayLike) -> NDArray[np.float64]:
        """δ/β (dimensionless), e.g. for Paganin phase retrieval."""
        return self._property(energies_kev, 0) / self._property(energies_kev, 1)

    def _property(self, energies_kev: ArrayLike, index: int) -> NDArray[np.float64]:
        energies = _check_energies(energies_kev)
        table = _material_table(self._composition_key(), energies.tobytes(), energies.shape)
        result: NDArray[np.float64] = table[index].copy()
        return result


_KIND_INDEX = {"total": 2, "photo": 3}


def _rebuild(
    name: str, density: float, formula: str | None, fractions: dict[str, float] | None, reference: str
) -> Material:
    return Material(
        name=name, density_g_cm3=density, formula=formula, mass_fractions=fractions, reference=reference
    )


def _check_kind(kind: str) -> str:
    if kind not in _KIND_INDEX:
        raise ConfigError(f"kind = {kind!r} is not allowed: must be one of 'total', 'photo'")
    return kind


def _check_density(value: Any, *, name: str) -> float:
    try:
        density = float(value)
    except (TypeError, ValueError):
        raise MaterialError(f"material {name!r}: density_g_cm3 = {value!r} is not a number") from None
    if not math.isfinite(density) or density <= 0:
        raise MaterialError(
            f"material {name!r}: density_g_cm3 = {value!r} is not allowed: must be a finite number > 0 g/cm³"
        )
    return density


def _check_energies(energies_kev: ArrayLike) -> NDArray[np.float64]:
    try:
        energies = np.asarray(energies_kev, dtype=np.float64)
    except (TypeError, ValueError):
        raise MaterialError(f"energies_kev = {energies_kev!r} is not an array of numbers") from None
    low, high = ENERGY_RANGE_KEV
    bad = ~np.isfinite(energies) | (energies < low) | (energies > high)
    if np.any(bad):
        shown = energies[bad].ravel()[:5].tolist()
        raise MaterialError(
            f"energies_kev = {shown} outside the tabulated range: must be within {low:g}–{high:g} keV"
        )
    return energies


def _normalise_fractions(fractions: Mapping[str, float], name: str) -> Mapping[str, float]:
    if not isinstance(fractions, Mapping) or not fractions:
        raise MaterialError(f"material {name!r}: mass_fractions = {fractions!r} must be a non-empty mapping")
    cleaned: dict[str, float] = {}
    for key, value in fractions.items():
        if not isinstance(key, str) or not key.strip():
            raise MaterialError(f"material {name!r}: mass_fractions key {key!r} is not an element or formula")
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise MaterialError(
                f"material {name!r}: mass fraction {key} = {value!r} is not a number"
            ) from None
        if not math.isfinite(weight) or weight < 0:
            raise MaterialError(f"material {name!r}: mass fraction {key} = {value!r} must be >= 0")
        cleaned[key.strip()] = cleaned.get(key.strip(), 0.0) + weight
    total = sum(cleaned.values())
    if abs(total - 1.0) > 0.01:
        raise MaterialError(
            f"material {name!r}: mass fractions sum to {total:g}, must sum to 1 (within 1 %): {dict(fractions)}"
        )
    return types.MappingProxyType({k: v / total for k, v in cleaned.items()})


# --------------------------------------------------------------------------------------------------------------
# xraylib, cached
# --------------------------------------------------------------------------------------------------------------


@functools.cache
def _xraylib() -> Any:
    import xraylib

    return xraylib


@functools.cache
def _symbol(z: int) -> str:
    return str(_xraylib().AtomicNumberToSymbol(z))


@functools.lru_cache(maxsize=1024)
def _parse_formula(formula: str) -> tuple[tuple[int, float], ...]:
    """``formula`` → ((Z, mass fraction), ...) via xraylib's CompoundParser."""
    try:
        parsed = _xraylib().CompoundParser(formula)
    except ValueError as exc:
        raise MaterialError(f"formula = {formula!r} is not a valid chemical formula ({exc})") from None
    return tuple(zip((int(z) for z in parsed["Elements"]), parsed["massFractions"], strict=True))


@functools.lru_cache(maxsize=1024)
def _composition(key: str | tuple[tuple[str, float], ...]) -> tuple[tuple[int, float], ...]:
    """Composition key (formula or sorted (formula, fraction) pairs) → ((Z, mass fraction), ...) sorted by Z."""
    if isinstance(key, str):
        return tuple(sorted(_parse_formula(key)))
    weights: dict[int, float] = {}
    for formula, fraction in key:
        for z, w in _parse_formula(formula):
            weights[z] = weights.get(z, 0.0) + fraction * w
    return tuple(sorted(weights.items()))


_REFERENCE_DENSITY = 1e4  # g/cm³, only to evaluate δ/ρ without losing digits in 1 − (1 − δ)
_ELEMENT_CACHE: dict[tuple[int, bytes], NDArray[np.float64]] = {}
_ELEMENT_CACHE_LOCK = threading.Lock()
_ELEMENT_CACHE_MAX = 4096


def _element_table(z: int, energies: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-unit-density properties of element ``z`` on ``energies`` (1-D): rows δ/ρ, β/ρ, μ_tot/ρ, μ_photo/ρ.

    δ/ρ and β/ρ in cm³/g; μ/ρ in cm²/g. xraylib's functions are scalar; the result is cached per energy grid.
    """
    key = (z, energies.tobytes())
    table = _ELEMENT_CACHE.get(key)
    if table is not None:
        return table
    xrl = _xraylib()
    symbol = _symbol(z)
    table = np.empty((4, energies.size), dtype=np.float64)
    for j, energy in enumerate(energies.tolist()):
        try:
            # δ is linear in density; a large reference density keeps 1 − Re(n) free of cancellation.
            table[0, j] = (
                1.0 - xrl.Refractive_Index_Re(symbol, energy, _REFERENCE_DENSITY)
            ) / _REFERENCE_DENSITY
            table[1, j] = xrl.Refractive_Index_Im(symbol, energy, 1.0)
            table[2, j] = xrl.CS_Total(z, energy)
            table[3, j] = xrl.CS_Photo(z, energy)
        except ValueError as exc:
            raise MaterialError(f"xraylib has no data for {symbol} at {energy:g} keV ({exc})") from None
    table.setflags(write=False)
    with _ELEMENT_CACHE_LOCK:
        if len(_ELEMENT_CACHE) >= _ELEMENT_CACHE_MAX:
            _ELEMENT_CACHE.clear()
        _ELEMENT_CACHE[key] = table
    return table


@functools.lru_cache(maxsize=256)
def _material_table(
    key: str | tuple[tuple[str, float], ...], energies_bytes: bytes, shape: tuple[int, ...]
) -> NDArray[np.float64]:
    """Per-unit-density properties of a composition, shape ``(4, *shape)``; read-only and cached."""
    energies = np.frombuffer(energies_bytes, dtype=np.float64)
    unique, inverse = np.unique(energies, return_inverse=True)
    total = np.zeros((4, unique.size), dtype=np.float64)
    for z, weight in _composition(key):
        total += weight * _element_table(z, unique)
    result = total[:, inverse.ravel()].reshape((4, *shape))
    result.setflags(write=False)
    return result


# --------------------------------------------------------------------------------------------------------------
# Constructors
# --------------------------------------------------------------------------------------------------------------


def compound(formula: str, *, density_g_cm3: float, name: str | None = None) -> Material:
    """A material from an xraylib chemical formula and a density (g/cm³).

    Examples
    --------
    >>> compound("Lu2SiO5", density_g_cm3=7.4).name
    'Lu2SiO5'
    """
    return Material(name=name or formula, density_g_cm3=density_g_cm3, formula=formula)


def mixture(fractions: Mapping[str | Material, float], *, density_g_cm3: float, name: str) -> Material:
    """A mixture by mass fraction of materials (library names or :class:`Material`), elements or formulas.

    Parameters
    ----------
    fractions
        Component → mass fraction. A component is a :class:`Material`, a library name (``"water"``), an
        element symbol or a formula. The fractions must sum to 1 within 1 %.
    density_g_cm3
        Density of the mixture in g/cm³ (not derived from the components: mixing changes volume).
    name
        Name of the mixture.

    Examples
    --------
    >>> gel = mixture({"water": 0.98, "C12H18O9": 0.02}, density_g_cm3=1.0, name="2% agarose gel")
    >>> round(gel.composition["O"], 2)
    0.88
    """
    if not isinstance(fractions, Mapping) or not fractions:
        raise MaterialError(f"mixture {name!r}: fractions = {fractions!r} must be a non-empty mapping")
    elements: dict[str, float] = {}
    for component, fraction in fractions.items():
        weight = _fraction(fraction, component, name)
        if isinstance(component, Material):
            parts = component.composition
        elif isinstance(component, str) and _lookup(component) is not None:
            parts = get_material(component).composition
        elif isinstance(component, str):
            parts = {_symbol(z): w for z, w in _composition(component.strip())}
        else:
            raise MaterialError(f"mixture {name!r}: component {component!r} is not a material or formula")
        for symbol, w in parts.items():
            elements[symbol] = elements.get(symbol, 0.0) + weight * w
    return Material(name=name, density_g_cm3=density_g_cm3, mass_fractions=elements)


def _fraction(value: Any, component: Any, name: str) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise MaterialError(
            f"mixture {name!r}: fraction of {component!r} = {value!r} is not a number"
        ) from None
    if not math.isfinite(weight) or weight < 0:
        raise MaterialError(f"mixture {name!r}: fraction of {component!r} = {value!r} must be >= 0")
    return weight


# --------------------------------------------------------------------------------------------------------------
# The built-in library
# --------------------------------------------------------------------------------------------------------------

_XRAYLIB_DENSITY = "density: xraylib ElementDensity (CRC Handbook)"
_MARTIN_KOCH = (
    "literature density of the single crystal (cf. the scintillator overview of Martin & Koch 2006, "
    "doi:10.1107/S0909049506000550); the activator (< 1-2 %) is neglected"
)

#: (Material, aliases). Lookups ignore case, and spaces, '-' and '_' are the same.
_BUILTIN: tuple[tuple[Material, tuple[str, ...]], ...] = (
    (
        Material(name="PMMA", density_g_cm3=1.18, formula="C5H8O2",
                 reference="poly(methyl methacrylate) (C5H8O2)n; density of cast PMMA (1.17–1.20 g/cm³)"),
        ("plexiglas", "perspex", "lucite", "acrylic"),
    ),
    (
        Material(name="water", density_g_cm3=1.0, formula="H2O",
                 reference="liquid water, NIST XCOM/Hubbell & Seltzer density 1.000 g/cm³"),
        ("h2o",),
    ),
    (
        Material(name="air", density_g_cm3=1.205e-3,
                 mass_fractions={"C": 0.000124, "N": 0.755268, "O": 0.231781, "Ar": 0.012827},
                 reference="dry air near sea level, 20 °C, Hubbell & Seltzer, NIST SRD 126 Table 2"),
        ("dry_air",),
    ),
    (
        Material(name="soft_tissue", density_g_cm3=1.06,
                 mass_fractions={"H": 0.102, "C": 0.143, "N": 0.034, "O": 0.708, "Na": 0.002, "P": 0.003,
                                 "S": 0.003, "Cl": 0.002, "K": 0.003},
                 reference="ICRU-44/46 adult soft tissue, as in NIST SRD 126 Table 2 ('Tissue, Soft (ICRU-44)')"),
        ("tissue", "icru_soft_tissue", "tissue_soft_icru44"),
    ),
    (
        Material(name="cortical_bone", density_g_cm3=1.92,
                 mass_fractions={"H": 0.034, "C": 0.155, "N": 0.042, "O": 0.435, "Na": 0.001, "Mg": 0.002,
                                 "P": 0.103, "S": 0.003, "Ca": 0.225},
                 reference="ICRU-44/46 cortical bone, as in NIST SRD 126 Table 2 ('Bone, Cortical (ICRU-44)')"),
        ("bone", "icru_cortical_bone", "bone_cortical_icru44"),
    ),
    (
        Material(name="paraffin_wax", density_g_cm3=0.93, formula="C25H52",
                 reference="paraffin wax C25H52, density 0.93 g/cm³ (NIST ESTAR/XCOM 'Paraffin Wax')"),
        ("paraffin", "wax"),
    ),
    (
        Material(name="ethanol", density_g_cm3=0.7893, formula="C2H5OH",
                 reference="ethanol at 20 °C, CRC Handbook (NIST 'Ethyl Alcohol')"),
        ("ethyl_alcohol", "etoh"),
    ),
    (
        Material(name="agarose", density_g_cm3=1.0,
                 mass_fractions={"H2O": 0.99, "C12H18O9": 0.01},
                 reference="1 % (w/w) agarose gel in water (agarobiose unit C12H18O9), density ≈ water; "
                           "the usual embedding medium"),
        ("agarose_gel", "agarose_1pct"),
    ),
    (
        Material(name="steel", density_g_cm3=8.0,
                 mass_fractions={"Fe": 0.695, "Cr": 0.19, "Ni": 0.095, "Mn": 0.02},
                 reference="austenitic stainless steel AISI 304 (nominal composition), density 8.0 g/cm³"),
        ("stainless_steel", "ss304", "inox"),
    ),
    (
        Material(name="Al", density_g_cm3=2.6989, formula="Al", reference=_XRAYLIB_DENSITY),
        ("aluminium", "aluminum"),
    ),
    (
        Material(name="Si", density_g_cm3=2.33, formula="Si", reference=_XRAYLIB_DENSITY),
        ("silicon",),
    ),
    (
        Material(name="Cu", density_g_cm3=8.96, formula="Cu", reference=_XRAYLIB_DENSITY),
        ("copper",),
    ),
    (
        Material(name="W", density_g_cm3=19.3, formula="W", reference=_XRAYLIB_DENSITY),
        ("tungsten",),
    ),
    (
        Material(name="Au", density_g_cm3=19.32, formula="Au", reference=_XRAYLIB_DENSITY),
        ("gold",),
    ),
    (
        Material(name="LSO:Tb", density_g_cm3=7.4, formula="Lu2SiO5",
                 reference="LSO:Tb thin-film scintillator (Lu2SiO5), density 7.4 g/cm³, " + _MARTIN_KOCH),
        ("lso", "lu2sio5", "lso_tb"),
    ),
    (
        Material(name="LuAG:Ce", density_g_cm3=6.73, formula="Lu3Al5O12",
                 reference="LuAG:Ce scintillator (Lu3Al5O12), " + _MARTIN_KOCH),
        ("luag", "lu3al5o12", "luag_ce"),
    ),
    (
        Material(name="YAG:Ce", density_g_cm3=4.55, formula="Y3Al5O12",
                 reference="YAG:Ce scintillator (Y3Al5O12), " + _MARTIN_KOCH),
        ("yag", "y3al5o12", "yag_ce"),
    ),
    (
        Material(name="GGG", density_g_cm3=7.08, formula="Gd3Ga5O12",
                 reference="GGG:Eu/Tb scintillator (Gd3Ga5O12), " + _MARTIN_KOCH),
        ("ggg:eu", "ggg:tb", "gd3ga5o12"),
    ),
    (
        Material(name="CsI:Tl", density_g_cm3=4.51, formula="CsI",
                 reference="CsI:Tl scintillator (CsI), " + _MARTIN_KOCH),
        ("csi", "csi_tl"),
    ),
    (
        Material(name="kapton", density_g_cm3=1.42, formula="C22H10N2O5",
                 reference="Kapton polyimide film (windows), NIST 'Kapton Polyimide Film', 1.42 g/cm³"),
        ("polyimide",),
    ),
    (
        Material(name="CdWO4", density_g_cm3=7.9, formula="CdWO4",
                 reference="CdWO4 (CWO) scintillator, " + _MARTIN_KOCH),
        ("cwo",),
    ),
)  # fmt: skip

#: The built-in materials by canonical name (read-only view).
LIBRARY: Mapping[str, Material] = types.MappingProxyType({m.name: m for m, _ in _BUILTIN})

_REGISTRY: dict[str, Material] = {}  # normalised name or alias -> Material (built-in + user)
_REGISTRY_LOCK = threading.RLock()
_ENV_LOADED: set[str] = set()


def _normalise_name(name: str) -> str:
    return re.sub(r"[\s_\-]+", "_", name.strip().lower())


def _init_registry() -> None:
    if _REGISTRY:
        return
    with _REGISTRY_LOCK:
        if _REGISTRY:
            return
        for material, aliases in _BUILTIN:
            for alias in (material.name, *aliases):
                _REGISTRY[_normalise_name(alias)] = material


def _load_env_files() -> None:
    value = os.environ.get(MATERIALS_ENV_VAR, "")
    for part in value.split(os.pathsep):
        if part and part not in _ENV_LOADED:
            load_materials(part)
            _ENV_LOADED.add(part)


def _lookup(name: str) -> Material | None:
    _init_registry()
    _load_env_files()
    return _REGISTRY.get(_normalise_name(name))


def register_material(
    material: Material, *, aliases: Iterable[str] = (), overwrite: bool = False
) -> Material:
    """Add ``material`` to the registry that :func:`get_material` searches, under its name and ``aliases``.

    Raises :class:`MaterialError` if a name is taken by a different material and ``overwrite`` is false.
    """
    if not isinstance(material, Material):
        raise MaterialError(f"material = {material!r} is not a Material")
    _init_registry()
    keys = [_normalise_name(n) for n in (material.name, *aliases)]
    with _REGISTRY_LOCK:
        for key in keys:
            existing = _REGISTRY.get(key)
            if existing is not None and existing != material and not overwrite:
                raise MaterialError(
                    f"material name {key!r} is already taken by {existing.name!r} "
                    f"(density {existing.density_g_cm3:g} g/cm³); pass overwrite=True to replace it"
                )
        for key in keys:
            _REGISTRY[key] = material
    return material


def load_materials(path: str | os.PathLike[str], *, overwrite: bool = True) -> list[Material]:
    """Load user materials from a TOML file and register them (see the module docstring for the format).

    Each ``[materials.<name>]`` table has ``density_g_cm3`` (a number or a string with a unit, e.g.
    ``"1.2 g/cm3"``), exactly one of ``formula`` or ``mass_fractions``, and optionally ``aliases`` and
    ``reference``. Returns the materials loaded.

    Raises
    ------
    ConfigError
        The file is missing or not valid TOML, or an entry is malformed (the message names file and entry).
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"materials file {str(file)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"materials file {str(file)!r} is not valid TOML: {exc}") from None
    entries = document.get("materials")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"materials file {str(file)!r} has no [materials.<name>] tables")
    loaded = []
    for name, entry in entries.items():
        where = f"{file}: [materials.{name}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = set(entry) - {"density_g_cm3", "formula", "mass_fractions", "aliases", "reference"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        if "density_g_cm3" not in entry:
            raise ConfigError(f"{where}: density_g_cm3 is missing")
        from xrai.units import to_canonical

        try:
            material = Material(
                name=str(name),
                density_g_cm3=to_canonical(entry["density_g_cm3"], name="density_g_cm3"),
                formula=entry.get("formula"),
                mass_fractions=entry.get("mass_fractions"),
                reference=str(entry.get("reference", f"user file {file}")),
            )
        except ConfigError as exc:
            raise type(exc)(f"{where}: {exc}") from None
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ConfigError(f"{where}: aliases = {aliases!r} must be a list of strings")
        loaded.append(register_material(material, aliases=aliases, overwrite=overwrite))
    return loaded


def available_materials() -> list[str]:
    """Canonical names of all registered materials (built-in and user), sorted."""
    _init_registry()
    _load_env_files()
    with _REGISTRY_LOCK:
        return sorted({m.name for m in _REGISTRY.values()})


def get_material(name: str | Material) -> Material:
    """Return a material by name (case-insensitive, aliases allowed), or ``name`` itself if it is a Material.

    Searches the built-in library, materials registered with :func:`register_material` or loaded with
    :func:`load_materials` / ``$XRAI_MATERIALS``, then element symbols (``"Fe"``, ``"Pb"``: the pure element
    at its xraylib density).

    Raises
    ------
    MaterialError
        Unknown name; the message lists the closest known names.

    Examples
    --------
    >>> get_material("LSO:Tb").formula
    'Lu2SiO5'
    >>> get_material("Perspex").density_g_cm3
    1.18
    """
    if isinstance(name, Material):
        return name
    if not isinstance(name, str):
        raise MaterialError(f"material = {name!r} is not a material name or a Material")
    found = _lookup(name)
    if found is not None:
        return found
    element = _element(name.strip())
    if element is not None:
        return element
    with _REGISTRY_LOCK:
        known = sorted(_REGISTRY)
    close = difflib.get_close_matches(_normalise_name(name), known, n=5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise MaterialError(
        f"material = {name!r} is unknown{hint} Known materials: {', '.join(available_materials())}; "
        f"or give an element symbol, or use compound()/mixture(), or a TOML file via load_materials()"
    )


@functools.lru_cache(maxsize=128)
def _element(symbol: str) -> Material | None:
    if not re.fullmatch(r"[A-Z][a-z]?", symbol):
        return None
    xrl = _xraylib()
    try:
        z = xrl.SymbolToAtomicNumber(symbol)
        density = float(xrl.ElementDensity(z))
    except ValueError:
        return None
    return Material(name=symbol, density_g_cm3=density, formula=symbol, reference=_XRAYLIB_DENSITY)
