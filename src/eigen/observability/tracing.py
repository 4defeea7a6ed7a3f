"""OpenTelemetry tracing: one trace per job across api, kernel, compiler and driver-manager.

The W3C ``traceparent`` of the current call lives in the call context
(:mod:`eigen.observability.context`), which every gRPC port adapter copies into outgoing
metadata. :func:`span` opens a child of that traceparent and, while it is open, puts the
new span's own traceparent in the call context, so the next hop becomes its child and the
trace stays linked across processes.

Without :func:`configure_tracing` (or without an exporter) the OpenTelemetry API is a
no-op: spans cost next to nothing and the incoming trace id still travels unchanged.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar, cast

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from eigen.observability import context as call_context

log = logging.getLogger(__name__)

T = TypeVar("T")
ROLE = "eigen.role"
TRACER_NAME = "eigen"

_propagator = TraceContextTextMapPropagator()
_provider: trace.TracerProvider | None = None
_global_set = False


# -- set-up (entry points) -------------------------------------------------------------------
def configure_tracing(
    service: str,
    otlp_endpoint: str = "",
    *,
    exporter: Any = None,
    sample_ratio: float = 1.0,
    set_global: bool = True,
) -> trace.TracerProvider | None:
    """Install an SDK tracer provider for ``service`` when there is somewhere to send spans:
    an OTLP endpoint (``otlp_endpoint``, see :func:`otlp_exporter`) and/or a given
    span ``exporter`` (tests pass an ``InMemorySpanExporter``; it is flushed synchronously).
    Returns the provider, or None when tracing stays a no-op."""
    global _provider, _global_set
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    processors: list[Any] = []
    if exporter is not None:
        processors.append(SimpleSpanProcessor(exporter))
    if otlp_endpoint:
        otlp = otlp_exporter(otlp_endpoint)
        if otlp is not None:
            processors.append(BatchSpanProcessor(otlp))
    if not processors:
        return None
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    for processor in processors:
        provider.add_span_processor(processor)
    shutdown_tracing()
    _provider = provider
    if set_global and not _global_set:
        trace.set_tracer_provider(provider)
        _global_set = True
    log.info("tracing configured", extra={"otlp_endpoint": otlp_endpoint or None})
    return provider


def otlp_exporter(endpoint: str) -> Any:
    """An OTLP span exporter for ``endpoint`` (``host:4317`` or ``http://host:4317``: gRPC,
    whose exporter Eigen depends on; a URL ending in ``/v1/traces``: HTTP/protobuf, which
    needs ``opentelemetry-exporter-otlp-proto-http``), or None with a warning when that
    package is not installed."""
    http = endpoint.rstrip("/").endswith("/v1/traces")
    try:
        if http:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as HttpExporter,
            )

            return HttpExporter(endpoint=endpoint)
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://"))
    except ImportError:
        package = f"opentelemetry-exporter-otlp-proto-{'http' if http else 'grpc'}"
        log.warning(
            f"otlp_endpoint is set but {package} is not installed; spans are not exported "
            f"(pip install {package}, or use an OTLP/gRPC endpoint host:4317)",
            extra={"otlp_endpoint": endpoint},
        )
        return None


def shutdown_tracing() -> None:
    """Flush and drop the provider installed by :func:`configure_tracing` (if any)."""
    global _provider
    provider, _provider = _provider, None
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        shutdown()


_cached: tuple[Any, trace.Tracer] | None = None  # (provider, its tracer)
_global_tracer: trace.Tracer | None = None


def tracer() -> trace.Tracer:
    """Eigen's tracer from the configured provider (or the global one: a no-op by default).

    Cached with the provider object itself, not its id(): a replaced provider's id can be
    reused by the next one, which would hand out the old (shut down) provider's tracer.
    The global one is looked up once: OpenTelemetry sets a global provider once for good,
    and the tracer of its stand-in (the proxy, before one is set) follows the one set
    later; looking it up reads the environment, which cost 3% of a busy server's time."""
    global _cached, _global_tracer
    provider = _provider
    if provider is None:
        if _global_tracer is None:
            _global_tracer = trace.get_tracer(TRACER_NAME)
        return _global_tracer
    cached = _cached
    if cached is None or cached[0] is not provider:
        cached = _cached = (provider, provider.get_tracer(TRACER_NAME))
    return cached[1]


# -- traceparent <-> span context ------------------------------------------------------------
def traceparent_of(span: Span) -> str:
    """The W3C traceparent naming ``span`` as the parent; "" for an invalid (no-op) span."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return ""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def parent_context(traceparent: str) -> Context:
    """An OpenTelemetry context whose (remote) parent is ``traceparent``; empty: a new trace."""
    if not call_context.valid_traceparent(traceparent):
        return Context()
    return _propagator.extract({call_context.TRACEPARENT: traceparent}, context=Context())


def current_traceparent() -> str:
    active = call_context.active_context()
    return active.traceparent if active is not None else ""


# -- spans -----------------------------------------------------------------------------------
def start_span(
    name: str,
    *,
    parent: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    role: str = "",
    attributes: Mapping[str, AttributeValue] | None = None,
    start_time: float | None = None,
) -> Span:
    """Start (not activate) a span; its parent is ``parent`` or the current call's trace."""
    attrs: dict[str, AttributeValue] = dict(attributes or {})
    if role:
        attrs[ROLE] = role
    parent_tp = current_traceparent() if parent is None else parent
    return tracer().start_span(
        name,
        context=parent_context(parent_tp),
        kind=kind,
        attributes=attrs,
        start_time=int(start_time * 1e9) if start_time is not None else None,
    )


def fail_span(span: Span, exc: BaseException, code: str = "") -> None:
    span.set_status(Status(StatusCode.ERROR, str(exc)[:500]))
    span.set_attribute("error.type", code or type(exc).__name__)


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    role: str = "",
    attributes: Mapping[str, AttributeValue] | None = None,
    parent: str | None = None,
    job_id: str | None = None,
    expected: tuple[type[BaseException], ...] = (),
) -> Iterator[Span]:
    """A child span of the current call (or of ``parent``), active in both OpenTelemetry and
    the call context while the block runs. Exceptions mark it as failed unless ``expected``."""
    opened = start_span(name, parent=parent, kind=kind, role=role, attributes=attributes)
    active = call_context.active_context()
    base = active or call_context.CallContext(request_id=secrets.token_hex(8))
    traceparent = traceparent_of(opened) or (parent if parent is not None else base.traceparent)
    token = call_context.activate(
        replace(base, traceparent=traceparent, job_id=base.job_id if job_id is None else job_id)
    )
    try:
        with trace.use_span(opened, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            yield opened
    except BaseException as exc:
        if not isinstance(exc, expected):
            code = getattr(exc, "code", "")
            fail_span(opened, exc, code if isinstance(code, str) else "")
        raise
    finally:
        opened.end()
        call_context.deactivate(token)


# -- ports -----------------------------------------------------------------------------------
class _TracedPort:
    """A port whose calls named in ``methods`` each run in a CLIENT span of ``role``."""

    def __init__(self, port: object, role: str, methods: frozenset[str]) -> None:
        self._port = port
        self._role = role
        self._methods = methods

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._port, name)
        if name not in self._methods or not callable(attribute):
            return attribute
        return _in_span(attribute, f"{self._role}.{name}", self._role)


def recording() -> bool:
    """Whether spans go anywhere: a provider was configured here or installed globally."""
    return _provider is not None or not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _in_span(function: Callable[..., T], name: str, role: str) -> Callable[..., T]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> T:
        if not recording():  # the hot path of a variational loop: no span to build
            return function(*args, **kwargs)
        with span(name, kind=SpanKind.CLIENT, role=role, attributes={"peer.service": role}):
            return function(*args, **kwargs)

    return call


def traced_port(port: T, role: str, methods: frozenset[str]) -> T:
    """``port`` with a span around each call of ``methods`` (the kernel's view of the
    compiler and the driver-manager, in process or over gRPC)."""
    return cast(T, _TracedPort(port, role, methods))
