"""Units at the boundary: strings, pint Quantities and plain numbers to canonical floats.

Inside xrai every number is a plain float or array in a canonical unit, and **the unit is in the name**
(``pixel_size_m``, ``energies_kev``, ``density_g_cm3``). At the edges (config files, the CLI, HTTP, notebooks) a
value may also be a string such as ``"0.65 um"`` or a :class:`pint.Quantity`; :func:`to_canonical` converts it
once. A plain number is taken to be in the unit its name says already.

=========================  ===========================
name suffix                canonical unit
=========================  ===========================
``_m``                     metre
``_s``                     second
``_rad`` / ``_mrad``       radian / milliradian
``_deg``                   degree
``_kev`` / ``_ev``         kilo-electronvolt / eV
``_gev``                   giga-electronvolt
``_g_cm3``                 gram per cubic centimetre
``_t``                     tesla
``_a`` / ``_ma``           ampere / milliampere
``_hz``                    hertz
``_m2``                    square metre
=========================  ===========================

pint is imported only when a string or a Quantity has to be converted, so ``import xrai`` stays cheap.

Examples
--------
>>> to_canonical("0.65 um", name="pixel_size_m")
6.5e-07
>>> to_canonical(2.5, name="ring_energy_gev")
2.5
>>> to_canonical("82 mm", name="distance_m")
0.082
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from xrai.errors import UnitError

__all__ = ["CANONICAL_UNITS", "canonical_unit", "parse_quantity", "to_canonical", "ureg"]

#: Name suffix -> canonical unit (pint spelling). Longer suffixes are matched first.
CANONICAL_UNITS: dict[str, str] = {
    "_g_cm3": "g/cm**3",
    "_mrad": "mrad",
    "_rad": "rad",
    "_deg": "deg",
    "_gev": "GeV",
    "_kev": "keV",
    "_ev": "eV",
    "_hz": "Hz",
    "_ma": "mA",
    "_m2": "m**2",
    "_m": "m",
    "_s": "s",
    "_t": "T",
    "_a": "A",
}

_PRETTY = {"g/cm**3": "g/cm³", "m**2": "m²"}
_SUFFIXES = sorted(CANONICAL_UNITS, key=len, reverse=True)
# Plural names (energies_kev, angles_rad, distances_m) share their singular's suffix.


def canonical_unit(name: str) -> str:
    """Return the canonical unit (pint spelling) that the suffix of ``name`` promises.

    Raises :class:`UnitError` if the name carries no known unit suffix.
    """
    lowered = name.lower()
    for suffix in _SUFFIXES:
        if lowered.endswith(suffix):
            return CANONICAL_UNITS[suffix]
    raise UnitError(f"{name!r} carries no unit suffix; expected one of {', '.join(sorted(CANONICAL_UNITS))}")


@functools.cache
def ureg() -> Any:
    """The shared pint UnitRegistry (created on first use)."""
    import pint

    registry: Any = pint.UnitRegistry()
    registry.formatter.default_format = "~P"
    return registry


_POWER = re.compile(r"(?<=[A-Za-zµμ])([23])(?![\d.])")


def parse_quantity(text: str, *, name: str = "value") -> Any:
    """Parse a string such as ``"0.65 um"``, ``"1.18 g/cm3"`` or ``"2.5 GeV"`` into a pint Quantity.

    ``µ`` and ``μ`` are accepted for micro, and a trailing power digit (``cm3``, ``mm2``) means a power.
    """
    cleaned = text.strip().replace("µ", "u").replace("μ", "u")
    cleaned = _POWER.sub(r"**\1", cleaned)
    registry = ureg()
    try:
        return registry.Quantity(cleaned)
    except Exception as exc:  # pint raises several unrelated error types
        raise UnitError(f"{name} = {text!r} could not be parsed as a quantity: {exc}") from None


def to_canonical(value: Any, *, name: str, unit: str | None = None) -> Any:
    """Convert ``value`` to a plain float (or float64 array) in the canonical unit of ``name``.

    Parameters
    ----------
    value
        A number or array (already in the canonical unit), a string with a unit (``"0.65 um"``), a
        pint Quantity, or a sequence of strings/Quantities.
    name
        The parameter name; its suffix selects the canonical unit (see the module table) and it is quoted
        in every error message.
    unit
        Override the unit the suffix would select (pint spelling).

    Returns
    -------
    float or numpy.ndarray
        The magnitude in the canonical unit.

    Raises
    ------
    UnitError
        If the value has the wrong dimension ("5 kg" for a distance) or cannot be parsed.
    """
    target = unit if unit is not None else canonical_unit(name)
    if isinstance(value, bool):
        raise UnitError(f"{name} = {value!r} is a boolean, expected a number in {_pretty(target)}")
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        return _convert(parse_quantity(value, name=name), target, name=name, shown=value)
    if hasattr(value, "units") and hasattr(value, "magnitude"):  # a pint Quantity
        return _convert(value, target, name=name, shown=value)
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.number):
            raise UnitError(f"{name} has dtype {value.dtype}, expected numbers in {_pretty(target)}")
        return value.astype(np.float64, copy=False)
    if isinstance(value, list | tuple):
        return np.asarray([to_canonical(v, name=name, unit=target) for v in value], dtype=np.float64)
    raise UnitError(
        f"{name} = {value!r} (type {type(value).__name__}) is not a number, a string with a unit "
        f"or a pint Quantity; expected a value in {_pretty(target)}"
    )


def _convert(quantity: Any, target: str, *, name: str, shown: Any) -> Any:
    registry = ureg()
    if not hasattr(quantity, "units"):  # "42" parses to a bare number: take it in the canonical unit
        return float(quantity)
    try:
        converted = quantity.to(registry.Unit(target))
    except Exception:
        raise UnitError(
            f"{name} = {str(shown)!r} has the wrong dimension: expected a value in {_pretty(target)} "
            f"(dimension {registry.Unit(target).dimensionality}), got {quantity.dimensionality}"
        ) from None
    magnitude = converted.magnitude
    if isinstance(magnitude, np.ndarray):
        return magnitude.astype(np.float64, copy=False)
    return float(magnitude)


def _pretty(unit: str) -> str:
    return _PRETTY.get(unit, unit)
