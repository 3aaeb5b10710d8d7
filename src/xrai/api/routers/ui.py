"""A small server-rendered web UI: search and list items, show one item with its arrays, versions and lineage.

The browser authenticates once on ``/ui/login`` (the token is kept in an HTTP-only cookie). Every value shown is
HTML-escaped.
"""

from __future__ import annotations

import json
from html import escape
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xrai.api.auth import _token
from xrai.kb._model import Item, NotFoundError, TokenInfo

router = APIRouter(prefix="/ui", include_in_schema=False)

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left}
th{background:#f4f4f4}a{color:#0b5cad;text-decoration:none}input[type=text]{width:28em}
pre{background:#f7f7f7;padding:.6em;overflow:auto}.tag{background:#e8eef8;border-radius:3px;padding:0 .3em;margin:0 .1em}
.error{color:#a00}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)} · xrai kb</title>"
        f"<style>{_STYLE}</style></head><body><p><a href='/ui'>xrai knowledge base</a></p>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _ui_token(request: Request) -> TokenInfo | None:
    try:
        return _token(request)
    except HTTPException:
        return None


def _link(item: Item) -> str:
    return f"<a href='/ui/items/{escape(item.id)}'>{escape(item.name)}</a>"


def _tags(item: Item) -> str:
    return "".join(f"<span class=tag>{escape(t)}</span>" for t in item.tags)


def _table(items: list[Item], extra: dict[str, int] | None = None) -> str:
    head = "<tr><th>name</th><th>kind</th><th>version</th><th>created</th><th>tags</th>"
    head += "<th>depth</th></tr>" if extra is not None else "</tr>"
    rows = []
    for item in items:
        cells = (f"<td>{_link(item)}</td><td>{escape(item.kind)}</td><td>{item.version}</td>"
                 f"<td>{escape(item.created_at.strftime('%Y-%m-%d %H:%M'))}</td><td>{_tags(item)}</td>")  # fmt: skip
        if extra is not None:
            cells += f"<td>{extra.get(item.id, '')}</td>"
        rows.append(f"<tr>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>" if rows else "<p>nothing found</p>"


@router.get("", response_class=HTMLResponse)
def index(
    request: Request,
    q: Annotated[str, Query(max_length=10_000)] = "",
    text: Annotated[str, Query(max_length=1000)] = "",
    kind: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    token = _ui_token(request)
    if token is None:
        return RedirectResponse("/ui/login", status_code=303)
    kb = request.app.state.kb
    form = (
        "<form method=get action='/ui'>"
        f"<p>filter <input type=text name=q value='{escape(q)}' placeholder=\"energy_kev &gt; 20 and "
        "specimen.line == 'HdrR'\"></p>"
        f"<p>text <input type=text name=text value='{escape(text)}'> kind "
        f"<input type=text name=kind value='{escape(kind)}' style='width:12em'> <button>search</button></p></form>"
    )
    try:
        found = kb.search(q or None, text=text or None, kind=kind or None, limit=200,
                          visible_projects=None if token.projects is None else list(token.projects))  # fmt: skip
        result = _table(found)
    except Exception as exc:  # a bad query is shown, not raised
        result = f"<p class=error>{escape(str(exc))}</p>"
    return _page("Items", form + result)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def show(request: Request, item_id: str) -> Response:
    token = _ui_token(request)
    if token is None:
        return RedirectResponse("/ui/login?" + urlencode({"next": f"/ui/items/{item_id}"}), status_code=303)
    kb = request.app.state.kb
    try:
        item = kb.get(item_id)
        if not token.can_see(item):
            raise NotFoundError(item_id)
    except Exception:
        return _page("Not found", f"<p class=error>no item {escape(item_id)}</p>", status=404)
    arrays = "".join(
        f"<tr><td>{escape(n)}</td><td>{escape(a.dtype)}</td><td>{escape(str(a.shape))}</td>"
        f"<td><code>{escape(a.hash[:16])}…</code></td></tr>"
        for n, a in item.arrays.items()
    )
    sections = [
        f"<p>{escape(item.kind)} · version {item.version} · project {escape(item.project)} · "
        f"<code>{escape(item.id)}</code> {_tags(item)}</p>",
        f"<p>{escape(item.description)}</p>" if item.description else "",
        "<h2>Metadata</h2><pre>" + escape(json.dumps(dict(item.metadata), indent=2)) + "</pre>",
        "<h2>Arrays</h2><table><tr><th>name</th><th>dtype</th><th>shape</th><th>hash</th></tr>" + arrays + "</table>"
        if arrays else "",
    ]  # fmt: skip
    for direction, title in (("ancestors", "Derived from"), ("descendants", "Used by")):
        lineage = kb.lineage(item, direction=direction)
        shown = [i for i in lineage.items if token.can_see(i)]
        sections.append(f"<h2 id={direction}>{title}</h2>" + _table(shown, dict(lineage.depth)))
    versions = kb.versions(item)
    if len(versions) > 1:
        sections.append("<h2>Versions</h2>" + _table(versions))
    return _page(item.name, "".join(sections))


@router.get("/login", response_class=HTMLResponse)
def login_form(next: Annotated[str, Query(max_length=200)] = "/ui") -> Response:
    target = next if next.startswith("/ui") else "/ui"
    body = (
        "<form method=post action='/ui/login'><p>token <input type=password name=token autocomplete=off> "
        f"<input type=hidden name=next value='{escape(target)}'><button>sign in</button></p></form>"
    )
    return _page("Sign in", body)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=200)] = "/ui",
) -> Response:
    info: Any = request.app.state.kb.check_token(token)
    if info is None:
        return _page("Sign in", "<p class=error>unknown token</p>", status=401)
    target = next if next.startswith("/ui") else "/ui"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie("xrai_token", token, httponly=True, samesite="strict")
    return response
