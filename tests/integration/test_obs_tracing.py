"""One trace per job across api, kernel, compiler and driver-manager.

In one process (the embedded server) the roles call each other in process, so the trace
holds the api's server span, the kernel's stage spans and its compiler and driver-manager
port calls. With the four roles each behind its own gRPC server (still in this process,
so one in-memory exporter sees every span), the trace also holds every internal RPC's
server span, linked through the ``traceparent`` metadata of each hop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from eigen.config.settings import Settings
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.build import Stack, build
from eigen.server.embedded import EmbeddedServer
from eigen.server.grpc_server import GrpcServer, start_grpc
from tests.integration.helpers import job
from tests.unit.observability.support import assert_linked, recorded_spans, role_of, trace_of

pytestmark = pytest.mark.integration
ROLES = {"api", "kernel", "compiler", "driver-manager"}
TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def run_job(address: str, metadata: tuple[tuple[str, str], ...] = ()) -> str:
    with grpc.insecure_channel(address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        created = stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=job()), metadata=metadata).job
        events = list(stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=created.id), timeout=120))
        assert events[-1].state == pb.JOB_STATE_DONE
        return created.id


def spans_named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with recorded_spans("eigen-all") as recorded:
        yield recorded


def test_one_process_one_trace_per_job(tmp_path: Path, exporter: InMemorySpanExporter) -> None:
    with EmbeddedServer(data_dir=tmp_path) as server:
        job_id = run_job(server.address)
    finished = exporter.get_finished_spans()
    submit = [s for s in finished if s.name == "JobService/SubmitJob"]
    assert len(submit) == 1 and submit[0].parent is None and submit[0].kind is SpanKind.SERVER
    spans = trace_of(finished, submit[0].context.trace_id)
    assert {role_of(s) for s in spans} == ROLES
    names = {s.name for s in spans}
    assert {"kernel.compile", "kernel.queue_wait", "kernel.execute"} <= names
    assert {"compiler.validate", "compiler.compile", "driver-manager.execute"} <= names
    assert {(s.attributes or {}).get("eigen.job_id") for s in spans_named(spans, "kernel.execute")} == {
        job_id
    }
    assert_linked(spans)


def test_the_callers_traceparent_is_the_parent(tmp_path: Path, exporter: InMemorySpanExporter) -> None:
    metadata = (("traceparent", f"00-{TRACE}-{CALLER_SPAN}-01"),)
    with EmbeddedServer(data_dir=tmp_path) as server:
        run_job(server.address, metadata)
    spans = trace_of(exporter.get_finished_spans(), int(TRACE, 16))
    (submit,) = spans_named(spans, "JobService/SubmitJob")
    assert submit.parent is not None and submit.parent.span_id == int(CALLER_SPAN, 16)
    assert {role_of(s) for s in spans} == ROLES
    assert_linked(spans)


def serve_role(role: str, settings: Settings, stacks: list[tuple[Stack, GrpcServer]]) -> str:
    stack = build(settings, [role])
    stack.start()
    server, port = start_grpc(stack, settings)
    stacks.append((stack, server))
    return f"127.0.0.1:{port}"


def test_four_roles_over_grpc_one_trace(tmp_path: Path, exporter: InMemorySpanExporter) -> None:
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0)
    stacks: list[tuple[Stack, GrpcServer]] = []
    try:
        drivers = serve_role("driver-manager", settings, stacks)
        compiler = serve_role("compiler", settings, stacks)
        settings = settings.model_copy(
            update={"driver_manager_address": drivers, "compiler_address": compiler}
        )
        kernel = serve_role("kernel", settings, stacks)
        api = serve_role("api", settings.model_copy(update={"kernel_address": kernel}), stacks)
        run_job(api, (("traceparent", f"00-{TRACE}-{CALLER_SPAN}-01"),))
    finally:
        for stack, server in reversed(stacks):
            server.stop(0).wait()
            stack.close()
    spans = trace_of(exporter.get_finished_spans(), int(TRACE, 16))
    servers = {s.name for s in spans if s.kind is SpanKind.SERVER}
    assert {
        "JobService/SubmitJob",
        "KernelService/Enqueue",
        "CompilationService/Validate",
        "CompilationService/Compile",
        "DriverManagerService/Execute",
    } <= servers
    assert {role_of(s) for s in spans if s.kind is SpanKind.SERVER} == ROLES
    # each internal server span is the child of the kernel's client span for that call
    by_id = {s.context.span_id: s for s in spans}
    (execute,) = spans_named(spans, "DriverManagerService/Execute")
    assert execute.parent is not None and by_id[execute.parent.span_id].name == "driver-manager.execute"
    (enqueue,) = spans_named(spans, "KernelService/Enqueue")
    assert enqueue.parent is not None and by_id[enqueue.parent.span_id].name == "JobService/SubmitJob"
    assert_linked(spans)
