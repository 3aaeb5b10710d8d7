"""Request and response bodies of the HTTP API (pydantic), the source of the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ERRORS",
    "ArrayInfoOut",
    "BlobOut",
    "ErrorOut",
    "GcOut",
    "GcRequest",
    "IdsOut",
    "ItemBatch",
    "ItemCreate",
    "ItemOut",
    "LineageOut",
    "ModelMatchOut",
    "RunCreate",
    "RunFinish",
    "RunOut",
    "SearchOut",
    "TagsChange",
    "VerifyOut",
    "VerifyRequest",
    "VersionCreate",
]  # fmt: skip

ID = Field(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$", description="26-character ULID")
HASH = r"^[0-9a-f]{64}$"
KIND = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemCreate(_Strict):
    """A new item; ``arrays`` maps array names to hashes of blobs uploaded with ``POST /api/v1/blobs``."""

    kind: str = Field(pattern=KIND, max_length=100, examples=["dataset.volume"])
    name: str = Field(min_length=1, max_length=500)
    description: str = Field("", max_length=100_000)
    metadata: dict[str, Any] = Field(default_factory=dict, examples=[{"energy_kev": "25 keV"}])
    arrays: dict[str, str] = Field(default_factory=dict, max_length=10_000)
    inputs: list[str] = Field(default_factory=list, max_length=10_000)
    run: str | None = Field(None, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")
    tags: list[str] = Field(default_factory=list, max_length=1000)
    cache_key: str | None = Field(None, min_length=1, max_length=256)
    project: str = Field("default", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
    private: bool = False


class ItemBatch(_Strict):
    """Many new items, stored in one transaction (all or nothing)."""

    items: list[ItemCreate] = Field(max_length=100_000)


class IdsOut(BaseModel):
    ids: list[str]


class VersionCreate(_Strict):
    """The next version of an item: fields not given are copied; metadata is merged, arrays added/replaced."""

    name: str | None = Field(None, min_length=1, max_length=500)
    description: str | None = Field(None, max_length=100_000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    arrays: dict[str, str] = Field(default_factory=dict, max_length=10_000)
    remove_metadata: list[str] = Field(default_factory=list)
    remove_arrays: list[str] = Field(default_factory=list)
    inputs: list[str] | None = None
    run: str | None = Field(None, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")
    tags: list[str] | None = None


class TagsChange(_Strict):
    add: list[str] = Field(default_factory=list, max_length=1000)
    remove: list[str] = Field(default_factory=list, max_length=1000)


class RunCreate(_Strict):
    workflow: str = Field(min_length=1, max_length=200)
    parameters: dict[str, Any] = Field(default_factory=dict)
    code_version: str | None = Field(None, max_length=200)
    environment: dict[str, Any] | None = None
    project: str = Field("default", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")


class RunFinish(_Strict):
    status: str = Field("succeeded", pattern=r"^(succeeded|failed|cancelled)$")
    logs: str = Field("", max_length=10_000_000)


class VerifyRequest(_Strict):
    items: list[str] | None = None


class GcRequest(_Strict):
    grace_s: float = Field(3600.0, ge=0, le=3.15e9, description="seconds (at most 100 years)")


class ArrayInfoOut(BaseModel):
    hash: str
    dtype: str
    shape: list[int]
    chunks: list[int]
    nbytes: int


class BlobOut(ArrayInfoOut):
    pass


class ItemOut(BaseModel):
    id: str
    series: str
    version: int
    previous: str | None
    kind: str
    name: str
    description: str
    project: str
    private: bool
    metadata: dict[str, Any]
    arrays: dict[str, ArrayInfoOut]
    inputs: list[str]
    run: str | None
    tags: list[str]
    cache_key: str | None
    created_at: str


class SearchOut(BaseModel):
    items: list[ItemOut]
    limit: int
    offset: int
    count: int | None = None


class RunOut(BaseModel):
    id: str
    workflow: str
    parameters: dict[str, Any]
    code_version: str
    environment: dict[str, Any]
    status: str
    started_at: str
    finished_at: str | None
    logs: str
    project: str


class LineageOut(BaseModel):
    root: ItemOut
    direction: str
    items: list[ItemOut]
    depth: dict[str, int]
    edges: list[list[str]]


class ModelMatchOut(BaseModel):
    model: ItemOut
    evaluation: ItemOut
    dataset: ItemOut
    metric: str
    value: float


class VerifyOut(BaseModel):
    checked: int
    corrupted: dict[str, str]
    affected_items: list[str]
    ok: bool


class GcOut(BaseModel):
    removed_blobs: int
    freed_bytes: int
    removed_items: list[str]


class ErrorOut(BaseModel):
    """Every error response: a message naming what is wrong, and the error class."""

    detail: str
    error: str


#: Error responses every API route may give (documented in the OpenAPI schema).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad input: malformed JSON, bad query, wrong units, bad region"},
    401: {"model": ErrorOut, "description": "No token, or an unknown or revoked one"},
    403: {"model": ErrorOut, "description": "The token lacks the scope, or the project is not the token's"},
    404: {"model": ErrorOut, "description": "No such item, array, run or blob (or not visible to the token)"},
    409: {"model": ErrorOut, "description": "Conflict: a second successor version, or items derive from it"},
    413: {"model": ErrorOut, "description": "Request body too large"},
    422: {"model": ErrorOut, "description": "The body or a parameter does not match the schema"},
}
