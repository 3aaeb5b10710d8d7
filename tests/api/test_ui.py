"""The web UI: server-rendered pages in-process (escaping, login), and once in headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import numpy as np
import pytest


def test_ui_needs_login_and_escapes_everything(served) -> None:
    evil = served.kb.put(kind="dataset", name="<script>alert(1)</script>", description="a & b",
                         metadata={"note": "</pre><img src=x onerror=alert(2)>"})  # fmt: skip
    response = served.client.get("/ui", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    bad = served.client.post("/ui/login", data={"token": "xrai_wrong"}, follow_redirects=False)
    assert bad.status_code == 401
    good = served.client.post("/ui/login", data={"token": served.tokens["read"]}, follow_redirects=False)
    assert good.status_code == 303 and "xrai_token" in good.headers["set-cookie"]
    assert "httponly" in good.headers["set-cookie"].lower()
    page = served.client.get("/ui").text  # the cookie is kept by the client
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    item_page = served.client.get(f"/ui/items/{evil.id}").text
    assert "<img src=x" not in item_page and "&lt;/pre&gt;&lt;img" in item_page
    bad_query = served.client.get("/ui", params={"q": "energy_kev >"}).text
    assert "not a valid expression" in bad_query
    served.client.cookies.clear()
    # the cookie is for the browser UI only: the JSON API ignores it (no cross-site request forgery)
    served.client.cookies.set("xrai_token", served.tokens["admin"])
    assert served.client.get("/api/v1/items").status_code == 401


def _chromium() -> str | None:
    found = (
        os.environ.get("XRAI_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    return found or None


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="no Chromium (set XRAI_TEST_CHROMIUM)")
def test_ui_in_headless_chromium(tmp_path) -> None:
    pytest.importorskip("playwright")
    import uvicorn
    from playwright.sync_api import sync_playwright

    from xrai.api import create_app
    from xrai.kb import KnowledgeBase

    kb = KnowledgeBase.open(tmp_path / "kb")
    token = kb.create_token("browser", scopes=["read"])  # type: ignore[attr-defined]
    specimen = kb.put(kind="specimen", name="medaka-17", metadata={"line": "HdrR"})
    scan = kb.put(kind="dataset.raw_scan", name="medaka-17 scan", inputs=[specimen],
                  metadata={"energy_kev": "25 keV"}, arrays={"projections": np.zeros((4, 8, 8), np.uint16)})  # fmt: skip
    kb.put(kind="dataset.raw_scan", name="pupa-3 scan", metadata={"energy_kev": "15 keV"})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(kb), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start within 30 s"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=_chromium(), headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])  # fmt: skip
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/ui", timeout=30_000)
            assert page.url.endswith("/ui/login")
            page.fill("input[name=token]", token)
            page.click("button")
            page.wait_for_url(f"http://127.0.0.1:{port}/ui", timeout=30_000)
            assert page.locator("table a", has_text="pupa-3 scan").count() == 1
            page.fill("input[name=q]", "energy_kev > 20 eV * 1000")  # not valid: shown as an error
            page.click("button")
            assert "is not" in page.content()
            page.fill("input[name=q]", "energy_kev > 20000 eV")
            page.click("button")
            names = page.locator("table a").all_inner_texts()
            assert names == ["medaka-17 scan"]
            page.click("text=medaka-17 scan")
            page.wait_for_selector("h2#ancestors")
            assert "projections" in page.content() and scan.arrays["projections"].hash[:16] in page.content()
            page.click("#ancestors + table a")
            page.wait_for_selector("h1:has-text('medaka-17')")
            assert page.locator("h1").inner_text() == "medaka-17"
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        kb.close()
