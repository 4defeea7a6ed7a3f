"""How the SDK opens its one gRPC channel: options, deadlines, the retry policy, TLS and
the credential every call carries.

Retries are gRPC's own (the channel's service config, ``methodConfig`` / ``retryPolicy``):
only the idempotent calls are listed, so a SubmitJob is never sent twice by the transport.
They are retried on UNAVAILABLE and on CANCELLED (:class:`RetryPolicy`). gRPC retries
only a call whose response headers have not arrived; an Eigen server sends its headers as
it starts a call, so an idempotent call cut after that (a server stopping when its grace
runs out ends it with UNAVAILABLE ``Cancelling all calls``) is sent again by the client,
under the same policy (:func:`server_took`, ``eigen.client.client.SubmitRetry``).

TLS is on for an endpoint written ``https://host:port`` or a ``tls`` argument (True: the
system's roots; :class:`TlsOptions`: a CA file and, for mutual TLS, a client certificate).
The credential (an API key or a token, argument or ``$EIGEN_API_KEY`` / ``$EIGEN_TOKEN``)
goes as ``authorization: Bearer ...`` in the metadata of every call, beside the other
headers the client sends, so it works over a plain loopback channel as over TLS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from eigen.errors import (
    EigenError,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    quote,
)
from eigen.proto.api.v1 import jobs_pb2
from eigen.proto.status import error_from_rpc

ENDPOINT_ENV = "EIGEN_ENDPOINT"
DEFAULT_ENDPOINT = "127.0.0.1:50051"
API_KEY_ENV = "EIGEN_API_KEY"
TOKEN_ENV = "EIGEN_TOKEN"
#: Read by eigen-cli (--ca-file, --cert, --key); the SDK takes :class:`TlsOptions` instead.
CA_FILE_ENV = "EIGEN_CA_FILE"
CERT_FILE_ENV = "EIGEN_CERT_FILE"
KEY_FILE_ENV = "EIGEN_KEY_FILE"
HTTPS_SCHEME = "https://"

JOB_SERVICE = "eigen.api.v1.JobService"
BACKEND_SERVICE = "eigen.api.v1.BackendService"

#: Calls that are safe to send again: reads, and CancelJob (cancelling twice is a no-op).
IDEMPOTENT_METHODS: tuple[tuple[str, str], ...] = (
    (JOB_SERVICE, "GetJob"),
    (JOB_SERVICE, "ListJobs"),
    (JOB_SERVICE, "GetJobResults"),
    (JOB_SERVICE, "CancelJob"),
    (JOB_SERVICE, "GetSession"),
    (JOB_SERVICE, "CloseSession"),
    (JOB_SERVICE, "CancelSession"),
    (BACKEND_SERVICE, "ListBackends"),
    (BACKEND_SERVICE, "GetBackend"),
    (BACKEND_SERVICE, "GetCalibration"),
)
_IDEMPOTENT_INPUTS = frozenset(
    jobs_pb2.DESCRIPTOR.services_by_name[service.rpartition(".")[2]]
    .methods_by_name[method]
    .input_type.full_name
    for service, method in IDEMPOTENT_METHODS
)


def idempotent_request(request: Any) -> bool:
    """Whether ``request`` is the request message of a call in :data:`IDEMPOTENT_METHODS`."""
    return request.DESCRIPTOR.full_name in _IDEMPOTENT_INPUTS


def server_took(error: grpc.RpcError) -> bool:
    """Whether the server had taken the failed call: its response headers arrived (an Eigen
    server sends them as it starts a public call). gRPC commits such a call and never
    retries it itself, whatever the code (gRFC A6); an error without them was already
    retried by the channel's policy."""
    headers = getattr(error, "initial_metadata", None)  # grpc.Call, and grpc.aio's AioRpcError
    return bool(headers()) if callable(headers) else False


@dataclass(frozen=True)
class RetryPolicy:
    """gRPC retry policy for the idempotent calls (see gRFC A6)."""

    max_attempts: int = 4  # the first attempt included; gRPC caps this at 5
    initial_backoff: float = 0.1  # seconds; each retry waits random(0, backoff)
    max_backoff: float = 2.0
    backoff_multiplier: float = 2.0
    #: UNAVAILABLE: the server went away or answered nothing. CANCELLED: a server that
    #: shuts down cancels the calls it received and had not started yet (gRPC core ends
    #: them with a bare CANCELLED: grpc/grpc#41785), and a proxy may do likewise. The SDK
    #: never cancels a unary call itself, and gRPC never retries a call the application
    #: cancelled, so this CANCELLED is the server's; the calls of the policy are idempotent.
    retryable_status_codes: tuple[str, ...] = ("UNAVAILABLE", "CANCELLED")
    #: gRPC retry throttling: retries stop while failures outweigh successes on a channel.
    throttle_max_tokens: int = 10
    throttle_token_ratio: float = 0.1

    def __post_init__(self) -> None:
        if not 2 <= self.max_attempts <= 5:
            raise ValueError("max_attempts must be between 2 and 5 (gRPC's limit)")
        if self.initial_backoff <= 0 or self.max_backoff <= 0 or self.backoff_multiplier <= 0:
            raise ValueError("backoffs and the multiplier must be positive")
        unknown = [c for c in self.retryable_status_codes if c not in grpc.StatusCode.__members__]
        if unknown or not self.retryable_status_codes:
            raise ValueError(f"retryable_status_codes must name grpc.StatusCode members, got {unknown}")


@dataclass(frozen=True)
class ChannelOptions:
    """Everything about the connection of one client (sync or async).

    ``timeout`` is the deadline of each unary call in seconds (watch streams have none).
    ``retry`` is None to turn the transport's retries off.
    """

    timeout: float = 30.0
    retry: RetryPolicy | None = RetryPolicy()
    max_message_bytes: int = 64 * 1024 * 1024
    initial_reconnect_backoff: float = 0.5  # seconds; how soon a lost connection is tried again
    max_reconnect_backoff: float = 10.0
    keepalive_time: float | None = None  # seconds between pings on an idle connection; None: off
    extra: tuple[tuple[str, Any], ...] = ()  # further raw grpc channel arguments

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if not 0 < self.initial_reconnect_backoff <= self.max_reconnect_backoff:
            raise ValueError("need 0 < initial_reconnect_backoff <= max_reconnect_backoff")

    def deadline_for_wait(self, wait: float) -> float:
        """The deadline of a call that asks the server to wait ``wait`` seconds: room for
        the wait and then for the answer."""
        return max(self.timeout, wait + self.timeout)


def resolve_endpoint(endpoint: str | None) -> str:
    """The endpoint given, else ``$EIGEN_ENDPOINT``, else the local default."""
    return endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT


@dataclass(frozen=True)
class TlsOptions:
    """TLS of a client's channel: ``ca_file`` (PEM roots that sign the server's certificate;
    None: the system's roots) and, for mutual TLS, ``cert_file`` and ``key_file`` (the
    client's certificate chain and key, both or neither). ``server_name`` checks the
    server's certificate for that name instead of the endpoint's host."""

    ca_file: str | Path | None = None
    cert_file: str | Path | None = None
    key_file: str | Path | None = None
    server_name: str = ""

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise InvalidArgument.for_field(
                "tls", "a client certificate needs both cert_file and key_file (mutual TLS)"
            )

    def credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials of the files (read now; InvalidArgument naming a file
        that cannot be read)."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read("ca_file", self.ca_file),
            private_key=_read("key_file", self.key_file),
            certificate_chain=_read("cert_file", self.cert_file),
        )


TlsSetting = bool | TlsOptions | None
"""A client's ``tls`` argument: None (plain, unless the endpoint is ``https://``), True
(the system's roots) or :class:`TlsOptions`."""


@dataclass(frozen=True)
class Connection:
    """Where and how a client connects: the ``host:port`` address, its TLS (None: plain)
    and the metadata every call carries (the credential, the caller). Its repr hides the
    credential."""

    address: str
    tls: TlsOptions | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.metadata)
        return f"Connection({self.address!r}, tls={self.tls is not None}, metadata=[{names}])"


def connection(
    endpoint: str | None,
    *,
    tls: TlsSetting = None,
    api_key: str | None = None,
    token: str | None = None,
    caller: str = "",
    env: Mapping[str, str] | None = None,
) -> Connection:
    """The connection of a client: the endpoint (else ``$EIGEN_ENDPOINT``, else the local
    default), TLS when the endpoint says ``https://`` or ``tls`` asks for it, and the
    credential (``api_key`` or ``token``, else ``$EIGEN_API_KEY`` or ``$EIGEN_TOKEN``)."""
    environ = os.environ if env is None else env
    target = endpoint or environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
    address, https = split_endpoint(target)
    options: TlsOptions | None
    if isinstance(tls, TlsOptions):
        options = tls
    elif tls is True or (tls is None and https):
        options = TlsOptions()
    else:
        if tls is False and https:
            raise InvalidArgument.for_field("tls", f"{quote(target)} asks for TLS but tls=False")
        options = None
    return Connection(
        address, options, credential_metadata(api_key, token, environ) + caller_metadata(caller)
    )


def split_endpoint(endpoint: str) -> tuple[str, bool]:
    """``(host:port, TLS?)`` of an endpoint: ``https://host:port`` (a trailing ``/``
    allowed) turns TLS on; any other text is the address as given (a URL of another form
    keeps failing with the CLI's hint to write ``host:port``)."""
    text = endpoint.strip()
    if text[: len(HTTPS_SCHEME)].lower() == HTTPS_SCHEME:
        address = text[len(HTTPS_SCHEME) :].rstrip("/")
        if address and "/" not in address:
            return address, True
    return text, False


def credential_metadata(
    api_key: str | None, token: str | None, env: Mapping[str, str] | None = None
) -> tuple[tuple[str, str], ...]:
    """The ``authorization`` metadata of a credential: the argument given, else the
    environment's; both an API key and a token given: InvalidArgument (the server would
    take only one)."""
    if api_key and token:
        raise InvalidArgument.for_field("api_key", "give an API key or a token, not both")
    environ = os.environ if env is None else env
    if not api_key and not token:
        api_key, token = environ.get(API_KEY_ENV) or None, environ.get(TOKEN_ENV) or None
        if api_key and token:
            raise InvalidArgument.for_field(
                API_KEY_ENV, f"both {API_KEY_ENV} and {TOKEN_ENV} are set: unset one"
            )
    secret = (api_key or token or "").strip()
    if not secret:
        return ()
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in secret):
        raise InvalidArgument.for_field("api_key" if api_key else "token", "must be printable ASCII")
    return (("authorization", f"Bearer {secret}"),)


def caller_metadata(caller: str) -> tuple[tuple[str, str], ...]:
    return (("x-eigen-caller", caller),) if caller else ()


def retry_method_config(retry: RetryPolicy, methods: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """One ``methodConfig`` entry of a service config: ``retry`` for the ``(service,
    method)`` pairs (full service names). The SDK's channel and the api role's channel to
    its kernels both build theirs with it."""
    return {
        "name": [{"service": service, "method": method} for service, method in methods],
        "retryPolicy": {
            "maxAttempts": retry.max_attempts,
            "initialBackoff": _duration(retry.initial_backoff),
            "maxBackoff": _duration(retry.max_backoff),
            "backoffMultiplier": retry.backoff_multiplier,
            "retryableStatusCodes": list(retry.retryable_status_codes),
        },
    }


def service_config(options: ChannelOptions) -> dict[str, Any]:
    """The channel's service config: the retry policy of the idempotent methods."""
    if options.retry is None:
        return {}
    retry = options.retry
    return {
        "methodConfig": [retry_method_config(retry, IDEMPOTENT_METHODS)],
        "retryThrottling": {
            "maxTokens": retry.throttle_max_tokens,
            "tokenRatio": retry.throttle_token_ratio,
        },
    }


def channel_arguments(options: ChannelOptions) -> list[tuple[str, Any]]:
    """grpc channel arguments for ``options`` (service config included)."""
    arguments: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", options.max_message_bytes),
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", int(options.initial_reconnect_backoff * 1000)),
        ("grpc.min_reconnect_backoff_ms", int(options.initial_reconnect_backoff * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(options.max_reconnect_backoff * 1000)),
        ("grpc.enable_retries", 1 if options.retry is not None else 0),
    ]
    config = service_config(options)
    if config:
        arguments.append(("grpc.service_config", json.dumps(config)))
    if options.keepalive_time is not None:
        arguments.append(("grpc.keepalive_time_ms", int(options.keepalive_time * 1000)))
    arguments.extend(options.extra)
    return arguments


def open_channel(endpoint: str, options: ChannelOptions, tls: TlsOptions | None = None) -> grpc.Channel:
    """A channel to ``endpoint`` (``host:port``): plain, or TLS with ``tls``."""
    arguments = channel_arguments(options) + _tls_arguments(tls)
    if tls is None:
        return grpc.insecure_channel(endpoint, options=arguments)
    return grpc.secure_channel(endpoint, tls.credentials(), options=arguments)


def open_aio_channel(
    endpoint: str, options: ChannelOptions, tls: TlsOptions | None = None
) -> grpc.aio.Channel:
    """:func:`open_channel` for ``grpc.aio``."""
    arguments = channel_arguments(options) + _tls_arguments(tls)
    if tls is None:
        return grpc.aio.insecure_channel(endpoint, options=arguments)
    return grpc.aio.secure_channel(endpoint, tls.credentials(), options=arguments)


def _tls_arguments(tls: TlsOptions | None) -> list[tuple[str, Any]]:
    if tls is None or not tls.server_name:
        return []
    return [("grpc.ssl_target_name_override", tls.server_name)]


def _read(name: str, path: str | Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise InvalidArgument.for_field(
            f"tls.{name}", f"cannot read {quote(str(path))}: {exc.strerror or exc}"
        ) from None


def call_error(error: grpc.RpcError, peer: str, tls: bool | None = None) -> EigenError:
    """The typed Eigen error of a failed call.

    A bare CANCELLED status (no Eigen details) means the server aborted the call, e.g.
    while shutting down: the client never cancels its unary calls, so it reads as
    Unavailable (a transient failure) rather than an internal error. With ``tls`` known
    (True: a TLS channel, False: plain), a connection that failed its TLS handshake, or a
    plain one the server closed at once, says so and what to check.
    """
    carried = error_from_rpc(error, peer)
    code = error.code() if isinstance(error, grpc.Call) else None
    details = (error.details() or "") if isinstance(error, grpc.Call) else ""
    if code is grpc.StatusCode.CANCELLED and carried.code == "EIGEN_INTERNAL":
        return Unavailable(f"{peer} aborted the call (shutting down?): {details}")
    bare = _BARE_AUTH.get(code) if code is not None and carried.code == "EIGEN_INTERNAL" else None
    if bare is not None and code is not None:  # a proxy's, or a server's without Eigen details
        return bare(f"{peer} refused the call: {code.name}: {details}")
    if code is grpc.StatusCode.UNAVAILABLE and carried.code == "EIGEN_UNAVAILABLE" and tls is not None:
        hint = transport_hint(details, tls)
        if hint:
            return Unavailable(f"{carried} ({hint})")
    return carried


_BARE_AUTH: dict[grpc.StatusCode, type[EigenError]] = {
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}


def transport_hint(details: str, tls: bool) -> str:
    """What a connection failure's gRPC details say about TLS ("" when nothing)."""
    text = details.lower()
    if tls and "handshake" in text:
        if "wrong_version_number" in text or "packet_length_too_long" in text:
            return "TLS handshake failed: the server does not serve TLS on this port; drop https://"
        if "expired" in text:
            return "TLS handshake failed: the server's certificate has expired"
        if "certificate_verify_failed" in text or "verify" in text:
            return (
                "TLS handshake failed: the server's certificate is not signed by a trusted CA; "
                "give the CA that signed it (--ca-file, EIGEN_CA_FILE or TlsOptions(ca_file=...))"
            )
        if "certificate" in text or "alert" in text:
            return (
                "TLS handshake failed: the server refused the client certificate or requires one "
                "(--cert/--key or TlsOptions(cert_file=..., key_file=...))"
            )
        return "TLS handshake failed"
    if tls and "socket closed" in text:  # TLS 1.3: the server refuses the client after its Finished
        return (
            "the server closed the TLS connection: it may require a client certificate signed by "
            "a CA it trusts (--cert and --key, or TlsOptions(cert_file=..., key_file=...))"
        )
    if not tls and "socket closed" in text:
        return "the server closed the connection: if it serves TLS, use https://host:port"
    return ""


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}s"
