"""A CLI session: a client for the configured endpoint, the server that holds the local data
folder, or the data folder itself (with the embedded stack started only when a command needs
a kernel), and the mapping from errors to exit codes and one-line messages.

With no endpoint (``--endpoint`` or ``EIGEN_ENDPOINT``), the session looks at the data
folder (``EIGEN_DATA_DIR``, default ``~/.eigen``; its lock and owner record, and everything
else of the server side, are reached through :mod:`eigen.cli.local_stack`):

- a live process holds it (``eigen-server serve``, or another CLI's embedded stack): the
  session talks to it at the address it recorded, and says so in one dim line on stderr.
  One that records no address yet, serves on another host, or does not answer: exit 3 with
  what to do. Never a second kernel on the folder (it would re-run the holder's jobs).
- nobody holds it: reads are answered from the folder (:class:`eigen.cli.local.FolderClient`,
  no qiskit, no stack); the first call that needs a kernel starts the embedded stack, which
  then takes the folder's lock for the rest of the command.

The credential and TLS options (``--api-key``, ``--token``, ``--ca-file``, ``--cert``,
``--key`` and their variables) are one :class:`ClientAuth`, which the CLI's callback sets
(:func:`use_auth`) and every client of a session is opened with. A call the server refuses
as not authenticated or not allowed exits with 5, saying which and what to do.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from eigen.errors import EigenError, FailedPrecondition, Unavailable

if TYPE_CHECKING:
    from eigen.cli.local import FolderClient
    from eigen.cli.local_stack import Holder, LocalStack
    from eigen.client.channel import TlsOptions
    from eigen.client.client import Client

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
AUTH_ERRORS = {"EIGEN_UNAUTHENTICATED", "EIGEN_PERMISSION_DENIED"}
AUTH_EXIT_CODE = 5
#: What to do, said after an error the server refused the credential with.
AUTH_HINTS = {
    "EIGEN_UNAUTHENTICATED": "not authenticated: the server requires a valid credential; pass "
    "--api-key or set EIGEN_API_KEY (or --token / EIGEN_TOKEN, or a client certificate with "
    "--cert and --key)",
    "EIGEN_PERMISSION_DENIED": "not allowed: the server knows who you are, but your role or its "
    "policy does not permit this call; ask an administrator for a key or role that does",
}
DATA_DIR_ENV = "EIGEN_DATA_DIR"
# eigen.client.channel.ENDPOINT_ENV (a test holds them equal), named here so that a session
# on the data folder imports no gRPC.
ENDPOINT_ENV = "EIGEN_ENDPOINT"
# How long the session gives the folder's server to take its connection before it says so.
HOLDER_CONNECT_S = 3.0
# Set (to anything) to print, at exit, the top-level packages the command imported (tests).
DEBUG_MODULES_ENV = "EIGEN_CLI_DEBUG_MODULES"
_ANY_HOST = ("", "0.0.0.0", "::", "[::]")  # a server bound to every interface is reached on loopback


def exit_code_for(error: EigenError) -> int:
    """2 user error, 3 network, 5 not authenticated or not allowed, 4 anything else."""
    if error.code in AUTH_ERRORS:
        return AUTH_EXIT_CODE
    if error.code in USER_ERRORS:
        return 2
    if error.code in NETWORK_ERRORS:
        return 3
    return 4


def print_error(console: Console, error: EigenError, endpoint: str = "") -> None:
    """The error once, with its hints (:func:`eigen.cli.render.error_lines`; user input in it
    escaped, so "[/x]" is text, not markup)."""
    from eigen.cli import render

    for line in render.error_lines(error, endpoint):
        console.print(line, markup=True, highlight=False)
    hint = AUTH_HINTS.get(error.code)
    if hint is not None:
        console.print(f"  hint: {hint}", markup=False, highlight=False)


@dataclass(frozen=True)
class ClientAuth:
    """The credential and TLS a session's clients use (the CLI's global options). No
    TLS file given: TLS only for an endpoint written ``https://host:port``."""

    api_key: str | None = None
    token: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __repr__(self) -> str:  # never the secret
        return f"ClientAuth(api_key={'***' if self.api_key else None}, token={'***' if self.token else None})"

    def tls(self) -> TlsOptions | None:
        if self.ca_file is None and self.cert_file is None and self.key_file is None:
            return None
        from eigen.client.channel import TlsOptions

        return TlsOptions(self.ca_file, self.cert_file, self.key_file)

    def client(self, address: str, *, tls: bool = True) -> Client:
        """A client of ``address`` with the credential (and the TLS files, unless ``tls``
        is False: the embedded stack this process started serves plain loopback)."""
        from eigen.client.client import Client  # gRPC, only for a command that calls a server

        return Client(address, api_key=self.api_key, token=self.token, tls=self.tls() if tls else None)


_auth = ClientAuth()


def use_auth(auth: ClientAuth) -> None:
    """Set the :class:`ClientAuth` of this command's sessions (the CLI's callback does,
    from its global options, before the command runs)."""
    global _auth
    _auth = auth


def current_auth() -> ClientAuth:
    """The :class:`ClientAuth` sessions use unless given one."""
    return _auth


class Session:
    def __init__(self, endpoint: str | None, console: Console, auth: ClientAuth | None = None) -> None:
        self.endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or ""
        self.console = console
        self.auth = auth if auth is not None else current_auth()
        # True while the stack may run in this process (no endpoint, no server on the folder)
        self.embedded = not self.endpoint
        self.holder: Holder | None = None  # the server of the data folder this session uses
        self._server: Any = None
        self._client: Client | FolderClient | None = None
        self._closed = False

    @property
    def client(self) -> Client | FolderClient:
        """A client of the endpoint or of the folder's server, or the folder's own."""
        assert self._client is not None
        return self._client

    @property
    def stack_started(self) -> bool:
        """Whether this session started the embedded stack (a kernel ran in this process)."""
        return self._server is not None

    def __enter__(self) -> Session:
        try:
            self._client = self.auth.client(self.endpoint) if self.endpoint else self._open_folder()
        except EigenError as exc:
            self._fail(exc)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
        if isinstance(exc, EigenError):
            self._fail(exc)

    def _fail(self, exc: EigenError) -> None:
        self._close()
        https = False  # a TLS endpoint is a URL on purpose: no hint
        if self.endpoint:  # the data folder's session has none (and imports no gRPC)
            from eigen.client.channel import split_endpoint

            https = split_endpoint(self.endpoint)[1]
        print_error(self.console, exc, "" if https else self.endpoint)
        raise typer.Exit(exit_code_for(exc)) from None

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        if os.environ.get(DEBUG_MODULES_ENV) and not self._closed:
            roots = sorted({name.partition(".")[0] for name in sys.modules})
            print(f"{DEBUG_MODULES_ENV}: {' '.join(roots)}", file=sys.stderr)
        self._closed = True

    # -- no endpoint: the data folder ---------------------------------------------------------
    def _open_folder(self) -> Client | FolderClient:
        # The CLI reaches the server side only here, lazily, through its port (docs/cli.md):
        # the folder lock, the settings, and the read-only view of the store (no qiskit).
        with server_extra():
            from eigen.cli.local import FolderClient
            from eigen.cli.local_stack import local_stack

            stack = local_stack()
            data_dir, database_url = _folder_settings(stack)
        holder = stack.read_holder(data_dir)
        if holder is not None and holder.alive:
            self.embedded = False
            self.holder = holder
            return self._route(data_dir, holder, stack)
        folder = stack.open_folder(data_dir, database_url)
        if folder is None:  # a store only a kernel may open (PostgreSQL, another schema revision)
            return self._start_stack()
        return FolderClient(folder, self._start_stack)

    def _route(self, data_dir: Path, holder: Holder, stack: LocalStack) -> Client:
        """A client of the live holder of the folder, or Unavailable saying what to do."""
        import grpc

        who = (
            "the embedded Eigen stack of another eigen-cli"
            if holder.role == stack.embedded_role
            else "the eigen-server"
        )
        pid = f"pid {holder.pid}" if holder.pid else "pid unknown"
        other = " or use another EIGEN_DATA_DIR"
        if holder.hostname and holder.hostname != socket.gethostname():
            raise Unavailable(
                f"{who} on host {holder.hostname} ({pid}) holds the data folder {data_dir}; "
                f"give its address with --endpoint or EIGEN_ENDPOINT{other}"
            )
        if not holder.address:
            raise Unavailable(
                f"{who} on the data folder {data_dir} ({pid}) is not serving yet: "
                f"try again once it listens, give its address with --endpoint or EIGEN_ENDPOINT,{other}"
            )
        host, _, port = holder.address.rpartition(":")
        address = f"127.0.0.1:{port}" if host in _ANY_HOST else holder.address
        client = self.auth.client(address)  # https:// when the server records that it serves TLS
        try:
            grpc.channel_ready_future(client.channel).result(timeout=HOLDER_CONNECT_S)
        except grpc.FutureTimeoutError:
            client.close()
            raise Unavailable(
                f"{who} on the data folder {data_dir} ({pid}) does not answer at {address}: "
                f"check it (or stop it) and try again,{other}"
            ) from None
        self.console.print(
            f"using {who} on this data folder ({pid}, {address})", style="dim", highlight=False
        )
        return client

    def _start_stack(self) -> Client:
        """Start the embedded stack in this process (it takes the folder's lock, so a server
        started since the folder was looked at makes this a clear error, not a second kernel)."""
        with server_extra():
            from eigen.cli.interrupt import announce_resumed
            from eigen.cli.local_stack import local_stack

            data_dir = os.environ.get(DATA_DIR_ENV)
            server = local_stack().embedded(Path(data_dir) if data_dir else None)
        announce_resumed(self.console, server.settings)  # the jobs its kernel resumes, seen
        with self.console.status("starting the embedded Eigen stack..."):
            self._server = server.start()
        return self.auth.client(self._server.address, tls=False)


@contextlib.contextmanager
def server_extra() -> Iterator[None]:
    """Imports of the embedded mode: in an SDK-only install (no ``server`` extra) they
    fail, which is a user's choice to make, not a crash."""
    try:
        yield
    except ModuleNotFoundError as exc:
        raise FailedPrecondition(
            f"no endpoint given, and the embedded stack needs the server extra ({exc.name} is "
            "not installed): pip install 'eigen[server]', or use --endpoint HOST:PORT / EIGEN_ENDPOINT"
        ) from None


def _folder_settings(stack: LocalStack) -> tuple[Path, str]:
    """The data folder and database URL the embedded stack would start with.

    The stack's settings (``Settings()``) read EIGEN_* variables (names in any case) and the
    YAML file of EIGEN_CONFIG; without such a file, the two keys come from the variables directly,
    sparing a read the import of pydantic-settings (a fifth of its time)."""
    env = {key.upper(): value for key, value in os.environ.items() if key.upper().startswith("EIGEN_")}
    if "EIGEN_CONFIG" in env or "EIGEN_CONFIG_FILE" in env:
        return stack.folder_settings()
    data_dir = env.get(DATA_DIR_ENV)
    return (Path(data_dir) if data_dir else Path.home() / ".eigen"), env.get("EIGEN_DATABASE_URL", "")
