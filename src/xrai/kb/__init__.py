"""xrai.kb: the universal knowledge base — versioned, linked, searchable, verifiable, embedded or facility-scale.

Everything xrai makes or reads is an :class:`Item` (instrument, experiment, specimen, dataset, workflow, model,
evaluation, ...) with JSON metadata, named arrays stored once as chunked Zarr v3 under their BLAKE3 content hash,
lineage to its inputs and the :class:`Run` that made it, and immutable versions. See ``docs/knowledge-base.md``.

Public names load lazily, so ``import xrai.kb`` imports neither SQLAlchemy nor zarr.

Examples
--------
>>> from xrai.kb import KnowledgeBase
>>> kb = KnowledgeBase.open("./xrai-kb")  # doctest: +SKIP
>>> item = kb.put(kind="specimen", name="medaka-17", metadata={"line": "HdrR", "group": "control"})  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "KnowledgeBase": "base",
    "LocalKnowledgeBase": "local",
    "RemoteKnowledgeBase": "remote",
    "array_hash": "hashing",
    "KINDS": "_model",
    "RUN_STATUSES": "_model",
    "SCOPES": "_model",
    "ArrayInfo": "_model",
    "ConflictError": "_model",
    "GcReport": "_model",
    "Item": "_model",
    "KBError": "_model",
    "Lineage": "_model",
    "LineageError": "_model",
    "ModelMatch": "_model",
    "NotFoundError": "_model",
    "PermissionDeniedError": "_model",
    "Run": "_model",
    "TokenInfo": "_model",
    "VerifyReport": "_model",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:
    from xrai.kb._model import (  # noqa: F401
        KINDS,
        RUN_STATUSES,
        SCOPES,
        ArrayInfo,
        ConflictError,
        GcReport,
        Item,
        KBError,
        Lineage,
        LineageError,
        ModelMatch,
        NotFoundError,
        PermissionDeniedError,
        Run,
        TokenInfo,
        VerifyReport,
    )
    from xrai.kb.base import KnowledgeBase  # noqa: F401
    from xrai.kb.hashing import array_hash  # noqa: F401
    from xrai.kb.local import LocalKnowledgeBase  # noqa: F401
    from xrai.kb.remote import RemoteKnowledgeBase  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"xrai.kb.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xrai.kb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
