"""Knowledge-base fixtures: the same tests run on every backend that is available.

- ``sqlite-local`` always: an embedded folder (SQLite WAL + local Zarr store);
- ``postgres-local`` when ``XRAI_TEST_POSTGRES_URL`` is set: a fresh PostgreSQL database per test;
- ``sqlite-s3`` when ``XRAI_TEST_S3_ENDPOINT`` is set: a fresh bucket per test on the S3 endpoint (moto);
- ``postgres-s3`` when both are set.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

POSTGRES_URL = os.environ.get("XRAI_TEST_POSTGRES_URL")
S3_ENDPOINT = os.environ.get("XRAI_TEST_S3_ENDPOINT")

BACKENDS = [
    pytest.param("sqlite-local", id="sqlite-local"),
    pytest.param(
        "postgres-local",
        id="postgres-local",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_URL, reason="XRAI_TEST_POSTGRES_URL not set"),
        ],
    ),
    pytest.param(
        "sqlite-s3",
        id="sqlite-s3",
        marks=[pytest.mark.s3, pytest.mark.skipif(not S3_ENDPOINT, reason="XRAI_TEST_S3_ENDPOINT not set")],
    ),
    pytest.param(
        "postgres-s3",
        id="postgres-s3",
        marks=[
            pytest.mark.postgres,
            pytest.mark.s3,
            pytest.mark.skipif(not (POSTGRES_URL and S3_ENDPOINT), reason="PostgreSQL and S3 not both set"),
        ],
    ),
]


def s3_options() -> dict[str, Any]:
    return {
        "endpoint_url": S3_ENDPOINT,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
    }


@dataclass
class KBSpec:
    """Where a test knowledge base lives: enough to open it again from another process."""

    backend: str
    location: str
    store_url: str | None = None
    storage_options: dict[str, Any] | None = None
    cleanup: list[Any] = field(default_factory=list)

    def open(self) -> Any:
        from xrai.kb import KnowledgeBase

        return KnowledgeBase.open(
            self.location, store_url=self.store_url, storage_options=self.storage_options
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "store_url": self.store_url,
            "storage_options": self.storage_options,
        }


def _postgres_database() -> tuple[str, Any]:
    import sqlalchemy as sa

    name = f"xrai_t_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")  # type: ignore[arg-type]
    for attempt in range(20):  # parallel test workers: PostgreSQL refuses concurrent copies of a template
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
            break
        except sa.exc.OperationalError:
            if attempt == 19:
                raise
            time.sleep(0.2 + 0.1 * attempt)
    url = sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)  # type: ignore[arg-type]

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def _s3_bucket() -> tuple[str, Any]:
    import boto3
    import s3fs

    bucket = f"xrai-t-{secrets.token_hex(6)}"
    boto3.client(
        "s3", endpoint_url=S3_ENDPOINT, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)  # fmt: skip
    fs = s3fs.S3FileSystem(**s3_options())

    def drop() -> None:
        fs.invalidate_cache()
        if fs.exists(bucket):
            fs.rm(bucket, recursive=True)

    return f"s3://{bucket}/blobs", drop


def make_spec(backend: str, tmp_path: Path) -> KBSpec:
    db, store = backend.split("-")
    spec = KBSpec(backend=backend, location=str(tmp_path / "xrai-kb"))
    if db == "postgres":
        url, drop = _postgres_database()
        spec.location = url
        spec.store_url = str(tmp_path / "blobs")
        spec.cleanup.append(drop)
    if store == "s3":
        url, drop = _s3_bucket()
        spec.store_url = url
        spec.storage_options = s3_options()
        spec.cleanup.append(drop)
        if db == "sqlite":
            spec.location = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    return spec


@pytest.fixture(params=BACKENDS)
def kb_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KBSpec]:
    spec = make_spec(request.param, tmp_path)
    yield spec
    for drop in reversed(spec.cleanup):
        drop()


@pytest.fixture(params=[BACKENDS[0], BACKENDS[3]])
def proc_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KBSpec]:
    """The two extremes (SQLite + folder, PostgreSQL + S3) for the slower multi-process tests."""
    spec = make_spec(request.param, tmp_path)
    yield spec
    for drop in reversed(spec.cleanup):
        drop()


@pytest.fixture
def proc_kb(proc_spec: KBSpec) -> Iterator[Any]:
    handle = proc_spec.open()
    yield handle
    handle.close()


@pytest.fixture
def kb(kb_spec: KBSpec) -> Iterator[Any]:
    handle = kb_spec.open()
    yield handle
    handle.close()


@pytest.fixture(params=[*BACKENDS, pytest.param("http", id="http")])
def anykb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Every backend, plus the HTTP client talking to an in-process server over an embedded store."""
    if request.param != "http":
        spec = make_spec(request.param, tmp_path)
        handle = spec.open()
        yield handle
        handle.close()
        for drop in reversed(spec.cleanup):
            drop()
        return
    from fastapi.testclient import TestClient

    from xrai.api import create_app
    from xrai.kb import KnowledgeBase
    from xrai.kb.remote import RemoteKnowledgeBase

    local = KnowledgeBase.open(tmp_path / "served-kb")
    token = local.create_token("tests", scopes=["admin"])  # type: ignore[attr-defined]
    with TestClient(create_app(local)) as client:
        remote = RemoteKnowledgeBase("http://testserver", token=token, client=client)
        remote.blobs = local.blobs  # type: ignore[attr-defined]  # for tests that inspect the store
        yield remote
    local.close()
