"""Volumes as chunked Zarr v3 arrays, written slab by slab, with the voxel size in the attributes.

A volume is ``[z, y, x]`` (``z`` = rotation axis = detector rows). The array's attributes hold::

    {"voxel_size_m": [vz, vy, vx], "axes": ["z", "y", "x"], "unit": "m", ...user attributes}

and its ``dimension_names`` are ``("z", "y", "x")``. A reconstruction streams into the array created by
:func:`create_volume_zarr` (``arr[z0:z1] = slab``); chunks default to whole ``y``-``x`` planes a few slices
thick, so each slab write touches only its own chunks.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from xrai.io import read_volume_zarr, write_volume_zarr
>>> path = os.path.join(tempfile.mkdtemp(), "vol.zarr")
>>> write_volume_zarr(path, np.zeros((4, 8, 8), np.float32), voxel_size_m=1e-6)
>>> vol = read_volume_zarr(path)
>>> vol.shape, vol.voxel_size_m
((4, 8, 8), (1e-06, 1e-06, 1e-06))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai.errors import ConfigError, DataError, check_range
from xrai.io._lazy import check_numeric_dtype

__all__ = ["ZarrVolume", "create_volume_zarr", "read_volume_zarr", "write_volume_zarr"]


def _voxel_triple(voxel_size_m: float | tuple[float, float, float]) -> tuple[float, float, float]:
    v = np.broadcast_to(np.asarray(voxel_size_m, dtype=np.float64), (3,))
    for name, x in zip(("voxel_size_m[z]", "voxel_size_m[y]", "voxel_size_m[x]"), v, strict=True):
        check_range(name, float(x), low=0, low_inclusive=False, unit="m")
    return (float(v[0]), float(v[1]), float(v[2]))


def default_chunks(
    shape: tuple[int, int, int], itemsize: int, target_bytes: int = 8 << 20
) -> tuple[int, int, int]:
    """Chunks of whole ``y``-``x`` planes, about ``target_bytes`` each (at least one slice)."""
    plane = max(1, shape[1] * shape[2] * itemsize)
    return (int(max(1, min(shape[0], target_bytes // plane))), shape[1], shape[2])


def create_volume_zarr(
    path: str | os.PathLike[str],
    *,
    shape: tuple[int, int, int],
    voxel_size_m: float | tuple[float, float, float],
    dtype: Any = "float32",
    chunks: tuple[int, int, int] | None = None,
    attrs: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Any:
    """Create an empty Zarr v3 volume to be filled slab by slab; returns the writable ``zarr.Array``.

    Parameters
    ----------
    path
        A local folder (``.zarr``) or an fsspec URL (``s3://...``).
    shape
        ``(n_z, n_y, n_x)``.
    voxel_size_m
        One size for cubic voxels or ``(vz, vy, vx)`` (m).
    dtype
        Stored dtype (integer or real float).
    chunks
        Chunk shape; default whole planes, about 8 MiB per chunk.
    attrs
        Extra JSON-serialisable attributes (e.g. the reconstruction parameters).
    overwrite
        Replace an existing array (otherwise a :class:`DataError`).
    """
    import zarr

    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ConfigError(f"shape = {tuple(shape)!r} is not allowed: must be three positive sizes (z, y, x)")
    shp = (int(shape[0]), int(shape[1]), int(shape[2]))
    dt = check_numeric_dtype(dtype, source=os.fspath(path))
    ch = default_chunks(shp, dt.itemsize) if chunks is None else tuple(int(c) for c in chunks)
    if len(ch) != 3 or any(c < 1 for c in ch):
        raise ConfigError(f"chunks = {chunks!r} is not allowed: must be three positive sizes")
    all_attrs: dict[str, Any] = dict(attrs or {})
    all_attrs.update(
        {"voxel_size_m": list(_voxel_triple(voxel_size_m)), "axes": ["z", "y", "x"], "unit": "m"}
    )
    store = os.fspath(path)
    if not overwrite and "://" not in store and Path(store).exists():
        raise DataError(f"{store}: exists; pass overwrite=True to replace it")
    try:
        return zarr.create_array(
            store=store, shape=shp, chunks=ch, dtype=dt, zarr_format=3, attributes=all_attrs,
            dimension_names=("z", "y", "x"), overwrite=overwrite, fill_value=0,
        )  # fmt: skip
    except TypeError as exc:
        raise ConfigError(f"attrs are not JSON-serialisable: {exc}") from exc


def write_volume_zarr(
    path: str | os.PathLike[str],
    volume: npt.ArrayLike,
    *,
    voxel_size_m: float | tuple[float, float, float],
    chunks: tuple[int, int, int] | None = None,
    attrs: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> None:
    """Write a whole ``[z, y, x]`` volume (numpy array, or anything sliceable such as a lazy stack) to Zarr v3."""
    shape = tuple(int(s) for s in (volume.shape if hasattr(volume, "shape") else np.shape(volume)))
    if len(shape) != 3:
        raise ConfigError(f"volume must be [z, y, x], got shape {shape}")
    dtype = volume.dtype if hasattr(volume, "dtype") else np.asarray(volume).dtype
    arr = create_volume_zarr(
        path,
        shape=shape,
        voxel_size_m=voxel_size_m,
        dtype=dtype,
        chunks=chunks,
        attrs=attrs,
        overwrite=overwrite,
    )
    step = arr.chunks[0]
    for z0 in range(0, shape[0], step):
        arr[z0 : z0 + step] = np.asarray(volume[z0 : z0 + step])  # type: ignore[index]


@dataclass(frozen=True, slots=True, kw_only=True)
class ZarrVolume:
    """A lazily read volume: ``data`` is the ``zarr.Array`` (index it to read), plus its voxel size and attrs."""

    data: Any = field(repr=False)
    voxel_size_m: tuple[float, float, float]
    attrs: dict[str, Any] = field(default_factory=dict, repr=False)
    source: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.data.shape[0]), int(self.data.shape[1]), int(self.data.shape[2]))

    @property
    def dtype(self) -> np.dtype[Any]:
        dt: np.dtype[Any] = np.dtype(self.data.dtype)
        return dt

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return np.asarray(self.data[key])
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{self.source}: cannot read volume chunks (corrupt store?): {exc}") from exc

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self[...]
        return out if dtype is None else out.astype(dtype, copy=False)


def read_volume_zarr(path: str | os.PathLike[str]) -> ZarrVolume:
    """Open a Zarr volume (v3, or v2 written by another tool) read-only.

    Raises
    ------
    DataError
        Missing or unreadable store, not 3-D, a non-numeric dtype, or a malformed ``voxel_size_m`` attribute.
        A volume without ``voxel_size_m`` gets ``(1.0, 1.0, 1.0)`` with ``attrs["voxel_size_known"] = False``.
    """
    import zarr

    store = os.fspath(path)
    if "://" not in store and not Path(store).exists():
        raise DataError(f"{store}: no such Zarr store")
    try:
        arr = zarr.open_array(store, mode="r")
    except Exception as exc:
        raise DataError(f"{store}: cannot open as a Zarr array (corrupt or not an array?): {exc}") from exc
    if arr.ndim != 3:
        raise DataError(f"{store}: array has shape {arr.shape}; expected a volume [z, y, x]")
    check_numeric_dtype(arr.dtype, source=store)
    attrs = dict(arr.attrs)
    raw = attrs.get("voxel_size_m")
    if raw is None:
        voxel = (1.0, 1.0, 1.0)
        attrs["voxel_size_known"] = False
    else:
        try:
            voxel = _voxel_triple(raw)  # type: ignore[arg-type]
        except (ConfigError, ValueError) as exc:
            raise DataError(f"{store}: attribute voxel_size_m = {raw!r} is malformed: {exc}") from exc
    return ZarrVolume(data=arr, voxel_size_m=voxel, attrs=attrs, source=store)
