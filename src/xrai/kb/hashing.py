"""Content hashes of arrays: BLAKE3 over a canonical header and the canonical bytes.

Two arrays get the same hash exactly when they have the same dtype (byte order normalised to little-endian),
the same shape and the same values bit for bit in C order. The array is hashed in slabs along axis 0, so an
h5py dataset, a Zarr array or a memory map larger than memory is hashed without being loaded whole.

Notes
-----
``hash = BLAKE3("xrai-array-v1\\0" || dtype.str || "\\0" || json(shape) || "\\0" || bytes_le_C(array))``.
BLAKE3: J. O'Connor, J.-P. Aumasson, S. Neves, Z. Wilcox-O'Hearn, *BLAKE3: one function, fast everywhere*
(2020), https://github.com/BLAKE3-team/BLAKE3-specs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from xrai.errors import DataError

__all__ = ["array_hash", "canonical_dtype", "iter_slabs", "new_hasher"]

_HEADER = b"xrai-array-v1\0"
#: Target size of one slab read from the source while hashing/writing (bytes).
SLAB_BYTES = 64 * 2**20


def canonical_dtype(dtype: Any) -> np.dtype[Any]:
    """The little-endian form of a supported dtype (bool, integers, floats, complex).

    Raises :class:`DataError` for object, string, structured or datetime dtypes.
    """
    dt = np.dtype(dtype)
    if dt.kind not in "biufc" or dt.fields is not None or dt.subdtype is not None:
        raise DataError(
            f"arrays of dtype {dt} cannot be stored: use bool, integer, float or complex dtypes "
            f"(encode text as uint8 bytes)"
        )
    little: np.dtype[Any] = dt.newbyteorder("<") if dt.itemsize > 1 else dt
    return little


def new_hasher(dtype: np.dtype[Any], shape: tuple[int, ...]) -> Any:
    """A BLAKE3 hasher already fed with the canonical header of an array of ``dtype`` and ``shape``."""
    import blake3

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update(_HEADER + canonical_dtype(dtype).str.encode() + b"\0")
    hasher.update(json.dumps([int(n) for n in shape]).encode() + b"\0")
    return hasher


def iter_slabs(array: Any, *, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, slab)`` with ``slab = array[start:start + rows]`` as canonical C-order numpy arrays.

    ``rows`` defaults to as many leading-axis rows as fit in about 64 MiB. A 0-d array yields once.
    """
    shape = tuple(int(n) for n in array.shape)
    dtype = canonical_dtype(array.dtype)
    if len(shape) == 0:
        yield 0, np.ascontiguousarray(np.asarray(array[()]), dtype=dtype).reshape(())
        return
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)
    step = rows if rows is not None else max(1, SLAB_BYTES // row_bytes)
    for start in range(0, shape[0], step):
        slab = np.asarray(array[start : start + step])
        yield start, np.ascontiguousarray(slab, dtype=dtype)


def array_hash(array: Any) -> str:
    """BLAKE3 content hash (64 hex digits) of an array or array-like (see the module notes).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(6, dtype="<i4").reshape(2, 3)
    >>> array_hash(a) == array_hash(a.astype(">i4"))  # byte order does not matter
    True
    >>> array_hash(a) == array_hash(a.reshape(3, 2))  # shape does
    False
    """
    shape = tuple(int(n) for n in array.shape)
    hasher = new_hasher(array.dtype, shape)
    for _, slab in iter_slabs(array):
        hasher.update(slab.reshape(-1).view(np.uint8))
    return str(hasher.hexdigest())
