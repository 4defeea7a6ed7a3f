"""``eigen-server``: the server's command line. Each command lives in a module of its own."""

from __future__ import annotations

import sys

import typer

from eigen.server.admin import config_app, gc, migrate
from eigen.server.serve import serve

app = typer.Typer(add_completion=False, help="Eigen server: system-api, kernel, compiler, driver-manager.")
app.command()(serve)
app.command()(migrate)
app.command()(gc)
app.add_typer(config_app, name="config")


@app.callback()
def main() -> None:
    """Eigen server."""


def run() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
