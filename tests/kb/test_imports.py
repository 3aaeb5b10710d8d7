"""Import hygiene: the knowledge base loads lazily and never imports torch or the physics."""

from __future__ import annotations

import subprocess
import sys


def test_kb_imports_are_lazy_and_free_of_torch_and_physics(tmp_path) -> None:
    code = f"""
import sys
import xrai.kb
from xrai.kb import KnowledgeBase, Item
assert "sqlalchemy" not in sys.modules and "zarr" not in sys.modules, "import xrai.kb must stay cheap"
kb = KnowledgeBase.open({str(tmp_path / "kb")!r})
kb.put(kind="dataset", name="x", metadata={{"energy_kev": "20 keV"}})
kb.search("energy_kev > 1")
heavy = [m for m in ("torch", "xrai.physics", "xrai.tomo", "xrai.ml", "monai") if m in sys.modules]
assert not heavy, heavy
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_alembic_head_matches_the_schema_revision() -> None:
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import xrai.kb
    from xrai.kb._schema import SCHEMA_REVISION

    config = Config()
    config.set_main_option("script_location", str(Path(xrai.kb.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_migrations_build_the_schema_the_code_uses(tmp_path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from xrai.kb import KnowledgeBase
    from xrai.kb._schema import metadata

    kb = KnowledgeBase.open(tmp_path / "kb")
    with kb.engine.connect() as conn:  # type: ignore[attr-defined]
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    # only the FTS5 virtual table (and its shadow tables), which SQLAlchemy does not model, may differ
    assert all(d[0] == "remove_table" and d[1].name.startswith("items_fts") for d in diff), diff


def test_an_old_catalogue_is_migrated_on_open(tmp_path) -> None:
    from pathlib import Path

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    import xrai.kb
    from xrai.kb import KnowledgeBase
    from xrai.kb._db import make_engine

    folder = tmp_path / "kb"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'catalog.sqlite'}")
    config = Config()
    config.set_main_option("script_location", str(Path(xrai.kb.__file__).parent / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")  # a catalogue written by the first release
        conn.execute(sa.text("SELECT 1 FROM item_props")).all()
    engine.dispose()
    with KnowledgeBase.open(folder) as kb:
        item = kb.put(kind="dataset", name="after upgrade", metadata={"energy_kev": 30})
        assert [i.id for i in kb.search("energy_kev > 20", limit=1)] == [item.id]
        with kb.engine.connect() as conn:  # type: ignore[attr-defined]
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("item_props")}
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert (
        "ix_item_props_item_key" in indexes and "ix_item_props_item_pk" not in indexes and version == "0002"
    )
