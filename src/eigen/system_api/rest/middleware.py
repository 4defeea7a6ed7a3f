"""Per-request call context, authentication, the ``x-request-id`` echo and the last line
of error handling.

Plain ASGI middlewares (no BaseHTTPMiddleware, so streams are not buffered).
:class:`CallContextMiddleware` reads
``x-request-id``, ``x-eigen-caller`` and ``traceparent`` exactly like the gRPC handlers,
activates the :class:`CallContext` for the route (sync routes run in a thread pool that
copies the context), echoes the request id on every response, and turns an exception that
escaped every handler into a logged EIGEN_INTERNAL problem without a stack trace.

:class:`AuthenticationMiddleware` authenticates every request of the API (``/v1/...``,
the event streams and the WebSocket included; health, metrics and the documents stay
open) once, with the one authenticator of the gRPC edge, and puts the principal into the
call context. A missing or bad credential is a 401 problem (``WWW-Authenticate: Bearer``)
before the route runs; a WebSocket is accepted and closed at once with 1008 (policy
violation) and the reason, before any message is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eigen.errors import EigenError, InternalError, Unauthenticated
from eigen.observability import context as call_context
from eigen.security.authenticator import Credentials
from eigen.security.guard import Guard
from eigen.system_api.rest.problems import auth_headers, problem, problem_of, problem_response
from eigen.system_api.service import with_principal

log = logging.getLogger(__name__)

CERTIFICATE_NAMES = "eigen.certificate_names"
"""The scope key where the TLS layer puts the names of a verified client certificate."""
API_PREFIX = "/v1/"
WS_POLICY_VIOLATION = 1008
WS_TRY_AGAIN_LATER = 1013
WS_INTERNAL_ERROR = 1011
_WS_REASON_BYTES = 123  # what a close frame holds


def call_from_scope(scope: Scope) -> call_context.CallContext:
    """The call context of a request or WebSocket: the authenticated one, once
    :class:`AuthenticationMiddleware` made it, else from the headers."""
    made = scope.get("state", {}).get("call")
    if isinstance(made, call_context.CallContext):
        return made
    pairs = [(key.decode("latin-1"), value.decode("latin-1")) for key, value in scope.get("headers", [])]
    return call_context.from_metadata(pairs)  # an unusable x-request-id is replaced


def credentials_of(scope: Scope) -> Credentials:
    """What a request presents: its headers (names lower case, as ASGI gives them), its
    peer (as gRPC writes one) and the names of a verified client certificate."""
    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
    client = scope.get("client")
    peer = ""
    if client:
        host, port = client[0], client[1]
        peer = f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"
    names = tuple(str(name) for name in scope.get(CERTIFICATE_NAMES, ()) or ())
    return Credentials(headers=headers, peer=peer, certificate_names=names)


def close_reason(error: EigenError) -> str:
    """``EIGEN_*: message`` cut to what a WebSocket close frame holds."""
    text = f"{error.code}: {error.message}".encode()[:_WS_REASON_BYTES]
    return text.decode("utf-8", "ignore")


def close_code(error: EigenError) -> int:
    if error.code in ("EIGEN_UNAUTHENTICATED", "EIGEN_PERMISSION_DENIED"):
        return WS_POLICY_VIOLATION
    if error.code == "EIGEN_RESOURCE_EXHAUSTED":
        return WS_TRY_AGAIN_LATER
    return WS_INTERNAL_ERROR


async def refuse_websocket(receive: Receive, send: Send, error: EigenError) -> None:
    """Accept and close at once with the code and reason of ``error`` (a browser's
    WebSocket sees a refused handshake only as a bare failure, a close frame with its
    reason)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": close_code(error), "reason": close_reason(error)})


class AuthenticationMiddleware:
    """The principal of each API request (see the module); ``operation_of`` names the
    RPC a request stands for, for the audit log."""

    def __init__(
        self, app: ASGIApp, guard: Guard, operation_of: Callable[[Scope], str] | None = None
    ) -> None:
        self.app = app
        self.guard = guard
        self.operation_of = operation_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.guard.required
            or scope["type"] not in ("http", "websocket")
            or not str(scope.get("path", "")).startswith(API_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        operation = self.operation_of(scope) if self.operation_of is not None else ""
        try:
            principal = self.guard.authenticate(credentials_of(scope), operation)
        except Unauthenticated as exc:
            if scope["type"] == "websocket":
                await refuse_websocket(receive, send, exc)
            else:
                await problem_response(problem_of(exc), headers=auth_headers(exc))(scope, receive, send)
            return
        call = with_principal(call_from_scope(scope), principal)
        scope.setdefault("state", {})["call"] = call
        token = call_context.activate(call)
        try:
            await self.app(scope, receive, send)
        finally:
            call_context.deactivate(token)


class CallContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no response to echo an id on: the context only
            call = call_from_scope(scope)
            scope.setdefault("state", {})["call"] = call
            socket_token = call_context.activate(call)
            try:
                await self.app(scope, receive, send)
            finally:
                call_context.deactivate(socket_token)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call = call_from_scope(scope)
        scope.setdefault("state", {})["call"] = call
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[call_context.REQUEST_ID] = call.request_id
            await send(message)

        token = call_context.activate(call)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unhandled error in HTTP request",
                extra={
                    "request_id": call.request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "trace_id": call.trace_id,
                },
            )
            if started:
                raise
            error = InternalError(f"internal error (request id {call.request_id})")
            body = problem(error.code, error.message, request_id=call.request_id)
            await problem_response(body)(scope, receive, send_with_id)
        finally:
            call_context.deactivate(token)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with a 413 problem (the announced length
    is checked up front, a chunked body as it arrives)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = Headers(scope=scope).get("content-length", "")
        if announced.isdigit() and int(announced) > self.max_bytes:
            error = BodyTooLarge(self.max_bytes)
            body = problem("EIGEN_INVALID_ARGUMENT", str(error.detail), status=413)
            await problem_response(body)(scope, receive, send)
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)  # answered by the HTTP error handler
            return message

        await self.app(scope, receive_limited, send)
