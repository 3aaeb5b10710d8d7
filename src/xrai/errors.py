"""The error and warning classes of xrai.

User errors derive from :class:`XraiError`; physics problems that do not make a result wrong by themselves
(an under-sampled propagator, an approximation used outside its validity) are *warnings* derived from
:class:`XraiWarning`, so a caller can turn them into errors (``warnings.simplefilter("error", SamplingWarning)``)
or ask for an exception directly with the ``on_undersampling="raise"`` option.

The library never configures logging handlers; it only emits warnings and raises.
"""

from __future__ import annotations

__all__ = [
    "ApproximationWarning",
    "ConfigError",
    "DataError",
    "MaterialError",
    "SamplingWarning",
    "UnitError",
    "XraiError",
    "XraiWarning",
    "check_range",
]


class XraiError(Exception):
    """Base class of every error xrai raises for bad input or bad data."""


class ConfigError(XraiError, ValueError):
    """A configuration value is missing, out of range or inconsistent with another."""


class UnitError(ConfigError):
    """A value has the wrong physical dimension or an unparseable unit."""


class MaterialError(ConfigError):
    """An unknown element, formula or material name, or optical constants outside the tables."""


class DataError(XraiError):
    """Input data (a file, an array) is truncated, corrupt, of the wrong shape or dtype."""


class XraiWarning(UserWarning):
    """Base class of the warnings xrai emits (the test suite turns them into errors)."""


class SamplingWarning(XraiWarning):
    """A discretisation is too coarse for the physics (e.g. an under-sampled Fresnel propagator)."""


class ApproximationWarning(XraiWarning):
    """An approximation is used outside its documented range of validity."""


def check_range(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    unit: str = "",
) -> float:
    """Return ``value`` as a float if it lies in the allowed range, else raise :class:`ConfigError`.

    The message names the field, echoes the value and states the allowed range, e.g.
    ``thickness_m = -0.001 is not allowed: must be >= 0 m``.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} = {value!r} is not a number") from None
    if number != number:  # NaN
        raise ConfigError(f"{name} = nan is not allowed: must be a finite number")
    suffix = f" {unit}" if unit else ""
    if low is not None and (number < low or (not low_inclusive and number == low)):
        op = ">=" if low_inclusive else ">"
        raise ConfigError(f"{name} = {value!r} is not allowed: must be {op} {low:g}{suffix}")
    if high is not None and (number > high or (not high_inclusive and number == high)):
        op = "<=" if high_inclusive else "<"
        raise ConfigError(f"{name} = {value!r} is not allowed: must be {op} {high:g}{suffix}")
    return number
