"""Database engines for the catalogue: SQLite in WAL mode with serialised writers, or PostgreSQL.

SQLite: every connection uses WAL journaling, ``synchronous=NORMAL``, foreign keys and a 60 s busy timeout.
Write transactions start with ``BEGIN IMMEDIATE`` so concurrent writer processes queue on the database lock
instead of failing with "database is locked" when a read transaction tries to upgrade; read transactions start
with a deferred ``BEGIN`` and never block writers (WAL).

Schema migrations (Alembic) run inside one write transaction when a catalogue is opened and is not at the head
revision; on PostgreSQL an advisory lock serialises processes that open a fresh database at the same time.
"""

from __future__ import annotations

import decimal
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from xrai.kb._schema import SCHEMA_REVISION

__all__ = ["make_engine", "migrate", "read_tx", "write_tx"]

_MIGRATION_LOCK = 7_436_101  # arbitrary constant for pg_advisory_xact_lock


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url`` with the per-dialect settings described in the module docstring."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"timeout": 60.0, "check_same_thread": False}, pool_pre_ping=False
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            write = conn.get_execution_options().get("xrai_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, json_serializer=dumps_exact)


def dumps_exact(value: Any) -> str:
    """JSON text whose floats keep a decimal point and no exponent.

    PostgreSQL's JSONB stores numbers as ``numeric``, which keeps the scale written but turns ``2.5e+16`` into
    ``25000000000000000``, which Python then reads back as an *int*. Writing ``25000000000000000.0`` keeps the
    value a float, bit for bit (the decimal expansion of the shortest repr round-trips).
    """
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_exact(v) for v in value) + "]"
    if isinstance(value, float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be stored in JSON")
        text = format(decimal.Decimal(repr(value)), "f")
        return text if "." in text else text + ".0"
    return json.dumps(value)


@contextmanager
def write_tx(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside a write transaction (committed on success, rolled back on error)."""
    with engine.connect().execution_options(xrai_write=True) as conn, conn.begin():
        yield conn


@contextmanager
def read_tx(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside a read transaction (a consistent snapshot)."""
    with engine.connect() as conn, conn.begin():
        yield conn


def current_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to :data:`SCHEMA_REVISION` (no-op, without importing Alembic, when it is there)."""
    with read_tx(engine) as conn:
        if current_revision(conn) == SCHEMA_REVISION:
            return
    from alembic import command
    from alembic.config import Config

    with write_tx(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        if current_revision(conn) == SCHEMA_REVISION:  # another process migrated meanwhile
            return
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
