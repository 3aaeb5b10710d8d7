"""Lazy public namespaces: a subpackage exports names without importing their modules until first use.

Every xrai subpackage ``__init__`` is three lines plus a table::

    _LAZY = {"reconstruct_fbp": "fbp", ...}          # public name -> submodule
    __getattr__, __dir__, __all__ = attach(__name__, _LAZY)

so ``import xrai.tomo`` stays cheap and ``xrai.tomo.reconstruct_fbp`` imports ``xrai.tomo.fbp`` on first access
(the approach of scikit-image's ``lazy_loader``; SPEC 1). Submodules are reachable as attributes too.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Module ``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Parameters
    ----------
    package
        The package's ``__name__``.
    exports
        Public name -> the submodule defining it (relative to ``package``, or an absolute ``xrai.`` path).
    """

    def module_of(name: str) -> str:
        return name if name.startswith("xrai.") else f"{package}.{name}"

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module_of(module)), name)
            setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
            return value
        if name.isidentifier() and not name.startswith("__"):  # a submodule, e.g. xrai.physics.materials
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":
                    raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        path = getattr(sys.modules[package], "__path__", [])
        submodules = {m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_")}
        return sorted({*exports, *submodules})

    return __getattr__, __dir__, sorted(exports)
