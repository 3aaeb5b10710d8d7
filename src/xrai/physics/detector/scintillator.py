"""The scintillator of an indirect X-ray detector: absorbed fraction, light yield and emission depth.

An indirect detector converts X-rays to visible light in a thin luminescent screen (here LSO:Tb, 12 µm) that a
microscope objective images onto a camera. This module answers three questions for a photon of energy E:
how likely it is absorbed in the screen (:func:`absorbed_fraction`), how many visible photons it makes on
average (:func:`visible_photons_per_xray`), and at which depths the light comes from (:func:`emission_depths`),
which the optics needs for the depth (defocus) blur.

Conventions: energies in keV, lengths in m, the screen is a slab of thickness ``thickness_m`` hit at normal
incidence; depth 0 is its entrance face (the side the X-rays come from).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from xrai.errors import ConfigError, check_range

__all__ = [
    "AbsorptionModel",
    "Scintillator",
    "absorbed_fraction",
    "emission_depths",
    "visible_photons_per_xray",
]

#: ``"photo"``: the fraction of incident photons whose first interaction in the screen is photo-absorption
#: (the energy deposited and turned into light); ``"total"``: every interaction counts (an upper bound).
AbsorptionModel = Literal["photo", "total"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Scintillator:
    """A luminescent screen.

    Parameters
    ----------
    material
        A name known to :func:`xrai.physics.materials.get_material` (``"LSO:Tb"``, ``"GGG:Eu"``, ``"YAG:Ce"``,
        ``"CsI"``) or an element/compound name it accepts.
    thickness_m
        Screen thickness (m), > 0.
    light_yield_per_kev
        Visible photons emitted per keV of absorbed X-ray energy (LSO:Tb: about 36 /keV).
    emission_wavelength_m
        Peak emission wavelength (m); it sets the diffraction limit of the optics (LSO:Tb: 545 nm).
    density_g_cm3
        Density (g/cm³); ``None`` takes the material table's density (7.4 g/cm³ for LSO).
    refractive_index
        Refractive index of the screen at the emission wavelength (LSO: 1.82); it reduces the light the
        objective collects and the angle of the defocus cone inside the screen.
    absorption
        Which attenuation coefficient makes light, see :func:`absorbed_fraction` (default ``"photo"``).

    Examples
    --------
    >>> lso = Scintillator(material="LSO:Tb", thickness_m=12e-6, light_yield_per_kev=36.0,
    ...                    emission_wavelength_m=545e-9)
    >>> round(float(absorbed_fraction(lso, [20.0])[0]), 2)
    0.32
    """

    material: str = "LSO:Tb"
    thickness_m: float
    light_yield_per_kev: float
    emission_wavelength_m: float
    density_g_cm3: float | None = None
    refractive_index: float = 1.82
    absorption: AbsorptionModel = "photo"

    def __post_init__(self) -> None:
        if not isinstance(self.material, str) or not self.material.strip():
            raise ConfigError(f"material = {self.material!r} is not allowed: must be a material name")
        check_range("thickness_m", self.thickness_m, low=0, low_inclusive=False, high=0.01, unit="m")
        check_range("light_yield_per_kev", self.light_yield_per_kev, low=0, high=1e3, unit="photons/keV")
        check_range("emission_wavelength_m", self.emission_wavelength_m, low=100e-9, high=2e-6, unit="m")
        if self.density_g_cm3 is not None:
            check_range(
                "density_g_cm3", self.density_g_cm3, low=0, low_inclusive=False, high=30, unit="g/cm³"
            )
        check_range("refractive_index", self.refractive_index, low=1.0, high=4.0)
        if self.absorption not in ("photo", "total"):
            raise ConfigError(f"absorption = {self.absorption!r} is not allowed: must be 'photo' or 'total'")

    def material_object(self) -> Any:
        """The :class:`xrai.physics.materials.Material` of the screen (with ``density_g_cm3`` applied)."""
        from xrai.physics.materials import get_material

        material = get_material(self.material)
        if self.density_g_cm3 is not None and self.density_g_cm3 != material.density_g_cm3:
            material = material.with_density(self.density_g_cm3)
        return material


def _energies(energies_kev: npt.ArrayLike) -> npt.NDArray[np.float64]:
    energies = np.atleast_1d(np.asarray(energies_kev, dtype=np.float64))
    if energies.ndim != 1 or energies.size == 0:
        raise ConfigError(f"energies_kev must be a non-empty 1-D array, got shape {energies.shape}")
    return energies


def _attenuation(scintillator: Scintillator, energies: npt.NDArray[np.float64]) -> tuple[Any, Any]:
    material = scintillator.material_object()
    mu_total = material.linear_attenuation_per_m(energies, kind="total")
    mu_photo = material.linear_attenuation_per_m(energies, kind="photo")
    return mu_total, mu_photo


def absorbed_fraction(
    scintillator: Scintillator, energies_kev: npt.ArrayLike, *, kind: AbsorptionModel | None = None
) -> npt.NDArray[np.float64]:
    """Fraction of the incident photons of each energy that deposit their energy in the screen.

    Parameters
    ----------
    scintillator
        The screen.
    energies_kev
        Photon energies (keV), 1-D.
    kind
        Override of ``scintillator.absorption``.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``energies_kev``, values in [0, 1].

    Notes
    -----
    With μ_tot the total and μ_pe the photo-absorption linear attenuation coefficient (xraylib ``CS_Total`` and
    ``CS_Photo`` × ρ) and t the thickness:

    * ``"photo"`` (default): η = (μ_pe / μ_tot) (1 − exp(−μ_tot t)), the probability that a photon interacts in
      the slab *and* that its first interaction is photo-absorption. Photo-absorption deposits (nearly) all of
      E locally; a Compton-scattered photon carries most of its energy away and, in a screen of a few µm,
      leaves it. At 10–30 keV in LSO, μ_pe/μ_tot > 0.9.
    * ``"total"``: η = 1 − exp(−μ_tot t), Beer–Lambert with every interaction counted (an upper bound).

    Neglected: the escape of the Lu K/L fluorescence (a few % of the deposited energy above the edges), the
    energy of Compton electrons, and light from photons scattered back from the substrate.
    """
    energies = _energies(energies_kev)
    model = scintillator.absorption if kind is None else kind
    if model not in ("photo", "total"):
        raise ConfigError(f"kind = {model!r} is not allowed: must be 'photo' or 'total'")
    mu_total, mu_photo = _attenuation(scintillator, energies)
    interacting = -np.expm1(-mu_total * scintillator.thickness_m)
    if model == "total":
        return np.asarray(interacting, dtype=np.float64)
    return np.asarray(mu_photo / mu_total * interacting, dtype=np.float64)


def visible_photons_per_xray(
    scintillator: Scintillator, energies_kev: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Mean number of visible photons emitted per *incident* X-ray photon of each energy.

    Returns
    -------
    numpy.ndarray
        float64, shape of ``energies_kev``: ``absorbed_fraction × light_yield_per_kev × E``.
    """
    energies = _energies(energies_kev)
    return absorbed_fraction(scintillator, energies) * scintillator.light_yield_per_kev * energies


def emission_depths(
    scintillator: Scintillator,
    energies_kev: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    n_layers: int = 16,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Where in the screen the light comes from: layer mid-depths and the fraction of light from each.

    Parameters
    ----------
    scintillator
        The screen.
    energies_kev
        Photon energies (keV).
    weights
        Incident photons per energy (any scale); ``None`` = equal numbers at every energy.
    n_layers
        Number of equal sub-layers the screen is cut into.

    Returns
    -------
    depths_m, fractions
        ``depths_m`` (n_layers,) mid-depth of each layer from the entrance face (m); ``fractions``
        (n_layers,) the share of the emitted light from each layer (sum 1).

    Notes
    -----
    Photons are absorbed with the depth density μ exp(−μ_tot z); the light of layer [z₀, z₁] at energy E is
    proportional to N(E) E (μ_pe/μ_tot)(exp(−μ_tot z₀) − exp(−μ_tot z₁)), summed over E.
    """
    energies = _energies(energies_kev)
    if n_layers < 1:
        raise ConfigError(f"n_layers = {n_layers!r} is not allowed: must be >= 1")
    counts = np.ones_like(energies) if weights is None else np.asarray(weights, dtype=np.float64)
    if counts.shape != energies.shape:
        raise ConfigError(
            f"weights has shape {counts.shape}, expected the shape of energies_kev {energies.shape}"
        )
    if np.any(counts < 0) or not np.any(counts > 0):
        raise ConfigError("weights must be >= 0 with at least one positive value")
    mu_total, mu_photo = _attenuation(scintillator, energies)
    if scintillator.absorption == "total":
        mu_photo = mu_total
    edges = np.linspace(0.0, scintillator.thickness_m, n_layers + 1)
    survive = np.exp(-np.outer(edges, mu_total))  # (layers+1, E)
    per_layer = (survive[:-1] - survive[1:]) * (mu_photo / mu_total) * energies * counts
    light = per_layer.sum(axis=1)
    return 0.5 * (edges[:-1] + edges[1:]), light / light.sum()
