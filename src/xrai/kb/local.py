"""The knowledge base on a SQL catalogue (SQLite or PostgreSQL) and a Zarr blob store (folder or S3).

Write protocol of :meth:`LocalKnowledgeBase.put`:

1. validate everything (kind, names, metadata units, that inputs and run exist);
2. hash each array (BLAKE3, streamed in slabs); arrays whose hash is already stored are not written again;
3. write each new array as a Zarr v3 copy under a fresh path (:mod:`xrai.kb._blobs`);
4. commit the blob rows and the item (rows for arrays, lineage, tags, metadata index, full text) in **one**
   transaction; the item becomes visible only now.

A crash before step 4 leaves invisible blob copies that :meth:`gc` removes; a crash during step 4 rolls back.
If another process stored the same content meanwhile, the loser's copy is removed after the commit. Blob rows
are referenced ``ON DELETE RESTRICT``, so a concurrent :meth:`delete` can never drop a blob a commit uses; if a
deleter dropped a blob between steps 2 and 4, the writer notices inside the transaction and writes it again.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from xrai.errors import ConfigError, check_range
from xrai.kb import _schema as S
from xrai.kb._blobs import BlobStore
from xrai.kb._db import make_engine, migrate, read_tx, write_tx
from xrai.kb._metadata import flatten, normalise_metadata
from xrai.kb._model import (
    RUN_STATUSES,
    SCOPES,
    ArrayInfo,
    ConflictError,
    GcReport,
    Item,
    Lineage,
    LineageError,
    NotFoundError,
    Run,
    TokenInfo,
    VerifyReport,
    check_array_name,
    check_hash,
    check_id,
    check_kind,
    check_project,
)
from xrai.kb._query import ArrayOf, compile_pk_set, parse_query
from xrai.kb.base import ArrayLike, KnowledgeBase, Region, _id_of
from xrai.kb.hashing import array_hash, canonical_dtype

__all__ = ["LocalKnowledgeBase", "new_id"]

#: Test hook: called with a stage name ("blobs_written") between the blob writes and the commit of a put.
_FAULT_HOOK: Callable[[str], None] | None = None

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DB_URL = re.compile(r"^[a-z][a-z0-9+]*://")
_BATCH = 500  # ids per IN (...) list
MAX_GRACE_S = 100 * 365.25 * 86400.0
_ITEM_COLUMNS = [c for c in S.items.c if c.name != "fts"]  # the search vector is never read back


def new_id() -> str:
    """A 26-character ULID: 48-bit millisecond time + 80 random bits, Crockford base 32, sortable by time."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _batches(values: Sequence[Any], size: int = _BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _json(value: Any) -> Any:
    """A JSON column read with plain SQL: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _text_terms(text: str) -> list[str]:
    return re.findall(r"\w+", text)[:32]


class _BlobMissing(Exception):
    """A blob chosen for reuse disappeared before the commit (a concurrent delete); write it again."""

    def __init__(self, digest: str) -> None:
        super().__init__(digest)
        self.digest = digest


class _Prepared:
    """An array ready to be referenced: its info, and the new copy this put wrote (if any)."""

    __slots__ = ("info", "new_path", "source")

    def __init__(self, info: ArrayInfo, new_path: str | None, source: Any) -> None:
        self.info = info
        self.new_path = new_path
        self.source = source


class LocalKnowledgeBase(KnowledgeBase):
    """Knowledge base on SQLite/PostgreSQL + a Zarr v3 blob store (see :meth:`KnowledgeBase.open`).

    Parameters
    ----------
    location
        A folder (``catalog.sqlite`` + ``blobs/`` inside) or an SQLAlchemy database URL.
    store_url
        Blob store (folder or fsspec URL); required for a PostgreSQL URL, defaults to ``<folder>/blobs`` or,
        for ``sqlite:///file.db``, ``file.db.blobs``.
    storage_options
        fsspec options for the blob store (S3 credentials and ``endpoint_url``).
    create
        Create a missing folder (and schema). The schema is always migrated to the current revision.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        store_url: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        create: bool = True,
    ) -> None:
        text = os.fspath(location)
        if _DB_URL.match(text) and not text.startswith("file://"):
            db_url = text
            if store_url is None:
                if not text.startswith("sqlite:///"):
                    raise ConfigError(
                        f"store_url is required with the database URL {text!r} (a folder or s3://...)"
                    )
                store_url = text.removeprefix("sqlite:///") + ".blobs"
            self.path: Path | None = None
        else:
            folder = Path(text.removeprefix("file://")).expanduser()
            if not folder.exists():
                if not create:
                    raise NotFoundError(
                        f"no knowledge base at {folder} (create it with `xrai kb init {folder}`)"
                    )
                folder.mkdir(parents=True)
            elif not folder.is_dir():
                raise ConfigError(f"knowledge base location {folder} exists and is not a folder")
            self.path = folder.resolve()
            db_url = f"sqlite:///{self.path / 'catalog.sqlite'}"
            if store_url is None:
                store_url = str(self.path / "blobs")
        self.db_url = db_url
        self.engine = make_engine(db_url)
        migrate(self.engine)
        self.blobs = BlobStore(store_url, storage_options)
        self.dialect = self.engine.dialect.name

    def __repr__(self) -> str:
        where = self.path if self.path is not None else self.engine.url.render_as_string(hide_password=True)
        return f"LocalKnowledgeBase({str(where)!r}, store={self.blobs.url!r})"

    def close(self) -> None:
        self.engine.dispose()

    # ================================================================== items: write

    def put(
        self,
        *,
        kind: str,
        name: str,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
        arrays: Mapping[str, ArrayLike] | None = None,
        inputs: Sequence[str | Item] = (),
        run: str | Run | None = None,
        tags: Sequence[str] = (),
        cache_key: str | None = None,
        project: str = "default",
        private: bool = False,
        chunks: Mapping[str, tuple[int, ...]] | None = None,
    ) -> Item:
        fields = self._validate(
            kind=kind, name=name, description=description, metadata=metadata, inputs=inputs, run=run, tags=tags,
            cache_key=cache_key, project=project, private=private,
        )  # fmt: skip
        if cache_key is not None:
            existing = self.find_by_key(cache_key)
            if existing is not None:
                return existing
        prepared = self._prepare_arrays(arrays or {}, chunks or {})
        try:
            return self._commit(fields, prepared, previous=None)
        except sa.exc.IntegrityError:
            if cache_key is not None:
                existing = self.find_by_key(cache_key)
                if existing is not None:
                    return existing
            raise

    def put_blob(self, array: ArrayLike, *, chunks: tuple[int, ...] | None = None) -> str:
        prepared = self._prepare_array("blob", array, chunks)
        for _ in range(3):
            try:
                with write_tx(self.engine) as conn:
                    redundant = self._insert_blobs(conn, {"blob": prepared})
                break
            except _BlobMissing:
                self._rewrite({"blob": prepared})
        else:  # pragma: no cover - needs three concurrent deletes in a row
            raise ConflictError("blob kept disappearing while being stored; retry")
        for path in redundant:
            self.blobs.remove(path)
        return prepared.info.hash

    def new_version(
        self,
        item_id: str | Item,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        arrays: Mapping[str, ArrayLike] | None = None,
        remove_metadata: Sequence[str] = (),
        remove_arrays: Sequence[str] = (),
        inputs: Sequence[str | Item] | None = None,
        run: str | Run | None = None,
        tags: Sequence[str] | None = None,
        chunks: Mapping[str, tuple[int, ...]] | None = None,
    ) -> Item:
        old = self.get(item_id)
        self._check_latest(old)
        merged = {k: v for k, v in old.metadata.items() if k not in set(remove_metadata)}
        merged.update(normalise_metadata(metadata))
        for array_name in remove_arrays:
            if array_name not in old.arrays:
                raise NotFoundError(
                    f"item {old.id} has no array {array_name!r} to remove (has {sorted(old.arrays)})"
                )
        fields = self._validate(
            kind=old.kind, name=old.name if name is None else name,
            description=old.description if description is None else description, metadata=merged,
            inputs=old.inputs if inputs is None else inputs, run=old.run if run is None else run,
            tags=old.tags if tags is None else tags, cache_key=None, project=old.project, private=old.private,
        )  # fmt: skip
        kept = {
            key: _Prepared(info, None, info.hash)
            for key, info in old.arrays.items()
            if key not in set(remove_arrays) and key not in (arrays or {})
        }
        prepared = {**kept, **self._prepare_arrays(arrays or {}, chunks or {})}
        try:
            return self._commit(fields, prepared, previous=old)
        except sa.exc.IntegrityError:
            raise ConflictError(
                f"item {old.id} already has a newer version (made concurrently); create versions from the latest"
            ) from None

    def _check_latest(self, old: Item) -> None:
        with read_tx(self.engine) as conn:
            successor = conn.execute(sa.select(S.items.c.id).where(S.items.c.previous_id == old.id)).scalar()
        if successor is not None:
            raise ConflictError(
                f"item {old.id} (version {old.version}) already has a newer version {successor}; "
                f"make the new version from the latest (kb.latest({old.id!r}))"
            )

    def _validate(
        self, *, kind: str, name: str, description: str, metadata: Mapping[str, Any] | None,
        inputs: Sequence[str | Item], run: str | Run | None, tags: Sequence[str], cache_key: str | None,
        project: str, private: bool,
    ) -> dict[str, Any]:  # fmt: skip
        check_kind(kind)
        if not isinstance(name, str) or not name.strip() or len(name) > 500:
            raise ConfigError(f"name = {name!r} is not allowed: a non-empty string of at most 500 characters")
        if not isinstance(description, str):
            raise ConfigError(f"description = {description!r} must be a string")
        for field, text in (("name", name), ("description", description), *(("tag", t) for t in tags)):
            if isinstance(text, str) and "\x00" in text:
                raise ConfigError(
                    f"{field} = {text!r} contains a NUL character, which no catalogue can store"
                )
        check_project(project)
        tag_list: list[str] = []
        for tag in tags:
            if not isinstance(tag, str) or not tag.strip() or len(tag) > 200:
                raise ConfigError(f"tag {tag!r} is not allowed: a non-empty string of at most 200 characters")
            if tag not in tag_list:
                tag_list.append(tag)
        if cache_key is not None and (
            not isinstance(cache_key, str) or not cache_key or len(cache_key) > 256
        ):
            raise ConfigError(
                f"cache_key = {cache_key!r} must be a non-empty string of at most 256 characters"
            )
        input_ids = [check_id(_id_of(i), name="input") for i in inputs]
        if len(set(input_ids)) != len(input_ids):
            raise ConfigError(f"inputs = {input_ids} lists an item twice")
        run_id = None if run is None else check_id(_id_of(run), name="run")
        return {
            "kind": kind, "name": name, "description": description, "metadata": normalise_metadata(metadata),
            "inputs": input_ids, "run": run_id, "tags": tag_list, "cache_key": cache_key, "project": project,
            "private": bool(private),
        }  # fmt: skip

    def _prepare_arrays(
        self, arrays: Mapping[str, ArrayLike], chunks: Mapping[str, tuple[int, ...]]
    ) -> dict[str, _Prepared]:
        if not isinstance(arrays, Mapping):
            raise ConfigError(f"arrays must map names to arrays, got {type(arrays).__name__}")
        for key in chunks:
            if key not in arrays:
                raise ConfigError(f"chunks names {key!r}, which is not in arrays ({sorted(arrays)})")
        return {
            check_array_name(key): self._prepare_array(key, value, chunks.get(key))
            for key, value in arrays.items()
        }

    def _prepare_array(self, key: str, value: ArrayLike, chunks: tuple[int, ...] | None) -> _Prepared:
        if isinstance(value, ArrayInfo):
            value = value.hash
        if isinstance(value, str):
            info = self._blob_info(check_hash(value))
            if info is None:
                raise NotFoundError(f"array {key!r}: no blob with hash {value} is stored (put_blob it first)")
            return _Prepared(info, None, value)
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):
            value = np.asarray(value)
        dtype = canonical_dtype(value.dtype)
        shape = tuple(int(n) for n in value.shape)
        digest = array_hash(value)
        info = self._blob_info(digest)
        if info is not None:
            return _Prepared(info, None, value)
        path, used = self.blobs.write(value, digest, chunks=chunks)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        info = ArrayInfo(hash=digest, dtype=dtype.str, shape=shape, chunks=used, nbytes=nbytes)
        return _Prepared(info, path, value)

    def _rewrite(self, prepared: Mapping[str, _Prepared], digest: str | None = None) -> None:
        for entry in prepared.values():
            if digest is not None and entry.info.hash != digest:
                continue
            if isinstance(entry.source, str):
                raise NotFoundError(
                    f"blob {entry.source} was deleted while being referenced; put the array again"
                )
            chunks = entry.info.chunks if entry.info.shape else None
            entry.new_path, _ = self.blobs.write(entry.source, entry.info.hash, chunks=chunks)

    def _blob_info(self, digest: str, conn: sa.Connection | None = None) -> ArrayInfo | None:
        query = sa.select(S.blobs).where(S.blobs.c.hash == digest)
        if conn is None:
            with read_tx(self.engine) as c:
                row = c.execute(query).first()
        else:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ArrayInfo(
            hash=row.hash,
            dtype=row.dtype,
            shape=tuple(row.shape),
            chunks=tuple(row.chunks),
            nbytes=row.nbytes,
        )

    def _insert_blobs(self, conn: sa.Connection, prepared: Mapping[str, _Prepared]) -> list[str]:
        """Insert blob rows of new copies; return our copies that lost to another writer's. Raises _BlobMissing."""
        redundant: list[str] = []
        insert = pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert
        for entry in prepared.values():
            info = entry.info
            if entry.new_path is not None:
                row = {
                    "hash": info.hash, "path": entry.new_path, "dtype": info.dtype, "shape": list(info.shape),
                    "chunks": list(info.chunks), "nbytes": info.nbytes, "created_at": _now(),
                }  # fmt: skip
                conn.execute(insert(S.blobs).values(**row).on_conflict_do_nothing(index_elements=["hash"]))
            stored = conn.execute(sa.select(S.blobs.c.path).where(S.blobs.c.hash == info.hash)).scalar()
            if stored is None:
                raise _BlobMissing(info.hash)
            if entry.new_path is not None and stored != entry.new_path:
                redundant.append(entry.new_path)
        return redundant

    def _commit(
        self, fields: dict[str, Any], prepared: dict[str, _Prepared], *, previous: Item | None
    ) -> Item:
        if _FAULT_HOOK is not None:
            _FAULT_HOOK("blobs_written")
        item_id = new_id()
        for _ in range(5):
            try:
                with write_tx(self.engine) as conn:
                    redundant = self._insert_blobs(conn, prepared)
                    self._insert_item(conn, item_id, fields, prepared, previous)
                break
            except _BlobMissing as missing:
                self._rewrite(prepared, missing.digest)
            except sa.exc.IntegrityError:
                self._discard_new_copies(prepared)
                raise
        else:  # pragma: no cover - needs five concurrent deletes in a row
            raise ConflictError("blobs kept disappearing while being stored; retry")
        for path in redundant:
            self.blobs.remove(path)
        return self.get(item_id)

    def _discard_new_copies(self, prepared: Mapping[str, _Prepared]) -> None:
        with read_tx(self.engine) as conn:
            for entry in prepared.values():
                if entry.new_path is None:
                    continue
                stored = conn.execute(
                    sa.select(S.blobs.c.path).where(S.blobs.c.hash == entry.info.hash)
                ).scalar()
                if stored != entry.new_path:
                    self.blobs.remove(entry.new_path)

    def _insert_item(
        self, conn: sa.Connection, item_id: str, fields: dict[str, Any], prepared: Mapping[str, _Prepared],
        previous: Item | None,
    ) -> None:  # fmt: skip
        self._insert_items(conn, [(item_id, fields, prepared, previous)])

    def _insert_items(
        self,
        conn: sa.Connection,
        entries: Sequence[tuple[str, dict[str, Any], Mapping[str, _Prepared], Item | None]],
    ) -> None:
        """Insert items and their rows with one executemany per table."""
        own = {item_id for item_id, *_ in entries}
        wanted = sorted({i for _, fields, _, _ in entries for i in fields["inputs"] if i not in own})
        input_pks = self._pks(conn, wanted)
        missing = [i for i in wanted if i not in input_pks]
        if missing:
            raise NotFoundError(
                f"inputs {missing} do not exist (inputs must be stored before the items made from them)"
            )
        runs = sorted({fields["run"] for _, fields, _, _ in entries if fields["run"] is not None})
        if runs:
            found = set(conn.execute(sa.select(S.runs.c.id).where(S.runs.c.id.in_(runs))).scalars())
            absent = [r for r in runs if r not in found]
            if absent:
                raise NotFoundError(f"run {absent[0]} does not exist (start it with kb.start_run)")
        now = _now()
        rows = []
        for item_id, fields, _, previous in entries:
            row: dict[str, Any] = {
                "id": item_id,
                "series": item_id if previous is None else previous.series,
                "version": 1 if previous is None else previous.version + 1,
                "previous_id": None if previous is None else previous.id,
                "is_latest": True,
                "kind": fields["kind"],
                "name": fields["name"],
                "description": fields["description"],
                "project": fields["project"],
                "private": fields["private"],
                "metadata": fields["metadata"],
                "run_id": fields["run"],
                "cache_key": fields["cache_key"],
                "created_at": now,
                "fts_text": " ".join([fields["name"], fields["description"], *fields["tags"]]),
            }
            rows.append(row)
        statement = sa.insert(S.items).returning(S.items.c.id, S.items.c.pk, sort_by_parameter_order=True)
        if self.dialect == "postgresql":
            statement = statement.values(fts=sa.func.to_tsvector("simple", sa.bindparam("fts_text")))
        else:
            for row in rows:
                del row["fts_text"]
        pk_of: dict[str, int] = {row[0]: row[1] for row in conn.execute(statement, rows)}
        input_pks.update(pk_of)
        previous_ids = [previous.id for _, _, _, previous in entries if previous is not None]
        if previous_ids:
            conn.execute(sa.update(S.items).where(S.items.c.id.in_(previous_ids)).values(is_latest=False))
        arrays: list[dict[str, Any]] = []
        inputs: list[dict[str, Any]] = []
        tags: list[dict[str, Any]] = []
        props: list[dict[str, Any]] = []
        fts: list[dict[str, Any]] = []
        for item_id, fields, prepared, _ in entries:
            pk = pk_of[item_id]
            arrays.extend(
                {"item_pk": pk, "name": key, "blob_hash": e.info.hash} for key, e in prepared.items()
            )
            inputs.extend(
                {"item_pk": pk, "input_pk": input_pks[i], "position": n}
                for n, i in enumerate(fields["inputs"])
            )
            tags.extend({"item_pk": pk, "tag": t} for t in fields["tags"])
            props.extend(
                {"item_pk": pk, "key": k, "num": n, "txt": t} for k, n, t in flatten(fields["metadata"])
            )
            fts.append(
                {"pk": pk, "n": fields["name"], "d": fields["description"], "t": " ".join(fields["tags"])}
            )
        for table, values in ((S.item_arrays, arrays), (S.item_inputs, inputs), (S.item_tags, tags),
                              (S.item_props, props)):  # fmt: skip
            if values:
                conn.execute(sa.insert(table), values)
        if self.dialect == "sqlite":
            conn.execute(
                sa.text("INSERT INTO items_fts(rowid, name, description, tags) VALUES (:pk, :n, :d, :t)"), fts
            )

    def put_many(
        self, records: Sequence[Mapping[str, Any]], *, chunks: Mapping[str, tuple[int, ...]] | None = None
    ) -> list[str]:
        """Store many new items in one transaction (the bulk path: catalogue imports, benchmarks).

        Each record holds the keyword arguments of :meth:`put` (``kind``, ``name``, ``metadata``, ``arrays``,
        ``inputs``, ``tags``, ...). All or nothing: if one record is invalid, none is stored. Records with a ``cache_key`` that exists are
        refused (use :meth:`put` for memoisation). Returns the new ids in order.
        """
        ids = [new_id() for _ in records]
        entries = []
        redundant: list[str] = []
        allowed = {"kind", "name", "description", "metadata", "arrays", "inputs", "run", "tags", "cache_key",
                   "project", "private"}  # fmt: skip
        for n, record in enumerate(records):
            unknown = set(record) - allowed
            if unknown:
                raise ConfigError(
                    f"record {n} has unknown fields {sorted(unknown)} (allowed: {sorted(allowed)})"
                )
            fields = self._validate(
                kind=record.get("kind", ""), name=record.get("name", ""), description=record.get("description", ""),
                metadata=record.get("metadata"), inputs=record.get("inputs", ()), run=record.get("run"),
                tags=record.get("tags", ()), cache_key=record.get("cache_key"),
                project=record.get("project", "default"), private=record.get("private", False),
            )  # fmt: skip
            entries.append(
                (ids[n], fields, self._prepare_arrays(record.get("arrays") or {}, chunks or {}), None)
            )
        for _ in range(5):
            try:
                with write_tx(self.engine) as conn:
                    redundant = []
                    for _, _, prepared, _ in entries:
                        redundant.extend(self._insert_blobs(conn, prepared))
                    self._insert_items(conn, entries)
                break
            except _BlobMissing as missing:
                for _, _, prepared, _ in entries:
                    self._rewrite(prepared, missing.digest)
            except sa.exc.IntegrityError as exc:
                for _, _, prepared, _ in entries:
                    self._discard_new_copies(prepared)
                raise ConflictError(
                    f"the batch conflicts with stored items (a cache_key exists?): {exc.orig}"
                ) from None
        else:  # pragma: no cover
            raise ConflictError("blobs kept disappearing while being stored; retry")
        for path in redundant:
            self.blobs.remove(path)
        return ids

    def _pks(self, conn: sa.Connection, ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for batch in _batches(list(ids)):
            for row in conn.execute(sa.select(S.items.c.id, S.items.c.pk).where(S.items.c.id.in_(batch))):
                out[row.id] = row.pk
        return out

    # ================================================================== items: read

    def get(self, item_id: str | Item) -> Item:
        key = check_id(_id_of(item_id))
        with read_tx(self.engine) as conn:
            found = self._load(conn, sa.select(*_ITEM_COLUMNS).where(S.items.c.id == key))
        if not found:
            raise NotFoundError(f"no item with id {key}")
        return found[0]

    def latest(self, item_id: str | Item) -> Item:
        item = self.get(item_id)
        with read_tx(self.engine) as conn:
            found = self._load(
                conn,
                sa.select(*_ITEM_COLUMNS)
                .where(S.items.c.series == item.series)
                .order_by(S.items.c.is_latest.desc(), S.items.c.version.desc())
                .limit(1),
            )
        return found[0]

    def versions(self, item_id: str | Item) -> list[Item]:
        item = self.get(item_id)
        with read_tx(self.engine) as conn:
            return self._load(
                conn,
                sa.select(*_ITEM_COLUMNS).where(S.items.c.series == item.series).order_by(S.items.c.version),
            )

    def find_by_key(self, cache_key: str) -> Item | None:
        with read_tx(self.engine) as conn:
            found = self._load(conn, sa.select(*_ITEM_COLUMNS).where(S.items.c.cache_key == cache_key))
        return found[0] if found else None

    def _load(self, conn: sa.Connection, query: sa.Select[Any]) -> list[Item]:
        rows = conn.execute(query).all()
        if not rows:
            return []
        pks = [row.pk for row in rows]
        arrays: dict[int, dict[str, ArrayInfo]] = {pk: {} for pk in pks}
        inputs: dict[int, list[str]] = {pk: [] for pk in pks}
        tags: dict[int, list[str]] = {pk: [] for pk in pks}
        for batch in _batches(pks):
            # plain SQL with the integer keys inlined: these run for every search, and building 3 x 100 bound
            # parameters through SQLAlchemy costs more than the queries themselves
            listed = ",".join(str(int(pk)) for pk in batch)
            for r in conn.exec_driver_sql(
                "SELECT a.item_pk, a.name, b.hash, b.dtype, b.shape, b.chunks, b.nbytes FROM item_arrays a "
                f"JOIN blobs b ON b.hash = a.blob_hash WHERE a.item_pk IN ({listed}) ORDER BY a.name"
            ):
                arrays[r[0]][r[1]] = ArrayInfo(
                    hash=r[2],
                    dtype=r[3],
                    shape=tuple(_json(r[4])),
                    chunks=tuple(_json(r[5])),
                    nbytes=int(r[6]),
                )
            for r in conn.exec_driver_sql(
                "SELECT i.item_pk, p.id FROM item_inputs i JOIN items p ON p.pk = i.input_pk "
                f"WHERE i.item_pk IN ({listed}) ORDER BY i.item_pk, i.position"
            ):
                inputs[r[0]].append(r[1])
            for r in conn.exec_driver_sql(
                f"SELECT item_pk, tag FROM item_tags WHERE item_pk IN ({listed}) ORDER BY tag"
            ):
                tags[r[0]].append(r[1])
        return [
            Item(
                id=row.id,
                series=row.series,
                version=row.version,
                previous=row.previous_id,
                kind=row.kind,
                name=row.name,
                description=row.description,
                project=row.project,
                private=bool(row.private),
                metadata=row.metadata,
                arrays=arrays[row.pk],
                inputs=tuple(inputs[row.pk]),
                run=row.run_id,
                tags=tuple(tags[row.pk]),
                cache_key=row.cache_key,
                created_at=_utc(row.created_at) or _now(),
            )
            for row in rows
        ]

    # ================================================================== tags

    def add_tags(self, item_id: str | Item, tags: Sequence[str]) -> Item:
        return self._change_tags(item_id, tags, add=True)

    def remove_tags(self, item_id: str | Item, tags: Sequence[str]) -> Item:
        return self._change_tags(item_id, tags, add=False)

    def _change_tags(self, item_id: str | Item, tags: Sequence[str], *, add: bool) -> Item:
        item = self.get(item_id)
        for tag in tags:
            if not isinstance(tag, str) or not tag.strip() or len(tag) > 200:
                raise ConfigError(f"tag {tag!r} is not allowed: a non-empty string of at most 200 characters")
        with write_tx(self.engine) as conn:
            pk = conn.execute(sa.select(S.items.c.pk).where(S.items.c.id == item.id)).scalar()
            if pk is None:
                raise NotFoundError(f"no item with id {item.id}")
            current = set(
                conn.execute(sa.select(S.item_tags.c.tag).where(S.item_tags.c.item_pk == pk)).scalars()
            )
            if add:
                new = [t for t in dict.fromkeys(tags) if t not in current]
                if new:
                    conn.execute(sa.insert(S.item_tags), [{"item_pk": pk, "tag": t} for t in new])
                final = sorted(current | set(new))
            else:
                conn.execute(
                    sa.delete(S.item_tags).where(
                        S.item_tags.c.item_pk == pk, S.item_tags.c.tag.in_(list(tags))
                    )
                )
                final = sorted(current - set(tags))
            self._update_fts(conn, pk, item.name, item.description, final)
        return self.get(item.id)

    def _update_fts(
        self, conn: sa.Connection, pk: int, name: str, description: str, tags: Sequence[str]
    ) -> None:
        if self.dialect == "sqlite":
            conn.execute(sa.text("DELETE FROM items_fts WHERE rowid = :pk"), {"pk": pk})
            conn.execute(
                sa.text("INSERT INTO items_fts(rowid, name, description, tags) VALUES (:pk, :n, :d, :t)"),
                {"pk": pk, "n": name, "d": description, "t": " ".join(tags)},
            )
        elif self.dialect == "postgresql":
            text = " ".join([name, description, *tags])
            conn.execute(
                sa.update(S.items).where(S.items.c.pk == pk).values(fts=sa.func.to_tsvector("simple", text))
            )

    # ================================================================== arrays

    def _array_path(self, item_id: str | Item, name: str) -> tuple[str, ArrayInfo]:
        key = check_id(_id_of(item_id))
        with read_tx(self.engine) as conn:
            row = conn.execute(
                sa.select(S.blobs)
                .join(S.item_arrays, S.item_arrays.c.blob_hash == S.blobs.c.hash)
                .join(S.items, S.items.c.pk == S.item_arrays.c.item_pk)
                .where(S.items.c.id == key, S.item_arrays.c.name == name)
            ).first()
            if row is None:
                if conn.execute(sa.select(S.items.c.pk).where(S.items.c.id == key)).scalar() is None:
                    raise NotFoundError(f"no item with id {key}")
                names = (
                    conn.execute(
                        sa.select(S.item_arrays.c.name)
                        .join(S.items, S.items.c.pk == S.item_arrays.c.item_pk)
                        .where(S.items.c.id == key)
                    )
                    .scalars()
                    .all()
                )
                raise NotFoundError(f"item {key} has no array {name!r} (arrays: {sorted(names)})")
        info = ArrayInfo(
            hash=row.hash,
            dtype=row.dtype,
            shape=tuple(row.shape),
            chunks=tuple(row.chunks),
            nbytes=row.nbytes,
        )
        return row.path, info

    def read_array(self, item_id: str | Item, name: str, region: Region = None) -> np.ndarray:
        path, _ = self._array_path(item_id, name)
        return self.blobs.read(path, region)

    def open_array(self, item_id: str | Item, name: str) -> Any:
        """The stored array as a read-only :class:`zarr.Array` (lazy; index it to read chunks)."""
        path, _ = self._array_path(item_id, name)
        return self.blobs.open(path)

    def array_info(self, item_id: str | Item, name: str) -> ArrayInfo:
        return self._array_path(item_id, name)[1]

    # ================================================================== runs

    def start_run(
        self,
        *,
        workflow: str,
        parameters: Mapping[str, Any] | None = None,
        code_version: str | None = None,
        environment: Mapping[str, Any] | None = None,
        project: str = "default",
    ) -> Run:
        if not isinstance(workflow, str) or not workflow.strip() or len(workflow) > 200:
            raise ConfigError(f"workflow = {workflow!r} must be a non-empty string of at most 200 characters")
        check_project(project)
        record = Run(
            id=new_id(), workflow=workflow, parameters=normalise_metadata(parameters, where="parameters"),
            code_version=code_version if code_version is not None else default_code_version(),
            environment=normalise_metadata(environment if environment is not None else default_environment(),
                                           where="environment"),
            status="running", started_at=_now(), project=project,
        )  # fmt: skip
        with write_tx(self.engine) as conn:
            conn.execute(
                sa.insert(S.runs).values(
                    id=record.id,
                    workflow=record.workflow,
                    parameters=dict(record.parameters),
                    code_version=record.code_version,
                    environment=dict(record.environment),
                    status=record.status,
                    started_at=record.started_at,
                    finished_at=None,
                    logs="",
                    project=record.project,
                )
            )
        return record

    def finish_run(self, run: str | Run, *, status: str = "succeeded", logs: str = "") -> Run:
        if status not in RUN_STATUSES[1:]:
            raise ConfigError(f"status = {status!r} is not allowed: one of {', '.join(RUN_STATUSES[1:])}")
        run_id = check_id(_id_of(run), name="run")
        with write_tx(self.engine) as conn:
            found = conn.execute(
                sa.select(S.runs.c.status, S.runs.c.logs).where(S.runs.c.id == run_id)
            ).first()
            if found is None:
                raise NotFoundError(f"no run with id {run_id}")
            if found.status != "running":
                raise ConflictError(f"run {run_id} already finished with status {found.status!r}")
            conn.execute(
                sa.update(S.runs)
                .where(S.runs.c.id == run_id)
                .values(status=status, finished_at=_now(), logs=str(logs))
            )
        return self.get_run(run_id)

    def get_run(self, run_id: str | Run) -> Run:
        key = check_id(_id_of(run_id), name="run")
        with read_tx(self.engine) as conn:
            row = conn.execute(sa.select(S.runs).where(S.runs.c.id == key)).first()
        if row is None:
            raise NotFoundError(f"no run with id {key}")
        return Run(
            id=row.id, workflow=row.workflow, parameters=row.parameters, code_version=row.code_version,
            environment=row.environment, status=row.status, started_at=_utc(row.started_at) or _now(),
            finished_at=_utc(row.finished_at), logs=row.logs, project=row.project,
        )  # fmt: skip

    def runs(self, *, workflow: str | None = None, status: str | None = None, limit: int = 100) -> list[Run]:
        """Recent runs, newest first."""
        query = sa.select(S.runs.c.id).order_by(S.runs.c.started_at.desc()).limit(limit)
        if workflow is not None:
            query = query.where(S.runs.c.workflow == workflow)
        if status is not None:
            query = query.where(S.runs.c.status == status)
        with read_tx(self.engine) as conn:
            ids = conn.execute(query).scalars().all()
        return [self.get_run(i) for i in ids]

    # ================================================================== search

    def _conditions(
        self, query: str | None, *, kind: str | None, text: str | None, tags: Sequence[str], project: str | None,
        latest: bool, visible_projects: Sequence[str] | None = None,
    ) -> list[sa.ColumnElement[bool]]:  # fmt: skip
        conditions: list[sa.ColumnElement[bool]] = []
        if query:
            tree = parse_query(query)
            if self.dialect == "postgresql":
                conditions.append(S.items.c.pk == sa.any_(ArrayOf(compile_pk_set(tree))))
            else:
                conditions.append(S.items.c.pk.in_(compile_pk_set(tree)))
        if kind:
            check_kind(kind)
            kind_column = S.items.c.kind
            conditions.append(
                sa.or_(kind_column == kind, sa.and_(kind_column >= f"{kind}.", kind_column < f"{kind}/"))
            )
        if text:
            terms = _text_terms(text)
            if terms and self.dialect == "sqlite":
                match = " ".join(f'"{t}"*' for t in terms)
                conditions.append(
                    S.items.c.pk.in_(
                        sa.text("SELECT rowid FROM items_fts WHERE items_fts MATCH :m").bindparams(m=match)
                    )
                )
            elif terms:
                tsquery = " & ".join(f"{t}:*" for t in terms)
                conditions.append(S.items.c.fts.bool_op("@@")(sa.func.to_tsquery("simple", tsquery)))
        for tag in tags:
            conditions.append(
                S.items.c.pk.in_(sa.select(S.item_tags.c.item_pk).where(S.item_tags.c.tag == tag))
            )
        if project is not None:
            conditions.append(S.items.c.project == project)
        if latest:
            conditions.append(S.items.c.is_latest == sa.true())
        if visible_projects is not None:
            conditions.append(
                sa.or_(S.items.c.private == sa.false(), S.items.c.project.in_(list(visible_projects)))
            )
        return conditions

    def search(
        self,
        query: str | None = None,
        *,
        kind: str | None = None,
        text: str | None = None,
        tags: Sequence[str] = (),
        project: str | None = None,
        latest: bool = True,
        limit: int = 100,
        offset: int = 0,
        visible_projects: Sequence[str] | None = None,
    ) -> list[Item]:
        if not 0 <= int(limit) <= 100_000:
            raise ConfigError(f"limit = {limit!r} is not allowed: must be between 0 and 100000")
        if int(offset) < 0:
            raise ConfigError(f"offset = {offset!r} is not allowed: must be >= 0")
        conditions = self._conditions(
            query,
            kind=kind,
            text=text,
            tags=tags,
            project=project,
            latest=latest,
            visible_projects=visible_projects,
        )
        select = (
            sa.select(*_ITEM_COLUMNS)
            .where(*conditions)
            .order_by(S.items.c.pk.desc())
            .limit(limit)
            .offset(offset)
        )
        with read_tx(self.engine) as conn:
            return self._load(conn, select)

    def count(
        self,
        query: str | None = None,
        *,
        kind: str | None = None,
        text: str | None = None,
        tags: Sequence[str] = (),
        project: str | None = None,
        latest: bool = True,
        visible_projects: Sequence[str] | None = None,
    ) -> int:
        conditions = self._conditions(
            query,
            kind=kind,
            text=text,
            tags=tags,
            project=project,
            latest=latest,
            visible_projects=visible_projects,
        )
        with read_tx(self.engine) as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(S.items).where(*conditions)).scalar() or 0
            )

    # ================================================================== lineage

    def _walk(
        self, conn: sa.Connection, root_pk: int, *, direction: str, depth: int | None
    ) -> dict[int, int]:
        """pk -> shortest distance of every item reachable from ``root_pk`` (recursive CTE)."""
        edges = S.item_inputs
        src, dst = (
            (edges.c.item_pk, edges.c.input_pk)
            if direction == "ancestors"
            else (edges.c.input_pk, edges.c.item_pk)
        )
        walk = (
            sa.select(dst.label("pk"), sa.literal(1).label("d"))
            .where(src == root_pk)
            .cte("walk", recursive=True)
        )
        step = sa.select(dst, (walk.c.d + 1)).where(src == walk.c.pk)
        if depth is not None:
            step = step.where(walk.c.d < depth)
        walk = walk.union(step)
        rows = conn.execute(sa.select(walk.c.pk, sa.func.min(walk.c.d)).group_by(walk.c.pk)).all()
        return {int(pk): int(d) for pk, d in rows}

    def lineage(
        self, item_id: str | Item, *, direction: str = "ancestors", depth: int | None = None
    ) -> Lineage:
        if direction not in ("ancestors", "descendants"):
            raise ConfigError(f"direction = {direction!r} is not allowed: 'ancestors' or 'descendants'")
        if depth is not None and int(depth) < 1:
            raise ConfigError(f"depth = {depth!r} is not allowed: must be >= 1 (or None for unlimited)")
        root = self.get(item_id)
        with read_tx(self.engine) as conn:
            root_pk = conn.execute(sa.select(S.items.c.pk).where(S.items.c.id == root.id)).scalar_one()
            distance = self._walk(conn, root_pk, direction=direction, depth=depth)
            pks = sorted(distance)
            related: list[Item] = []
            for batch in _batches(pks):
                related.extend(self._load(conn, sa.select(*_ITEM_COLUMNS).where(S.items.c.pk.in_(batch))))
            id_of = {root_pk: root.id}
            for batch in _batches(pks):
                id_of.update(
                    dict(
                        conn.execute(
                            sa.select(S.items.c.pk, S.items.c.id).where(S.items.c.pk.in_(batch))
                        ).all()
                    )
                )
            members = set(id_of)
            edges: list[tuple[str, str]] = []
            for batch in _batches(sorted(members)):
                for child, parent in conn.execute(
                    sa.select(S.item_inputs.c.item_pk, S.item_inputs.c.input_pk).where(
                        S.item_inputs.c.item_pk.in_(batch)
                    )
                ):
                    if parent in members:
                        edges.append((id_of[parent], id_of[child]))
        by_id = {item.id: item for item in related}
        depth_of = {id_of[pk]: d for pk, d in distance.items()}
        ordered = sorted(by_id.values(), key=lambda it: (depth_of[it.id], it.id))
        return Lineage(
            root=root, direction=direction, items=tuple(ordered), depth=depth_of, edges=tuple(sorted(edges))
        )

    # ================================================================== delete, gc, verify

    def delete(self, item_id: str | Item, *, recursive: bool = False) -> GcReport:
        root = self.get(item_id)
        with write_tx(self.engine) as conn:
            root_pk = conn.execute(sa.select(S.items.c.pk).where(S.items.c.id == root.id)).scalar()
            if root_pk is None:
                raise NotFoundError(f"no item with id {root.id}")
            below = self._walk(conn, root_pk, direction="descendants", depth=None)
            if below and not recursive:
                derived = (
                    conn.execute(sa.select(S.items.c.id).where(S.items.c.pk.in_(sorted(below)[:_BATCH])))
                    .scalars()
                    .all()
                )
                shown = ", ".join(sorted(derived)[:5]) + (" ..." if len(below) > 5 else "")
                raise LineageError(
                    f"item {root.id} cannot be deleted: {len(below)} item(s) were derived from it ({shown}); "
                    f"delete them first or pass recursive=True"
                )
            # delete children before parents: order by the longest derivation path from the root
            longest = self._longest_paths(conn, root_pk, set(below))
            doomed = [root_pk, *below]
            hashes: set[str] = set()
            ids: list[str] = []
            for batch in _batches(doomed):
                hashes.update(
                    conn.execute(
                        sa.select(S.item_arrays.c.blob_hash).where(S.item_arrays.c.item_pk.in_(batch))
                    ).scalars()
                )
            for level in sorted(set(longest.values()), reverse=True):
                level_pks = [pk for pk, d in longest.items() if d == level]
                for batch in _batches(level_pks):
                    rows = conn.execute(
                        sa.select(
                            S.items.c.pk, S.items.c.id, S.items.c.previous_id, S.items.c.is_latest
                        ).where(S.items.c.pk.in_(batch))
                    ).all()
                    ids.extend(r.id for r in rows)
                    conn.execute(sa.delete(S.items).where(S.items.c.pk.in_(batch)))
                    if self.dialect == "sqlite":
                        conn.execute(
                            sa.text("DELETE FROM items_fts WHERE rowid IN :pks").bindparams(
                                sa.bindparam("pks", expanding=True)
                            ),
                            {"pks": list(batch)},
                        )
                    for r in rows:  # the previous version becomes the latest again
                        if r.is_latest and r.previous_id is not None:
                            conn.execute(
                                sa.update(S.items).where(S.items.c.id == r.previous_id).values(is_latest=True)
                            )
        removed, freed = self._drop_unreferenced(sorted(hashes))
        return GcReport(removed_blobs=removed, freed_bytes=freed, removed_items=tuple(ids))

    def _longest_paths(self, conn: sa.Connection, root_pk: int, below: set[int]) -> dict[int, int]:
        longest = {root_pk: 0, **dict.fromkeys(below, 0)}
        if not below:
            return longest
        members = set(longest)
        children: dict[int, list[int]] = {}
        for batch in _batches(sorted(members)):
            for child, parent in conn.execute(
                sa.select(S.item_inputs.c.item_pk, S.item_inputs.c.input_pk).where(
                    S.item_inputs.c.input_pk.in_(batch)
                )
            ):
                if child in members:
                    children.setdefault(parent, []).append(child)
        order: list[int] = []  # topological order (parents first), iterative DFS
        seen: set[int] = set()
        for start in sorted(members):
            if start in seen:
                continue
            stack: list[tuple[int, bool]] = [(start, False)]
            while stack:
                node, done = stack.pop()
                if done:
                    order.append(node)
                    continue
                if node in seen:
                    continue
                seen.add(node)
                stack.append((node, True))
                stack.extend((c, False) for c in children.get(node, []) if c not in seen)
        for node in reversed(order):
            for child in children.get(node, []):
                longest[child] = max(longest[child], longest[node] + 1)
        return longest

    def _drop_unreferenced(
        self, hashes: Sequence[str], *, older_than: datetime | None = None
    ) -> tuple[int, int]:
        """Drop the blob rows among ``hashes`` that nothing references, then their copies. Returns (count, bytes)."""
        removed = freed = 0
        for digest in hashes:
            try:
                with write_tx(self.engine) as conn:
                    condition = sa.and_(
                        S.blobs.c.hash == digest,
                        ~sa.exists().where(S.item_arrays.c.blob_hash == digest),
                    )
                    if older_than is not None:
                        condition = sa.and_(condition, S.blobs.c.created_at < older_than)
                    path = conn.execute(sa.select(S.blobs.c.path).where(condition)).scalar()
                    if path is None:
                        continue
                    conn.execute(sa.delete(S.blobs).where(S.blobs.c.hash == digest))
            except sa.exc.IntegrityError:  # referenced meanwhile by a concurrent put: keep it
                continue
            freed += self.blobs.remove(path)
            removed += 1
        return removed, freed

    def gc(self, *, grace_s: float = 3600.0) -> GcReport:
        check_range("grace_s", grace_s, low=0, high=MAX_GRACE_S, unit="s")
        cutoff = _now() - timedelta(seconds=float(grace_s))
        with read_tx(self.engine) as conn:
            unreferenced = (
                conn.execute(
                    sa.select(S.blobs.c.hash).where(
                        ~sa.exists().where(S.item_arrays.c.blob_hash == S.blobs.c.hash)
                    )
                )
                .scalars()
                .all()
            )
        removed, freed = self._drop_unreferenced(sorted(unreferenced), older_than=cutoff)
        with read_tx(self.engine) as conn:
            known = set(conn.execute(sa.select(S.blobs.c.path)).scalars())
        for path in list(self.blobs.paths()):
            if path not in known and self.blobs.path_time(path) < cutoff.timestamp():
                with read_tx(self.engine) as conn:  # re-check: a writer may have committed it just now
                    if (
                        conn.execute(sa.select(S.blobs.c.hash).where(S.blobs.c.path == path)).first()
                        is not None
                    ):
                        continue
                freed += self.blobs.remove(path)
                removed += 1
        return GcReport(removed_blobs=removed, freed_bytes=freed)

    def verify(self, items: Sequence[str | Item] | None = None) -> VerifyReport:
        with read_tx(self.engine) as conn:
            if items is None:
                rows = conn.execute(sa.select(S.blobs.c.hash, S.blobs.c.path)).all()
            else:
                ids = [check_id(_id_of(i)) for i in items]
                rows = conn.execute(
                    sa.select(S.blobs.c.hash, S.blobs.c.path)
                    .distinct()
                    .join(S.item_arrays, S.item_arrays.c.blob_hash == S.blobs.c.hash)
                    .join(S.items, S.items.c.pk == S.item_arrays.c.item_pk)
                    .where(S.items.c.id.in_(ids))
                ).all()
        corrupted: dict[str, str] = {}
        for digest, path in rows:
            try:
                actual = self.blobs.rehash(path)
            except Exception as exc:  # unreadable chunk, missing file, codec error: all corruption
                corrupted[digest] = f"unreadable: {type(exc).__name__}: {exc}"
                continue
            if actual != digest:
                corrupted[digest] = f"content hash is {actual}"
        affected: list[str] = []
        if corrupted:
            with read_tx(self.engine) as conn:
                affected = sorted(
                    conn.execute(
                        sa.select(S.items.c.id)
                        .distinct()
                        .join(S.item_arrays, S.item_arrays.c.item_pk == S.items.c.pk)
                        .where(S.item_arrays.c.blob_hash.in_(sorted(corrupted)))
                    ).scalars()
                )
        return VerifyReport(checked=len(rows), corrupted=corrupted, affected_items=tuple(affected))

    # ================================================================== tokens (for xrai serve)

    def create_token(
        self, name: str, *, scopes: Sequence[str] = ("read",), projects: Sequence[str] | None = None
    ) -> str:
        """Create an HTTP access token and return its secret (shown once; only its hash is stored)."""
        for scope in scopes:
            if scope not in SCOPES:
                raise ConfigError(f"scope {scope!r} is not allowed: one of {', '.join(SCOPES)}")
        if not scopes:
            raise ConfigError("scopes must name at least one of read, write, admin")
        for project in projects or ():
            check_project(project)
        secret = "xrai_" + secrets.token_urlsafe(32)
        with write_tx(self.engine) as conn:
            conn.execute(
                sa.insert(S.tokens).values(
                    id=new_id(),
                    name=str(name),
                    token_hash=_token_hash(secret),
                    scopes=list(scopes),
                    projects=None if projects is None else list(projects),
                    created_at=_now(),
                    revoked=False,
                )
            )
        return secret

    def check_token(self, secret: str) -> TokenInfo | None:
        """The token with this secret, or ``None`` if unknown or revoked."""
        if not isinstance(secret, str) or not secret.startswith("xrai_") or len(secret) > 200:
            return None
        with read_tx(self.engine) as conn:
            row = conn.execute(
                sa.select(S.tokens).where(
                    S.tokens.c.token_hash == _token_hash(secret), S.tokens.c.revoked == sa.false()
                )
            ).first()
        if row is None:
            return None
        projects = None if row.projects is None else tuple(row.projects)
        return TokenInfo(id=row.id, name=row.name, scopes=tuple(row.scopes), projects=projects)

    def list_tokens(self) -> list[TokenInfo]:
        with read_tx(self.engine) as conn:
            rows = conn.execute(sa.select(S.tokens).where(S.tokens.c.revoked == sa.false())).all()
        return [
            TokenInfo(
                id=r.id,
                name=r.name,
                scopes=tuple(r.scopes),
                projects=None if r.projects is None else tuple(r.projects),
            )
            for r in rows
        ]

    def revoke_token(self, token_id: str) -> None:
        with write_tx(self.engine) as conn:
            done = conn.execute(
                sa.update(S.tokens).where(S.tokens.c.id == token_id).values(revoked=True)
            ).rowcount
        if not done:
            raise NotFoundError(f"no token with id {token_id!r}")

    # ================================================================== statistics

    def stats(self) -> dict[str, Any]:
        """Counts of items (by kind), versions, runs and blobs, and the uncompressed bytes of all blobs."""
        with read_tx(self.engine) as conn:
            by_kind: dict[str, int] = dict(
                conn.execute(sa.select(S.items.c.kind, sa.func.count()).group_by(S.items.c.kind)).all()
            )
            blobs = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(S.blobs.c.nbytes), 0))
            ).one()
            runs = conn.execute(sa.select(sa.func.count()).select_from(S.runs)).scalar()
        return {"items": sum(by_kind.values()), "by_kind": by_kind, "runs": int(runs or 0), "blobs": int(blobs[0]),
                "blob_bytes": int(blobs[1])}  # fmt: skip


def _token_hash(secret: str) -> str:
    import blake3

    return str(blake3.blake3(secret.encode()).hexdigest())


def default_code_version() -> str:
    import xrai

    return f"xrai {xrai.__version__}"


def default_environment() -> dict[str, Any]:
    """Python, platform, host, process id and the versions of the main packages."""
    import platform
    import socket
    import sys
    from importlib import metadata as importlib_metadata

    packages: dict[str, str] = {}
    for name in ("xrai", "numpy", "scipy", "zarr", "sqlalchemy", "torch", "monai"):
        try:
            packages[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "packages": packages,
    }
