"""Per-request call context, the ``x-request-id`` echo and the last line of error handling.

Plain ASGI middlewares (no BaseHTTPMiddleware, so streams are not buffered).
:class:`CallContextMiddleware` reads
``x-request-id``, ``x-eigen-caller`` and ``traceparent`` exactly like the gRPC handlers,
activates the :class:`CallContext` for the route (sync routes run in a thread pool that
copies the context), echoes the request id on every response, and turns an exception that
escaped every handler into a logged EIGEN_INTERNAL problem without a stack trace.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eigen.errors import InternalError
from eigen.observability import context as call_context
from eigen.system_api.rest.problems import problem, problem_response

log = logging.getLogger(__name__)


def call_from_scope(scope: Scope) -> call_context.CallContext:
    pairs = [(key.decode("latin-1"), value.decode("latin-1")) for key, value in scope.get("headers", [])]
    return call_context.from_metadata(pairs)  # an unusable x-request-id is replaced


class CallContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
