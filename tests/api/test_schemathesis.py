"""Property-based run of the whole OpenAPI spec (schemathesis): no server errors, documented status codes,
responses that match their schemas, for random valid and invalid requests."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi import checks  # noqa: E402


@pytest.fixture
def api_schema(tmp_path):
    import numpy as np

    from xrai.api import create_app
    from xrai.kb import KnowledgeBase

    kb = KnowledgeBase.open(tmp_path / "kb")
    token = kb.create_token("fuzz", scopes=["admin"])  # type: ignore[attr-defined]
    scan = kb.put(kind="dataset.raw_scan", name="scan", metadata={"energy_kev": 25.0},
                  arrays={"projections": np.zeros((4, 4, 4), np.float32)})  # fmt: skip
    kb.put(kind="dataset.volume", name="volume", inputs=[scan])
    _TOKEN["admin"] = token
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(kb, max_upload_bytes=2**20))


schema = schemathesis.pytest.from_fixture("api_schema")
_TOKEN: dict[str, str] = {}


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_schema(case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_TOKEN['admin']}"},
        checks=[
            not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
        ],
    )
