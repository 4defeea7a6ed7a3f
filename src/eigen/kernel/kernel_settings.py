"""The kernel's own settings (threaded from :class:`eigen.config.settings.Settings` by the
composition root, :mod:`eigen.server.build`), and this node's name in leases and logs."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from eigen.models import limits


def default_node_id() -> str:
    """This node's name when ``node_id`` is unset: host name and process id."""
    pid = f"-{os.getpid()}"
    return socket.gethostname()[: limits.NODE_ID_MAX - len(pid)] + pid


@dataclass(frozen=True)
class KernelSettings:
    compile_workers: int = 1
    execute_workers: int = 2
    queue_capacity: int = 10_000
    default_timeout_s: float = 3600.0
    watchdog_interval_s: float = 0.1
    compile_timeout_s: float = 300.0  # a compile running longer ends its job in TIMEOUT; 0: none
    backend_refresh_s: float = 30.0  # how often eigen_backend_available is refreshed
    supervise_interval_s: float = 0.5  # how often dead workers and stranded jobs are looked at
    queue_full_retry_s: float = 1.0  # the retry delay a queue-full refusal suggests
    lease_s: float = 10.0  # how long a claim on a job lasts without a heartbeat
    max_attempts: int = 3  # runs of a job whose worker vanished before it ends in ERROR
    node_id: str | None = None  # this node in leases; None: host name and process id
    shared_store: bool = False  # other kernels use the store: touch expired leases only
    worker_memory_bytes: int | None = None  # a job needing more is refused at submit; None: unchecked
    session_hold_s: float = 5.0  # a session holds its device this long after its last activity
