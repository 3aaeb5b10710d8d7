"""xrai: AI-based high-throughput synchrotron X-ray imaging.

Subpackages load on first use, so ``import xrai`` is cheap:

- :mod:`xrai.physics`: the virtual imaging experiment (materials, sources, samples, propagation, detector).
- :mod:`xrai.tomo`: tomographic processing of real or simulated scans.
- :mod:`xrai.io`: scan and volume formats (NXtomo, DXchange, TIFF, Zarr).
- :mod:`xrai.analysis`: morphometrics, statistics, optical flow.
- :mod:`xrai.ml`: deep learning (torch, MONAI).
- :mod:`xrai.kb`: the knowledge base.
- :mod:`xrai.pipeline`: the high-throughput pipeline behind ``xrai screen``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = frozenset(
    {
        "analysis", "api", "errors", "geometry", "io", "kb", "ml", "ops", "options",
        "physics", "pipeline", "testing", "tomo", "units",
    }
)  # fmt: skip

__all__ = ["__version__", *sorted(_SUBPACKAGES)]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"xrai.{name}")
    raise AttributeError(f"module 'xrai' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
