"""Fast 2-D FFTs for numpy arrays and torch tensors, with one convention.

numpy arrays go through :mod:`scipy.fft` (pocketfft, multi-threaded with ``workers``, in place with
``overwrite_x``); any other array (a torch tensor on CPU or CUDA) goes through its own array-API ``fft``
extension (``torch.fft``), which keeps autograd. The convention is numpy's: the forward transform is
unnormalised, the inverse carries ``1/N``, and frequencies are in the unshifted order of :func:`fftfreq`.

Examples
--------
>>> import numpy as np
>>> from xrai.ops.fft import fft2, ifft2
>>> x = np.arange(16.0).reshape(4, 4).astype(np.complex64)
>>> bool(np.allclose(ifft2(fft2(x)), x))
True
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

from xrai._backend import array_namespace, is_torch
from xrai._typing import Array

__all__ = ["default_workers", "fft2", "fftfreq", "ifft2", "next_fast_len"]


def default_workers() -> int:
    """Number of threads scipy.fft uses: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def fft2(x: Array, *, overwrite_x: bool = False, workers: int | None = None) -> Array:
    """Forward 2-D FFT over the last two axes (unnormalised).

    Parameters
    ----------
    x
        Complex (or real) array, numpy or torch; leading axes are batch axes.
    overwrite_x
        numpy only: allow scipy to reuse the memory of ``x`` (saves an allocation; ``x`` is then garbage).
    workers
        numpy only: threads for scipy.fft (default: all CPUs available to the process).
    """
    if is_torch(x):
        return array_namespace(x).fft.fft2(x)
    import scipy.fft

    return scipy.fft.fft2(x, overwrite_x=overwrite_x, workers=workers or default_workers())


def ifft2(x: Array, *, overwrite_x: bool = False, workers: int | None = None) -> Array:
    """Inverse 2-D FFT over the last two axes (with the ``1/N`` factor), the inverse of :func:`fft2`."""
    if is_torch(x):
        return array_namespace(x).fft.ifft2(x)
    import scipy.fft

    return scipy.fft.ifft2(x, overwrite_x=overwrite_x, workers=workers or default_workers())


def fftfreq(n: int, d: float = 1.0) -> npt.NDArray[np.float64]:
    """Sample frequencies of an ``n``-point FFT with spacing ``d`` (numpy's order: 0, 1, ..., -1) / (n d)."""
    return np.asarray(np.fft.fftfreq(n, d=d), dtype=np.float64)


def next_fast_len(n: int) -> int:
    """The smallest 5-smooth length >= ``n`` (fast for pocketfft, cuFFT and MKL alike).

    Examples
    --------
    >>> next_fast_len(1550)
    1600
    """
    m = max(1, int(n))
    while True:
        k = m
        for prime in (2, 3, 5):
            while k % prime == 0:
                k //= prime
        if k == 1:
            return m
        m += 1
