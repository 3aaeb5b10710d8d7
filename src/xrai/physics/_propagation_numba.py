"""numba kernels for the memory-bound passes of the propagation hot loop (compiled once, cached on disk).

Each fuses what numpy does in two to four passes over a complex image into one vectorised pass. They run on one
thread on purpose: they are memory-bound and take 1–2 ms per 2048² image, while a parallel numba region spins
up threads that fight the FFT's threads (and, on a shared machine, everything else) and was measured up to 10×
slower under load.
"""

from __future__ import annotations

from typing import Any

import numba

__all__ = ["accumulate_intensity", "mul_separable"]


@numba.njit(fastmath=True, cache=True)
def mul_separable(spectrum: Any, rows: Any, cols: Any) -> None:  # pragma: no cover - compiled
    """spectrum[i, j] *= rows[i] * cols[j], in place (C-contiguous 2-D)."""
    for i in range(spectrum.shape[0]):
        r = rows[i]
        for j in range(spectrum.shape[1]):
            spectrum[i, j] *= r * cols[j]


@numba.njit(fastmath=True, cache=True)
def accumulate_intensity(total: Any, field: Any, weight: Any) -> None:  # pragma: no cover - compiled
    """total[i, j] += weight * |field[i, j]|², in place (field may be a strided 2-D view)."""
    for i in range(total.shape[0]):
        for j in range(total.shape[1]):
            v = field[i, j]
            total[i, j] += weight * (v.real * v.real + v.imag * v.imag)
