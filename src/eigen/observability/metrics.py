"""Prometheus metrics of Eigen, on one registry owned by this module.

Every name starts with ``eigen_``; docs/observability.md lists them all. Labels are
bounded sets (backend names, stages, RPC methods, status codes, job states): never a
job id, a caller or a request id.

Producers call the small helpers below; the registry is served by whoever mounts
:func:`metrics_asgi_app` (the HTTP server at ``/metrics``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(namespace="eigen", registry=REGISTRY)

# Seconds: from a Bell pair on a simulator (ms) to long device jobs (hours).
_JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
_RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120)

JOBS_SUBMITTED = Counter(
    "eigen_jobs_submitted", "Jobs accepted by the kernel.", ["backend"], registry=REGISTRY
)
JOBS_COMPLETED = Counter("eigen_jobs_completed", "Jobs that ended in DONE.", ["backend"], registry=REGISTRY)
JOBS_FAILED = Counter(
    "eigen_jobs_failed",
    "Jobs that ended in ERROR or TIMEOUT, by EIGEN_* error code.",
    ["backend", "code"],
    registry=REGISTRY,
)
JOBS_CANCELLED = Counter(
    "eigen_jobs_cancelled", "Jobs that ended in CANCELLED.", ["backend"], registry=REGISTRY
)
JOB_TRANSITIONS = Counter(
    "eigen_job_state_transitions",
    "Job state transitions made by the kernel lifecycle.",
    ["from_state", "to_state"],
    registry=REGISTRY,
)
JOB_EXECUTION_SECONDS = Histogram(
    "eigen_job_execution_seconds",
    "Time a job spent executing on its backend (RUNNING to DONE).",
    ["backend"],
    buckets=_JOB_BUCKETS,
    registry=REGISTRY,
)
JOB_STAGE_SECONDS = Histogram(
    "eigen_job_stage_seconds",
    "Time spent per pipeline stage: compile, queue_wait, execute.",
    ["stage"],
    buckets=_JOB_BUCKETS,
    registry=REGISTRY,
)
JOBS_RUNNING = Gauge("eigen_jobs_running", "Jobs being executed by this kernel now.", registry=REGISTRY)
BACKEND_AVAILABLE = Gauge(
    "eigen_backend_available",
    "1 when the backend reports itself online, 0 otherwise.",
    ["backend"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "eigen_api_requests",
    "RPCs served, by service, method and gRPC status code.",
    ["service", "method", "code"],
    registry=REGISTRY,
)
API_REQUEST_SECONDS = Histogram(
    "eigen_api_request_duration_seconds",
    "RPC duration (a stream: until it ends), by service, method and gRPC status code.",
    ["service", "method", "code"],
    buckets=_RPC_BUCKETS,
    registry=REGISTRY,
)
API_IN_FLIGHT = Gauge(
    "eigen_api_requests_in_flight",
    "RPCs being served now.",
    ["service", "method"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "eigen_api_rate_limited",
    "Calls refused by the per-caller rate limit.",
    ["method"],
    registry=REGISTRY,
)

STAGES = ("compile", "queue_wait", "execute")


class _QueueCollector(Collector):
    """``eigen_queue_size`` and ``eigen_queue_capacity``, read from the live kernels of this
    process at scrape time (a test process may run several; their values add up)."""

    def __init__(self) -> None:
        self._sources: dict[int, tuple[Callable[[], int], int]] = {}
        self._lock = threading.Lock()

    def add(self, key: int, depth: Callable[[], int], capacity: int) -> None:
        with self._lock:
            self._sources[key] = (depth, capacity)

    def remove(self, key: int) -> None:
        with self._lock:
            self._sources.pop(key, None)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            sources = list(self._sources.values())
        size, capacity = 0, 0
        for depth, limit in sources:
            try:
                size += depth()
            except Exception:  # a stopping kernel must not break a scrape
                continue
            capacity += limit
        yield GaugeMetricFamily("eigen_queue_size", "Jobs waiting to compile or to execute.", value=size)
        yield GaugeMetricFamily(
            "eigen_queue_capacity", "Jobs the queue holds before submissions are refused.", value=capacity
        )


_QUEUES = _QueueCollector()
REGISTRY.register(_QUEUES)


def track_queue(owner: object, depth: Callable[[], int], capacity: int) -> None:
    _QUEUES.add(id(owner), depth, capacity)


def untrack_queue(owner: object) -> None:
    _QUEUES.remove(id(owner))


# -- job helpers (called by the kernel) ------------------------------------------------------
def job_submitted(backend: str) -> None:
    JOBS_SUBMITTED.labels(backend=backend).inc()


def job_transition(source: str, target: str, backend: str, error_code: str = "") -> None:
    """Count a state change; a terminal target also counts the job's outcome."""
    JOB_TRANSITIONS.labels(from_state=source, to_state=target).inc()
    if target == "DONE":
        JOBS_COMPLETED.labels(backend=backend).inc()
    elif target == "CANCELLED":
        JOBS_CANCELLED.labels(backend=backend).inc()
    elif target in ("ERROR", "TIMEOUT"):
        default = "EIGEN_DEADLINE_EXCEEDED" if target == "TIMEOUT" else "EIGEN_INTERNAL"
        JOBS_FAILED.labels(backend=backend, code=error_code or default).inc()


def stage_seconds(stage: str, seconds: float) -> None:
    JOB_STAGE_SECONDS.labels(stage=stage).observe(max(0.0, seconds))


def execution_seconds(backend: str, seconds: float) -> None:
    JOB_EXECUTION_SECONDS.labels(backend=backend).observe(max(0.0, seconds))
    stage_seconds("execute", seconds)


def backend_available(backend: str, available: bool) -> None:
    BACKEND_AVAILABLE.labels(backend=backend).set(1.0 if available else 0.0)


# -- API helpers (the gRPC handler decorator, the REST metrics middleware) -------------------
# Every call touches these series; a labelled child is looked up once per label set (the
# lookup builds, checks and hashes the label tuple under the metric's lock).
@functools.lru_cache(maxsize=1024)
def _in_flight(service: str, method: str) -> Any:
    return API_IN_FLIGHT.labels(service=service, method=method)


@functools.lru_cache(maxsize=4096)
def _answered(service: str, method: str, code: str) -> tuple[Any, Any]:
    labels = {"service": service, "method": method, "code": code}
    return API_REQUESTS.labels(**labels), API_REQUEST_SECONDS.labels(**labels)


def rpc_started(service: str, method: str) -> None:
    _in_flight(service, method).inc()


def rpc_finished(service: str, method: str, code: str, seconds: float) -> None:
    _in_flight(service, method).dec()
    api_request(service, method, code, seconds)


def api_request(service: str, method: str, code: str, seconds: float) -> None:
    """One answered API call (gRPC or REST): the request counter and duration histogram."""
    count, duration = _answered(service, method, code)
    count.inc()
    duration.observe(max(0.0, seconds))


def rate_limited(method: str) -> None:
    RATE_LIMITED.labels(method=method).inc()


# -- exposition ----------------------------------------------------------------------------
def metrics_asgi_app() -> Any:
    """An ASGI app serving the registry in the Prometheus text format (mount at /metrics)."""
    from prometheus_client import make_asgi_app

    return make_asgi_app(registry=REGISTRY)


def render() -> bytes:
    """The registry in the Prometheus text format (for a server without ASGI, and tests)."""
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY)


def value(name: str, labels: dict[str, str] | None = None) -> float:
    """A sample's current value, 0.0 when it was never set (tests and health checks)."""
    found = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if found is None else float(found)
