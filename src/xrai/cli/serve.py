"""``xrai serve``: the knowledge base over HTTP (FastAPI on uvicorn) with token authentication.

Examples
--------
::

    xrai kb token create me --scope admin --kb ./xrai-kb
    xrai serve --kb ./xrai-kb --host 127.0.0.1 --port 8000
    # OpenAPI docs: http://127.0.0.1:8000/docs   web UI: http://127.0.0.1:8000/ui
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

__all__ = ["register", "serve_command"]


def serve_command(
    kb: Annotated[
        str, typer.Option("--kb", envvar="XRAI_KB", help="Folder or database URL of the KB.")
    ] = "./xrai-kb",
    store_url: Annotated[
        str | None,
        typer.Option(
            "--store-url", envvar="XRAI_KB_STORE", help="Blob store for a database URL (folder or s3://)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on (default: loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    allow_anonymous_read: Annotated[
        bool, typer.Option("--allow-anonymous-read", help="Let requests without a token read public items.")
    ] = False,
    max_json_mb: Annotated[float, typer.Option(help="Largest JSON request body (MiB).")] = 16.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve a knowledge base over HTTP: REST API with OpenAPI docs (/docs), array slicing, streamed uploads, web UI."""
    import uvicorn

    from xrai.api import create_app
    from xrai.errors import ConfigError
    from xrai.kb.local import LocalKnowledgeBase

    if not 0 < port < 65536:
        raise ConfigError(f"--port = {port} is not allowed: must be between 1 and 65535")
    options = os.environ.get("XRAI_KB_STORAGE_OPTIONS")
    handle = LocalKnowledgeBase(
        kb, store_url=store_url, storage_options=json.loads(options) if options else None
    )
    if not handle.list_tokens() and not allow_anonymous_read:
        typer.secho(
            f"no tokens yet: create one with `xrai kb token create NAME --scope admin --kb {kb}`",
            fg=typer.colors.YELLOW,
            err=True,
        )
    app = create_app(
        handle, allow_anonymous_read=allow_anonymous_read, max_json_bytes=int(max_json_mb * 2**20)
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``xrai`` app."""
    app.command("serve")(serve_command)
