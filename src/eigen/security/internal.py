"""The internal edges of RFC 0002 (api -> kernel -> compiler and driver-manager): one shared
service token authenticates them, and only the api role asserts a principal to the kernel.

With ``internal_token`` set, every call of an internal service (KernelService,
CompilationService, DriverManagerService) must carry the token in ``x-eigen-service-token``
(compared in constant time), or it is refused as UNAUTHENTICATED; the public services ignore
that header. Every process shares the token, so a call also names its role in
``x-eigen-service-role``, and a service takes calls only from the role that calls it in the
service graph (the kernel from ``api``, the compiler and driver-manager from ``kernel``): the
role is not a second secret, it keeps a misconfigured process (a compiler pointed at a kernel)
from acting on the api's behalf.

With ``tls_cert_file`` set the roles serve TLS, and their calls to each other go over TLS
too (:func:`channel_credentials`): the roots are ``tls_client_ca_file`` when set (one CA for
the roles' certificates), else the certificate file itself (self-signed, or a chain that ends
at its CA); with ``tls_client_ca_file`` (client certificates required) a role presents its
own certificate and key, so mutual TLS authenticates the internal edges as well.

The api's outgoing calls carry the principal of the public call (``CallContext.authenticated``)
as ``x-eigen-principal``, compact JSON of tenant, subject, built-in roles and method. The
kernel takes it only with a valid token and from the api role, and it becomes the kernel's
``CallContext.authenticated`` (method ``service``), so the same tenant checks apply there. The
kernel's own calls assert nothing. Without a token configured, nobody can assert: the header
is ignored, and ``x-eigen-caller`` passes through as before.

:func:`install` makes an edge the process's (the ``serve`` entry point, from settings): its
outgoing metadata then rides on every internal call (:meth:`CallContext.metadata`), and the
gRPC handlers :func:`admit` every internal call through it.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import grpc

from eigen.errors import PermissionDenied, Unauthenticated, quote
from eigen.models import limits
from eigen.models.principal import ROLE_NAMES, Principal
from eigen.observability import context as call_context
from eigen.observability.context import CallContext

if TYPE_CHECKING:
    from eigen.config.settings import Settings

log = logging.getLogger(__name__)

SERVICE_TOKEN = "x-eigen-service-token"
SERVICE_ROLE = "x-eigen-service-role"
PRINCIPAL = "x-eigen-principal"

ASSERTING_ROLE = "api"
"""The only role whose calls may assert a principal (to the kernel)."""

CALLER_OF: dict[str, str] = {
    "KernelService": "api",
    "CompilationService": "kernel",
    "DriverManagerService": "kernel",
}
"""Internal service -> the role that calls it (the only role it takes calls from)."""

INTERNAL_SERVICES = frozenset(CALLER_OF)

PRINCIPAL_MAX_BYTES = 1024
"""The longest ``x-eigen-principal`` a kernel reads (the api never sends a longer one)."""
TENANT_MAX = 64  # jobs.tenant
METHOD_MAX = 16  # audit_events.method
ROLES_MAX = len(ROLE_NAMES)
_ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_TENANT = limits.TextLimit(TENANT_MAX)
_METHOD = limits.TextLimit(METHOD_MAX)

ASSERTED_METHOD = "service"
"""The method of a principal the kernel takes from the api's assertion."""


@dataclass(frozen=True)
class ServiceEdge:
    """This process's side of the internal edges: the shared token and its own role."""

    token: str = field(repr=False)
    role: str

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("the internal service token must not be empty")

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceEdge | None:
        """The edge of ``settings`` (``internal_token``, ``role``); None while no token is set."""
        if settings.internal_token is None:
            return None
        token = settings.internal_token.get_secret_value()
        return cls(token, settings.role) if token else None

    def outgoing(self, call: CallContext) -> tuple[tuple[str, str], ...]:
        """The metadata this process adds to an internal call it makes in ``call``."""
        pairs = [(SERVICE_TOKEN, self.token), (SERVICE_ROLE, self.role)]
        if self.role == ASSERTING_ROLE and call.authenticated is not None:
            pairs.append((PRINCIPAL, encode_principal(call.authenticated)))
        return tuple(pairs)

    def verifies(self, presented: str) -> bool:
        """Whether ``presented`` is the token (constant time in the token's content)."""
        return hmac.compare_digest(presented.encode(), self.token.encode())


def encode_principal(principal: Principal) -> str:
    """``principal`` as the api asserts it: compact ASCII JSON, at most
    :data:`PRINCIPAL_MAX_BYTES`. Only the built-in roles travel (no other name grants
    anything, and a token's long list of groups must not make the header unbounded)."""
    roles = sorted(role for role in principal.roles if role in ROLE_NAMES)
    fields = {"tenant": principal.tenant, "subject": principal.subject, "roles": roles}
    text = json.dumps({**fields, "method": principal.method}, separators=(",", ":"))
    if len(text) > PRINCIPAL_MAX_BYTES:  # the authenticator bounds tenant and subject
        raise Unauthenticated(
            "the principal is too large to assert to the kernel",
            metadata={"method": ASSERTED_METHOD, "reason": "principal assertion too large"},
        )
    return text


def decode_principal(text: str) -> Principal:
    """The principal of an ``x-eigen-principal`` header, or UNAUTHENTICATED saying what is
    wrong with it (never echoing more than a bounded quote of it)."""
    if len(text) > PRINCIPAL_MAX_BYTES:
        raise _bad_assertion(f"longer than {PRINCIPAL_MAX_BYTES} bytes ({len(text)})")
    try:
        found = json.loads(text)
    except ValueError:
        raise _bad_assertion(f"not JSON: {quote(text, 40)}") from None
    if not isinstance(found, dict):
        raise _bad_assertion("not a JSON object")
    tenant, subject, roles, method = (found.get(k) for k in ("tenant", "subject", "roles", "method"))
    for name, value, limit in (
        ("tenant", tenant, _TENANT),
        ("subject", subject, limits.CALLER),
        ("method", method, _METHOD),
    ):
        problem = limit.problem(value) if isinstance(value, str) else "must be a string"
        if problem is not None:
            raise _bad_assertion(f"{name} {problem}")
    if not isinstance(roles, list) or len(roles) > ROLES_MAX:
        raise _bad_assertion(f"roles must be a list of at most {ROLES_MAX} names")
    if not all(isinstance(role, str) and _ROLE_PATTERN.fullmatch(role) for role in roles):
        raise _bad_assertion("roles must be role names")
    assert isinstance(tenant, str) and isinstance(subject, str)
    return Principal(tenant, subject, frozenset(roles), ASSERTED_METHOD)


def _bad_assertion(why: str) -> Unauthenticated:
    return Unauthenticated(
        f"the asserted principal ({PRINCIPAL}) is not valid: {why}",
        metadata={"method": ASSERTED_METHOD, "reason": "bad principal assertion"},
    )


def admit(
    service: str,
    method: str,
    metadata: Iterable[tuple[str, str | bytes]],
    call: CallContext,
    peer: str = "",
    edge: ServiceEdge | None = None,
) -> CallContext:
    """The context of an incoming call of ``service`` under ``edge`` (default: the installed
    one): unchanged for a public service or while no token is configured; otherwise
    UNAUTHENTICATED without the right token, PERMISSION_DENIED from a role that does not call
    this service, and, for the kernel, the api's asserted principal as ``authenticated``.

    A refusal is logged (service, method, peer, the claimed role and why; never the token)."""
    edge = edge or installed()
    if edge is None or service not in INTERNAL_SERVICES:
        return call
    found = {key.lower(): value for key, value in metadata if isinstance(value, str)}
    role = found.get(SERVICE_ROLE, "")
    try:
        presented = found.get(SERVICE_TOKEN)
        if presented is None or not edge.verifies(presented):
            raise Unauthenticated(
                f"{service} needs the internal service token ({SERVICE_TOKEN})",
                metadata={
                    "method": ASSERTED_METHOD,
                    "reason": "no service token" if presented is None else "wrong service token",
                },
            )
        if role != CALLER_OF[service]:
            raise PermissionDenied(
                f"{service} takes calls from the {CALLER_OF[service]} role, not {quote(role, 32)}",
                metadata={"role": CALLER_OF[service]},
            )
        asserted = found.get(PRINCIPAL)
        if asserted is None or service != "KernelService":  # only the kernel takes an assertion
            return call
        return replace(call, authenticated=decode_principal(asserted))
    except (Unauthenticated, PermissionDenied) as exc:
        log.warning(
            "internal call refused",
            extra={
                "rpc_service": service,
                "rpc_method": method,
                "peer": peer,
                "service_role": quote(role, 32),
                "code": exc.code,
                "reason": exc.metadata.get("reason", exc.message),
            },
        )
        raise


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """The TLS of this process's internal calls, None while the roles serve plain text (no
    ``tls_cert_file``). ValueError naming the file that cannot be read."""
    cert_file, key_file, ca_file = settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    if cert_file is None:
        return None
    try:
        roots = (ca_file or cert_file).read_bytes()
        if ca_file is None:
            return grpc.ssl_channel_credentials(root_certificates=roots)
        if key_file is None:
            raise ValueError("mutual TLS between roles needs tls_key_file with tls_cert_file")
        return grpc.ssl_channel_credentials(
            root_certificates=roots,
            private_key=key_file.read_bytes(),
            certificate_chain=cert_file.read_bytes(),
        )
    except OSError as exc:
        raise ValueError(f"cannot read {exc.filename}: {exc.strerror}") from None


_installed: ServiceEdge | None = None
_channel: grpc.ChannelCredentials | None = None


def install(edge: ServiceEdge | None, channel: grpc.ChannelCredentials | None = None) -> None:
    """Make ``edge`` this process's (None: no token, the edges are open as before): its
    metadata rides on every outgoing internal call, and :func:`admit` checks incoming ones.
    ``channel``: the TLS of the internal calls (:func:`channel_credentials`), None for plain text."""
    global _installed, _channel
    _installed, _channel = edge, channel
    call_context.install_outgoing(edge.outgoing if edge is not None else None)


def installed() -> ServiceEdge | None:
    return _installed


def installed_channel() -> grpc.ChannelCredentials | None:
    """The TLS credentials this process's internal channels use (None: plain text)."""
    return _channel
