"""Shared by the observability tests: captured JSON logs and in-memory spans."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eigen.observability import tracing
from eigen.observability.logs import configure_logging


class CapturedLogs:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]


@contextmanager
def captured_logs(
    level: str = "DEBUG", service: str = "eigen-test", fmt: str = "json"
) -> Iterator[CapturedLogs]:
    """configure_logging into a buffer; the root logger and structlog are restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    captured = CapturedLogs()
    configure_logging(level, service, fmt=fmt, stream=captured.stream)
    try:
        yield captured
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()


@contextmanager
def recorded_spans(service: str = "eigen-test") -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider for Eigen's tracer only (not the global one), spans in memory."""
    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing(service, exporter=exporter, set_global=False) is not None
    try:
        yield exporter
    finally:
        tracing.shutdown_tracing()


def trace_of(spans: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def role_of(span: ReadableSpan) -> str:
    return str((span.attributes or {}).get(tracing.ROLE, ""))


def assert_linked(spans: list[ReadableSpan]) -> None:
    """One tree: every span's parent is in ``spans``, except for the spans under a single
    origin (no parent, or the one remote caller's span that is not recorded here)."""
    ids = {s.context.span_id for s in spans if s.context is not None}
    origins = {s.parent.span_id if s.parent is not None else None for s in spans}
    outside = {origin for origin in origins if origin not in ids}
    assert len(outside) == 1, f"spans hang from {len(outside)} origins: {[s.name for s in spans]}"
    roots = [s for s in spans if s.parent is None]
    assert len(roots) <= 1, f"several roots: {[s.name for s in roots]}"
