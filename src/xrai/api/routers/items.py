"""Items: search, get, create, versions, tags, lineage, delete, region reads of arrays, model leaderboards."""

from __future__ import annotations

import io
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from xrai.api.auth import require, visible, writable
from xrai.api.schemas import (
    ERRORS,
    GcOut,
    IdsOut,
    ItemBatch,
    ItemCreate,
    ItemOut,
    LineageOut,
    ModelMatchOut,
    SearchOut,
    TagsChange,
    VersionCreate,
)
from xrai.kb._model import ID_PATTERN, NotFoundError, PermissionDeniedError, TokenInfo

router = APIRouter(prefix="/api/v1", tags=["items"], responses=ERRORS)

ItemId = Annotated[str, Query(pattern=ID_PATTERN.pattern)]
Read = Annotated[TokenInfo, Depends(require("read"))]
Write = Annotated[TokenInfo, Depends(require("write"))]
Admin = Annotated[TokenInfo, Depends(require("admin"))]
NPY = "application/x-npy"


def _kb(request: Request) -> Any:
    return request.app.state.kb


def _check_inputs(kb: Any, token: TokenInfo, inputs: list[str]) -> None:
    missing = []
    for input_id in inputs:
        try:
            visible(kb, token, input_id)
        except NotFoundError:
            missing.append(input_id)
    if missing:
        raise NotFoundError(
            f"inputs {missing} do not exist (inputs must be stored before the items made from them)"
        )


def _visible_projects(token: TokenInfo) -> list[str] | None:
    return None if token.projects is None else list(token.projects)


@router.get("/items", response_model=SearchOut)
def search_items(
    request: Request,
    token: Read,
    q: Annotated[str | None, Query(max_length=10_000, description="filter, e.g. energy_kev > 20")] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    text: Annotated[str | None, Query(max_length=1000)] = None,
    tag: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI reads the default
    project: Annotated[str | None, Query(max_length=100)] = None,
    latest: bool = True,
    limit: Annotated[int, Query(ge=0, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    count: bool = False,
) -> dict[str, Any]:
    """Search items (newest first); see the query language in the docs."""
    kb = _kb(request)
    options: dict[str, Any] = {"kind": kind, "text": text, "tags": tag, "project": project, "latest": latest,
                               "visible_projects": _visible_projects(token)}  # fmt: skip
    found = kb.search(q, limit=limit, offset=offset, **options)
    total = kb.count(q, **options) if count else None
    return {"items": [i.to_dict() for i in found], "limit": limit, "offset": offset, "count": total}


@router.post(
    "/items",
    response_model=ItemOut,
    status_code=201,
    responses={
        200: {"model": ItemOut, "description": "An item with this cache_key exists already: returned"}
    },
)
def create_item(body: ItemCreate, request: Request, token: Write) -> Any:
    """Create an item (version 1). With an existing ``cache_key`` the stored item is returned (200)."""
    kb = _kb(request)
    if not token.can_write(body.project):
        raise PermissionDeniedError(f"token {token.name!r} may not write to project {body.project!r}")
    _check_inputs(kb, token, body.inputs)
    if body.cache_key is not None:
        existing = kb.find_by_key(body.cache_key)
        if existing is not None and token.can_see(existing):
            return JSONResponse(existing.to_dict(), status_code=200)
    item = kb.put(**body.model_dump())
    return item.to_dict()


@router.post("/items/batch", response_model=IdsOut, status_code=201)
def create_items(body: ItemBatch, request: Request, token: Write) -> dict[str, Any]:
    """Create many items in one transaction: all are stored, or none (the first error is reported)."""
    kb = _kb(request)
    for record in body.items:
        if not token.can_write(record.project):
            raise PermissionDeniedError(f"token {token.name!r} may not write to project {record.project!r}")
        _check_inputs(kb, token, record.inputs)
    return {"ids": kb.put_many([record.model_dump() for record in body.items])}


@router.get("/items/{item_id}", response_model=ItemOut)
def get_item(item_id: str, request: Request, token: Read) -> dict[str, Any]:
    return visible(_kb(request), token, item_id).to_dict()


@router.get("/items/{item_id}/latest", response_model=ItemOut)
def latest_item(item_id: str, request: Request, token: Read) -> dict[str, Any]:
    kb = _kb(request)
    visible(kb, token, item_id)
    return kb.latest(item_id).to_dict()  # type: ignore[no-any-return]


@router.get("/items/{item_id}/versions", response_model=list[ItemOut])
def item_versions(item_id: str, request: Request, token: Read) -> list[dict[str, Any]]:
    kb = _kb(request)
    visible(kb, token, item_id)
    return [v.to_dict() for v in kb.versions(item_id)]


@router.post("/items/{item_id}/versions", response_model=ItemOut, status_code=201)
def create_version(item_id: str, body: VersionCreate, request: Request, token: Write) -> dict[str, Any]:
    """Create the next version of the latest version ``item_id`` (409 if it already has one)."""
    kb = _kb(request)
    writable(kb, token, item_id)
    _check_inputs(kb, token, body.inputs or [])
    return kb.new_version(item_id, **body.model_dump()).to_dict()  # type: ignore[no-any-return]


@router.post("/items/{item_id}/tags", response_model=ItemOut)
def change_tags(item_id: str, body: TagsChange, request: Request, token: Write) -> dict[str, Any]:
    kb = _kb(request)
    writable(kb, token, item_id)
    if body.add:
        kb.add_tags(item_id, body.add)
    if body.remove:
        kb.remove_tags(item_id, body.remove)
    return kb.get(item_id).to_dict()  # type: ignore[no-any-return]


@router.delete("/items/{item_id}", response_model=GcOut)
def delete_item(item_id: str, request: Request, token: Admin, recursive: bool = False) -> dict[str, Any]:
    """Delete an item version and free unreferenced blobs (409 if items derive from it, unless recursive)."""
    kb = _kb(request)
    writable(kb, token, item_id)
    return kb.delete(item_id, recursive=recursive).to_dict()  # type: ignore[no-any-return]


@router.get("/items/{item_id}/lineage", response_model=LineageOut)
def item_lineage(
    item_id: str,
    request: Request,
    token: Read,
    direction: Annotated[str, Query(pattern="^(ancestors|descendants)$")] = "ancestors",
    depth: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> dict[str, Any]:
    kb = _kb(request)
    visible(kb, token, item_id)
    lineage = kb.lineage(item_id, direction=direction, depth=depth)
    data: dict[str, Any] = lineage.to_dict()
    hidden = {i.id for i in lineage.items if not token.can_see(i)}
    if hidden:
        data["items"] = [d for d in data["items"] if d["id"] not in hidden]
        data["depth"] = {k: v for k, v in data["depth"].items() if k not in hidden}
        data["edges"] = [e for e in data["edges"] if e[0] not in hidden and e[1] not in hidden]
    return data


@router.get("/items/{item_id}/arrays/{name}", response_class=Response,
            responses={200: {"content": {NPY: {}}, "description": "the region as a .npy file"}})  # fmt: skip
def read_array(
    item_id: str,
    name: str,
    request: Request,
    token: Read,
    region: Annotated[str | None, Query(max_length=1000, description="e.g. 0:10,:,5")] = None,
) -> Response:
    """Read an array or a region of it (only the chunks the region touches are read), as ``.npy`` bytes."""
    kb = _kb(request)
    visible(kb, token, item_id)
    data = kb.read_array(item_id, name, region=region)
    buffer = io.BytesIO()
    np.save(buffer, data, allow_pickle=False)
    headers = {"X-Array-Shape": ",".join(str(n) for n in data.shape), "X-Array-Dtype": data.dtype.str}
    return Response(buffer.getvalue(), media_type=NPY, headers=headers)


@router.get("/cache", response_model=ItemOut)
def find_by_key(
    request: Request, token: Read, key: Annotated[str, Query(min_length=1, max_length=256)]
) -> Any:
    """The item stored with this cache key (404 if none)."""
    item = _kb(request).find_by_key(key)
    if item is None or not token.can_see(item):
        return JSONResponse(
            {"detail": f"no item with cache key {key!r}", "error": "NotFoundError"}, status_code=404
        )
    return item.to_dict()


@router.get("/models", response_model=list[ModelMatchOut])
def find_models(
    request: Request,
    token: Read,
    like: Annotated[str, Query(min_length=1, max_length=10_000, description="dataset id or search query")],
    metric: str | None = None,
    task: str | None = None,
    match: Annotated[list[str] | None, Query()] = None,
    tolerance: Annotated[float, Query(ge=0, lt=1)] = 0.1,
    higher_is_better: bool = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[dict[str, Any]]:
    """Models evaluated on data like ``like``, best first."""
    kb = _kb(request)
    if ID_PATTERN.match(like):
        visible(kb, token, like)
    rows = kb.find_models(like, metric=metric, task=task, match=match, tolerance=tolerance,
                          higher_is_better=higher_is_better, limit=limit)  # fmt: skip
    return [
        r.to_dict()
        for r in rows
        if token.can_see(r.model) and token.can_see(r.evaluation) and token.can_see(r.dataset)
    ]
