"""Bearer-token authentication and scope checks (read < write < admin), as FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request

from xrai.kb._model import Item, NotFoundError, PermissionDeniedError, TokenInfo

__all__ = ["ANONYMOUS", "require", "visible"]

ANONYMOUS = TokenInfo(id="anonymous", name="anonymous", scopes=("read",), projects=())


def _token(request: Request) -> TokenInfo:
    header = request.headers.get("authorization", "")
    secret = None
    if header.lower().startswith("bearer "):
        secret = header[7:].strip()
    elif request.url.path.startswith("/ui") and request.cookies.get(
        "xrai_token"
    ):  # browser UI only (no CSRF)
        secret = request.cookies["xrai_token"]
    if not secret:
        if request.app.state.allow_anonymous_read:
            return ANONYMOUS
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    info = request.app.state.kb.check_token(secret)
    if info is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return info  # type: ignore[no-any-return]


def require(scope: str) -> Callable[[Request], TokenInfo]:
    """Dependency: the caller's token, which must grant ``scope`` (else 401/403)."""

    def dependency(request: Request) -> TokenInfo:
        info = _token(request)
        if not info.allows(scope):
            raise HTTPException(
                403, f"token {info.name!r} lacks the {scope!r} scope (has {', '.join(info.scopes)})"
            )
        return info

    dependency.__name__ = f"require_{scope}"
    return dependency


def visible(kb: Any, token: TokenInfo, item_id: str) -> Item:
    """The item, if the token may see it; another project's private item is reported as missing (404)."""
    item: Item = kb.get(item_id)
    if not token.can_see(item):
        raise NotFoundError(f"no item with id {item_id}")
    return item


def writable(kb: Any, token: TokenInfo, item_id: str) -> Item:
    """The item, if the token may change it (visible and of one of the token's projects)."""
    item = visible(kb, token, item_id)
    if not token.can_write(item.project):
        raise PermissionDeniedError(f"token {token.name!r} may not change items of project {item.project!r}")
    return item
