"""The ``xrai`` command line: one typer app; each command group lives in its own module.

Command modules import their heavy dependencies inside the command functions, so ``xrai --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

import xrai

app = typer.Typer(
    name="xrai",
    help=(
        "xrai: AI-based high-throughput synchrotron X-ray imaging. "
        "Simulate experiments, process scans, segment, measure, screen and catalogue."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Command modules in xrai.cli, each with a ``register(app)`` function, in the order ``--help`` lists them.
COMMAND_MODULES = ("screen", "simulate", "spectrum", "reconstruct", "segment", "kb", "serve")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xrai {xrai.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """xrai command line."""


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"xrai.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"xrai.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    """Entry point of the ``xrai`` script: user errors become a one-line message and exit code 2."""
    from xrai.errors import XraiError

    try:
        app()
    except XraiError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None
