"""The embedded stack: all four roles in this process, serving gRPC on a free loopback port
(and HTTP: REST gateway and health, on a free one too, when ``http_port`` is set).

Used by ``eigen-cli`` when no endpoint is configured, by tests and by benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from eigen.config.settings import Settings
from eigen.observability.metrics import metrics_asgi_app
from eigen.server.build import Stack, start
from eigen.server.datalock import EMBEDDED
from eigen.server.grpc_server import GrpcServer, start_grpc
from eigen.server.http import HttpServer, start_http


class EmbeddedServer:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        data_dir: Path | None = None,
        http_port: int | None = None,
    ) -> None:
        """``http_port`` (0: a free one) also serves HTTP; so does ``settings.http_port`` of
        settings passed in (not one from the environment alone)."""
        base = settings or Settings()
        updates: dict[str, object] = {"port": 0, "host": "127.0.0.1", "role": "all"}
        if data_dir is not None:
            updates["data_dir"] = data_dir
        if http_port is not None or settings is None:
            updates["http_port"] = http_port
        self.settings = base.model_copy(update=updates)
        self.stack: Stack | None = None
        self.server: GrpcServer | None = None
        self.port = 0
        self.http: HttpServer | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http_port(self) -> int | None:
        """The bound HTTP port; None when no HTTP server runs."""
        return self.http.port if self.http is not None else None

    @property
    def http_address(self) -> str:
        """Base URL of the REST gateway, e.g. ``http://127.0.0.1:8080``."""
        if self.http is None:
            raise RuntimeError("no HTTP server: start with http_port set")
        return self.http.url

    def start(self) -> EmbeddedServer:
        """Build and serve. Raises :class:`~eigen.server.datalock.DataFolderInUse` (an
        EigenError) when another live kernel owns the data folder: two kernels on one store
        would both resume its RUNNING jobs."""
        self.stack = start(self.settings, owner_role=EMBEDDED)  # the same stack as eigen-server serve
        try:
            self.server, self.port = start_grpc(self.stack, self.settings)
            if self.stack.data_lock is not None:
                self.stack.data_lock.set_address(self.address)  # where a CLI on the folder goes
            if self.settings.http_port is not None:
                self.http = start_http(self.stack, self.settings, mounts={"/metrics": metrics_asgi_app()})
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 2.0) -> None:
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self.server is not None:
            self.server.stop(grace).wait()
            self.server = None
        if self.stack is not None:
            self.stack.close()
            self.stack = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
