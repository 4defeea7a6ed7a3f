"""``eigen-server serve``: all roles in one process (default) or one role of the four.

The serve rule: a host other than loopback (127.0.0.0/8, ::1, localhost) is served only
with TLS (``tls_cert_file``/``tls_key_file``) and authentication (``auth_required``), or
with ``--insecure`` (setting ``insecure``), which then warns at start and in the
``security`` entry of ``/health/ready``. Otherwise exit 2 saying what to set.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.exc import OperationalError

from eigen.config.loader import load_settings
from eigen.config.settings import Settings
from eigen.errors import EigenError
from eigen.kernel.store.migrate import SchemaVersionError
from eigen.observability.logs import configure_logging
from eigen.observability.metrics import metrics_asgi_app
from eigen.observability.tracing import configure_tracing, shutdown_tracing
from eigen.security import internal, ratelimit, tls
from eigen.server import heap
from eigen.server.readiness import insecure_note

if TYPE_CHECKING:
    from eigen.server.build import Stack
    from eigen.server.grpc_server import GrpcServer
    from eigen.server.http import HttpServer

_SIGNAL_POLL_S = 0.2
SERVE_DRIVER_PROCESSES = 1  # driver_processes when unset


def local_address(host: str, port: int, *, secure: bool = False) -> str:
    """Where a client on this host reaches a server bound on ``host``: loopback for a
    wildcard; ``https://`` first when it serves TLS (what a client's endpoint says)."""
    scheme = "https://" if secure else ""
    if host in ("", "0.0.0.0"):
        return f"{scheme}127.0.0.1:{port}"
    if host in ("::", "[::]"):
        return f"{scheme}[::1]:{port}"
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme}{bracketed}:{port}"


def refusal(settings: Settings) -> str | None:
    """Why ``settings`` may not be served (None: they may): a public host without TLS and
    authentication, and no ``insecure``. Says what to set."""
    missing = tls.exposure(settings)
    if missing is None or settings.insecure:
        return None
    return (
        f"refusing to serve {settings.host} without {missing}: anyone who reaches the port "
        "could read and cancel every job. Set EIGEN_TLS_CERT_FILE and EIGEN_TLS_KEY_FILE "
        "(tls_cert_file, tls_key_file) and EIGEN_AUTH_REQUIRED=true (auth_required), bind "
        "127.0.0.1, or pass --insecure on a network you trust"
    )


def serve(
    role: Annotated[str, typer.Option(help="all, api, kernel, compiler or driver-manager")] = "",
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML settings file (default: $EIGEN_CONFIG)")
    ] = None,
    host: Annotated[str | None, typer.Option(help="bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="gRPC port; 0 picks a free one")] = None,
    http_port: Annotated[
        int | None,
        typer.Option(help="HTTP port (REST gateway, health, metrics); 0 picks a free one; unset: none"),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="SQLite store and artifacts")] = None,
    database_url: Annotated[str | None, typer.Option(help="job store URL (default: SQLite)")] = None,
    kernel_address: Annotated[str | None, typer.Option(help="KernelService address (api role)")] = None,
    compiler_address: Annotated[str | None, typer.Option(help="CompilationService address")] = None,
    driver_manager_address: Annotated[str | None, typer.Option(help="DriverManagerService address")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="serve a host other than loopback without TLS and authentication (warned)",
        ),
    ] = False,
) -> None:
    """Serve gRPC (and HTTP when an HTTP port is set) until SIGINT or SIGTERM, then stop
    gracefully: refuse new work, let running jobs finish within the grace period, leave the
    rest for the next start. The server's child processes (driver processes, artifact
    writer) ignore these signals, so one sent to the whole process group (Ctrl-C,
    systemd) stops only the server, which then stops them."""
    flags: dict[str, object] = {
        "role": role or None,
        "host": host,
        "port": port,
        "http_port": http_port,
        "data_dir": data_dir,
        "database_url": database_url,
        "kernel_address": kernel_address,
        "compiler_address": compiler_address,
        "driver_manager_address": driver_manager_address,
        "insecure": True if insecure else None,  # not given: the setting (EIGEN_INSECURE) decides
    }
    try:
        settings = load_settings(config, flags)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        typer.echo(f"error: --log-level must be DEBUG, INFO, WARNING or ERROR, not {log_level!r}", err=True)
        raise typer.Exit(2)
    refused = refusal(settings)
    if refused is not None:
        typer.echo(f"error: {refused}", err=True)
        raise typer.Exit(2)
    try:
        certificates = tls.CertificateFiles.from_settings(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if settings.driver_processes is None:  # a server runs circuits off its own GIL
        settings = settings.model_copy(update={"driver_processes": SERVE_DRIVER_PROCESSES})
    if settings.artifact_writer is None:  # ... and writes artifacts off it
        settings = settings.model_copy(update={"artifact_writer": True})
    service = f"eigen-{settings.role}"
    configure_logging(log_level, service=service, fmt=settings.log_format)
    configure_tracing(service, settings.otlp_endpoint)
    ratelimit.install(ratelimit.limiter(settings.rate_limit_per_s, settings.rate_limit_burst))
    # the internal edges: the service token, TLS of the calls to other roles
    internal.install(internal.ServiceEdge.from_settings(settings), internal.channel_credentials(settings))
    log = logging.getLogger(__name__)
    note = insecure_note(settings)
    if note is not None:
        log.warning(
            "serving without TLS or authentication",
            extra={"security": note, "host": settings.host, "tls": certificates is not None},
        )
    roles = settings.roles

    from eigen.server.build import start
    from eigen.server.grpc_server import start_grpc
    from eigen.server.http import start_http

    try:
        stack = start(settings, roles)  # with a kernel: takes the data folder's lock, or refuses
    except (EigenError, SchemaVersionError) as exc:  # e.g. a schema that needs `eigen-server migrate`
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OperationalError as exc:
        typer.echo(f"error: the job store is not reachable: {exc.orig}", err=True)
        raise typer.Exit(3) from None
    try:
        server, bound = start_grpc(stack, settings, certificates)
    except (OSError, RuntimeError) as exc:  # grpcio raises RuntimeError for a port in use
        stack.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    if stack.data_lock is not None and settings.role == "all":  # the public services: clients' address
        stack.data_lock.set_address(local_address(settings.host, bound, secure=certificates is not None))
    http: HttpServer | None = None
    if settings.http_port is not None:
        try:
            http = start_http(
                stack, settings, mounts={"/metrics": metrics_asgi_app()}, certificates=certificates
            )
        except OSError as exc:
            server.stop(grace=0).wait()
            stack.close()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(3) from None
    _reload_policy_on_sighup(stack)
    settled = heap.settle()  # everything is imported and warm: keep the collector off it
    log.info("heap settled", extra={"frozen": settled.frozen, "collected": settled.collected})
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(
        f"eigen-server {settings.role} listening on {settings.host}:{bound}"
        + (" (TLS)" if certificates is not None else ""),
        flush=True,
    )
    if http is not None:
        print(f"eigen-server {settings.role} serving HTTP on {http.url}", flush=True)
    # Wake up now and then: a signal that the OS hands to another thread (gRPC's, OpenMP's)
    # only runs its Python handler once the main thread executes bytecode again, so an
    # untimed wait could sleep through SIGINT or SIGTERM forever.
    while not stop.wait(_SIGNAL_POLL_S):
        pass
    grace = settings.shutdown_grace_s
    log.info("shutting down", extra={"grace_s": grace})
    _stop(stack, server, http, grace)
    stack.close()
    shutdown_tracing()  # flush spans still batched for export


def _stop(stack: Stack, server: GrpcServer, http: HttpServer | None, grace: float) -> None:
    """The graceful stop, in the order that fails no call a client would retry elsewhere:

    1. refuse new calls (gRPC sends GOAWAY: a client's channel sends the next calls to
       another node; the HTTP server stops taking requests);
    2. let the submissions already accepted finish, within ``grace``: one that reached
       this node is stored, not refused by a kernel that has begun to drain (a batch or an
       unkeyed submission refused then would be lost to its client: nothing sends it
       again); an api node's other calls finish within the grace too (``server.stop``)
       before its channel to the kernels closes;
    3. only then drain the kernel (nothing new starts; running jobs get what is left of
       the grace; the queue entries not started go back to the queue for the other
       kernels) and stop it, which ends the WatchJob streams still open (their clients
       resume after the last event on another node).
    """
    began = time.monotonic()
    log = logging.getLogger(__name__)
    if http is not None:
        http.stop()
    stopped = server.stop(grace=grace)  # refuse new RPCs now; in-flight ones get up to `grace`
    if not server.in_flight.wait_idle(grace):
        log.warning("grace period over with submissions in flight", extra={"grace_s": grace})
    if stack.kernel is not None:
        left = max(0.0, grace - (time.monotonic() - began))
        stack.kernel.drain(left)  # nothing new starts; running jobs get the rest of the grace
        stack.kernel.stop()  # open WatchJob streams end; unfinished jobs stay for the next start
    if stack.driver_processes is not None:
        # Circuits still running past the grace period are abandoned now, with the kernel
        # stopped and its store still open: their jobs stay RUNNING and run again at the
        # next start. (The workers ignored the signal: they stop only here.)
        stack.driver_processes.close()
    stopped.wait()
    log.info("stopped", extra={"stop_s": round(time.monotonic() - began, 3)})


def _reload_policy_on_sighup(stack: Stack) -> None:
    """SIGHUP reloads the stack's policy file, where it has one (the api role's
    ``stack.security.policy``, the source of its guard's policy)."""
    from eigen.security.policy import reload_on_sighup

    if stack.security is not None and stack.security.policy is not None:
        reload_on_sighup(stack.security.policy)
