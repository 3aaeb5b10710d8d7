"""Index item_props by (item_pk, key): per-item lookups of one key use it.

Replaces the single-column item_pk index, of which it is a prefix (foreign-key cascades still use it).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_item_props_item_key", "item_props", ["item_pk", "key"])
    op.drop_index("ix_item_props_item_pk", table_name="item_props")


def downgrade() -> None:
    op.create_index("ix_item_props_item_pk", "item_props", ["item_pk"])
    op.drop_index("ix_item_props_item_key", table_name="item_props")
