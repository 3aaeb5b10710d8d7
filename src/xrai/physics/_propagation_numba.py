"""numba kernels for the memory-bound passes of the propagation hot loop (compiled once, cached on disk).

Each fuses what numpy does in two to four passes over a complex image into one multi-threaded pass.
"""

from __future__ import annotations

from typing import Any

import numba

__all__ = ["accumulate_intensity", "mul_separable"]


@numba.njit(parallel=True, fastmath=True, cache=True)  # type: ignore[misc]
def mul_separable(spectrum: Any, rows: Any, cols: Any) -> None:  # pragma: no cover - compiled
    """spectrum[i, j] *= rows[i] * cols[j], in place (C-contiguous 2-D)."""
    for i in numba.prange(spectrum.shape[0]):
        r = rows[i]
        for j in range(spectrum.shape[1]):
            spectrum[i, j] *= r * cols[j]


@numba.njit(parallel=True, fastmath=True, cache=True)  # type: ignore[misc]
def accumulate_intensity(total: Any, field: Any, weight: Any) -> None:  # pragma: no cover - compiled
    """total[i, j] += weight * |field[i, j]|², in place (field may be a strided 2-D view)."""
    for i in numba.prange(total.shape[0]):
        for j in range(total.shape[1]):
            v = field[i, j]
            total[i, j] += weight * (v.real * v.real + v.imag * v.imag)
