"""HDF5 helpers shared by the NeXus and DXchange readers: opening with clear errors, units, strings."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from xrai.errors import DataError, UnitError

__all__ = ["angles_to_rad", "attr_str", "dataset", "open_hdf5", "read_quantity", "read_str"]


def open_hdf5(path: str | os.PathLike[str], mode: str = "r") -> Any:
    """Open an HDF5 file; a truncated, corrupt or non-HDF5 file raises a :class:`DataError` naming it."""
    import h5py

    try:
        return h5py.File(path, mode)
    except FileNotFoundError:
        raise DataError(f"{os.fspath(path)}: no such file") from None
    except OSError as exc:
        raise DataError(
            f"{os.fspath(path)}: cannot open as HDF5 (truncated or corrupt file?): {exc}"
        ) from None


def attr_str(obj: Any, name: str, default: str | None = None) -> str | None:
    """An HDF5 attribute as a Python string (bytes are decoded), or ``default``."""
    value = obj.attrs.get(name, None)
    if value is None:
        return default
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else default
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def dataset(f: Any, path: str, *, source: str) -> Any:
    """The dataset at ``path``, or a :class:`DataError` naming file and dataset (missing or broken link)."""
    import h5py

    try:
        obj = f[path]
    except KeyError as exc:
        link = None
        try:
            link = f.get(path, getlink=True)
        except Exception:
            link = None
        if isinstance(link, h5py.ExternalLink):
            raise DataError(
                f"{source}: dataset {path} is an external link to {link.filename}:{link.path}, "
                f"which cannot be opened (file missing?)"
            ) from exc
        raise DataError(f"{source}: dataset {path} not found") from exc
    except OSError as exc:
        raise DataError(f"{source}: dataset {path} cannot be opened (corrupt file?): {exc}") from exc
    if not isinstance(obj, h5py.Dataset):
        raise DataError(f"{source}: {path} is a group, expected a dataset")
    return obj


def read_str(f: Any, path: str) -> str | None:
    """A scalar string dataset as ``str`` or ``None`` if absent."""
    try:
        value = f[path][()]
    except (KeyError, OSError):
        return None
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else None
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return None if value is None else str(value)


_UNIT_ALIASES = {
    "degrees": "deg", "degree": "deg", "radians": "rad", "radian": "rad",
    "micron": "um", "microns": "um", "µm": "um", "μm": "um", "kev": "keV", "ev": "eV",
    "millimeter": "mm", "millimetre": "mm", "meter": "m", "metre": "m",
}  # fmt: skip


def read_quantity(
    f: Any, paths: tuple[str, ...], *, name: str, default_unit: str, source: str
) -> float | None:
    """The first existing scalar dataset among ``paths``, converted to the canonical unit of ``name``.

    The dataset's ``units`` attribute is honoured (``"mm"``, ``"um"``, ``"degrees"``, ``"keV"`` ...); without it,
    ``default_unit`` is assumed. Non-finite or non-scalar values count as absent.
    """
    from xrai.units import to_canonical

    for path in paths:
        try:
            obj = f[path]
            raw = np.asarray(obj[()])
        except (KeyError, OSError, TypeError):
            continue
        if raw.dtype.kind not in "iuf" or raw.size == 0:
            continue
        value = float(raw.ravel()[0]) if raw.size == 1 else float(np.mean(raw))
        if not np.isfinite(value):
            continue
        unit = attr_str(obj, "units") or attr_str(obj, "unit") or default_unit
        unit = _UNIT_ALIASES.get(unit.strip(), _UNIT_ALIASES.get(unit.strip().lower(), unit.strip()))
        try:
            return float(to_canonical(f"{value!r} {unit}", name=name))
        except UnitError as exc:
            raise DataError(
                f"{source}: {path} has units {unit!r}, not convertible for {name}: {exc}"
            ) from exc
    return None


def angles_to_rad(values: Any, unit: str | None, *, source: str, path: str) -> np.ndarray:
    """Angles in ``unit`` (``None`` = degrees, the NeXus/DXchange convention) as radians (float64)."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    u = (unit or "deg").strip().lower()
    if u in ("deg", "degree", "degrees", "°"):
        return np.deg2rad(arr)
    if u in ("rad", "radian", "radians"):
        return arr
    if u in ("mrad", "milliradian"):
        return arr * 1e-3
    raise DataError(f"{source}: {path} has angle units {unit!r}; expected degrees or radians")
