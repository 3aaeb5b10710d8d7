"""Blobs: streamed array uploads (raw little-endian C-order bytes) and existence checks by content hash."""

from __future__ import annotations

import math
import os
import tempfile
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from xrai.api.auth import require
from xrai.api.schemas import ERRORS, BlobOut
from xrai.errors import ConfigError, DataError
from xrai.kb._model import NotFoundError, TokenInfo, check_hash
from xrai.kb.hashing import canonical_dtype

router = APIRouter(prefix="/api/v1", tags=["blobs"], responses=ERRORS)

Write = Annotated[TokenInfo, Depends(require("write"))]


def _shape(text: str, name: str) -> tuple[int, ...]:
    if text.strip() == "":
        return ()
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"{name} = {text!r} is not a comma-separated list of integers") from None
    if any(v < 0 for v in values) or len(values) > 32:
        raise ConfigError(f"{name} = {text!r} is not allowed: at most 32 non-negative integers")
    return values


@router.get("/blobs/{digest}", response_model=BlobOut)
def blob_info(digest: str, request: Request, token: Write) -> dict[str, Any]:
    """Whether a blob with this content hash is stored (lets clients skip uploading known content)."""
    info = request.app.state.kb._blob_info(check_hash(digest))
    if info is None:
        raise NotFoundError(f"no blob with hash {digest}")
    return info.to_dict()  # type: ignore[no-any-return]


@router.post("/blobs", response_model=BlobOut, status_code=201)
async def upload_blob(
    request: Request,
    token: Write,
    dtype: Annotated[
        str, Query(max_length=20, pattern=r"^[<>|=]?[a-z][0-9]{0,2}$", description="numpy dtype, e.g. <f4")
    ],
    shape: Annotated[str, Query(max_length=400, description="comma-separated, e.g. 100,2048,2048")],
    chunks: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    """Upload one array as a raw byte stream (little-endian, C order), streamed to disk, hashed and stored.

    The body must hold exactly ``prod(shape) * itemsize`` bytes. An ``X-Content-Hash`` header, if sent, must
    equal the BLAKE3 content hash the server computes. The blob stays unreferenced (and is collected by gc)
    until an item references it.
    """
    kb = request.app.state.kb
    try:
        parsed = np.dtype(dtype)
    except Exception:  # numpy raises TypeError, ValueError or even SyntaxError for junk
        raise ConfigError(f"dtype = {dtype!r} is not a numpy dtype such as '<f4' or '|u1'") from None
    dt = canonical_dtype(parsed)
    dims = _shape(shape, "shape")
    chunk_shape = None if chunks is None else _shape(chunks, "chunks")
    expected = math.prod(dims) * dt.itemsize
    if expected > request.app.state.max_upload_bytes:
        from fastapi import HTTPException

        raise HTTPException(
            413, f"upload of {expected} bytes exceeds the limit {request.app.state.max_upload_bytes}"
        )
    folder = kb.path / "tmp" if kb.path is not None else None
    if folder is not None:
        folder.mkdir(exist_ok=True)
    handle, spool = tempfile.mkstemp(prefix="upload-", dir=folder)
    try:
        received = 0
        with os.fdopen(handle, "wb") as out:
            async for piece in request.stream():
                received += len(piece)
                if received > expected:
                    raise DataError(
                        f"upload body is longer than shape {dims} x {dt.itemsize} bytes = {expected}"
                    )
                out.write(piece)
        if received != expected:
            raise DataError(f"upload body holds {received} bytes; shape {dims} of {dt} needs {expected}")
        if expected:
            array: Any = np.memmap(spool, dtype=dt, mode="r", shape=dims)
        else:
            array = np.zeros(dims, dtype=dt)
        digest = await run_in_threadpool(kb.put_blob, array, chunks=chunk_shape)
        del array
        claimed = request.headers.get("x-content-hash")
        if claimed is not None and claimed != digest:
            raise DataError(f"X-Content-Hash {claimed} does not match the content received (hash {digest})")
        return kb._blob_info(digest).to_dict()  # type: ignore[no-any-return]
    finally:
        os.unlink(spool)
