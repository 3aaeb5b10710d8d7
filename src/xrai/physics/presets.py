"""Beamline presets: a source, its filters and an energy grid, ready to give the spectrum at the sample.

The seed's beamline (the source document's table; a KARA-like bending-magnet beamline for high-throughput
microtomography): 2.5 GeV storage ring, 1.5 T bending magnet, 106 mA, white beam, 8–30 keV in 1 keV steps,
0.7 mm aluminium filter. The seed leaves the source distance and size open; we take **30 m** and a source of
**503 µm × 142 µm (h × v, FWHM)**, the values syris uses for its TOPO-TOMO (KARA) bending-magnet example
(Faragó et al. 2017, doi:10.1107/S1600577517012255), and typical of sample positions at such beamlines
(25–35 m).

Examples
--------
>>> beamline = seed_beamline()
>>> spectrum = beamline.spectrum()
>>> spectrum.n_bins, round(spectrum.energies_kev[0]), round(spectrum.energies_kev[-1])
(23, 8, 30)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from xrai.errors import ConfigError
from xrai.physics.filters import Filter, Optic, apply_filters
from xrai.physics.materials import get_material
from xrai.physics.sources import BendingMagnet, Source, energy_grid
from xrai.physics.spectrum import Spectrum

__all__ = ["PRESETS", "Beamline", "get_preset", "seed_beamline", "seed_spectrum"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Beamline:
    """A source, filters/mirrors in the beam, and the energy bins of a simulation.

    Parameters
    ----------
    name
        Preset name.
    source
        Any source with ``spectrum(energies_kev, *, bin_widths_kev=None)``.
    energies_kev
        Bin centres in keV (a tuple, so the preset is hashable).
    filters
        Filters, windows and mirrors, in beam order.
    description
        Where the numbers come from.
    """

    name: str
    source: Source
    energies_kev: tuple[float, ...]
    filters: tuple[Optic, ...] = ()
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        energies = tuple(float(e) for e in np.atleast_1d(np.asarray(self.energies_kev, dtype=np.float64)))
        if not energies:
            raise ConfigError(f"beamline {self.name!r}: energies_kev is empty")
        object.__setattr__(self, "energies_kev", energies)
        object.__setattr__(self, "filters", tuple(self.filters))
        if not isinstance(self.source, Source):
            raise ConfigError(f"beamline {self.name!r}: source = {self.source!r} has no spectrum() method")

    @property
    def energy_array_kev(self) -> NDArray[np.float64]:
        """The bin centres as a float64 array."""
        return np.asarray(self.energies_kev, dtype=np.float64)

    def unfiltered_spectrum(self) -> Spectrum:
        """The source spectrum at the sample position before any filter."""
        return self.source.spectrum(self.energy_array_kev)

    def spectrum(self, *, filtered: bool = True) -> Spectrum:
        """The spectrum at the sample (photons/s/m² per bin), behind the filters unless ``filtered=False``."""
        white = self.unfiltered_spectrum()
        return apply_filters(white, self.filters) if filtered else white


def seed_beamline() -> Beamline:
    """The seed's beamline: 2.5 GeV, BM 1.5 T, 106 mA, 30 m, 8–30 keV (1 keV bins), 0.7 mm Al."""
    source = BendingMagnet(
        ring_energy_gev=2.5,
        field_t=1.5,
        current_a=0.106,
        distance_m=30.0,
        source_size_h_m=503e-6,
        source_size_v_m=142e-6,
        name="BM 2.5 GeV 1.5 T 106 mA @ 30 m",
    )
    return Beamline(
        name="seed",
        source=source,
        energies_kev=tuple(energy_grid(8.0, 30.0, 1.0).tolist()),
        filters=(Filter(material=get_material("Al"), thickness_m=0.7e-3),),
        description=(
            "Seed beamline (source document): 2.5 GeV ring, 1.5 T bending magnet, 106 mA, white beam, "
            "8-30 keV in 1 keV steps, 0.7 mm Al. Assumed: sample 30 m from the source, source 503 x 142 um "
            "(h x v, FWHM), as in syris's KARA TOPO-TOMO example."
        ),
    )


def seed_spectrum(*, filtered: bool = True) -> Spectrum:
    """The seed beamline's spectrum at the sample (behind the 0.7 mm Al filter unless ``filtered=False``)."""
    return seed_beamline().spectrum(filtered=filtered)


#: Preset name -> factory.
PRESETS: dict[str, Callable[[], Beamline]] = {"seed": seed_beamline}


def get_preset(name: str) -> Beamline:
    """A beamline preset by name (case-insensitive); :class:`ConfigError` listing the known ones otherwise."""
    factory = PRESETS.get(str(name).strip().lower())
    if factory is None:
        raise ConfigError(f"preset = {name!r} is unknown: must be one of {', '.join(sorted(PRESETS))}")
    return factory()
