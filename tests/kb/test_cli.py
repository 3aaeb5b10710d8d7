"""``xrai kb`` commands end to end on an embedded knowledge base."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from xrai.cli.kb import parse_meta
from xrai.cli.main import app
from xrai.errors import ConfigError
from xrai.kb import KnowledgeBase

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_parse_meta_nests_dotted_keys_and_parses_numbers() -> None:
    meta = parse_meta(["energy_kev=25 keV", "specimen.line=HdrR", "specimen.age_s=3600", "ok=true"])
    assert meta == {"energy_kev": "25 keV", "specimen": {"line": "HdrR", "age_s": 3600}, "ok": True}
    with pytest.raises(ConfigError, match="'oops' is not KEY=VALUE"):
        parse_meta(["oops"])


def test_kb_commands_end_to_end(tmp_path) -> None:
    kb = str(tmp_path / "kb")
    _run("kb", "init", kb)
    volume = np.random.default_rng(0).random((6, 5, 4)).astype(np.float32)
    np.save(tmp_path / "vol.npy", volume)
    out = _run("kb", "import", str(tmp_path / "vol.npy"), "--kind", "dataset.volume", "--meta", "energy_kev=25 keV",
               "--meta", "specimen.line=HdrR", "--tag", "batch1", "--kb", kb)  # fmt: skip
    item_id = out.split()[0]
    with KnowledgeBase.open(kb) as handle:
        child = handle.put(kind="dataset.segmentation", name="seg", inputs=[item_id])
    found = json.loads(
        _run("kb", "search", "energy_kev > 20 and specimen.line == 'HdrR'", "--json", "--kb", kb)
    )
    assert [i["id"] for i in found] == [item_id]
    assert "0 of 0 shown" in _run("kb", "search", "energy_kev > 30", "--kb", kb)
    shown = json.loads(_run("kb", "show", item_id, "--json", "--kb", kb))
    assert shown["metadata"]["energy_kev"] == 25.0 and shown["tags"] == ["batch1"]
    assert item_id in _run("kb", "lineage", child.id, "--kb", kb)
    assert child.id in _run("kb", "lineage", item_id, "--descendants", "--kb", kb)
    assert "vol.npy" in _run("kb", "ls", "--kb", kb)
    _run("kb", "export", item_id, str(tmp_path / "out.npy"), "--kb", kb)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), volume)
    assert "0 corrupted" in _run("kb", "verify", "--kb", kb)
    secret = _run("kb", "token", "create", "ci", "--scope", "write", "--kb", kb).strip()
    assert secret.startswith("xrai_") and "ci  write" in _run("kb", "token", "ls", "--kb", kb)
    assert "removed 0 blobs" in _run("kb", "gc", "--grace-s", "0", "--kb", kb)

    with KnowledgeBase.open(kb) as handle:  # corrupt the stored array: verify must fail with exit code 1
        chunk = next(p for p in handle.blobs.fs.find(handle.blobs.root) if "/c/" in p)
        raw = bytearray(handle.blobs.fs.cat_file(chunk))
        raw[-1] ^= 0xFF
        handle.blobs.fs.pipe_file(chunk, bytes(raw))
    result = runner.invoke(app, ["kb", "verify", "--kb", kb])
    assert result.exit_code == 1 and "1 corrupted" in result.output


def test_user_errors_exit_with_a_message(tmp_path) -> None:
    from xrai.kb import NotFoundError

    kb = str(tmp_path / "kb")
    _run("kb", "init", kb)
    result = runner.invoke(app, ["kb", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--kb", kb])
    assert isinstance(result.exception, NotFoundError)  # main() turns XraiError into exit code 2
    result = runner.invoke(app, ["kb", "ls", "--kb", str(tmp_path / "missing")])
    assert isinstance(result.exception, NotFoundError) and "xrai kb init" in str(result.exception)
