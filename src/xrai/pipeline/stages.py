"""Stages of the high-throughput pipeline and their content-addressed keys.

A stage is a pure function ``func(inputs, **params) -> StageOutput``: ``inputs`` maps each upstream stage name
to that stage's output. Its **key** is a BLAKE3 hash of the stage name, its version, its parameters and the keys
of its inputs (recursively, down to the content hash of the raw scan), so a result is reused exactly when
everything that could change it is unchanged, and recomputed when anything is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xrai.errors import ConfigError

__all__ = ["Stage", "StageOutput", "canonical_json", "json_safe", "stage_key"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StageOutput:
    """What a stage returns: named arrays (stored as chunked Zarr) and JSON-able metadata."""

    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(sum(a.nbytes for a in self.arrays.values()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """One step of the per-specimen pipeline.

    Parameters
    ----------
    name
        Unique name within a pipeline (``"reconstruct"``); used as the key of its output for later stages.
    func
        ``func(inputs: dict[str, StageOutput], **params) -> StageOutput``; must be pure.
    inputs
        Names of the upstream stages whose outputs ``func`` receives (``"source"`` is the raw scan).
    params
        Keyword parameters (JSON-able: numbers, strings, lists, dicts); part of the key.
    version
        Bump when the implementation changes its results, so stored outputs are not reused.
    kind
        The knowledge-base kind of the stored output (``"dataset.volume"``, ``"dataset.segmentation"``...).
    """

    name: str
    func: Callable[..., StageOutput]
    inputs: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    version: str = "1"
    kind: str = "dataset"

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ConfigError(f"stage name = {self.name!r} is not allowed: must be a Python identifier")
        canonical_json(self.params)  # fail early on parameters that cannot be hashed


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace, floats by repr) for hashing parameters."""

    def default(obj: Any) -> Any:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, tuple | set | frozenset):
            return sorted(obj) if isinstance(obj, set | frozenset) else list(obj)
        raise ConfigError(f"parameter value {obj!r} (type {type(obj).__name__}) is not JSON-serialisable")

    def check(obj: Any) -> None:
        if isinstance(obj, float) and not math.isfinite(obj):
            raise ConfigError(f"parameter value {obj!r} is not allowed: must be finite")
        if isinstance(obj, Mapping):
            for v in obj.values():
                check(v)
        elif isinstance(obj, list | tuple):
            for v in obj:
                check(v)

    check(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=default)


def stage_key(stage: Stage, input_keys: Mapping[str, str]) -> str:
    """The content-addressed key of ``stage`` applied to inputs with the given keys (hex BLAKE3)."""
    import blake3

    payload = canonical_json(
        {
            "stage": stage.name,
            "version": stage.version,
            "params": dict(stage.params),
            "inputs": {name: input_keys[name] for name in stage.inputs},
        }
    )
    return blake3.blake3(payload.encode()).hexdigest()


def json_safe(value: Any) -> Any:
    """A JSON-able copy of stage metadata: numpy scalars/arrays become Python values, NaN and ±inf become None."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
