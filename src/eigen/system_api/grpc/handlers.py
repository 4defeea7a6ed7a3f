"""Decorators every servicer method goes through, and how a method runs blocking work.

Servicers are ``grpc.aio`` coroutines (an ``async def`` returning the response, or an
async generator of stream messages) on the server's event loop. Fast in-process calls
(the kernel's store reads and writes) run on the loop; anything that may block for long
(a call to another process, a large batch, a simulation) runs on the RPC thread pool
through :func:`blocking`, with the call's context.

Per call: the call context from metadata (request id, caller, W3C traceparent), the
``x-request-id`` echo, authentication of a public call (JobService, BackendService: the
servicer's ``guard`` turns the call's credentials into the principal of the call context;
``x-eigen-caller`` counts for nothing then), a SERVER span (child of the caller's
traceparent; the call context then carries the span, so every outgoing call is its
child), the per-caller rate limit of submissions, API metrics (count, duration and
in-flight by service, method and code) and EigenError -> status with details (never a
bare INTERNAL for user input; an unexpected exception is logged and answered as
EIGEN_INTERNAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, NoReturn, TypeAlias, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from eigen.errors import EigenError, InternalError
from eigen.observability import context as call_context
from eigen.observability import metrics, tracing
from eigen.proto.status import to_status
from eigen.security import internal, ratelimit
from eigen.security.authenticator import Credentials
from eigen.security.guard import Guard
from eigen.system_api.service import with_principal

log = logging.getLogger(__name__)

S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")
T = TypeVar("T")
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

ROLES = {
    "JobService": "api",
    "BackendService": "api",
    "KernelService": "kernel",
    "CompilationService": "compiler",
    "DriverManagerService": "driver-manager",
}
_DETAILS_KEY = "grpc-status-details-bin"
PUBLIC_SERVICES = frozenset({"JobService", "BackendService"})
"""The services of the public edge: their calls are authenticated here."""
_CERTIFICATE_NAMES = ("x509_common_name", "x509_subject_alternative_name")


def service_name(servicer: object) -> str:
    """``JobServicer`` -> ``JobService``: the gRPC service a servicer class implements."""
    name = type(servicer).__name__
    return name[:-1] if name.endswith("Servicer") else name


class _Rpc:
    """The bookkeeping of one RPC from its first to its last message."""

    def __init__(self, servicer: object, method: str, context: Context) -> None:
        self.service = service_name(servicer)
        self.method = method
        self.context = context
        self.code = "OK"
        self.started = time.perf_counter()
        metadata = tuple(context.invocation_metadata() or ())
        call = call_context.from_metadata(metadata)
        self.span = tracing.start_span(
            f"{self.service}/{method}",
            parent=call_context.incoming_traceparent(metadata),
            kind=SpanKind.SERVER,
            role=ROLES.get(self.service, ""),
            attributes={
                "rpc.system": "grpc",
                "rpc.service": self.service,
                "rpc.method": method,
                "eigen.request_id": call.request_id,
            },
        )
        traceparent = tracing.traceparent_of(self.span) or call.traceparent
        # with tracing off, the span is the caller's traceparent again: keep the context
        self.call = call if traceparent == call.traceparent else replace(call, traceparent=traceparent)
        log.debug(
            "rpc",
            extra={
                "method": method,
                "request_id": call.request_id,
                "caller": call.caller,
                "trace_id": self.call.trace_id,
            },
        )
        metrics.rpc_started(self.service, method)
        self._token = call_context.activate(self.call)

    async def begin(self, servicer: object) -> None:
        """Echo the request id (as a header, public calls), admit an internal call (service token, the
        api's principal: :func:`eigen.security.internal.admit`) and apply the rate limit."""
        if self.service not in internal.INTERNAL_SERVICES:
            # Not on internal calls: headers commit a call, and gRPC retries on another
            # kernel only a call that has received none (an api node's failover).
            await self.context.send_initial_metadata(((call_context.REQUEST_ID, self.call.request_id),))
        if self.service in internal.INTERNAL_SERVICES:  # the service token; the api's principal
            metadata = tuple(self.context.invocation_metadata() or ())
            self.call = internal.admit(self.service, self.method, metadata, self.call, self.context.peer())
            call_context.activate(self.call)  # reset with the first token at the end
        elif self.service in PUBLIC_SERVICES:
            self.authenticate(servicer)
        self.limit(servicer)

    def authenticate(self, servicer: object) -> None:
        """The principal of a public call (UNAUTHENTICATED for a missing or bad
        credential), into the call context; nothing changes while authentication is off."""
        guard = getattr(servicer, "guard", None)
        if not isinstance(guard, Guard) or not guard.required:
            return
        principal = guard.authenticate(credentials_of(self.context), self.method)
        self.call = with_principal(self.call, principal)
        call_context.activate(self.call)  # reset with the first token at the end

    def limit(self, servicer: object) -> None:
        limiter = getattr(servicer, "rate_limiter", None) or ratelimit.installed()
        if not isinstance(limiter, ratelimit.RateLimiter) or not limiter.applies_to(self.method):
            return
        try:
            key = ratelimit.caller_key(self.call.caller, self.context.peer(), self.call.authenticated)
            limiter.check(key, self.method)
        except EigenError:
            metrics.rate_limited(self.method)
            raise

    async def fail(self, exc: BaseException) -> NoReturn:
        if isinstance(exc, EigenError):
            error = exc
        else:
            aborted = _aborted_code(self.context)
            if aborted is not None:  # the servicer aborted by itself: keep its status
                self.code = aborted
                tracing.fail_span(self.span, exc, aborted)
                raise exc
            log.exception("unhandled error in RPC", extra={"request_id": self.call.request_id})
            error = InternalError(f"internal error (request id {self.call.request_id})")
        self.code = error.info.grpc
        tracing.fail_span(self.span, error, error.code)
        await self.context.abort_with_status(status_of(error))
        raise AssertionError("abort_with_status returned")  # pragma: no cover

    def end(self) -> None:
        seconds = time.perf_counter() - self.started
        self.span.set_attribute("rpc.grpc.status_code", getattr(grpc.StatusCode, self.code).value[0])
        self.span.end()
        metrics.rpc_finished(self.service, self.method, self.code, seconds)
        log.debug(
            "rpc done",
            extra={
                "method": self.method,
                "code": self.code,
                "duration_ms": round(seconds * 1000, 3),
                "request_id": self.call.request_id,
                "caller": self.call.caller,
                "trace_id": self.call.trace_id,
            },
        )
        with contextlib.suppress(ValueError):  # a stream closed in another context (e.g. by GC)
            call_context.deactivate(self._token)


def credentials_of(context: Context) -> Credentials:
    """What a gRPC call presents: its text metadata (names lower case), its peer, and the
    names of a client certificate the TLS layer verified (common name, then SANs)."""
    headers = {
        key.lower(): value for key, value in context.invocation_metadata() or () if isinstance(value, str)
    }
    auth = context.auth_context() or {}
    names: list[str] = []
    if b"ssl" in auth.get("transport_security_type", ()):
        for key in _CERTIFICATE_NAMES:
            names += [value.decode("utf-8", "replace") for value in auth.get(key, ())]
    return Credentials(headers=headers, peer=context.peer() or "", certificate_names=tuple(names))


def _aborted_code(context: Context) -> str | None:
    code = context.code()
    if isinstance(code, grpc.StatusCode) and code is not grpc.StatusCode.OK:
        return code.name
    return None


def status_of(error: EigenError) -> grpc.Status:
    """The status of ``error``; one with ``retry_after_s`` also gets a RetryInfo detail."""
    status = to_status(error)
    retry_after = error.metadata.get("retry_after_s", "")
    if not retry_after:
        return status
    message = status_pb2.Status()
    for key, value in status.trailing_metadata or ():
        if key == _DETAILS_KEY:
            message.ParseFromString(value)
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.FromNanoseconds(int(float(retry_after) * 1e9))
    message.details.add().Pack(retry)
    return rpc_status.to_status(message)


def unary(
    method: Callable[[S, Req, Context], Awaitable[Resp]],
) -> Callable[[S, Req, Context], Awaitable[Resp]]:
    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: Context) -> Resp:
        rpc = _Rpc(self, method.__name__, context)
        try:
            with trace.use_span(
                rpc.span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                await rpc.begin(self)
                return await method(self, request, context)
        except Exception as exc:
            await rpc.fail(exc)
        finally:
            rpc.end()

    return wrapper


def streaming(
    method: Callable[[S, Req, Context], AsyncIterator[Resp]],
) -> Callable[[S, Req, Context], AsyncIterator[Resp]]:
    # No OpenTelemetry context is attached across yields (a generator may be resumed or
    # closed elsewhere); the call context carries the span to whatever the stream calls.
    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: Context) -> AsyncIterator[Resp]:
        rpc = _Rpc(self, method.__name__, context)
        try:
            await rpc.begin(self)
            async for message in method(self, request, context):
                yield message
            if context.cancelled():
                rpc.code = "CANCELLED"
        except (GeneratorExit, asyncio.CancelledError):
            rpc.code = "CANCELLED"  # the client went away
            raise
        except Exception as exc:
            await rpc.fail(exc)
        finally:
            rpc.end()

    return wrapper


async def blocking(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on the RPC thread pool (the loop's default executor), with
    this call's context; for work that may block the event loop for long."""
    return await asyncio.to_thread(function, *args)
