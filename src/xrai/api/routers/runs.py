"""Runs: start, finish and read workflow runs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from xrai.api.auth import require
from xrai.api.schemas import ERRORS, RunCreate, RunFinish, RunOut
from xrai.kb._model import PermissionDeniedError, TokenInfo

router = APIRouter(prefix="/api/v1", tags=["runs"], responses=ERRORS)

Read = Annotated[TokenInfo, Depends(require("read"))]
Write = Annotated[TokenInfo, Depends(require("write"))]


@router.post("/runs", response_model=RunOut, status_code=201)
def start_run(body: RunCreate, request: Request, token: Write) -> dict[str, Any]:
    if not token.can_write(body.project):
        raise PermissionDeniedError(f"token {token.name!r} may not write to project {body.project!r}")
    return request.app.state.kb.start_run(**body.model_dump()).to_dict()  # type: ignore[no-any-return]


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, request: Request, token: Read) -> dict[str, Any]:
    return request.app.state.kb.get_run(run_id).to_dict()  # type: ignore[no-any-return]


@router.post("/runs/{run_id}/finish", response_model=RunOut)
def finish_run(run_id: str, body: RunFinish, request: Request, token: Write) -> dict[str, Any]:
    kb = request.app.state.kb
    run = kb.get_run(run_id)
    if not token.can_write(run.project):
        raise PermissionDeniedError(f"token {token.name!r} may not change runs of project {run.project!r}")
    return kb.finish_run(run_id, status=body.status, logs=body.logs).to_dict()  # type: ignore[no-any-return]
