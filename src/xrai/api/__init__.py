"""xrai.api: the HTTP API of the knowledge base (FastAPI) — ``xrai serve``.

:func:`create_app` builds the application around a knowledge base; routers per resource live in
:mod:`xrai.api.routers`. Authentication is by bearer token (``xrai kb token create``) with the scopes read, write
and admin; see ``docs/knowledge-base.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app"]

if TYPE_CHECKING:
    from xrai.api.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from xrai.api.app import create_app

        return create_app
    raise AttributeError(f"module 'xrai.api' has no attribute {name!r}")
