"""The catalogue schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Index design (see ``docs/knowledge-base.md``):

- ``items``: one row per immutable item version; ``pk`` (integer, creation order) is the join key; ``id`` is
  the public ULID. ``is_latest`` is the only flag that changes (when a successor version is added); unique
  ``previous_id`` keeps history linear; unique ``cache_key`` makes memoised puts idempotent.
- ``item_props``: the metadata search index, one row per scalar leaf (``key``, ``num`` or ``txt``) with covering
  indexes ``(key, num, item_pk)`` and ``(key, txt, item_pk)``: a filter ``energy_kev > 20`` is one index range
  scan whatever the number of items or distinct keys; ``(item_pk, key)`` serves per-item lookups and cascades. The full metadata is also kept as JSON (JSONB with a
  ``jsonb_path_ops`` GIN index on PostgreSQL for ad-hoc containment queries).
- ``item_inputs``: lineage edges (``item_pk`` derived from ``input_pk``), indexed both ways for recursive CTEs;
  ``input_pk`` is ``ON DELETE RESTRICT``, so the database itself refuses to orphan a derived item.
- ``blobs``: one row per stored array content (BLAKE3 hash -> path of its Zarr copy); ``item_arrays`` references
  it ``ON DELETE RESTRICT``, so a blob in use can never be dropped by a concurrent deleter.
- full text: an FTS5 table ``items_fts`` (rowid = items.pk) on SQLite; a ``tsvector`` column with a GIN index on
  PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = [
    "SCHEMA_REVISION",
    "blobs",
    "item_arrays",
    "item_inputs",
    "item_props",
    "item_tags",
    "items",
    "metadata",
    "runs",
    "tokens",
]

#: The Alembic head revision this code expects (kept equal to the newest file in ``migrations/versions``).
SCHEMA_REVISION = "0002"

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime(timezone=True)

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("workflow", sa.String(200), nullable=False, index=True),
    sa.Column("parameters", JSONType, nullable=False),
    sa.Column("code_version", sa.String(200), nullable=False),
    sa.Column("environment", JSONType, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("logs", sa.Text(), nullable=False),
    sa.Column("project", sa.String(100), nullable=False),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("pk", BigInt, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(26), nullable=False, unique=True),
    sa.Column("series", sa.String(26), nullable=False, index=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column(
        "previous_id",
        sa.String(26),
        sa.ForeignKey("items.id", ondelete="SET NULL"),
        nullable=True,
        unique=True,
    ),
    sa.Column("is_latest", sa.Boolean(), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False, index=True),
    sa.Column("name", sa.String(500), nullable=False, index=True),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("project", sa.String(100), nullable=False, index=True),
    sa.Column("private", sa.Boolean(), nullable=False),
    sa.Column("metadata", JSONType, nullable=False),
    sa.Column(
        "run_id", sa.String(26), sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    ),
    sa.Column("cache_key", sa.String(256), nullable=True, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
    sa.Column("fts", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True),
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("path", sa.String(300), nullable=False),
    sa.Column("dtype", sa.String(20), nullable=False),
    sa.Column("shape", JSONType, nullable=False),
    sa.Column("chunks", JSONType, nullable=False),
    sa.Column("nbytes", sa.BigInteger(), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

item_arrays = sa.Table(
    "item_arrays",
    metadata,
    sa.Column("item_pk", BigInt, sa.ForeignKey("items.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column(
        "blob_hash",
        sa.String(64),
        sa.ForeignKey("blobs.hash", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    ),
)

item_inputs = sa.Table(
    "item_inputs",
    metadata,
    sa.Column("item_pk", BigInt, sa.ForeignKey("items.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "input_pk", BigInt, sa.ForeignKey("items.pk", ondelete="RESTRICT"), primary_key=True, index=True
    ),
    sa.Column("position", sa.Integer(), nullable=False),
)

item_tags = sa.Table(
    "item_tags",
    metadata,
    sa.Column("item_pk", BigInt, sa.ForeignKey("items.pk", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag", sa.String(200), primary_key=True, index=True),
)

item_props = sa.Table(
    "item_props",
    metadata,
    sa.Column("item_pk", BigInt, sa.ForeignKey("items.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("num", sa.Float(), nullable=True),
    sa.Column("txt", sa.String(256), nullable=True),
    sa.Index("ix_item_props_item_key", "item_pk", "key"),
    sa.Index("ix_item_props_key_num", "key", "num", "item_pk"),
    sa.Index("ix_item_props_key_txt", "key", "txt", "item_pk"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", JSONType, nullable=False),
    sa.Column("projects", JSONType, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked", sa.Boolean(), nullable=False),
)
