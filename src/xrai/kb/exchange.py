"""Import files into the knowledge base and export items to files (NXtomo, TIFF, NumPy, Zarr).

Import (:meth:`KnowledgeBase.import_file`):

- a scan (NeXus NXtomo or DXchange HDF5, a TIFF or EDF folder, a multi-page TIFF) through
  :func:`xrai.io.read_scan` -> kind ``dataset.raw_scan`` with arrays ``projections``, ``flats``, ``darks``,
  ``angles_rad`` (and ``flat_positions``) and metadata ``energy_kev``, ``pixel_size_m``, ``distance_m`` carried
  explicitly, plus the file's configuration under ``configuration``;
- a ``.npy`` file or a Zarr array -> one array ``data``; a Zarr group -> one array per member;
- a TIFF with an explicit volume-like kind (``dataset.volume``, ``dataset.segmentation``, ``dataset.labels``)
  -> one array ``volume``.

Arrays are read in slabs (the whole file is never loaded at once).

Export (:meth:`KnowledgeBase.export`): ``nxtomo`` (needs ``projections`` and ``angles_rad``; energy, distance
and pixel size from the metadata), ``tiff`` (one multi-page file for ``.tif``, else one file per frame in a
folder), ``npy`` (one array) or ``zarr`` (all arrays plus the item as attributes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xrai.errors import ConfigError, DataError
from xrai.kb._model import Item, Run

if TYPE_CHECKING:
    from xrai.kb.base import KnowledgeBase

__all__ = ["EXPORT_FORMATS", "export_item", "import_path"]

EXPORT_FORMATS = ("nxtomo", "tiff", "npy", "zarr")
_SUFFIX_FORMAT = {".nxs": "nxtomo", ".nx": "nxtomo", ".h5": "nxtomo", ".hdf5": "nxtomo", ".hdf": "nxtomo",
                  ".tif": "tiff", ".tiff": "tiff", ".npy": "npy", ".zarr": "zarr"}  # fmt: skip
_VOLUME_KINDS = ("dataset.volume", "dataset.segmentation", "dataset.labels", "dataset.annotations")
_FRAMES_PER_BLOCK = 16


def import_path(
    kb: KnowledgeBase,
    path: Path,
    *,
    kind: str | None,
    name: str | None,
    metadata: Mapping[str, Any] | None,
    inputs: Sequence[str | Item],
    run: str | Run | None,
    tags: Sequence[str],
    project: str,
) -> Item:
    """See :meth:`xrai.kb.KnowledgeBase.import_file`."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    extra = dict(metadata or {})
    common: dict[str, Any] = {"inputs": inputs, "run": run, "tags": tags, "project": project}
    label = name or path.name
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = np.load(path, mmap_mode="r", allow_pickle=False)
        return kb.put(kind=kind or "dataset", name=label, metadata={"source_file": path.name, **extra},
                      arrays={"data": data}, **common)  # fmt: skip
    if path.is_dir() and (path / "zarr.json").exists():
        import zarr

        node = zarr.open(path, mode="r")
        if isinstance(node, zarr.Array):
            arrays: dict[str, Any] = {"data": node}
        else:
            arrays = {key: value for key, value in node.arrays()}
        attrs = {k: v for k, v in dict(node.attrs).items() if isinstance(k, str) and k and "." not in k}
        origin = attrs.pop("xrai_item", None)  # written by export: restore kind, name and metadata
        origin = origin if isinstance(origin, dict) else {}
        restored = {
            **_plain(origin.get("metadata") or {}),
            **_plain(attrs),
            "source_file": path.name,
            **extra,
        }
        return kb.put(kind=kind or origin.get("kind") or "dataset", name=name or origin.get("name") or label,
                      metadata=restored, arrays=arrays, **common)  # fmt: skip
    if suffix in (".tif", ".tiff") and kind in _VOLUME_KINDS:
        from xrai.io import read_tiff_stack

        stack = read_tiff_stack(path)
        return kb.put(kind=kind, name=label, metadata={"source_file": path.name, **extra},
                      arrays={"volume": stack}, **common)  # fmt: skip
    from xrai.io import read_scan

    with read_scan(path) as scan:
        meta: dict[str, Any] = {"source_file": path.name, "format": scan.format}
        for key in ("energy_kev", "pixel_size_m", "distance_m"):
            value = getattr(scan, key)
            if value is not None:
                meta[key] = float(value)
        meta["n_angles"], meta["n_rows"], meta["n_cols"] = (int(n) for n in scan.shape)
        if scan.configuration:
            meta["configuration"] = _plain(scan.configuration)
        meta.update(extra)
        scan_arrays: dict[str, Any] = {"projections": scan.projections, "angles_rad": scan.angles_rad}
        if scan.flats is not None:
            scan_arrays["flats"] = scan.flats
        if scan.darks is not None:
            scan_arrays["darks"] = scan.darks
        if scan.flat_positions is not None:
            scan_arrays["flat_positions"] = scan.flat_positions
        return kb.put(
            kind=kind or "dataset.raw_scan", name=label, metadata=meta, arrays=scan_arrays, **common
        )


def _plain(value: Any) -> Any:
    """JSON-round-trip free metadata and drop keys the KB refuses (empty, dotted, over 200 characters)."""
    if isinstance(value, Mapping):
        return {
            k: _plain(v)
            for k, v in value.items()
            if isinstance(k, str) and k.isidentifier() and len(k) <= 100
        }
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return json.loads(json.dumps(value, default=str))


def export_item(
    kb: KnowledgeBase, item_id: str | Item, path: Path, *, format: str | None, array: str | None
) -> Path:
    """See :meth:`xrai.kb.KnowledgeBase.export`."""
    item = kb.get(item_id)
    fmt = format or _SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"cannot tell the export format of {path.name!r} from its suffix {path.suffix!r}: pass format= one "
            f"of {', '.join(EXPORT_FORMATS)} or use a suffix {', '.join(sorted(_SUFFIX_FORMAT))}"
        )
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(
            f"format = {fmt!r} is not allowed: one of {', '.join(EXPORT_FORMATS)} (or a path ending in "
            f"{', '.join(sorted(_SUFFIX_FORMAT))})"
        )
    if path.exists() and not (fmt == "tiff" and path.is_dir() and not any(path.iterdir())):
        raise DataError(f"{path}: already exists; choose another path")
    if fmt == "nxtomo":
        _export_nxtomo(kb, item, path)
    elif fmt == "zarr":
        _export_zarr(kb, item, path)
    else:
        name = _pick_array(item, array)
        if fmt == "npy":
            _export_npy(kb, item, name, path)
        else:
            _export_tiff(kb, item, name, path)
    return path


def _pick_array(item: Item, array: str | None) -> str:
    if array is not None:
        if array not in item.arrays:
            raise ConfigError(f"array = {array!r} is not an array of item {item.id} ({sorted(item.arrays)})")
        return array
    if not item.arrays:
        raise DataError(f"item {item.id} ({item.name}) has no arrays to export")
    for preferred in ("volume", "projections", "data", "labels", "segmentation"):
        if preferred in item.arrays:
            return preferred
    return max(item.arrays, key=lambda k: item.arrays[k].nbytes)


def _blocks(kb: KnowledgeBase, item: Item, name: str) -> Any:
    shape = item.arrays[name].shape
    if not shape:
        yield 0, np.asarray(kb.read_array(item, name))
        return
    for start in range(0, shape[0], _FRAMES_PER_BLOCK):
        yield start, kb.read_array(item, name, region=(slice(start, start + _FRAMES_PER_BLOCK),))


def _export_npy(kb: KnowledgeBase, item: Item, name: str, path: Path) -> None:
    info = item.arrays[name]
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(info.dtype), shape=info.shape)
    for start, block in _blocks(kb, item, name):
        if info.shape:
            out[start : start + block.shape[0]] = block
        else:
            out[()] = block
    out.flush()
    del out


def _export_tiff(kb: KnowledgeBase, item: Item, name: str, path: Path) -> None:
    import tifffile

    info = item.arrays[name]
    if len(info.shape) not in (2, 3):
        raise DataError(
            f"array {name!r} of item {item.id} has shape {info.shape}; TIFF export needs 2-D or 3-D"
        )
    pixel = item.metadata.get("pixel_size_m") or item.metadata.get("voxel_size_m")
    if path.suffix.lower() not in (".tif", ".tiff"):
        from xrai.io import write_tiff_stack

        write_tiff_stack(kb.read_array(item, name) if len(info.shape) == 2 else _LazyFrames(kb, item, name), path,
                         voxel_size_m=pixel if isinstance(pixel, float) else None)  # fmt: skip
        return
    description = json.dumps({"xrai_item": item.id, "name": item.name, "array": name})
    big = info.nbytes > 2**32 - 2**25
    with tifffile.TiffWriter(path, bigtiff=big) as writer:
        for _, block in _blocks(kb, item, name):
            for frame in block if len(info.shape) == 3 else [block]:
                writer.write(frame, photometric="minisblack", contiguous=True, description=description)
                description = None  # type: ignore[assignment]


class _LazyFrames:
    """Frames of a stored 3-D array, read one at a time (for :func:`xrai.io.write_tiff_stack`)."""

    def __init__(self, kb: KnowledgeBase, item: Item, name: str) -> None:
        self.kb, self.item, self.name = kb, item, name
        info = item.arrays[name]
        self.shape, self.dtype = info.shape, np.dtype(info.dtype)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.kb.read_array(self.item, self.name, region=(int(index),))


def _export_zarr(kb: KnowledgeBase, item: Item, path: Path) -> None:
    import zarr

    group = zarr.open_group(path, mode="w-", zarr_format=3, attributes={"xrai_item": item.to_dict()})
    for name, info in item.arrays.items():
        target = group.create_array(name, shape=info.shape, dtype=np.dtype(info.dtype),
                                    chunks=info.chunks if info.shape else ())  # fmt: skip
        for start, block in _blocks(kb, item, name):
            if info.shape:
                target[start : start + block.shape[0]] = block
            else:
                target[()] = block


def _export_nxtomo(kb: KnowledgeBase, item: Item, path: Path) -> None:
    from xrai.io import NXtomoWriter

    for needed in ("projections", "angles_rad"):
        if needed not in item.arrays:
            raise DataError(
                f"item {item.id} ({item.kind}) has no {needed!r} array; NXtomo export needs projections "
                f"[angle, row, col] and angles_rad (arrays: {sorted(item.arrays)})"
            )
    proj = item.arrays["projections"]
    if len(proj.shape) != 3:
        raise DataError(f"projections of item {item.id} have shape {proj.shape}; expected [angle, row, col]")
    meta = item.metadata

    def number(key: str) -> float | None:
        value = meta.get(key)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    angles = kb.read_array(item, "angles_rad").astype(np.float64).reshape(-1)
    configuration = {"xrai_item": item.id, "name": item.name, "metadata": dict(meta)}
    with NXtomoWriter(
        path, frame_shape=(proj.shape[1], proj.shape[2]), dtype=np.dtype(proj.dtype).newbyteorder("="),
        pixel_size_m=number("pixel_size_m"), energy_kev=number("energy_kev"), distance_m=number("distance_m"),
        configuration=configuration, title=item.name,
    ) as writer:  # fmt: skip
        if "darks" in item.arrays:
            writer.write_darks(kb.read_array(item, "darks"))
        if "flats" in item.arrays:
            writer.write_flats(kb.read_array(item, "flats"))
        for start, block in _blocks(kb, item, "projections"):
            writer.write_projections(block, angles_rad=angles[start : start + block.shape[0]])
