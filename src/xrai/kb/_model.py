"""The records a knowledge base hands out: items, arrays, runs, lineage, reports, tokens, and its errors.

These are plain frozen dataclasses with no I/O, shared by the local store, the HTTP server and the HTTP client
(``to_dict``/``from_dict`` are the wire format).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from xrai.errors import ConfigError, DataError, XraiError

__all__ = [
    "KINDS",
    "RUN_STATUSES",
    "SCOPES",
    "ArrayInfo",
    "ConflictError",
    "GcReport",
    "Item",
    "KBError",
    "Lineage",
    "LineageError",
    "ModelMatch",
    "NotFoundError",
    "PermissionDeniedError",
    "Run",
    "TokenInfo",
    "VerifyReport",
]

#: The well-known item kinds. A kind is a dotted lower-case name; ``search(kind="dataset")`` matches
#: ``"dataset"`` and every ``"dataset.*"`` sub-kind. Other kinds matching ``[a-z][a-z0-9_]*(\.[a-z0-9_]+)*``
#: are accepted too.
KINDS: tuple[str, ...] = (
    "instrument",
    "experiment",
    "specimen",
    "dataset",
    "dataset.raw_scan",
    "dataset.simulated_scan",
    "dataset.flats",
    "dataset.darks",
    "dataset.volume",
    "dataset.segmentation",
    "dataset.labels",
    "dataset.annotations",
    "dataset.measurements",
    "workflow",
    "model",
    "task",
    "evaluation",
    "report",
)

#: Status of a run: ``running`` from :meth:`start_run` until :meth:`finish_run` sets one of the others.
RUN_STATUSES: tuple[str, ...] = ("running", "succeeded", "failed", "cancelled")

#: Access scopes of HTTP tokens; each includes the ones before it.
SCOPES: tuple[str, ...] = ("read", "write", "admin")

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
ARRAY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
PROJECT_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")


class KBError(XraiError):
    """Base class of knowledge-base errors."""


class NotFoundError(KBError, KeyError):
    """No item, run, array or blob with that id (or not visible to the caller)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConflictError(KBError):
    """The request conflicts with what is stored (a second new version of the same version, ...)."""


class LineageError(KBError):
    """Deleting an item that other items were derived from (pass ``recursive=True`` to delete them too)."""


class PermissionDeniedError(KBError):
    """The caller's token lacks the scope or project access for this request."""


def _utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayInfo:
    """One named array of an item: where its content lives and what it is.

    Attributes
    ----------
    hash
        BLAKE3 content hash (64 hex digits) of the canonical array (see :func:`xrai.kb.hashing.array_hash`).
    dtype
        numpy dtype string (``"<f4"``, ``"|u1"``...).
    shape, chunks
        Array shape and Zarr chunk shape.
    nbytes
        Size of the uncompressed array in bytes.
    """

    hash: str
    dtype: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    nbytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "chunks": list(self.chunks),
            "nbytes": self.nbytes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArrayInfo:
        return cls(
            hash=str(data["hash"]),
            dtype=str(data["dtype"]),
            shape=tuple(int(n) for n in data["shape"]),
            chunks=tuple(int(n) for n in data["chunks"]),
            nbytes=int(data["nbytes"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One immutable version of a stored thing (instrument, specimen, dataset, model, evaluation, ...).

    Attributes
    ----------
    id
        Identifier of this version (26-character ULID, sortable by creation time).
    series
        Identifier shared by all versions of the thing (the id of version 1).
    version
        1 for the first version, incremented by :meth:`KnowledgeBase.new_version`.
    previous
        Id of the version this one replaced, or ``None``.
    kind, name, description
        What it is (see :data:`KINDS`), a short name and free text (both full-text searchable).
    project, private
        Owning project; a private item is visible over HTTP only to tokens of its project.
    metadata
        JSON metadata; keys with a unit suffix (``energy_kev``, ``pixel_size_m``) hold canonical floats.
    arrays
        Array name -> :class:`ArrayInfo`.
    inputs
        Ids of the items this one was derived from (lineage).
    run
        Id of the run that made it, or ``None``.
    tags
        Free-form labels (the only mutable part, see :meth:`KnowledgeBase.add_tags`).
    cache_key
        Unique memoisation key (e.g. a pipeline stage key), or ``None``.
    created_at
        Creation time (UTC).
    """

    id: str
    series: str
    version: int
    previous: str | None
    kind: str
    name: str
    description: str = ""
    project: str = "default"
    private: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)
    arrays: Mapping[str, ArrayInfo] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    run: str | None = None
    tags: tuple[str, ...] = ()
    cache_key: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def nbytes(self) -> int:
        """Total uncompressed size of the item's arrays in bytes."""
        return sum(info.nbytes for info in self.arrays.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "series": self.series,
            "version": self.version,
            "previous": self.previous,
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "project": self.project,
            "private": self.private,
            "metadata": dict(self.metadata),
            "arrays": {name: info.to_dict() for name, info in self.arrays.items()},
            "inputs": list(self.inputs),
            "run": self.run,
            "tags": list(self.tags),
            "cache_key": self.cache_key,
            "created_at": _iso(self.created_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Item:
        created = _utc(data.get("created_at"))
        return cls(
            id=str(data["id"]),
            series=str(data["series"]),
            version=int(data["version"]),
            previous=data.get("previous"),
            kind=str(data["kind"]),
            name=str(data["name"]),
            description=str(data.get("description", "")),
            project=str(data.get("project", "default")),
            private=bool(data.get("private", False)),
            metadata=dict(data.get("metadata") or {}),
            arrays={k: ArrayInfo.from_dict(v) for k, v in (data.get("arrays") or {}).items()},
            inputs=tuple(data.get("inputs") or ()),
            run=data.get("run"),
            tags=tuple(data.get("tags") or ()),
            cache_key=data.get("cache_key"),
            created_at=created if created is not None else datetime.now(UTC),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One execution of a workflow: what ran, with which code, parameters and environment, and how it ended."""

    id: str
    workflow: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    code_version: str = ""
    environment: Mapping[str, Any] = field(default_factory=dict)
    status: str = "running"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    logs: str = ""
    project: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "parameters": dict(self.parameters),
            "code_version": self.code_version,
            "environment": dict(self.environment),
            "status": self.status,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "logs": self.logs,
            "project": self.project,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        started = _utc(data.get("started_at"))
        return cls(
            id=str(data["id"]),
            workflow=str(data["workflow"]),
            parameters=dict(data.get("parameters") or {}),
            code_version=str(data.get("code_version", "")),
            environment=dict(data.get("environment") or {}),
            status=str(data.get("status", "running")),
            started_at=started if started is not None else datetime.now(UTC),
            finished_at=_utc(data.get("finished_at")),
            logs=str(data.get("logs", "")),
            project=str(data.get("project", "default")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lineage:
    """Ancestors or descendants of an item.

    Attributes
    ----------
    root
        The item the query started from.
    direction
        ``"ancestors"`` (inputs, their inputs, ...) or ``"descendants"``.
    items
        The related items (not the root), nearest first.
    depth
        Item id -> shortest number of derivation steps from the root.
    edges
        ``(input_id, derived_id)`` pairs among the root and the related items.
    """

    root: Item
    direction: str
    items: tuple[Item, ...]
    depth: Mapping[str, int]
    edges: tuple[tuple[str, str], ...]

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root.to_dict(),
            "direction": self.direction,
            "items": [item.to_dict() for item in self.items],
            "depth": dict(self.depth),
            "edges": [list(edge) for edge in self.edges],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        return cls(
            root=Item.from_dict(data["root"]),
            direction=str(data["direction"]),
            items=tuple(Item.from_dict(d) for d in data["items"]),
            depth={str(k): int(v) for k, v in data["depth"].items()},
            edges=tuple((str(a), str(b)) for a, b in data["edges"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelMatch:
    """A model evaluated on data like the query data: one row of a leaderboard."""

    model: Item
    evaluation: Item
    dataset: Item
    metric: str
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "evaluation": self.evaluation.to_dict(),
            "dataset": self.dataset.to_dict(),
            "metric": self.metric,
            "value": self.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMatch:
        return cls(
            model=Item.from_dict(data["model"]),
            evaluation=Item.from_dict(data["evaluation"]),
            dataset=Item.from_dict(data["dataset"]),
            metric=str(data["metric"]),
            value=float(data["value"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """Result of :meth:`KnowledgeBase.verify`.

    Attributes
    ----------
    checked
        Number of blobs re-hashed.
    corrupted
        Hash -> reason for every blob whose content no longer matches its hash (or cannot be read).
    affected_items
        Ids of the items that reference a corrupted blob.
    """

    checked: int
    corrupted: Mapping[str, str]
    affected_items: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.corrupted

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "corrupted": dict(self.corrupted),
            "affected_items": list(self.affected_items),
            "ok": self.ok,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifyReport:
        return cls(
            checked=int(data["checked"]),
            corrupted=dict(data["corrupted"]),
            affected_items=tuple(data.get("affected_items") or ()),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GcReport:
    """Result of :meth:`KnowledgeBase.gc` (and of :meth:`KnowledgeBase.delete`).

    Attributes
    ----------
    removed_blobs
        Number of blob copies removed from the store (unreferenced blobs and orphans of crashed writes).
    freed_bytes
        Bytes those copies occupied in the store (compressed, as stored).
    removed_items
        Ids of the items deleted (``delete`` only).
    """

    removed_blobs: int = 0
    freed_bytes: int = 0
    removed_items: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed_blobs": self.removed_blobs,
            "freed_bytes": self.freed_bytes,
            "removed_items": list(self.removed_items),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GcReport:
        return cls(
            removed_blobs=int(data["removed_blobs"]),
            freed_bytes=int(data["freed_bytes"]),
            removed_items=tuple(data.get("removed_items") or ()),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    """An HTTP access token (the secret itself is stored only as its hash).

    ``projects`` is ``None`` for a token that may see every project's private items.
    """

    id: str
    name: str
    scopes: tuple[str, ...]
    projects: tuple[str, ...] | None = None

    def allows(self, scope: str) -> bool:
        """Whether the token grants ``scope`` (admin ⊃ write ⊃ read)."""
        granted = max((SCOPES.index(s) for s in self.scopes if s in SCOPES), default=-1)
        return granted >= SCOPES.index(scope)

    def can_see(self, item: Item) -> bool:
        return not item.private or self.projects is None or item.project in self.projects

    def can_write(self, project: str) -> bool:
        return self.projects is None or project in self.projects


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        raise ConfigError(
            f"kind = {kind!r} is not allowed: must be a dotted lower-case name such as 'dataset.volume' "
            f"(well-known kinds: {', '.join(KINDS)})"
        )
    return kind


def check_id(value: str, *, name: str = "item id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise NotFoundError(f"{name} {value!r} is not a valid id (26-character ULID)")
    return value


def check_hash(value: str) -> str:
    if not isinstance(value, str) or not HASH_PATTERN.match(value):
        raise DataError(f"blob hash {value!r} is not a 64-digit lower-case hex BLAKE3 hash")
    return value


def check_array_name(name: str) -> str:
    if not isinstance(name, str) or not ARRAY_NAME_PATTERN.match(name) or ".." in name:
        raise ConfigError(
            f"array name {name!r} is not allowed: use letters, digits, '_', '.', '-' (at most 200 characters)"
        )
    return name


def check_project(project: str) -> str:
    if not isinstance(project, str) or not PROJECT_PATTERN.match(project):
        raise ConfigError(f"project = {project!r} is not allowed: use letters, digits, '_', '.', '-'")
    return project
