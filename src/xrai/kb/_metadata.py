"""Metadata validation: JSON-safe values (string keys without dots), canonical units by key suffix, and the flattened search index rows.

A key with a unit suffix (``energy_kev``, ``pixel_size_m``, see :mod:`xrai.units`) holds a canonical float: a
string or pint Quantity is converted (``"25 keV"`` -> 25.0, ``"0.65 um"`` -> 6.5e-07), a plain number is taken
to be in the canonical unit already, and a value of the wrong dimension raises :class:`~xrai.errors.UnitError`
naming the key.

The search index (``item_props``) holds one row per scalar leaf: the dotted key path (``specimen.line``), a
number (``num``, also 1/0 for booleans) or a text value (``txt``, strings up to :data:`MAX_INDEXED_TEXT`
characters). A list contributes its first :data:`MAX_INDEXED_LIST` elements under the same key.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from xrai.errors import ConfigError, UnitError
from xrai.units import canonical_unit, to_canonical

__all__ = ["MAX_INDEXED_LIST", "MAX_INDEXED_TEXT", "flatten", "is_unit_key", "normalise_metadata"]

MAX_INDEXED_TEXT = 256
MAX_INDEXED_LIST = 64
MAX_DEPTH = 16


def is_unit_key(key: str) -> bool:
    """Whether ``key`` ends in a unit suffix of :mod:`xrai.units`."""
    try:
        canonical_unit(key)
    except UnitError:
        return False
    return True


def normalise_metadata(metadata: Mapping[str, Any] | None, *, where: str = "metadata") -> dict[str, Any]:
    """Return a JSON-safe copy of ``metadata`` with unit-suffixed values converted to canonical floats.

    Raises :class:`ConfigError` (naming the key path and value) for bad keys, non-finite numbers or
    unsupported value types, and :class:`UnitError` for a quantity of the wrong dimension.
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ConfigError(f"{where} = {metadata!r} must be a mapping of names to values")
    return _normalise_mapping(metadata, where, 0)


def _normalise_mapping(mapping: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise ConfigError(f"{path} is nested deeper than {MAX_DEPTH} levels")
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not key or len(key) > 200 or "." in key or "\x00" in key:
            raise ConfigError(
                f"{path} key {key!r} is not allowed: keys are non-empty strings of at most 200 characters "
                f"without '.' (the dot separates nested keys in searches)"
            )
        out[key] = _normalise_value(value, key, f"{path}.{key}", depth + 1)
    return out


def _normalise_value(value: Any, key: str, path: str, depth: int) -> Any:
    if isinstance(value, Mapping):
        return _normalise_mapping(value, path, depth)
    if value is None:
        return None
    if is_unit_key(key):
        return _unit_value(value, key, path)
    return _plain_value(value, key, path, depth)


def _unit_value(value: Any, key: str, path: str) -> Any:
    if isinstance(value, list | tuple) and any(isinstance(v, list | tuple | Mapping) for v in value):
        raise ConfigError(f"{path} = {value!r}: a unit-suffixed key holds a number or a flat list of numbers")
    try:
        converted = to_canonical(value, name=key)
    except UnitError as exc:
        raise UnitError(f"{path}: {exc}") from None
    if isinstance(converted, np.ndarray):
        values = [float(v) for v in converted.reshape(-1)]
        for v in values:
            _check_finite(v, path)
        return values
    _check_finite(float(converted), path)
    return float(converted)


def _plain_value(value: Any, key: str, path: str, depth: int) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        _check_finite(float(value), path)
        return float(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise ConfigError(f"{path} = {value!r} contains a NUL character, which no catalogue can store")
        return value
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        if value.size > 10_000:
            raise ConfigError(
                f"{path} is an array of {value.size} values: store large arrays in arrays=, not metadata"
            )
        return [_plain_value(v, key, path, depth + 1) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_normalise_value(v, key, path, depth + 1) for v in value]
    if hasattr(value, "units") and hasattr(value, "magnitude"):
        raise UnitError(f"{path} = {value!s} is a quantity but the key has no unit suffix (e.g. '{key}_kev')")
    raise ConfigError(
        f"{path} = {value!r} (type {type(value).__name__}) is not a JSON value "
        f"(None, bool, number, string, date, list or mapping)"
    )


def _check_finite(value: float, path: str) -> None:
    if not math.isfinite(value):
        raise ConfigError(f"{path} = {value!r} is not allowed: metadata numbers must be finite")


def flatten(metadata: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float | None, str | None]]:
    """Yield the index rows ``(dotted_key, num, txt)`` of normalised metadata."""
    for key, value in metadata.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, prefix=f"{path}.")
        elif isinstance(value, list):
            for element in value[:MAX_INDEXED_LIST]:
                if isinstance(element, Mapping):
                    yield from flatten(element, prefix=f"{path}.")
                elif not isinstance(element, list):
                    row = _scalar_row(path, element)
                    if row is not None:
                        yield row
        else:
            row = _scalar_row(path, value)
            if row is not None:
                yield row


def _scalar_row(path: str, value: Any) -> tuple[str, float | None, str | None] | None:
    if value is None:
        return (path, None, None)
    if isinstance(value, bool):
        return (path, 1.0 if value else 0.0, None)
    if isinstance(value, int | float):
        return (path, float(value), None)
    if isinstance(value, str):
        return (path, None, value) if len(value) <= MAX_INDEXED_TEXT else (path, None, None)
    return None
