"""The embedded stack: all four roles in this process, serving gRPC on a free loopback port.

Used by ``eigen-cli`` when no endpoint is configured, by tests and by benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import grpc

from eigen.config.settings import Settings
from eigen.server.build import Stack, build
from eigen.server.grpc_server import start_grpc


class EmbeddedServer:
    def __init__(self, settings: Settings | None = None, *, data_dir: Path | None = None) -> None:
        base = settings or Settings()
        updates: dict[str, object] = {"port": 0, "host": "127.0.0.1", "role": "all"}
        if data_dir is not None:
            updates["data_dir"] = data_dir
        self.settings = base.model_copy(update=updates)
        self.stack: Stack | None = None
        self.server: grpc.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedServer:
        self.stack = build(self.settings)
        try:
            self.stack.start()
            self.server, self.port = start_grpc(self.stack, self.settings)
        except BaseException:
            self.stack.close()
            raise
        return self

    def stop(self, grace: float = 2.0) -> None:
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
