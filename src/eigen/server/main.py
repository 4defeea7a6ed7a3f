"""``eigen-server``: the server's command line. Each command lives in a module of its own."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

import eigen
from eigen.server.admin import config_app, gc, migrate
from eigen.server.audit_cli import audit_app
from eigen.server.deadletters_cli import dead_letters
from eigen.server.keys_cli import keys_app, tenants_app
from eigen.server.serve import serve

app = typer.Typer(
    add_completion=False,
    help="Eigen server: system-api, kernel, compiler, driver-manager.",
    rich_markup_mode=None,  # plain help: flags as flags, docstrings as written
)
app.command()(serve)
app.command()(migrate)
app.command()(gc)
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")
app.add_typer(audit_app, name="audit")
app.command("dead-letters")(dead_letters)


def _version(shown: bool) -> None:
    if shown:
        print(f"eigen-server {eigen.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Eigen server."""


def run() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
