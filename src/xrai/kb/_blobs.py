"""Content-addressed array store: one chunked Zarr v3 array per distinct content, local or on an object store.

A blob is written to ``<root>/<h[:2]>/<h>.<t>.<r>`` where ``h`` is its BLAKE3 content hash, ``t`` the write time
(hex seconds) and ``r`` a random tag. The catalogue's ``blobs`` table says which copy is *the* blob of a hash;
every write goes to a fresh path, so a writer never touches files a concurrent deleter may be removing, and a
crash mid-write leaves only an unreferenced copy that :meth:`BlobStore.paths` lists for garbage collection.

Every chunk is written, even one equal to the fill value: Zarr would otherwise skip a chunk of ``-0.0`` (equal to
the fill value ``0.0``) and read it back as ``+0.0``, changing the bits and the content hash.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from xrai.errors import ConfigError, DataError
from xrai.kb.hashing import SLAB_BYTES, canonical_dtype, iter_slabs, new_hasher

__all__ = ["DEFAULT_CHUNK_BYTES", "BlobStore", "default_chunks", "parse_region"]

_OPEN_CACHE = 256  # opened arrays kept (their metadata only)

#: Target uncompressed size of one Zarr chunk.
DEFAULT_CHUNK_BYTES = 2**20


def default_chunks(
    shape: tuple[int, ...], itemsize: int, *, target_bytes: int = DEFAULT_CHUNK_BYTES
) -> tuple[int, ...]:
    """Chunk shape of at most about ``target_bytes``: halve the longest chunk axis until it fits.

    Cubic-ish chunks make every region shape (a slice, a sinogram, a sub-volume) read a similar number of
    chunks.
    """
    chunks = [max(1, n) for n in shape]
    while math.prod(chunks) * itemsize > target_bytes and max(chunks) > 1:
        axis = int(np.argmax(chunks))
        chunks[axis] = (chunks[axis] + 1) // 2
    return tuple(chunks)


def parse_region(region: Any, shape: tuple[int, ...]) -> tuple[slice | int, ...]:
    """Validate a region (tuple of slices/ints, or text ``"0:10,:,5"``) against ``shape``.

    Steps other than 1 are refused; integers may be negative (from the end); slices are clipped like numpy's.
    Raises :class:`ConfigError` naming the bad axis.
    """
    if region is None:
        return tuple(slice(None) for _ in shape)
    if isinstance(region, str):
        parts = [p.strip() for p in region.split(",")] if region.strip() else []
        region = tuple(_parse_part(p, axis) for axis, p in enumerate(parts))
    if not isinstance(region, tuple):
        region = (region,)
    if len(region) > len(shape):
        raise ConfigError(
            f"region {region!r} has {len(region)} axes but the array has {len(shape)} (shape {shape})"
        )
    out: list[slice | int] = []
    for axis, (part, n) in enumerate(zip(region, shape, strict=False)):
        if isinstance(part, slice):
            if part.step not in (None, 1):
                raise ConfigError(f"region axis {axis}: step {part.step} is not supported (only step 1)")
            start, stop, _ = part.indices(n)
            out.append(slice(start, max(start, stop)))
        elif isinstance(part, int | np.integer) and not isinstance(part, bool):
            index = int(part)
            if not -n <= index < n:
                raise ConfigError(f"region axis {axis}: index {index} is out of range for length {n}")
            out.append(index % n)
        else:
            raise ConfigError(f"region axis {axis}: {part!r} is not a slice or an integer")
    out.extend(slice(0, n) for n in shape[len(out) :])
    return tuple(out)


def _parse_part(text: str, axis: int) -> slice | int:
    try:
        if ":" in text:
            pieces = [p.strip() for p in text.split(":")]
            if len(pieces) > 3:
                raise ValueError
            start = int(pieces[0]) if pieces[0] else None
            stop = int(pieces[1]) if pieces[1] else None
            step = int(pieces[2]) if len(pieces) == 3 and pieces[2] else None
            return slice(start, stop, step)
        return int(text)
    except ValueError:
        raise ConfigError(f"region axis {axis}: {text!r} is not 'start:stop' or an integer") from None


class BlobStore:
    """Zarr v3 arrays under their content hash in a folder or an fsspec URL (``s3://bucket/prefix``)."""

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        import fsspec
        from zarr.storage import FsspecStore, LocalStore

        self.url = url
        self._opened: dict[str, Any] = {}
        options = dict(storage_options or {})
        if "://" not in url or url.startswith("file://"):
            root = Path(url.removeprefix("file://")).resolve()
            root.mkdir(parents=True, exist_ok=True)
            self.zarr_store: Any = LocalStore(root)
            self.fs: Any = fsspec.filesystem("file")
            self.root = str(root)
        else:
            self.zarr_store = FsspecStore.from_url(url, storage_options=options)
            self.fs, self.root = fsspec.core.url_to_fs(url, **options)
            self.root = self.root.rstrip("/")

    # ---------------------------------------------------------------- writing

    @staticmethod
    def new_path(digest: str) -> str:
        return f"{digest[:2]}/{digest}.{int(time.time()):x}.{secrets.token_hex(4)}"

    @staticmethod
    def path_time(path: str) -> float:
        """Write time (Unix seconds) encoded in a blob path, or 0 if the path is not a blob path."""
        parts = path.rsplit("/", 1)[-1].split(".")
        try:
            return float(int(parts[1], 16)) if len(parts) == 3 and len(parts[0]) == 64 else 0.0
        except ValueError:
            return 0.0

    def write(
        self, array: Any, digest: str, *, chunks: tuple[int, ...] | None = None
    ) -> tuple[str, tuple[int, ...]]:
        """Write ``array`` (whose hash is ``digest``) to a fresh path; return ``(path, chunks)``."""
        import zarr

        shape = tuple(int(n) for n in array.shape)
        dtype = canonical_dtype(array.dtype)
        if chunks is None:
            chunks = default_chunks(shape, dtype.itemsize)
        chunks = tuple(int(c) for c in chunks)
        if len(chunks) != len(shape) or any(c < 1 for c in chunks):
            raise ConfigError(f"chunks = {chunks} does not fit an array of shape {shape}")
        path = self.new_path(digest)
        target = zarr.create_array(
            store=self.zarr_store, name=path, shape=shape, dtype=dtype, chunks=chunks if shape else (),
            attributes={"xrai_hash": digest}, config={"write_empty_chunks": True},
        )  # fmt: skip
        if not shape:
            target[()] = np.asarray(array[()], dtype=dtype)
            return path, chunks
        row_bytes = max(1, math.prod(shape[1:]) * dtype.itemsize)
        rows = max(1, SLAB_BYTES // (row_bytes * chunks[0])) * chunks[0]
        for start, slab in iter_slabs(array, rows=rows):
            if slab.shape[0]:
                target[start : start + slab.shape[0]] = slab
        return path, chunks

    # ---------------------------------------------------------------- reading

    def open(self, path: str, *, fresh: bool = False) -> Any:
        """The blob as a read-only Zarr array. Blobs are immutable, so opened arrays are cached (``fresh``
        re-reads the metadata, as :meth:`rehash` does)."""
        import zarr

        cached = None if fresh else self._opened.get(path)
        if cached is not None:
            return cached
        try:
            array = zarr.open_array(self.zarr_store, path=path, mode="r", zarr_format=3)
        except (FileNotFoundError, KeyError) as exc:
            raise DataError(f"blob {path!r} is missing from the store {self.url}: {exc}") from None
        except Exception as exc:  # zarr raises its own not-found errors
            raise DataError(f"blob {path!r} in {self.url} cannot be opened: {exc}") from None
        if len(self._opened) >= _OPEN_CACHE:
            self._opened.pop(next(iter(self._opened)))
        self._opened[path] = array
        return array

    def read(self, path: str, region: Any = None) -> np.ndarray:
        """Read the region of a blob; only the chunks the region touches are fetched."""
        array = self.open(path)
        selection = parse_region(region, tuple(array.shape))
        return np.asarray(array[selection] if selection else array[()])

    def rehash(self, path: str) -> str:
        """Recompute the content hash of a stored blob from its decoded chunks."""
        array = self.open(path, fresh=True)
        hasher = new_hasher(array.dtype, tuple(array.shape))
        if array.ndim == 0:
            hasher.update(
                np.asarray(array[()], dtype=canonical_dtype(array.dtype)).reshape(-1).view(np.uint8)
            )
            return str(hasher.hexdigest())
        row_bytes = max(1, math.prod(array.shape[1:]) * array.dtype.itemsize)
        rows = array.chunks[0] * max(1, SLAB_BYTES // (row_bytes * array.chunks[0]))
        for _, slab in iter_slabs(array, rows=rows):
            hasher.update(slab.reshape(-1).view(np.uint8))
        return str(hasher.hexdigest())

    # ---------------------------------------------------------------- space

    def _full(self, path: str) -> str:
        return f"{self.root}/{path}"

    def size(self, path: str) -> int:
        """Bytes a blob copy occupies in the store (0 if it is gone)."""
        try:
            return int(self.fs.du(self._full(path), total=True))
        except FileNotFoundError:
            return 0

    def remove(self, path: str) -> int:
        """Delete a blob copy; return the bytes freed."""
        freed = self.size(path)
        self._opened.pop(path, None)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._full(path), recursive=True)
        if hasattr(self.fs, "invalidate_cache"):
            self.fs.invalidate_cache()
        return freed

    def paths(self) -> Iterator[str]:
        """Every blob copy in the store (relative paths), referenced or not."""
        if hasattr(self.fs, "invalidate_cache"):
            self.fs.invalidate_cache()
        try:
            prefixes = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return
        for prefix in prefixes:
            name = prefix.rstrip("/").rsplit("/", 1)[-1]
            if len(name) != 2:
                continue
            for entry in self.fs.ls(prefix, detail=False):
                leaf = entry.rstrip("/").rsplit("/", 1)[-1]
                if self.path_time(f"{name}/{leaf}") > 0:
                    yield f"{name}/{leaf}"
