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

from typing import TYPE_CHECKING

from xrai._lazy import attach

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


__getattr__, __dir__, __all__ = attach(__name__, _LAZY)
