"""Initial catalogue: items, runs, blobs, arrays, lineage, tags, metadata index, tokens, full text.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "runs",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("parameters", JSONType, nullable=False),
        sa.Column("code_version", sa.String(200), nullable=False),
        sa.Column("environment", JSONType, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("logs", sa.Text(), nullable=False),
        sa.Column("project", sa.String(100), nullable=False),
    )
    op.create_index("ix_runs_workflow", "runs", ["workflow"])
    op.create_table(
        "items",
        sa.Column("pk", BigInt, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(26), nullable=False, unique=True),
        sa.Column("series", sa.String(26), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "previous_id",
            sa.String(26),
            sa.ForeignKey("items.id", ondelete="SET NULL"),
            nullable=True,
            unique=True,
        ),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("project", sa.String(100), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("metadata", JSONType, nullable=False),
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("cache_key", sa.String(256), nullable=True, unique=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("fts", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True),
    )
    for column in ("series", "kind", "name", "project", "run_id", "created_at"):
        op.create_index(f"ix_items_{column}", "items", [column])
    op.create_table(
        "blobs",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("dtype", sa.String(20), nullable=False),
        sa.Column("shape", JSONType, nullable=False),
        sa.Column("chunks", JSONType, nullable=False),
        sa.Column("nbytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
    )
    op.create_table(
        "item_arrays",
        sa.Column("item_pk", BigInt, sa.ForeignKey("items.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column(
            "blob_hash", sa.String(64), sa.ForeignKey("blobs.hash", ondelete="RESTRICT"), nullable=False
        ),
    )
    op.create_index("ix_item_arrays_blob_hash", "item_arrays", ["blob_hash"])
    op.create_table(
        "item_inputs",
        sa.Column("item_pk", BigInt, sa.ForeignKey("items.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("input_pk", BigInt, sa.ForeignKey("items.pk", ondelete="RESTRICT"), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_item_inputs_input_pk", "item_inputs", ["input_pk"])
    op.create_table(
        "item_tags",
        sa.Column("item_pk", BigInt, sa.ForeignKey("items.pk", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag", sa.String(200), primary_key=True),
    )
    op.create_index("ix_item_tags_tag", "item_tags", ["tag"])
    op.create_table(
        "item_props",
        sa.Column("item_pk", BigInt, sa.ForeignKey("items.pk", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("num", sa.Float(), nullable=True),
        sa.Column("txt", sa.String(256), nullable=True),
    )
    op.create_index("ix_item_props_item_pk", "item_props", ["item_pk"])
    op.create_index("ix_item_props_key_num", "item_props", ["key", "num", "item_pk"])
    op.create_index("ix_item_props_key_txt", "item_props", ["key", "txt", "item_pk"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", JSONType, nullable=False),
        sa.Column("projects", JSONType, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
    )
    if dialect == "sqlite":
        op.execute("CREATE VIRTUAL TABLE items_fts USING fts5(name, description, tags, tokenize='unicode61')")
    elif dialect == "postgresql":
        op.execute("CREATE INDEX ix_items_fts ON items USING gin (fts)")
        op.execute("CREATE INDEX ix_items_metadata ON items USING gin (metadata jsonb_path_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS items_fts")
    for table in (
        "tokens",
        "item_props",
        "item_tags",
        "item_inputs",
        "item_arrays",
        "blobs",
        "items",
        "runs",
    ):
        op.drop_table(table)
