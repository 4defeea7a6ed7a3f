"""OTLP export out of the box: with ``otlp_endpoint`` set, a job's spans reach a collector.

The collector is a real OTLP/gRPC receiver on a free loopback port (the TraceService of
``opentelemetry-proto``, served by grpcio), standing where an OpenTelemetry Collector would
be; the exporter is the one Eigen installs (``opentelemetry-exporter-otlp-proto-grpc``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from eigen.observability import tracing
from eigen.server.embedded import EmbeddedServer
from tests.integration.test_obs_tracing import run_job

pytestmark = pytest.mark.integration


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every exported span as (service.name, span name, trace id, job id)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str, str]] = []
        self.lock = threading.Lock()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self.lock:
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        job = {a.key: a.value.string_value for a in span.attributes}.get("eigen.job_id", "")
                        self.spans.append(
                            (attributes.get("service.name", ""), span.name, span.trace_id.hex(), job)
                        )
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    received = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(received, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield received, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=0).wait()


def test_a_jobs_spans_reach_the_otlp_collector(tmp_path: Path, collector: tuple[Collector, str]) -> None:
    received, endpoint = collector
    provider = tracing.configure_tracing("eigen-otlp-test", otlp_endpoint=endpoint, set_global=False)
    assert provider is not None, "the OTLP exporter is a dependency: tracing must be on"
    try:
        with EmbeddedServer(data_dir=tmp_path) as server:
            job_id = run_job(server.address)
    finally:
        tracing.shutdown_tracing()  # flushes the batch processor into the collector
    with received.lock:
        spans = list(received.spans)
    assert {service for service, *_ in spans} == {"eigen-otlp-test"}
    (submit,) = [s for s in spans if s[1] == "JobService/SubmitJob"]
    in_trace = {name for _, name, trace_id, _ in spans if trace_id == submit[2]}
    assert {"kernel.compile", "kernel.execute", "compiler.compile", "driver-manager.execute"} <= in_trace
    assert job_id in {job for *_, job in spans}
