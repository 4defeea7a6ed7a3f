"""``eigen-cli ui``: the web dashboard of the embedded stack, on a loopback port.

The embedded stack (the one ``eigen-cli submit`` runs without an endpoint, on the local data
folder) is started with its HTTP server on 127.0.0.1, which serves the REST API and the
dashboard at ``/ui/``; the URL is printed (and opened in a browser unless ``--no-open``)
and the stack serves until Ctrl-C. Like the rest of the CLI, this reaches the server side
only through the port of :mod:`eigen.cli.local_stack`.
"""

from __future__ import annotations

import os
import threading
import webbrowser
from pathlib import Path

import typer
from rich.console import Console

from eigen.cli.session import DATA_DIR_ENV, exit_code_for, print_error, server_extra
from eigen.errors import EigenError

DASHBOARD_PATH = "/ui/"


def serve_dashboard(port: int, open_browser: bool, out: Console, err: Console) -> None:
    """Start the embedded stack with HTTP on ``127.0.0.1:port`` (0: a free port), print the
    dashboard's URL, open it when asked, and serve until interrupted."""
    try:
        with server_extra():
            from eigen.cli.local_stack import local_stack

            data_dir = os.environ.get(DATA_DIR_ENV)
            stack = local_stack().embedded(Path(data_dir) if data_dir else None, http_port=port)
        with err.status("starting the embedded Eigen stack..."):
            running = stack.start()
    except EigenError as exc:
        print_error(err, exc)
        raise typer.Exit(exit_code_for(exc)) from None
    except OSError as exc:  # the port is taken
        err.print(f"error: {exc}", highlight=False)
        raise typer.Exit(2) from None
    try:
        url = f"{running.http_address}{DASHBOARD_PATH}"
        out.print(f"Eigen dashboard: {url}", highlight=False, soft_wrap=True)
        err.print(
            f"data folder {running.settings.data_dir}; press Ctrl-C to stop", style="dim", highlight=False
        )
        if open_browser:
            webbrowser.open(url)
        threading.Event().wait()  # until Ctrl-C
    except KeyboardInterrupt:
        err.print("stopping", style="dim")
    finally:
        running.stop()
