"""``xrai kb``: the knowledge base from the command line.

``init | import | ls | search | show | lineage | verify | export | gc | stats | token``. Every command takes
``--kb`` (a folder, a database URL or an ``http(s)://`` server; default ``$XRAI_KB`` or ``./xrai-kb``),
``--store-url`` for the blob store of a database URL and ``--token`` for a server. Heavy imports happen inside
the commands, so ``xrai --help`` stays fast.

Examples
--------
::

    xrai kb init ./xrai-kb
    xrai kb import scan.nxs --meta specimen.line=HdrR --tag batch1
    xrai kb search "energy_kev > 20 and specimen.line == 'HdrR'"
    xrai kb lineage 01J... --descendants
    xrai kb export 01J... volume.tif
    xrai kb token create pipeline --scope write
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["kb_app", "parse_meta", "register"]

kb_app = typer.Typer(help="The knowledge base: import, search, show, lineage, verify, export, gc, tokens.",
                     no_args_is_help=True)  # fmt: skip
token_app = typer.Typer(help="HTTP access tokens for `xrai serve`.", no_args_is_help=True)
kb_app.add_typer(token_app, name="token")

KbOption = Annotated[
    str, typer.Option("--kb", envvar="XRAI_KB", help="Folder, database URL or http(s):// server of the KB.")
]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store-url", envvar="XRAI_KB_STORE", help="Blob store for a database URL (folder or s3://)."
    ),
]
TokenOption = Annotated[
    str | None, typer.Option("--token", envvar="XRAI_KB_TOKEN", help="Token for a server.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _storage_options() -> dict[str, Any] | None:
    text = os.environ.get("XRAI_KB_STORAGE_OPTIONS")
    return None if not text else dict(json.loads(text))


def _open(kb: str, store_url: str | None, token: str | None, *, create: bool = False) -> Any:
    from xrai.kb.base import KnowledgeBase

    return KnowledgeBase.open(
        kb, store_url=store_url, storage_options=_storage_options(), token=token, create=create
    )


def parse_meta(pairs: list[str]) -> dict[str, Any]:
    """``["energy_kev=25 keV", "specimen.line=HdrR", "n=3"]`` -> nested metadata (numbers and JSON parsed)."""
    from xrai.errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--meta {pair!r} is not KEY=VALUE")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        target = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--meta {pair!r}: {part!r} is already a value, not a group")
        target[parts[-1]] = value
    return out


def _print_items(items: list[Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in items], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "kind", "name", "v", "created (UTC)", "tags", box=None)
    for item in items:
        table.add_row(item.id, item.kind, item.name, str(item.version), item.created_at.strftime("%Y-%m-%d %H:%M"),
                      ",".join(item.tags))  # fmt: skip
    Console().print(table)


@kb_app.command("init")
def init_command(
    path: Annotated[str, typer.Argument(help="Folder of the new knowledge base.")] = "./xrai-kb",
    store_url: StoreOption = None,
) -> None:
    """Create a knowledge base (a folder with an SQLite catalogue and a blob store), or migrate an old one."""
    with _open(path, store_url, None, create=True) as handle:
        typer.echo(f"knowledge base ready: {handle!r}")


@kb_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="NXtomo/HDF5, TIFF (file or folder), .npy or .zarr.")],
    kind: Annotated[
        str | None, typer.Option(help="Item kind (default from the file: dataset.raw_scan ...).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Item name (default: the file name).")] = None,
    meta: Annotated[list[str], typer.Option("--meta", help="KEY=VALUE metadata (dotted keys nest).")] = [],  # noqa: B006
    tag: Annotated[list[str], typer.Option("--tag", help="Tag (repeatable).")] = [],  # noqa: B006
    input_: Annotated[list[str], typer.Option("--input", help="Id of an item this was derived from.")] = [],  # noqa: B006
    project: Annotated[str, typer.Option(help="Owning project.")] = "default",
    kb: KbOption = "./xrai-kb",
    store_url: StoreOption = None,
    token: TokenOption = None,
) -> None:
    """Import files as items (arrays are hashed and stored once)."""
    metadata = parse_meta(meta)
    with _open(kb, store_url, token, create=True) as handle:
        for path in files:
            item = handle.import_file(path, kind=kind, name=name if len(files) == 1 else None, metadata=metadata,
                                      inputs=input_, tags=tag, project=project)  # fmt: skip
            typer.echo(f"{item.id}  {item.kind}  {item.name}  ({item.nbytes / 2**20:.1f} MiB)")


@kb_app.command("ls")
def ls_command(
    kind: Annotated[str | None, typer.Option(help="Only this kind (and its sub-kinds).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Every version, not only the latest.")
    ] = False,
    as_json: JsonOption = False,
    kb: KbOption = "./xrai-kb",
    store_url: StoreOption = None,
    token: TokenOption = None,
) -> None:
    """List items, newest first."""
    with _open(kb, store_url, token) as handle:
        _print_items(handle.search(kind=kind, limit=limit, latest=not all_versions), as_json)


@kb_app.command("search")
def search_command(
    query: Annotated[
        str | None, typer.Argument(help="e.g. \"energy_kev > 20 and specimen.line == 'HdrR'\"")
    ] = None,
    text: Annotated[str | None, typer.Option(help="Full-text words (names, descriptions, tags).")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind (and its sub-kinds).")] = None,
    tag: Annotated[list[str], typer.Option("--tag", help="Required tag (repeatable).")] = [],  # noqa: B006
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: JsonOption = False,
    kb: KbOption = "./xrai-kb",
    store_url: StoreOption = None,
    token: TokenOption = None,
) -> None:
    """Search by metadata filter, full text, kind and tags."""
    with _open(kb, store_url, token) as handle:
        found = handle.search(query, text=text, kind=kind, tags=tag, limit=limit)
        _print_items(found, as_json)
        if not as_json:
            total = handle.count(query, text=text, kind=kind, tags=tag)
            typer.echo(f"{len(found)} of {total} shown")


@kb_app.command("show")
def show_command(
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    as_json: JsonOption = False,
    kb: KbOption = "./xrai-kb",
    store_url: StoreOption = None,
    token: TokenOption = None,
) -> None:
    """Show one item: metadata, arrays, inputs, run, versions."""
    with _open(kb, store_url, token) as handle:
        item = handle.get(item_id)
        if as_json:
            typer.echo(json.dumps(item.to_dict(), indent=2))
            return
        typer.echo(f"{item.name}  [{item.kind}]  version {item.version}  project {item.project}")
        typer.echo(f"id {item.id}  series {item.series}  created {item.created_at.isoformat()}")
        if item.description:
            typer.echo(item.description)
        if item.tags:
            typer.echo("tags: " + ", ".join(item.tags))
        if item.run:
            run = handle.get_run(item.run)
            typer.echo(f"run {run.id}: {run.workflow} ({run.status}, {run.code_version})")
        if item.inputs:
            typer.echo("inputs: " + ", ".join(item.inputs))
        typer.echo("metadata: " + json.dumps(dict(item.metadata), indent=2))
        for name, info in item.arrays.items():
            typer.echo(
                f"array {name}: {info.dtype} {info.shape} chunks {info.chunks} blake3 {info.hash[:16]}…"
            )


@kb_app.command("lineage")
def lineage_command(
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    descendants: Annotated[bool, typer.Option("--descendants", help="What was derived from it.")] = False,
    depth: Annotated[int | None, typer.Option(help="At most this many steps (default: all).")] = None,
    as_json: JsonOption = False,
    kb: KbOption = "./xrai-kb",
    store_url: StoreOption = None,
    token: TokenOption = None,
) -> None:
    """Ancestors (default) or descendants of an item, to any depth."""
    with _open(kb, store_url, token) as handle:
        lineage = handle.lineage(
            item_id, direction="descendants" if descendants else "ancestors", depth=depth
        )
        if as_json:
            typer.echo(json.dumps(lineage.to_dict(), indent=2))
            return
        typer.echo(f"{lineage.root.name} [{lineage.root.kind}] {lineage.root.id}")
        for item in lineage.items:
            indent = "  " * lineage.depth[item.id]
            typer.echo(f"{indent}{'<-' if not descendants else '->'} {item.name} [{item.kind}] {item.id}")


@kb_app.command("verify")
def verify_command(
    item_ids: Annotated[list[str] | None, typer.Argument(help="Only the blobs of these items.")] = None,
    kb: KbOption = "./xrai-kb",
    store_url: StoreOption = None,
    token: TokenOption = None,
) -> None:
    """Re-hash stored arrays; exit code 1 if any is corrupted."""
    with _open(kb, store_url, token) as handle:
        report = handle.verify(item_ids or None)
    for digest, reason in report.corrupted.items():
        typer.secho(f"CORRUPTED {digest}: {reason}", fg=typer.colors.RED, err=True)
    if report.affected_items:
        typer.echo("affected items: " + ", ".join(report.affected_items))
    typer.echo(f"{report.checked} blobs checked, {len(report.corrupted)} corrupted")
    if not report.ok:
        raise typer.Exit(1)


@kb_app.command("export")
def export_command(
    item_id: Annotated[str, typer.Argument(help="Item id.")],
    path: Annotated[
        Path, typer.Argument(help="Output (.nxs, .tif, .npy, .zarr or a folder with --format tiff).")
    ],
    format: Annotated[
        str | None, typer.Option(help="nxtomo, tiff, npy or zarr (default: from the suffix).")
    ] = None,
    array: Annotated[str | None, typer.Option(help="Which array (tiff, npy).")] = None,
    kb: KbOption = "./xrai-kb",
    store_url: StoreOption = None,
    token: TokenOption = None,
) -> None:
    """Export an item to NXtomo, TIFF, NumPy or Zarr."""
    with _open(kb, store_url, token) as handle:
        out = handle.export(item_id, path, format=format, array=array)
    typer.echo(f"wrote {out}")


@kb_app.command("gc")
def gc_command(
    grace_s: Annotated[float, typer.Option("--grace-s", help="Keep blobs younger than this (s).")] = 3600.0,
    kb: KbOption = "./xrai-kb",
    store_url: StoreOption = None,
    token: TokenOption = None,
) -> None:
    """Remove unreferenced blobs and leftovers of crashed writes."""
    with _open(kb, store_url, token) as handle:
        report = handle.gc(grace_s=grace_s)
    typer.echo(f"removed {report.removed_blobs} blobs, freed {report.freed_bytes / 2**20:.2f} MiB")


@kb_app.command("stats")
def stats_command(
    kb: KbOption = "./xrai-kb", store_url: StoreOption = None, token: TokenOption = None
) -> None:
    """Counts of items by kind, runs and blobs."""
    with _open(kb, store_url, token) as handle:
        typer.echo(json.dumps(handle.stats(), indent=2))


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who or what uses it.")],
    scope: Annotated[
        str, typer.Option(help="read, write or admin (each includes the ones before).")
    ] = "read",
    project: Annotated[
        list[str] | None, typer.Option("--project", help="Limit to projects (repeatable).")
    ] = None,
    kb: KbOption = "./xrai-kb",
    store_url: StoreOption = None,
) -> None:
    """Create a token and print its secret (shown only once)."""
    with _open(kb, store_url, None) as handle:
        typer.echo(handle.create_token(name, scopes=[scope], projects=project or None))


@token_app.command("ls")
def token_ls(kb: KbOption = "./xrai-kb", store_url: StoreOption = None) -> None:
    """List active tokens (not their secrets)."""
    with _open(kb, store_url, None) as handle:
        for info in handle.list_tokens():
            projects = "all projects" if info.projects is None else ",".join(info.projects)
            typer.echo(f"{info.id}  {info.name}  {','.join(info.scopes)}  {projects}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument()], kb: KbOption = "./xrai-kb",
                 store_url: StoreOption = None) -> None:  # fmt: skip
    """Revoke a token by its id."""
    with _open(kb, store_url, None) as handle:
        handle.revoke_token(token_id)
    typer.echo(f"revoked {token_id}")


def register(app: typer.Typer) -> None:
    """Add the ``kb`` command group to the ``xrai`` app."""
    app.add_typer(kb_app, name="kb")
