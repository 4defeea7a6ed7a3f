"""How the SDK opens its one gRPC channel: options, deadlines and the retry policy.

Retries are gRPC's own (the channel's service config, ``methodConfig`` / ``retryPolicy``):
only the idempotent calls are listed, so a SubmitJob is never sent twice by the transport.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from eigen.errors import EigenError, Unavailable
from eigen.proto.status import error_from_rpc

ENDPOINT_ENV = "EIGEN_ENDPOINT"
DEFAULT_ENDPOINT = "127.0.0.1:50051"

JOB_SERVICE = "eigen.api.v1.JobService"
BACKEND_SERVICE = "eigen.api.v1.BackendService"

#: Calls that are safe to send again: reads, and CancelJob (cancelling twice is a no-op).
IDEMPOTENT_METHODS: tuple[tuple[str, str], ...] = (
    (JOB_SERVICE, "GetJob"),
    (JOB_SERVICE, "ListJobs"),
    (JOB_SERVICE, "GetJobResults"),
    (JOB_SERVICE, "CancelJob"),
    (BACKEND_SERVICE, "ListBackends"),
    (BACKEND_SERVICE, "GetBackend"),
    (BACKEND_SERVICE, "GetCalibration"),
)


@dataclass(frozen=True)
class RetryPolicy:
    """gRPC retry policy for the idempotent calls (see gRFC A6)."""

    max_attempts: int = 4  # the first attempt included; gRPC caps this at 5
    initial_backoff: float = 0.1  # seconds; each retry waits random(0, backoff)
    max_backoff: float = 2.0
    backoff_multiplier: float = 2.0
    retryable_status_codes: tuple[str, ...] = ("UNAVAILABLE",)
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

    def deadline_for_wait(self, wait: float) -> float:
        """The deadline of a call that asks the server to wait ``wait`` seconds: room for
        the wait and then for the answer."""
        return max(self.timeout, wait + self.timeout)
        if not 0 < self.initial_reconnect_backoff <= self.max_reconnect_backoff:
            raise ValueError("need 0 < initial_reconnect_backoff <= max_reconnect_backoff")


def resolve_endpoint(endpoint: str | None) -> str:
    """The endpoint given, else ``$EIGEN_ENDPOINT``, else the local default."""
    return endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT


def service_config(options: ChannelOptions) -> dict[str, Any]:
    """The channel's service config: the retry policy of the idempotent methods."""
    if options.retry is None:
        return {}
    retry = options.retry
    return {
        "methodConfig": [
            {
                "name": [{"service": service, "method": method} for service, method in IDEMPOTENT_METHODS],
                "retryPolicy": {
                    "maxAttempts": retry.max_attempts,
                    "initialBackoff": _duration(retry.initial_backoff),
                    "maxBackoff": _duration(retry.max_backoff),
                    "backoffMultiplier": retry.backoff_multiplier,
                    "retryableStatusCodes": list(retry.retryable_status_codes),
                },
            }
        ],
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


def open_channel(endpoint: str, options: ChannelOptions) -> grpc.Channel:
    return grpc.insecure_channel(endpoint, options=channel_arguments(options))


def open_aio_channel(endpoint: str, options: ChannelOptions) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(endpoint, options=channel_arguments(options))


def call_error(error: grpc.RpcError, peer: str) -> EigenError:
    """The typed Eigen error of a failed call.

    A bare CANCELLED status (no Eigen details) means the server aborted the call, e.g.
    while shutting down: the client never cancels its unary calls, so it reads as
    Unavailable (a transient failure) rather than an internal error.
    """
    carried = error_from_rpc(error, peer)
    code = error.code() if isinstance(error, grpc.Call) else None
    if code is grpc.StatusCode.CANCELLED and carried.code == "EIGEN_INTERNAL":
        details = error.details() if isinstance(error, grpc.Call) else ""
        return Unavailable(f"{peer} aborted the call (shutting down?): {details}")
    return carried


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}s"
