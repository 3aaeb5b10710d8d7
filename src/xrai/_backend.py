"""Array-backend helpers: one code path for numpy arrays and torch tensors (CPU or CUDA).

Kernels call :func:`array_namespace` on their inputs and use the returned namespace (``xp``) for every array
operation, passing ``dtype=`` and ``device=`` to array-creating calls. torch is never imported here: a tensor
brings its own namespace through ``array_api_compat``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from xrai._typing import Array, RngLike
from xrai.errors import ConfigError

__all__ = [
    "array_namespace",
    "as_rng",
    "complex_dtype_for",
    "device_of",
    "is_torch",
    "real_dtype",
    "to_numpy",
]


def array_namespace(*arrays: Any) -> Any:
    """The array-API namespace of ``arrays`` (numpy's compat namespace for numpy arrays and Python scalars)."""
    import array_api_compat

    candidates = [a for a in arrays if a is not None and not isinstance(a, int | float | complex)]
    if not candidates:
        return array_api_compat.array_namespace(np.empty(0))
    return array_api_compat.array_namespace(*candidates)


def is_torch(x: Any) -> bool:
    """True if ``x`` is a torch tensor (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def device_of(x: Any) -> Any:
    """The device of ``x`` (``"cpu"`` for numpy arrays)."""
    import array_api_compat

    return array_api_compat.device(x)


def to_numpy(x: Array) -> np.ndarray:
    """A numpy array with the values of ``x`` (copied from the GPU and detached when ``x`` is a tensor)."""
    if is_torch(x):
        return np.asarray(x.detach().cpu().numpy())
    return np.asarray(x)


def real_dtype(xp: Any, dtype: Any = None) -> Any:
    """The real floating dtype of namespace ``xp`` for ``dtype`` (a name, a dtype, or ``None`` = options)."""
    if dtype is None:
        from xrai.options import get_options

        dtype = get_options().dtype
    if not isinstance(dtype, str):
        return dtype
    if dtype not in ("float32", "float64"):
        raise ConfigError(f"dtype = {dtype!r} is not allowed: must be 'float32' or 'float64'")
    return getattr(xp, dtype)


def complex_dtype_for(xp: Any, dtype: Any) -> Any:
    """The complex dtype matching the real (or complex) ``dtype`` in namespace ``xp``."""
    if dtype in (xp.float64, xp.complex128):
        return xp.complex128
    return xp.complex64


def as_rng(rng: RngLike) -> np.random.Generator:
    """A numpy Generator from a seed, a Generator (returned as is) or ``None`` (fresh OS entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, int | np.integer):
        return np.random.default_rng(rng)
    raise ConfigError(f"rng = {rng!r} is not allowed: must be an int seed, a numpy Generator or None")
