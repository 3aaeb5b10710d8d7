"""Lazy frame stacks: ``[frame, row, col]`` arrays read from a file only when indexed.

A :class:`FrameStack` behaves like a read-only 3-D array: it has ``shape``, ``dtype`` and ``ndim``, it can be
indexed with integers, slices and (on the frame axis) integer arrays, and ``numpy.asarray(stack)`` reads it all.
Its :meth:`FrameStack.rows` reads a slab of detector rows without loading whole frames where the format allows
it (HDF5 hyperslabs, uncompressed TIFF memory maps). Every read error becomes a :class:`~xrai.errors.DataError`
naming the file and the dataset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from xrai.errors import DataError

__all__ = ["ArrayStack", "FileListStack", "FrameStack", "HDF5Stack", "check_numeric_dtype"]

Index = int | slice | npt.NDArray[np.integer[Any]] | Sequence[int]


def check_numeric_dtype(dtype: Any, *, source: str) -> np.dtype[Any]:
    """Return ``dtype`` if it is an integer or real floating type, else raise a :class:`DataError`."""
    dt: np.dtype[Any] = np.dtype(dtype)
    if dt.kind not in "uif":
        raise DataError(
            f"{source}: dtype {dt} is not allowed for image data: must be an integer or real float type"
        )
    return dt


def _normalise_key(key: Any, shape: tuple[int, int, int]) -> tuple[Any, slice | int, slice | int]:
    """Split a NumPy-style key into (frames, rows, cols) with at most basic indexing on rows and cols."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = next(j for j, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (3 - len(key) + 1) + key[i + 1 :]
    if len(key) > 3:
        raise IndexError(f"too many indices for a 3-D frame stack: {len(key)}")
    key = key + (slice(None),) * (3 - len(key))
    frames, rows, cols = key
    for name, k, n in (("row", rows, shape[1]), ("col", cols, shape[2])):
        if not isinstance(k, int | np.integer | slice):
            raise IndexError(
                f"only integers and slices may index the {name} axis of a frame stack, got {k!r}"
            )
        if isinstance(k, int | np.integer) and not -n <= int(k) < n:
            raise IndexError(f"{name} index {int(k)} is out of range for {n} {name}s")
    return frames, rows, cols


def _frame_indices(frames: Any, n: int) -> tuple[npt.NDArray[np.intp], bool]:
    """Frame selection as an index array, and whether the frame axis is dropped (integer key)."""
    if isinstance(frames, slice):
        return np.arange(n)[frames], False
    if isinstance(frames, int | np.integer):
        i = int(frames)
        if not -n <= i < n:
            raise IndexError(f"frame index {i} is out of range for {n} frames")
        return np.array([i % n]), True
    idx = np.asarray(frames)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise IndexError(f"boolean frame mask must have shape ({n},), got {idx.shape}")
        return np.flatnonzero(idx), False
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise IndexError(f"frame index must be an int, a slice or a 1-D integer array, got {frames!r}")
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"frame indices out of range for {n} frames")
    return idx % n if idx.size else idx.astype(np.intp), False


class FrameStack:
    """A read-only, lazily read stack of 2-D frames ``[frame, row, col]``.

    Subclasses implement :meth:`_read`, which receives sorted-or-not frame indices and row/col slices.

    Attributes
    ----------
    shape
        ``(n_frames, n_rows, n_cols)``.
    dtype
        The stored dtype (integer or real float).
    source
        A human-readable location used in error messages, e.g. ``"scan.nxs:/entry/instrument/detector/data"``.
    """

    shape: tuple[int, int, int]
    dtype: np.dtype[Any]
    source: str

    def __init__(self, shape: tuple[int, int, int], dtype: Any, source: str) -> None:
        if len(shape) != 3:
            raise DataError(f"{source}: expected a 3-D stack [frame, row, col], got shape {tuple(shape)}")
        self.shape = (int(shape[0]), int(shape[1]), int(shape[2]))
        self.dtype = check_numeric_dtype(dtype, source=source)
        self.source = source

    # -- array-like protocol -------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return 3

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1] * self.shape[2]

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, source={self.source!r})"

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        frames, rows, cols = _normalise_key(key, self.shape)
        idx, drop_frame = _frame_indices(frames, self.shape[0])
        row_slice = (
            slice(int(rows), int(rows) + 1 if int(rows) != -1 else None)
            if not isinstance(rows, slice)
            else rows
        )
        col_slice = (
            slice(int(cols), int(cols) + 1 if int(cols) != -1 else None)
            if not isinstance(cols, slice)
            else cols
        )
        out = self._read_checked(idx, row_slice, col_slice)
        squeeze = tuple(ax for ax, drop in ((0, drop_frame), (1, not isinstance(rows, slice)),
                                             (2, not isinstance(cols, slice))) if drop)  # fmt: skip
        return out.squeeze(axis=squeeze) if squeeze else out

    def rows(self, r0: int, r1: int) -> np.ndarray:
        """All frames, detector rows ``r0 <= row < r1``: an array ``[frame, r1 - r0, col]``."""
        if not 0 <= r0 < r1 <= self.shape[1]:
            raise IndexError(f"row range [{r0}, {r1}) is not inside [0, {self.shape[1]}) of {self.source}")
        return self[:, r0:r1, :]

    def _read_checked(self, frames: npt.NDArray[np.intp], rows: slice, cols: slice) -> np.ndarray:
        n_rows = len(range(*rows.indices(self.shape[1])))
        n_cols = len(range(*cols.indices(self.shape[2])))
        if frames.size == 0 or n_rows == 0 or n_cols == 0:
            return np.empty((frames.size, n_rows, n_cols), dtype=self.dtype)
        out = self._read(frames, rows, cols)
        expected = (frames.size, n_rows, n_cols)
        if out.shape != expected:
            raise DataError(
                f"{self.source}: read {out.shape} where {expected} was expected (truncated data?)"
            )
        return out

    def _read(self, frames: npt.NDArray[np.intp], rows: slice, cols: slice) -> np.ndarray:
        raise NotImplementedError


class ArrayStack(FrameStack):
    """A :class:`FrameStack` over an in-memory array (or anything numpy can view, e.g. a memory map)."""

    def __init__(self, data: Any, source: str = "<array>") -> None:
        arr = np.asarray(data)
        if arr.ndim == 2:
            arr = arr[None]
        super().__init__((arr.shape[0], arr.shape[1], arr.shape[2]), arr.dtype, source)
        self.data = arr

    def _read(self, frames: npt.NDArray[np.intp], rows: slice, cols: slice) -> np.ndarray:
        return np.asarray(self.data[frames][:, rows, cols])


def _runs(indices: npt.NDArray[np.intp]) -> list[tuple[int, int, int]]:
    """Split indices into runs of consecutive increasing values: (position in indices, start, stop)."""
    runs: list[tuple[int, int, int]] = []
    if indices.size == 0:
        return runs
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [indices.size]])
    for a, b in zip(starts, stops, strict=True):
        runs.append((int(a), int(indices[a]), int(indices[b - 1]) + 1))
    return runs


class HDF5Stack(FrameStack):
    """Frames of a 3-D HDF5 dataset, optionally a subset selected by ``frame_indices`` (e.g. by ``image_key``).

    Reads are done by runs of consecutive frames (one hyperslab per run), so a row slab of a scan with
    interleaved flats costs a handful of HDF5 reads.
    """

    def __init__(self, dataset: Any, frame_indices: npt.ArrayLike | None = None, *, source: str) -> None:
        if dataset.ndim != 3:
            raise DataError(f"{source}: expected a 3-D dataset [frame, row, col], got shape {dataset.shape}")
        n = dataset.shape[0]
        idx = np.arange(n) if frame_indices is None else np.asarray(frame_indices, dtype=np.intp)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise DataError(
                f"{source}: frame index {int(idx.max())} is beyond the {n} frames stored (truncated?)"
            )
        super().__init__((idx.size, dataset.shape[1], dataset.shape[2]), dataset.dtype, source)
        self.dataset = dataset
        self.frame_indices = idx

    def _read(self, frames: npt.NDArray[np.intp], rows: slice, cols: slice) -> np.ndarray:
        stored = self.frame_indices[frames]
        order = np.argsort(stored, kind="stable")
        sorted_idx = stored[order]
        pieces = []
        try:
            for _, a, b in _runs(sorted_idx):
                pieces.append(np.asarray(self.dataset[a:b, rows, cols]))
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise DataError(f"{self.source}: cannot read frames (corrupt or truncated file?): {exc}") from exc
        # repeated indices break runs (diff 0), so the blocks always hold one frame per requested index
        block = np.concatenate(pieces, axis=0) if len(pieces) > 1 else pieces[0]
        out = np.empty_like(block)
        out[order] = block
        return out


Reader = Callable[[str], np.ndarray]


class FileListStack(FrameStack):
    """One 2-D image per file (a TIFF or EDF folder), read file by file on demand.

    Parameters
    ----------
    paths
        The image files, in frame order.
    read
        ``read(path) -> 2-D array``; a reader may return a memory map so that a row slab reads only those rows.
    shape_of
        ``shape_of(path) -> ((rows, cols), dtype)`` from the header alone; every file is checked at construction,
        so a stack with one odd file fails early with that file named.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        read: Reader,
        shape_of: Callable[[str], tuple[tuple[int, ...], np.dtype[Any]]],
        source: str,
    ) -> None:
        self.paths = [os.fspath(p) for p in paths]
        if not self.paths:
            raise DataError(f"{source}: no image files found")
        shape0, dtype0 = shape_of(self.paths[0])
        for p in self.paths[1:]:
            shp, dt = shape_of(p)
            if shp != shape0:
                raise DataError(f"{p}: image shape {shp} differs from {shape0} of {self.paths[0]}")
            if dt != dtype0:
                raise DataError(f"{p}: dtype {dt} differs from {dtype0} of {self.paths[0]}")
        if len(shape0) != 2:
            raise DataError(f"{self.paths[0]}: expected a 2-D image, got shape {shape0}")
        super().__init__((len(self.paths), shape0[0], shape0[1]), dtype0, source)
        self._read_file = read

    def _read(self, frames: npt.NDArray[np.intp], rows: slice, cols: slice) -> np.ndarray:
        n_rows = len(range(*rows.indices(self.shape[1])))
        n_cols = len(range(*cols.indices(self.shape[2])))
        out = np.empty((frames.size, n_rows, n_cols), dtype=self.dtype)
        for k, i in enumerate(frames):
            path = self.paths[int(i)]
            try:
                img = self._read_file(path)
                out[k] = img[rows, cols]
            except DataError:
                raise
            except Exception as exc:
                raise DataError(f"{path}: cannot read image (corrupt or truncated file?): {exc}") from exc
        return out
