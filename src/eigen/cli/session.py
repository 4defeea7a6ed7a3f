"""A CLI session: a client for the configured endpoint, or the embedded stack in process,
and the mapping from errors to exit codes and one-line messages."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from eigen.client.client import ENDPOINT_ENV, Client
from eigen.errors import EigenError

USER_ERRORS = {
    "EIGEN_INVALID_ARGUMENT",
    "EIGEN_NOT_FOUND",
    "EIGEN_FAILED_PRECONDITION",
    "EIGEN_ALREADY_EXISTS",
    "EIGEN_COMPILATION_FAILED",
    "EIGEN_UNIMPLEMENTED",
    "EIGEN_METHOD_NOT_ALLOWED",
    "EIGEN_RESOURCE_EXHAUSTED",
}
NETWORK_ERRORS = {"EIGEN_UNAVAILABLE", "EIGEN_DEADLINE_EXCEEDED"}
DATA_DIR_ENV = "EIGEN_DATA_DIR"


def exit_code_for(error: EigenError) -> int:
    if error.code in USER_ERRORS:
        return 2
    if error.code in NETWORK_ERRORS:
        return 3
    return 4


class Session:
    def __init__(self, endpoint: str | None, console: Console) -> None:
        self.endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or ""
        self.console = console
        self.embedded = not self.endpoint
        self._server: Any = None
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        assert self._client is not None
        return self._client

    def __enter__(self) -> Session:
        if self.embedded:
            # Only here does the CLI reach for the server package: no endpoint was given,
            # so the whole stack runs in this process (see docs/cli.md).
            from eigen.server.embedded import EmbeddedServer

            data_dir = os.environ.get(DATA_DIR_ENV)
            with self.console.status("starting the embedded Eigen stack..."):
                self._server = EmbeddedServer(data_dir=Path(data_dir) if data_dir else None).start()
            self._client = Client(self._server.address)
        else:
            self._client = Client(self.endpoint)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            self._client.close()
        if self._server is not None:
            self._server.stop()
        if isinstance(exc, EigenError):
            # The message may quote user input: escaped, so "[/x]" in it is text, not markup.
            self.console.print(
                f"[red]error[/red] {exc.code}: {escape(str(exc))}", markup=True, highlight=False
            )
            for violation in exc.violations:
                self.console.print(
                    f"  - {escape(violation.field)}: {escape(violation.description)}", highlight=False
                )
            raise typer.Exit(exit_code_for(exc)) from None
