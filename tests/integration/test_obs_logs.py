"""Structured JSON logs of a real server: service, trace id and job id on the lines of a
job; an Authorization header a client sends never reaches a log line."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import job
from tests.unit.observability.support import captured_logs

pytestmark = pytest.mark.integration
TRACE = "5bf92f3577b34da6a3ce929d0e0e4737"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.dG9wLXNlY3JldA.c2ln"


def test_job_lines_carry_service_trace_and_job_and_no_secret(tmp_path: Path) -> None:
    metadata = (
        ("traceparent", f"00-{TRACE}-00f067aa0ba902b7-01"),
        ("x-eigen-caller", "log-test"),
        ("authorization", f"Bearer {TOKEN}"),
    )
    with (
        captured_logs("DEBUG", "eigen-all") as logs,
        EmbeddedServer(data_dir=tmp_path) as server,
        grpc.insecure_channel(server.address) as channel,
    ):
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        created = stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=job()), metadata=metadata).job
        events = list(stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=created.id), metadata=metadata))
        assert events[-1].state == pb.JOB_STATE_DONE
        with pytest.raises(grpc.RpcError):
            stub.GetJob(jobs_pb2.GetJobRequest(job_id="missing"), metadata=metadata)
    records = logs.records()
    assert records and all(r["service"] == "eigen-all" and r["ts"] and r["level"] for r in records)
    of_job = [r for r in records if r.get("job_id") == created.id]
    assert {"job state changed"} <= {r["event"] for r in of_job}
    assert {r.get("trace_id") for r in of_job} == {TRACE}
    assert {r.get("caller") for r in of_job} == {"log-test"}
    rpcs = [r for r in records if r["event"] in ("rpc", "rpc done") and r.get("trace_id") == TRACE]
    assert {r["method"] for r in rpcs} >= {"SubmitJob", "WatchJob", "GetJob"}
    assert {"NOT_FOUND", "OK"} <= {r["code"] for r in rpcs if r["event"] == "rpc done"}
    assert TOKEN not in logs.text
