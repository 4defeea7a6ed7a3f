"""Decorators every servicer method goes through: call context from metadata, the
``x-request-id`` echo, and EigenError -> status with details (never a bare INTERNAL
for user input; an unexpected exception is logged and answered as EIGEN_INTERNAL)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

import grpc

from eigen.errors import EigenError, InternalError
from eigen.observability import context as call_context
from eigen.proto.status import to_status

log = logging.getLogger(__name__)

S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")


def _enter(context: grpc.ServicerContext, method: str) -> call_context.CallContext:
    call = call_context.from_metadata(context.invocation_metadata() or ())
    context.send_initial_metadata(((call_context.REQUEST_ID, call.request_id),))
    log.debug(
        "rpc",
        extra={
            "method": method,
            "request_id": call.request_id,
            "caller": call.caller,
            "trace_id": call.trace_id,
        },
    )
    return call


def _abort(context: grpc.ServicerContext, exc: Exception, call: call_context.CallContext) -> None:
    if isinstance(exc, EigenError):
        context.abort_with_status(to_status(exc))
    log.exception("unhandled error in RPC", extra={"request_id": call.request_id})
    error = InternalError(f"internal error (request id {call.request_id})")
    context.abort_with_status(to_status(error))


def unary(
    method: Callable[[S, Req, grpc.ServicerContext], Resp],
) -> Callable[[S, Req, grpc.ServicerContext], Resp]:
    @functools.wraps(method)
    def wrapper(self: S, request: Req, context: grpc.ServicerContext) -> Resp:
        call = _enter(context, method.__name__)
        token = call_context.activate(call)
        try:
            return method(self, request, context)
        except Exception as exc:
            _abort(context, exc, call)
            raise  # unreachable: abort raises
        finally:
            call_context.deactivate(token)

    return wrapper


def streaming(
    method: Callable[[S, Req, grpc.ServicerContext], Iterator[Resp]],
) -> Callable[[S, Req, grpc.ServicerContext], Iterator[Resp]]:
    @functools.wraps(method)
    def wrapper(self: S, request: Req, context: grpc.ServicerContext) -> Iterator[Resp]:
        call = _enter(context, method.__name__)
        token = call_context.activate(call)
        try:
            yield from method(self, request, context)
        except Exception as exc:
            _abort(context, exc, call)
        finally:
            call_context.deactivate(token)

    return wrapper


def active(context: grpc.ServicerContext) -> Callable[[], bool]:
    """A predicate that turns false once the client has gone away."""
    return lambda: bool(context.is_active())
