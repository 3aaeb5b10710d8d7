"""HTTP API: status codes for tokens, scopes and projects; input validation; region reads; streamed uploads."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from xrai.kb.hashing import array_hash


def _item(served, who="write", **fields):
    body = {"kind": "dataset", "name": "x", **fields}
    response = served.client.post("/api/v1/items", json=body, headers=served.headers(who))
    assert response.status_code == 201, response.text
    return response.json()


def test_health_needs_no_token_and_everything_else_does(served) -> None:
    assert served.client.get("/api/v1/health").json()["status"] == "ok"
    response = served.client.get("/api/v1/items")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert (
        served.client.get("/api/v1/items", headers={"Authorization": "Bearer xrai_wrong"}).status_code == 401
    )
    assert served.client.get("/api/v1/items", headers={"Authorization": "Basic abc"}).status_code == 401
    assert served.client.get("/api/v1/items", headers=served.headers("read")).status_code == 200


def test_scopes_read_write_admin(served) -> None:
    body = {"kind": "dataset", "name": "x"}
    denied = served.client.post("/api/v1/items", json=body, headers=served.headers("read"))
    assert denied.status_code == 403 and "'write' scope" in denied.json()["detail"]
    item = _item(served, "write")
    assert (
        served.client.delete(f"/api/v1/items/{item['id']}", headers=served.headers("write")).status_code
        == 403
    )
    assert served.client.post("/api/v1/admin/gc", json={}, headers=served.headers("write")).status_code == 403
    assert served.client.post("/api/v1/admin/verify", json={}, headers=served.headers("admin")).json()["ok"]
    gone = served.client.delete(f"/api/v1/items/{item['id']}", headers=served.headers("admin"))
    assert gone.status_code == 200 and gone.json()["removed_items"] == [item["id"]]
    served.kb.revoke_token(served.kb.check_token(served.tokens["read"]).id)
    assert served.client.get("/api/v1/items", headers=served.headers("read")).status_code == 401


def test_private_items_of_another_project_are_invisible(served) -> None:
    secret = _item(served, "lab_a", name="secret scan", project="lab-a", private=True)
    public = _item(served, "lab_a", name="public scan", project="lab-a")
    url = f"/api/v1/items/{secret['id']}"
    assert served.client.get(url, headers=served.headers("lab_a")).status_code == 200
    assert served.client.get(url, headers=served.headers("read")).status_code == 200  # no project limit
    assert served.client.get(url, headers=served.headers("lab_b")).status_code == 404
    assert served.client.get(f"{url}/lineage", headers=served.headers("lab_b")).status_code == 404
    names = [
        i["name"] for i in served.client.get("/api/v1/items", headers=served.headers("lab_b")).json()["items"]
    ]
    assert names == ["public scan"]
    # writing into another project, or deriving from its private item, is refused
    body = {"kind": "dataset", "name": "y", "project": "lab-a"}
    assert served.client.post("/api/v1/items", json=body, headers=served.headers("lab_b")).status_code == 403
    body = {"kind": "dataset", "name": "y", "project": "lab-b", "inputs": [secret["id"]]}
    assert served.client.post("/api/v1/items", json=body, headers=served.headers("lab_b")).status_code == 404
    tags = served.client.post(
        f"/api/v1/items/{public['id']}/tags", json={"add": ["x"]}, headers=served.headers("lab_b")
    )
    assert tags.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/api/v1/items", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ("post", "/api/v1/items", {"json": {"kind": "dataset"}}, 422),
        ("post", "/api/v1/items", {"json": {"kind": "Bad Kind", "name": "x"}}, 422),
        ("post", "/api/v1/items", {"json": {"kind": "dataset", "name": "x", "unknown": 1}}, 422),
        ("post", "/api/v1/items", {"json": {"kind": "dataset", "name": "x", "metadata": {"energy_kev": "5 kg"}}}, 400),
        ("post", "/api/v1/items", {"content": b'{"kind":"dataset","name":"x","metadata":{"a":NaN}}',
                                   "headers": {"Content-Type": "application/json"}}, 400),
        ("post", "/api/v1/items", {"json": {"kind": "dataset", "name": "x", "description": "y" * 100_000}}, 413),
        ("get", "/api/v1/items/..%2F..%2Fetc%2Fpasswd", {}, 404),
        ("get", "/api/v1/items/01ARZ3NDEKTSV4RRFFQ69G5FAV", {}, 404),
        ("get", "/api/v1/items?q=energy_kev%20%3E", {}, 400),
        ("get", "/api/v1/items?limit=-1", {}, 422),
        ("post", "/api/v1/blobs?dtype=object&shape=2", {"content": b"xx"}, 422),
        ("post", "/api/v1/blobs?dtype=%3Cm8&shape=2", {"content": b"\0" * 16}, 400),
        ("post", "/api/v1/blobs?dtype=%3Cf8&shape=1000000", {"content": b""}, 413),
        ("post", "/api/v1/blobs?dtype=%3Cf8&shape=4", {"content": b"\0" * 31}, 400),
        ("post", "/api/v1/blobs?dtype=%3Cf8&shape=4", {"content": b"\0" * 33}, 400),
        ("post", "/api/v1/blobs?dtype=%3Cf8&shape=4,-1", {"content": b""}, 400),
    ],
)  # fmt: skip
def test_bad_input_gets_the_right_status(served, method, path, kwargs, status) -> None:
    headers = {**served.headers("admin"), **kwargs.pop("headers", {})}
    response = getattr(served.client, method)(path, headers=headers, **kwargs) if method == "get" else (
        served.client.request(method.upper(), path, headers=headers, **kwargs)
    )  # fmt: skip
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert served.kb.count(latest=False) == 0  # nothing was stored by a bad request


def test_region_endpoint_returns_only_the_region(served) -> None:
    volume = np.random.default_rng(0).random((64, 64, 64))  # 2 MiB
    digest = served.kb.put_blob(volume)
    item = _item(served, arrays={"volume": digest})
    url = f"/api/v1/items/{item['id']}/arrays/volume"
    response = served.client.get(url, params={"region": "10:12,:,5"}, headers=served.headers("read"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-npy"
    region = np.load(io.BytesIO(response.content))
    np.testing.assert_array_equal(region, volume[10:12, :, 5])
    assert len(response.content) < region.nbytes + 200  # the region and a .npy header, nothing more
    assert response.headers["x-array-shape"] == "2,64"
    bad = served.client.get(url, params={"region": "0:10:2"}, headers=served.headers("read"))
    assert bad.status_code == 400 and "step" in bad.json()["detail"]
    missing = served.client.get(f"/api/v1/items/{item['id']}/arrays/nope", headers=served.headers("read"))
    assert missing.status_code == 404


def test_streamed_upload_in_chunks_and_hash_check(served) -> None:
    data = np.arange(30_000, dtype=">i4").reshape(300, 100)  # big-endian on purpose
    little = data.astype("<i4")
    pieces = [little.tobytes()[i : i + 7001] for i in range(0, little.nbytes, 7001)]  # odd-sized pieces

    def body():
        yield from pieces

    params = {"dtype": "<i4", "shape": "300,100", "chunks": "50,100"}
    headers = {**served.headers("write"), "X-Content-Hash": array_hash(data)}
    response = served.client.post("/api/v1/blobs", params=params, content=body(), headers=headers)
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["hash"] == array_hash(data) and info["chunks"] == [50, 100]
    assert (
        served.client.get(f"/api/v1/blobs/{info['hash']}", headers=served.headers("write")).status_code == 200
    )
    wrong = {**served.headers("write"), "X-Content-Hash": "0" * 64}
    response = served.client.post("/api/v1/blobs", params=params, content=little.tobytes(), headers=wrong)
    assert response.status_code == 400 and "does not match" in response.json()["detail"]
    item = _item(served, arrays={"a": info["hash"]})
    np.testing.assert_array_equal(served.kb.read_array(item["id"], "a"), data)


def test_openapi_documents_every_route(served) -> None:
    spec = served.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in ("/api/v1/items", "/api/v1/items/{item_id}", "/api/v1/items/{item_id}/arrays/{name}",
                 "/api/v1/blobs", "/api/v1/runs", "/api/v1/items/{item_id}/lineage", "/api/v1/admin/verify",
                 "/api/v1/models", "/api/v1/cache"):  # fmt: skip
        assert path in paths
    assert json.dumps(spec)  # serialisable


def test_cache_key_lookup_and_idempotent_create(served) -> None:
    first = served.client.post("/api/v1/items", json={"kind": "dataset", "name": "a", "cache_key": "k:1"},
                               headers=served.headers("write"))  # fmt: skip
    again = served.client.post("/api/v1/items", json={"kind": "dataset", "name": "b", "cache_key": "k:1"},
                               headers=served.headers("write"))  # fmt: skip
    assert (first.status_code, again.status_code) == (201, 200) and again.json()["id"] == first.json()["id"]
    found = served.client.get("/api/v1/cache", params={"key": "k:1"}, headers=served.headers("read"))
    assert found.json()["id"] == first.json()["id"]
    assert (
        served.client.get("/api/v1/cache", params={"key": "k:2"}, headers=served.headers("read")).status_code
        == 404
    )
