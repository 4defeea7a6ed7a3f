"""Spans follow the call context's traceparent, and the call context follows the spans."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from eigen.errors import InvalidArgument
from eigen.observability import context as call_context
from eigen.observability import tracing
from tests.unit.observability.support import assert_linked, recorded_spans

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def test_a_span_is_a_child_of_the_call_and_the_call_carries_the_span() -> None:
    token = call_context.activate(call_context.CallContext(request_id="r", traceparent=PARENT))
    try:
        with recorded_spans() as exporter:
            with tracing.span("outer", role="kernel") as outer:
                inner_parent = call_context.current().traceparent
                assert inner_parent == tracing.traceparent_of(outer)
                assert dict(call_context.current().metadata())["traceparent"] == inner_parent
                with tracing.span("inner", role="compiler"):
                    pass
            assert call_context.current().traceparent == PARENT  # restored
            spans = exporter.get_finished_spans()
    finally:
        call_context.deactivate(token)
    inner, outer_span = spans
    assert {s.context.trace_id for s in spans} == {int(TRACE, 16)}
    assert outer_span.parent is not None and outer_span.parent.span_id == 0x00F067AA0BA902B7
    assert inner.parent is not None and inner.parent.span_id == outer_span.context.span_id
    assert inner.attributes is not None and inner.attributes[tracing.ROLE] == "compiler"


def test_without_a_call_a_span_starts_a_trace() -> None:
    with recorded_spans() as exporter:
        with tracing.span("root"), tracing.span("child", job_id="j-1"):
            assert call_context.current().job_id == "j-1"
        spans = list(exporter.get_finished_spans())
    assert_linked(spans)
    assert call_context.active_context() is None


def test_errors_mark_spans_unless_expected() -> None:
    with recorded_spans() as exporter:
        with pytest.raises(InvalidArgument), tracing.span("bad"):
            raise InvalidArgument("no")
        with pytest.raises(KeyError), tracing.span("fine", expected=(KeyError,)):
            raise KeyError("control flow")
        bad, fine = exporter.get_finished_spans()
    assert bad.status.status_code is StatusCode.ERROR
    assert bad.attributes is not None and bad.attributes["error.type"] == "EIGEN_INVALID_ARGUMENT"
    assert fine.status.status_code is StatusCode.UNSET


def test_without_an_exporter_tracing_is_a_noop_that_keeps_the_trace_id() -> None:
    assert tracing.configure_tracing("eigen-test") is None
    token = call_context.activate(call_context.CallContext(request_id="r", traceparent=PARENT))
    try:
        with tracing.span("noop") as span:
            assert not span.get_span_context().is_valid or span.get_span_context().trace_id == int(TRACE, 16)
            assert call_context.current().trace_id == TRACE
    finally:
        call_context.deactivate(token)


class Port:
    def compile(self, program: str) -> str:
        return program.upper()

    def device(self, name: str) -> str:
        return name


def test_traced_port_wraps_the_named_methods() -> None:
    port = tracing.traced_port(Port(), "compiler", frozenset({"compile"}))
    with recorded_spans() as exporter:
        assert port.compile("x") == "X"
        assert port.device("d") == "d"
        spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["compiler.compile"]
    assert spans[0].kind is SpanKind.CLIENT


def test_otlp_over_http_without_its_exporter_package_warns(caplog: pytest.LogCaptureFixture) -> None:
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the OTLP/HTTP exporter is installed here")
    with caplog.at_level(logging.WARNING):
        endpoint = "http://127.0.0.1:4318/v1/traces"
        assert tracing.configure_tracing("eigen-test", otlp_endpoint=endpoint) is None
    assert "opentelemetry-exporter-otlp-proto-http is not installed" in caplog.text


def test_otlp_grpc_exporter_is_installed_with_eigen() -> None:
    exporter = tracing.otlp_exporter("127.0.0.1:4317")
    try:
        assert type(exporter).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")
    finally:
        exporter.shutdown()


def test_traceparent_helpers() -> None:
    assert tracing.parent_context("garbage") is not None
    headers = dict(call_context.from_metadata([("traceparent", PARENT)]).metadata())
    assert headers["traceparent"] == PARENT
    assert call_context.incoming_traceparent([("traceparent", "nope")]) == ""
    assert call_context.incoming_traceparent([("Traceparent", PARENT)]) == PARENT
