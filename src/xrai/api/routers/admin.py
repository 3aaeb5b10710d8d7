"""Administration: verify blobs, garbage-collect, statistics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from xrai.api.auth import require
from xrai.api.schemas import ERRORS, GcOut, GcRequest, VerifyOut, VerifyRequest
from xrai.kb._model import TokenInfo

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=ERRORS)

Read = Annotated[TokenInfo, Depends(require("read"))]
Admin = Annotated[TokenInfo, Depends(require("admin"))]


@router.post("/verify", response_model=VerifyOut)
def verify(body: VerifyRequest, request: Request, token: Admin) -> dict[str, Any]:
    """Re-hash every blob (or those of ``items``) and report corruption."""
    return request.app.state.kb.verify(body.items).to_dict()  # type: ignore[no-any-return]


@router.post("/gc", response_model=GcOut)
def gc(body: GcRequest, request: Request, token: Admin) -> dict[str, Any]:
    """Remove unreferenced blobs and crashed-write leftovers older than ``grace_s``."""
    return request.app.state.kb.gc(grace_s=body.grace_s).to_dict()  # type: ignore[no-any-return]


@router.get("/stats")
def stats(request: Request, token: Read) -> dict[str, Any]:
    """Counts of items by kind, runs and blobs."""
    return request.app.state.kb.stats()  # type: ignore[no-any-return]
