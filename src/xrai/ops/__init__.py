"""xrai.ops: numeric kernels shared by :mod:`xrai.physics` and :mod:`xrai.tomo` (projectors, interpolation, FFT).

Public names load lazily on first attribute access, so ``import xrai.ops`` imports neither numba nor torch.
To export a new public name, add one line to :data:`_LAZY` (``"Name": "submodule"``).

Examples
--------
>>> import numpy as np
>>> from xrai.ops import ParallelProjector
>>> op = ParallelProjector((16, 16), np.linspace(0.0, np.pi, 4, endpoint=False))
>>> op.forward(np.ones((16, 16), dtype=np.float32)).shape
(4, 16)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xrai._lazy import attach

#: Public name -> submodule of xrai.ops that defines it. Extend here (one line per name).
_LAZY: dict[str, str] = {
    # projector
    "ParallelProjector": "projector",
    # back-projection (FBP, FDK)
    "backproject": "backproject",
    "backproject_cone": "backproject",
    "backproject_gridding": "backproject",
    # FFT helpers (scipy.fft for numpy, torch.fft for tensors)
    "fft2": "fft",
    "ifft2": "fft",
    "fftfreq": "fft",
    "next_fast_len": "fft",
}


if TYPE_CHECKING:  # for type checkers and IDEs; never executed
    from xrai.ops.backproject import backproject as backproject
    from xrai.ops.backproject import backproject_cone as backproject_cone
    from xrai.ops.fft import fft2 as fft2
    from xrai.ops.fft import fftfreq as fftfreq
    from xrai.ops.fft import ifft2 as ifft2
    from xrai.ops.fft import next_fast_len as next_fast_len
    from xrai.ops.projector import ParallelProjector as ParallelProjector


__getattr__, __dir__, __all__ = attach(__name__, _LAZY)
