"""Limits seen by a gRPC client of a real server: per-caller rate limit with a retry hint,
queue capacity, and the maximum message size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from eigen.config.settings import Settings
from eigen.observability import metrics
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.security import ratelimit
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import BELL, details, job

pytestmark = pytest.mark.integration


def caller(name: str) -> tuple[tuple[str, str], ...]:
    return (("x-eigen-caller", name),)


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[jobs_pb2_grpc.JobServiceStub]:
    """A server whose process-wide limiter allows 2 submissions per caller, then 1 per 10 s."""
    ratelimit.install(ratelimit.RateLimiter(0.1, burst=2))
    try:
        with (
            EmbeddedServer(data_dir=tmp_path) as server,
            grpc.insecure_channel(server.address) as channel,
        ):
            yield jobs_pb2_grpc.JobServiceStub(channel)
    finally:
        ratelimit.install(None)


def retry_hint(error: grpc.RpcError) -> tuple[str, float]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    after, delay = "", -1.0
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            after = info.metadata["retry_after_s"]
            assert info.metadata["retryable"] == "true"
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            delay = retry.retry_delay.ToNanoseconds() / 1e9
    return after, delay


def test_rate_limit_per_caller_with_a_retry_hint(limited: jobs_pb2_grpc.JobServiceStub) -> None:
    refused = metrics.value("eigen_api_rate_limited_total", {"method": "SubmitJob"})
    request = jobs_pb2.SubmitJobRequest(job=job())
    for _ in range(2):
        limited.SubmitJob(request, metadata=caller("alice"))
    with pytest.raises(grpc.RpcError) as caught:
        limited.SubmitJob(request, metadata=caller("alice"))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rate limit exceeded" in (caught.value.details() or "")
    assert details(caught.value)[0] == "EIGEN_RESOURCE_EXHAUSTED"
    after, delay = retry_hint(caught.value)
    assert 0 < float(after) <= 10 and delay == pytest.approx(float(after), abs=0.01)
    assert metrics.value("eigen_api_rate_limited_total", {"method": "SubmitJob"}) == refused + 1
    # a batch is one more submission of the same caller; another caller has its own bucket
    batch = jobs_pb2.SubmitBatchRequest(jobs=[job(), job()])
    with pytest.raises(grpc.RpcError) as caught:
        limited.SubmitBatch(batch, metadata=caller("alice"))
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(limited.SubmitBatch(batch, metadata=caller("bob")).job_ids) == 2
    # reads are never limited
    listed = limited.ListJobs(jobs_pb2.ListJobsRequest(), metadata=caller("alice"))
    assert len(listed.jobs) == 4


def test_anonymous_callers_are_limited_by_client_host(limited: jobs_pb2_grpc.JobServiceStub) -> None:
    request = jobs_pb2.SubmitJobRequest(job=job())
    limited.SubmitJob(request)
    limited.SubmitJob(request)
    with pytest.raises(grpc.RpcError) as caught:
        limited.SubmitJob(request)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_queue_full_is_resource_exhausted(tmp_path: Path) -> None:
    settings = Settings(queue_capacity=2)
    with EmbeddedServer(settings, data_dir=tmp_path) as server, grpc.insecure_channel(server.address) as ch:
        stub = jobs_pb2_grpc.JobServiceStub(ch)
        with pytest.raises(grpc.RpcError) as caught:
            stub.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=[job(), job(), job()]))
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue full" in (caught.value.details() or "")
        assert details(caught.value)[0] == "EIGEN_RESOURCE_EXHAUSTED"
        assert not stub.ListJobs(jobs_pb2.ListJobsRequest()).jobs  # all or nothing


def test_an_oversized_message_is_refused(tmp_path: Path) -> None:
    settings = Settings(max_message_bytes=64 * 1024)
    with EmbeddedServer(settings, data_dir=tmp_path) as server, grpc.insecure_channel(server.address) as ch:
        stub = jobs_pb2_grpc.JobServiceStub(ch)
        padding = "// " + "x" * (100 * 1024) + "\n"
        with pytest.raises(grpc.RpcError) as caught:
            stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=job(BELL + padding)), timeout=30)
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        small = stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=job()), timeout=30)
        assert small.job.id
