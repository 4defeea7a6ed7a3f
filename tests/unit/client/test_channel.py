"""The channel: gRPC's own retry policy for idempotent calls only, deadlines, the breaker.

A small real gRPC server stands in for Eigen and fails on purpose.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from eigen.client import ChannelOptions, Client, RetryPolicy, Unavailable
from eigen.client.channel import IDEMPOTENT_METHODS, channel_arguments, service_config
from eigen.errors import DeadlineExceeded
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc

BELL = "OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\nh q[0];\nc[0] = measure q[0];\n"


class FlakyJobs(jobs_pb2_grpc.JobServiceServicer):
    """GetJob fails ``failures`` times with UNAVAILABLE, then answers; SubmitJob always fails."""

    def __init__(self, failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self.failures = failures
        self.code = code  # of GetJob's failures
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def _count(self, name: str) -> int:
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            return self.calls[name]

    def GetJob(self, request: jobs_pb2.GetJobRequest, context: grpc.ServicerContext) -> pb.Job:
        if self._count("GetJob") <= self.failures:
            context.abort(self.code, "warming up")
        if request.job_id == "slow":
            time.sleep(1.0)
        return pb.Job(id=request.job_id, state=pb.JOB_STATE_DONE, target="sim:statevector")

    def SubmitJob(
        self, request: jobs_pb2.SubmitJobRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.SubmitJobResponse:
        self._count("SubmitJob")
        context.abort(grpc.StatusCode.UNAVAILABLE, "overloaded")
        raise AssertionError("unreachable")


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyJobs, str]]:
    servicer = FlakyJobs(failures=2)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    jobs_pb2_grpc.add_JobServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(0).wait()


def test_service_config_lists_only_idempotent_methods() -> None:
    config = service_config(ChannelOptions(retry=RetryPolicy(max_attempts=3, initial_backoff=0.05)))
    (method,) = config["methodConfig"]
    names = {(n["service"], n["method"]) for n in method["name"]}
    assert names == set(IDEMPOTENT_METHODS)
    assert ("eigen.api.v1.JobService", "SubmitJob") not in names
    assert method["retryPolicy"]["maxAttempts"] == 3
    assert method["retryPolicy"]["initialBackoff"] == "0.050s"
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE", "CANCELLED"]
    arguments = dict(channel_arguments(ChannelOptions()))
    assert json.loads(arguments["grpc.service_config"])["methodConfig"]
    assert arguments["grpc.enable_retries"] == 1
    assert "grpc.service_config" not in dict(channel_arguments(ChannelOptions(retry=None)))
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=9)
    with pytest.raises(ValueError):
        RetryPolicy(retryable_status_codes=("NOPE",))


def test_idempotent_calls_are_retried_by_grpc(flaky: tuple[FlakyJobs, str]) -> None:
    servicer, address = flaky
    with Client(address) as client:
        job = client.get("abc")
    assert job.id == "abc"
    assert servicer.calls["GetJob"] == 3  # two UNAVAILABLE answers, then success


def test_a_servers_bare_cancelled_is_retried_for_idempotent_calls(flaky: tuple[FlakyJobs, str]) -> None:
    """A server that shuts down cancels the calls it had not started (a bare CANCELLED,
    no headers): the idempotent ones are sent again by the channel."""
    servicer, address = flaky
    servicer.code = grpc.StatusCode.CANCELLED
    with Client(address) as client:
        assert client.get("abc").id == "abc"
    assert servicer.calls["GetJob"] == 3
    servicer.calls.clear()
    only_unavailable = RetryPolicy(retryable_status_codes=("UNAVAILABLE",))
    with (
        Client(address, options=ChannelOptions(retry=only_unavailable)) as client,
        pytest.raises(Unavailable, match="aborted the call"),
    ):
        client.get("abc")
    assert servicer.calls["GetJob"] == 1


def test_submit_is_not_retried_by_the_transport(flaky: tuple[FlakyJobs, str]) -> None:
    """The channel's retry policy leaves SubmitJob out (the SDK retries it itself, with its
    idempotency key: tests/unit/client/test_idempotent_submit.py)."""
    servicer, address = flaky
    with Client(address, options=ChannelOptions(retry=None)) as client, pytest.raises(Unavailable):
        client.submit(BELL)
    assert servicer.calls["SubmitJob"] == 1


def test_without_a_retry_policy_the_first_failure_is_final(flaky: tuple[FlakyJobs, str]) -> None:
    servicer, address = flaky
    with Client(address, options=ChannelOptions(retry=None)) as client, pytest.raises(Unavailable):
        client.get("abc")
    assert servicer.calls["GetJob"] == 1


def test_deadline_applies_to_each_call(flaky: tuple[FlakyJobs, str]) -> None:
    servicer, address = flaky
    servicer.failures = 0
    with Client(address, timeout=0.2) as client, pytest.raises(DeadlineExceeded):
        client.get("slow")


def test_breaker_fails_fast_without_reaching_the_server(flaky: tuple[FlakyJobs, str]) -> None:
    from eigen.client import CircuitBreaker

    servicer, address = flaky
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=60)
    with Client(address, breaker=breaker, options=ChannelOptions(retry=None)) as client:
        for _ in range(2):
            with pytest.raises(Unavailable, match="overloaded"):
                client.submit(BELL)
        with pytest.raises(Unavailable, match="circuit open"):
            client.submit(BELL)
        with pytest.raises(Unavailable, match="circuit open"):
            client.get("abc")
    assert servicer.calls == {"SubmitJob": 2}
