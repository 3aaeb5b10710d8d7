"""An in-process API over an embedded knowledge base, with one token per scope and project."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Served:
    kb: Any
    client: Any
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    from fastapi.testclient import TestClient

    from xrai.api import create_app
    from xrai.kb import KnowledgeBase

    kb = KnowledgeBase.open(tmp_path / "kb")
    tokens = {
        "read": kb.create_token("reader", scopes=["read"]),
        "write": kb.create_token("writer", scopes=["write"]),
        "admin": kb.create_token("admin", scopes=["admin"]),
        "lab_a": kb.create_token("lab-a", scopes=["write"], projects=["lab-a"]),
        "lab_b": kb.create_token("lab-b", scopes=["write"], projects=["lab-b"]),
    }
    app = create_app(kb, max_json_bytes=64 * 1024, max_upload_bytes=2**20)
    with TestClient(app) as client:
        yield Served(kb=kb, client=client, tokens=tokens)
    kb.close()
