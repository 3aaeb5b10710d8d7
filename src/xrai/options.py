"""Scoped defaults (dtype, behaviour on under-sampling, progress bars) without global state.

Arrays carry their own device and dtype; these options only supply defaults where a function creates arrays
from nothing. They live in a :class:`contextvars.ContextVar`, so threads and asyncio tasks see their own values.

Examples
--------
>>> from xrai.options import get_options, set_options
>>> with set_options(dtype="float64"):
...     get_options().dtype
'float64'
>>> get_options().dtype
'float32'
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from xrai.errors import ConfigError

__all__ = ["Options", "get_options", "set_options"]

OnUndersampling = Literal["warn", "raise", "ignore"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """Defaults used where a function is not told otherwise.

    Attributes
    ----------
    dtype
        Real floating dtype of arrays created from nothing: ``"float32"`` (default) or ``"float64"``.
    on_undersampling
        What a physics kernel does when its sampling is insufficient: ``"warn"`` (a ``SamplingWarning``),
        ``"raise"`` (a ``ConfigError``) or ``"ignore"``.
    progress
        Show progress bars on long work.
    """

    dtype: Literal["float32", "float64"] = "float32"
    on_undersampling: OnUndersampling = "warn"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype = {self.dtype!r} is not allowed: must be 'float32' or 'float64'")
        if self.on_undersampling not in ("warn", "raise", "ignore"):
            raise ConfigError(
                f"on_undersampling = {self.on_undersampling!r} is not allowed: must be 'warn', 'raise' or 'ignore'"
            )


_OPTIONS: contextvars.ContextVar[Options] = contextvars.ContextVar("xrai_options", default=Options())  # noqa: B039 - frozen


def get_options() -> Options:
    """The options in force in the current context."""
    return _OPTIONS.get()


@contextlib.contextmanager
def set_options(**changes: Any) -> Iterator[Options]:
    """Change options inside a ``with`` block; the previous values come back on exit."""
    unknown = set(changes) - {f.name for f in dataclasses.fields(Options)}
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)}; allowed: dtype, on_undersampling, progress")
    token = _OPTIONS.set(dataclasses.replace(_OPTIONS.get(), **changes))
    try:
        yield _OPTIONS.get()
    finally:
        _OPTIONS.reset(token)
