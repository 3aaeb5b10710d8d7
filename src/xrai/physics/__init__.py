"""xrai.physics: the virtual imaging experiment (materials, sources, filters, samples, propagation, detector).

Public names load lazily on first attribute access, so ``import xrai.physics`` imports neither scipy, xraylib
nor torch. ``xrai.physics.Material`` imports :mod:`xrai.physics.materials` the first time it is used.

To export a new public name, add one line to :data:`_LAZY` (``"Name": "submodule"``, the module relative to
``xrai.physics``); every submodule is also reachable as an attribute (``xrai.physics.materials``).

Examples
--------
>>> import xrai.physics as xp
>>> water = xp.get_material("water")
>>> bm = xp.BendingMagnet(ring_energy_gev=2.5, field_t=1.5, current_a=0.106, distance_m=30.0)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> submodule of xrai.physics that defines it. Extend here (one line per name).
_LAZY: dict[str, str] = {
    # materials
    "ENERGY_RANGE_KEV": "materials",
    "LIBRARY": "materials",
    "Material": "materials",
    "available_materials": "materials",
    "compound": "materials",
    "get_material": "materials",
    "load_materials": "materials",
    "mixture": "materials",
    "register_material": "materials",
    # spectra
    "Spectrum": "spectrum",
    "load_spectrum": "spectrum",
    # sources
    "DCM_BANDWIDTH": "sources",
    "DMM_BANDWIDTH": "sources",
    "BendingMagnet": "sources",
    "Monochromatic": "sources",
    "Source": "sources",
    "TabulatedSource": "sources",
    "Undulator": "sources",
    "Wiggler": "sources",
    "XRayTube": "sources",
    "energy_grid": "sources",
    # filters and optics
    "Filter": "filters",
    "MirrorCutoff": "filters",
    "Optic": "filters",
    "apply_filters": "filters",
    "transmission": "filters",
    # presets
    "PRESETS": "presets",
    "Beamline": "presets",
    "get_preset": "presets",
    "seed_beamline": "presets",
    "seed_spectrum": "presets",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # for type checkers and IDEs; never executed. Keep in step with _LAZY.
    from xrai.physics.filters import Filter, MirrorCutoff, Optic, apply_filters, transmission  # noqa: F401
    from xrai.physics.materials import (  # noqa: F401
        ENERGY_RANGE_KEV,
        LIBRARY,
        Material,
        available_materials,
        compound,
        get_material,
        load_materials,
        mixture,
        register_material,
    )
    from xrai.physics.presets import PRESETS, Beamline, get_preset, seed_beamline, seed_spectrum  # noqa: F401
    from xrai.physics.sources import (  # noqa: F401
        DCM_BANDWIDTH,
        DMM_BANDWIDTH,
        BendingMagnet,
        Monochromatic,
        Source,
        TabulatedSource,
        Undulator,
        Wiggler,
        XRayTube,
        energy_grid,
    )
    from xrai.physics.spectrum import Spectrum, load_spectrum  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"xrai.physics.{module}"), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    if name.isidentifier() and not name.startswith("__"):  # a submodule, e.g. xrai.physics.materials
        try:
            return importlib.import_module(f"xrai.physics.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"xrai.physics.{name}":
                raise
    raise AttributeError(f"module 'xrai.physics' has no attribute {name!r}")


def __dir__() -> list[str]:
    import pkgutil

    return sorted({*__all__, *(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))})
