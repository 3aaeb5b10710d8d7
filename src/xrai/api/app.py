"""The FastAPI application factory: one app per knowledge base, routers per resource.

Status codes: 400 bad input (malformed JSON, bad query, wrong units), 401 no or unknown token, 403 scope or
project not allowed, 404 no such item/array/run (also for another project's private items, which are not
revealed), 409 conflict (a second successor version, deleting an item other items derive from), 413 body too
large, 422 body does not match the schema.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import xrai
from xrai.errors import ConfigError, DataError, XraiError
from xrai.kb._model import ConflictError, LineageError, NotFoundError, PermissionDeniedError

__all__ = ["DEFAULT_MAX_JSON_BYTES", "DEFAULT_MAX_UPLOAD_BYTES", "create_app"]

DEFAULT_MAX_JSON_BYTES = 16 * 2**20
DEFAULT_MAX_UPLOAD_BYTES = 1 << 40

_STATUS = [
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (LineageError, 409),
    (ConflictError, 409),
    (ConfigError, 400),
    (DataError, 400),
    (XraiError, 400),
]

_HTTP_NAMES = {401: "Unauthorized", 403: "PermissionDeniedError", 404: "NotFoundError", 405: "MethodNotAllowed",
               413: "TooLarge"}  # fmt: skip


def create_app(
    kb: Any,
    *,
    allow_anonymous_read: bool = False,
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> FastAPI:
    """Build the HTTP API around a knowledge base.

    Parameters
    ----------
    kb
        A :class:`~xrai.kb.local.LocalKnowledgeBase` or a location to open (folder or database URL).
    allow_anonymous_read
        Let requests without a token read public items (scope ``read``, no project).
    max_json_bytes
        Largest accepted body of a JSON request (larger: 413).
    max_upload_bytes
        Largest accepted array upload (larger: 413).

    Examples
    --------
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> app = create_app("./xrai-kb")  # doctest: +SKIP
    """
    from xrai.api.routers import admin, blobs, items, runs, ui
    from xrai.kb.local import LocalKnowledgeBase

    if not isinstance(kb, LocalKnowledgeBase):
        kb = LocalKnowledgeBase(os.fspath(kb))
    app = FastAPI(
        title="xrai knowledge base",
        version=xrai.__version__,
        description=(
            "Versioned, linked, searchable, verifiable store of instruments, specimens, scans, volumes, "
            "workflows, runs, models and evaluations. Authenticate with `Authorization: Bearer <token>`."
        ),
    )
    app.state.kb = kb
    app.state.allow_anonymous_read = allow_anonymous_read
    app.state.max_upload_bytes = int(max_upload_bytes)
    app.add_middleware(BodyLimit, max_bytes=int(max_json_bytes), exempt_prefix="/api/v1/blobs")

    @app.exception_handler(XraiError)
    async def _xrai_error(request: Request, exc: XraiError) -> JSONResponse:
        status = next(code for cls, code in _STATUS if isinstance(exc, cls))
        headers = {"WWW-Authenticate": "Bearer"} if getattr(exc, "status_code", None) == 401 else None
        return JSONResponse(
            {"detail": str(exc), "error": type(exc).__name__}, status_code=status, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = _HTTP_NAMES.get(exc.status_code, "HTTPError")
        return JSONResponse(
            {"detail": exc.detail, "error": name}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "malformed JSON body", "error": "MalformedJSON"}, status_code=400)
        text = "; ".join(_describe(e) for e in errors)
        return JSONResponse({"detail": text, "error": "ValidationError"}, status_code=422)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/ui")

    @app.get("/api/v1/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness check (no token needed)."""
        return {"status": "ok", "version": xrai.__version__}

    for module in (items, blobs, runs, admin, ui):
        app.include_router(module.router)
    return app


def _describe(error: Mapping[str, Any]) -> str:
    """``kind = 'Dataset': String should match pattern ...`` (field, the bad value, what is wrong)."""
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or "body"
    if "input" in error and error.get("type") != "missing":
        shown = repr(error["input"])
        return f"{field} = {shown[:200]}: {error.get('msg')}"
    return f"{field}: {error.get('msg')}"


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413 (declared or streamed)."""

    def __init__(self, app: Any, *, max_bytes: int, exempt_prefix: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _too_large(send, self.max_bytes)


class _TooLarge(Exception):
    pass


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes", "error": "TooLarge"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})  # fmt: skip
