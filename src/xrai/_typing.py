"""Type aliases shared across xrai (import-free at run time)."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

#: A numpy array or any array-API array (e.g. a torch tensor on CPU or CUDA).
Array: TypeAlias = Any
FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
#: A seed or a numpy Generator; every stochastic function takes one (no global RNG).
RngLike: TypeAlias = int | np.random.Generator | None

__all__ = ["Array", "FloatArray", "RngLike"]
