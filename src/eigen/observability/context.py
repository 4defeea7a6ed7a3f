"""The context of one call: request id, caller identity and W3C trace parent.

Servicers set it from incoming gRPC metadata; gRPC port adapters copy it into outgoing
metadata, so the trace and the caller travel across every RFC 0002 edge. What else an
internal call carries (the service token, the api's principal) is added by the provider
that ``eigen.security.internal`` installs (:func:`install_outgoing`): this layer knows no
secret and no policy.
"""

from __future__ import annotations

import contextvars
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from eigen.errors import InvalidArgument
from eigen.models import limits
from eigen.models.principal import Principal, unauthenticated

REQUEST_ID = "x-request-id"
CALLER = "x-eigen-caller"
TRACEPARENT = "traceparent"
ANONYMOUS = "anonymous"
REQUEST_ID_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")
"""A request id the server takes and echoes; any other is replaced by one of its own (an
echo must not carry control characters or a novel back to the caller)."""


@dataclass(frozen=True)
class CallContext:
    request_id: str
    caller: str = ANONYMOUS
    traceparent: str = ""
    job_id: str = ""  # set while the kernel works on a job; logs carry it, metadata does not
    #: who the edge's authenticator says makes the call; None while authentication is off
    authenticated: Principal | None = None

    @property
    def principal(self) -> Principal:
        """The authenticated principal, or (authentication off) the caller's header as a
        principal of the default tenant with every role, as before tenants existed."""
        return self.authenticated or unauthenticated(self.caller)

    @property
    def trace_id(self) -> str:
        return self.traceparent.split("-")[1] if valid_traceparent(self.traceparent) else ""

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """What an outgoing internal call carries: the request id, the caller (the
        principal's owner when authenticated), the traceparent, and what the installed
        provider adds (:func:`install_outgoing`)."""
        caller = self.caller
        if self.authenticated is not None and _header_safe(self.authenticated.owner):
            caller = self.authenticated.owner
        pairs = [(REQUEST_ID, self.request_id), (CALLER, caller)]
        if self.traceparent:
            pairs.append((TRACEPARENT, self.traceparent))
        if _outgoing is not None:
            pairs.extend(_outgoing(self))
        return tuple(pairs)


def _header_safe(value: str) -> bool:
    """Whether ``value`` may be a gRPC metadata value as it is (printable ASCII)."""
    return bool(value) and value.isascii() and value.isprintable()


OutgoingMetadata = Callable[[CallContext], Iterable[tuple[str, str]]]
_outgoing: OutgoingMetadata | None = None


def install_outgoing(provider: OutgoingMetadata | None) -> None:
    """Make ``provider`` add its pairs to every :meth:`CallContext.metadata` of this process
    (None: nothing is added). The composition root installs one, through
    ``eigen.security.internal.install``."""
    global _outgoing
    _outgoing = provider


_current: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("eigen_call", default=None)


def new_traceparent() -> str:
    return f"00-{_hex(128)}-{_hex(64)}-01"


def _hex(bits: int) -> str:
    """Random ids for requests and traces (unique, not secret: no need for the OS's
    entropy on every call, as OpenTelemetry's own id generator does)."""
    return f"{random.getrandbits(bits):0{bits // 4}x}"


def valid_traceparent(value: str) -> bool:
    parts = value.split("-")
    return len(parts) == 4 and [len(p) for p in parts] == [2, 32, 16, 2]


def incoming_traceparent(pairs: Iterable[tuple[str, str | bytes]]) -> str:
    """The caller's valid ``traceparent``, or "" when it sent none (a new trace starts)."""
    for key, value in pairs:
        if key.lower() == TRACEPARENT and isinstance(value, str) and valid_traceparent(value):
            return value
    return ""


def from_metadata(pairs: Iterable[tuple[str, str | bytes]]) -> CallContext:
    found = {key.lower(): value for key, value in pairs if isinstance(value, str)}
    traceparent = found.get(TRACEPARENT, "")
    request_id = found.get(REQUEST_ID, "")
    return CallContext(
        request_id=request_id if REQUEST_ID_PATTERN.fullmatch(request_id) else _hex(64),
        caller=found.get(CALLER) or ANONYMOUS,
        traceparent=traceparent if valid_traceparent(traceparent) else new_traceparent(),
    )


def checked_caller(call: CallContext) -> str:
    """The caller of ``call`` as an owner the store can keep, or INVALID_ARGUMENT naming
    the ``x-eigen-caller`` header (too long for ``jobs.owner``, or control characters).

    Reading metadata never fails (every call gets a context, even one with a bad header);
    what stores the caller checks it."""
    if call.authenticated is not None:  # the authenticator bounded it
        return call.authenticated.owner
    problem = limits.CALLER.problem(call.caller)
    if problem is not None:
        raise InvalidArgument.for_field(CALLER, problem)
    return call.caller


def active_context() -> CallContext | None:
    """The activated context, or None outside of a call (no new ids are made up)."""
    return _current.get()


def current() -> CallContext:
    return _current.get() or CallContext(request_id=_hex(64), traceparent=new_traceparent())


def activate(context: CallContext) -> contextvars.Token[CallContext | None]:
    return _current.set(context)


def deactivate(token: contextvars.Token[CallContext | None]) -> None:
    _current.reset(token)
