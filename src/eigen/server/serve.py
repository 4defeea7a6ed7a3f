"""``eigen-server serve``: all roles in one process (default) or one role of the four."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from eigen.config.settings import ROLES, Settings
from eigen.observability.logs import configure_logging


def serve(
    role: Annotated[str, typer.Option(help="all, api, kernel, compiler or driver-manager")] = "",
    host: Annotated[str | None, typer.Option(help="bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="gRPC port; 0 picks a free one")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="SQLite store and artifacts")] = None,
    kernel_address: Annotated[str | None, typer.Option(help="KernelService address (api role)")] = None,
    compiler_address: Annotated[str | None, typer.Option(help="CompilationService address")] = None,
    driver_manager_address: Annotated[str | None, typer.Option(help="DriverManagerService address")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Serve gRPC until SIGINT or SIGTERM, then stop gracefully."""
    flags: dict[str, object] = {
        "role": role or None,
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "kernel_address": kernel_address,
        "compiler_address": compiler_address,
        "driver_manager_address": driver_manager_address,
    }
    try:
        settings = Settings.model_validate({k: v for k, v in flags.items() if v is not None})
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(log_level, service=f"eigen-{settings.role}")
    roles = ROLES if settings.role == "all" else (settings.role,)

    from eigen.server.build import build
    from eigen.server.grpc_server import start_grpc

    stack = build(settings, roles)
    stack.start()
    try:
        server, bound = start_grpc(stack, settings)
    except OSError as exc:
        stack.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"eigen-server {settings.role} listening on {settings.host}:{bound}", flush=True)
    stop.wait()
    logging.getLogger(__name__).info("shutting down")
    server.stop(grace=5.0).wait()
    stack.close()
