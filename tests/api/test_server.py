"""Once against a real ``xrai serve`` (uvicorn) on loopback: the HTTP client works like the local store."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from xrai.kb import KnowledgeBase, NotFoundError, PermissionDeniedError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    folder = tmp_path / "kb"
    with KnowledgeBase.open(folder) as kb:
        admin = kb.create_token("admin", scopes=["admin"])  # type: ignore[attr-defined]
        reader = kb.create_token("reader", scopes=["read"])  # type: ignore[attr-defined]
    port = _free_port()
    command = [sys.executable, "-c", "from xrai.cli.main import main; main()", "serve", "--kb", str(folder),
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"xrai serve exited early: {proc.stdout.read() if proc.stdout else ''}")
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("xrai serve did not answer within 60 s")
            time.sleep(0.2)
        yield url, admin, reader
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def test_client_against_a_real_server(server, monkeypatch: pytest.MonkeyPatch) -> None:
    import xrai.kb.remote as remote

    url, admin, reader = server
    monkeypatch.setattr(remote, "TRANSFER_BYTES", 64 * 1024)  # many upload pieces and download slabs
    volume = np.random.default_rng(4).random((40, 48, 48)).astype(np.float32)  # 360 KiB
    with KnowledgeBase.open(url, token=admin) as kb:
        run = kb.start_run(workflow="reconstruct", parameters={"filter": "ramp"})
        scan = kb.put(kind="dataset.raw_scan", name="fish 7", metadata={"energy_kev": "25 keV"})
        vol = kb.put(kind="dataset.volume", name="fish 7 volume", arrays={"volume": volume}, inputs=[scan], run=run,
                     chunks={"volume": (8, 16, 16)})  # fmt: skip
        kb.finish_run(run)
        assert vol.arrays["volume"].chunks == (8, 16, 16)
        np.testing.assert_array_equal(kb.read_array(vol, "volume"), volume)
        assert kb.lineage(vol).ids == [scan.id]
        assert [i.id for i in kb.search("energy_kev > 20000 eV")] == [scan.id]
        assert kb.verify().ok
        again = kb.put(kind="dataset.volume", name="same content", arrays={"volume": volume})
        assert again.arrays["volume"].hash == vol.arrays["volume"].hash

    received: list[int] = []
    client = httpx.Client(base_url=url, timeout=30,
                          event_hooks={"response": [lambda r: received.append(int(r.headers["content-length"]))]})  # fmt: skip
    with remote.RemoteKnowledgeBase(url, token=reader, client=client) as kb:
        region = kb.read_array(vol, "volume", region=(slice(3, 5), slice(None), 7))
        np.testing.assert_array_equal(region, volume[3:5, :, 7])
        assert received[-1] < region.nbytes + 200  # only the region travels
        with pytest.raises(PermissionDeniedError, match="HTTP 403"):
            kb.put(kind="dataset", name="not allowed")
        with pytest.raises(NotFoundError, match="HTTP 404"):
            kb.get("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with (
        pytest.raises(PermissionDeniedError, match="HTTP 401"),
        KnowledgeBase.open(url, token="xrai_bad") as kb,
    ):
        kb.search()
