"""The HTTP server of a process: uvicorn in a background thread, beside gRPC.

Serves the REST gateway (roles with the API), health, and whatever the composition root
adds (``extra_routers``, ``mounts``: e.g. Prometheus ``/metrics``). The socket is bound
before the thread starts, so a port in use fails here and port 0 gives the bound port.

With TLS configured (:mod:`eigen.security.tls`) it serves HTTPS from the same files as
gRPC, re-read when they change. uvicorn does not hand the peer certificate to the app, so
its HTTP and WebSocket protocols are subclassed here (:class:`CertificateNames`): once the
handshake is done they read the verified client certificate off the transport and put its
names into every scope of the connection (``scope["eigen.certificate_names"]``), which is
where the REST edge's authentication looks for them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import uvicorn
from fastapi import APIRouter
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from eigen.config.errors import InvalidSetting
from eigen.config.settings import Settings
from eigen.errors import FieldViolation
from eigen.security import tls
from eigen.server.build import Stack
from eigen.server.readiness import ready_checks
from eigen.system_api.rest import create_app
from eigen.system_api.rest.ui import OidcLogin

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class _WithNames:
    """The app of one connection whose client presented a verified certificate: every
    scope gets the certificate's names."""

    def __init__(self, app: Any, names: tuple[str, ...]) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[tls.CERTIFICATE_NAMES_SCOPE_KEY] = self.names
        await self.app(scope, receive, send)


class CertificateNames:
    """Mixin of a uvicorn protocol: after the TLS handshake (asyncio calls
    ``connection_made`` only then) the connection's app is wrapped to carry the verified
    client certificate's names. No certificate (plain HTTP, or TLS without mTLS): nothing
    is added, so a scope never claims names the handshake did not verify."""

    app: Any

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            names = tls.peer_names(ssl_object.getpeercert())
            if names:
                self.app = _WithNames(self.app, names)


class CertificateHttp(CertificateNames, AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol (the one ``http="auto"`` picks: httptools when installed,
    else h11) with :class:`CertificateNames`."""


class CertificateWebSocket(CertificateNames, WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol with :class:`CertificateNames` (it takes over the
    transport of the HTTP connection that upgraded, handshake done)."""


class HttpServer:
    """A running uvicorn server; :meth:`stop` ends open streams and waits for the thread.
    ``certificates``: serve HTTPS from these files (see :mod:`eigen.security.tls`)."""

    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket,
        closing: threading.Event,
        grace_s: float,
        certificates: tls.CertificateFiles | None = None,
    ) -> None:
        self.sock = sock
        self.closing = closing
        self.host, self.port = sock.getsockname()[:2]
        self.tls = certificates is not None
        context = tls.reloading_context(certificates) if certificates is not None else None
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=max(1, round(grace_s)),
            http=CertificateHttp,
            ws=CertificateWebSocket,
            ssl_context_factory=(lambda *_: context) if context is not None else None,
        )
        self.server = uvicorn.Server(config)  # a thread that is not main: no signal handlers
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="eigen-http", daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> HttpServer:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"HTTP server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.closing.set()  # open event streams end, readiness answers 503
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
            if self.thread.is_alive():
                log.warning("HTTP server did not stop in %.0f s", timeout)
        self.sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6; port 0 picks a free one)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def oidc_login(settings: Settings) -> OidcLogin | None:
    """The dashboard's OpenID Connect sign-in the ``oidc_*`` settings name (None: none);
    InvalidSetting for an issuer without a client id."""
    if not settings.oidc_issuer:
        return None
    if not settings.oidc_client_id:
        raise InvalidSetting(
            "setting oidc_client_id (EIGEN_OIDC_CLIENT_ID) is required with oidc_issuer: the "
            "dashboard's client id at the provider",
            [FieldViolation("oidc_client_id", "required with oidc_issuer")],
        )
    return OidcLogin(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_scopes)


def start_http(
    stack: Stack,
    settings: Settings,
    *,
    extra_routers: Sequence[APIRouter] = (),
    mounts: Mapping[str, ASGIApp] | None = None,
    grace_s: float = 2.0,
    certificates: tls.CertificateFiles | None = None,
) -> HttpServer:
    """Serve the stack's HTTP app on ``settings.host:settings.http_port`` (HTTPS with
    ``certificates``: the files gRPC serves too, one reader for both)."""
    if settings.http_port is None:
        raise ValueError("settings.http_port is not set")
    closing = threading.Event()
    app = create_app(
        stack.api,
        extra_routers=extra_routers,
        mounts=mounts,
        ready_checks=ready_checks(stack, settings),
        closing=closing,
        max_body_bytes=settings.max_message_bytes,  # the same limit as a gRPC message
        oidc=oidc_login(settings),
    )
    try:
        sock = bind(settings.host, settings.http_port)
    except OSError as exc:
        raise OSError(f"cannot bind HTTP {settings.host}:{settings.http_port}: {exc}") from exc
    return HttpServer(app, sock, closing, grace_s, certificates).start()
