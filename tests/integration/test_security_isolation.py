"""Tenant isolation by every path, against a real server with authentication on: tenant B
cannot get, list (nor by id prefix), watch (gRPC, SSE), cancel or fetch the results of
tenant A's job (GetJobResults with a wait, StreamResults, REST), and learns nothing by
reusing A's idempotency key. Each refusal is the NOT_FOUND of a job that does not exist,
word for word. An ``admin`` sees every tenant.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect as ws_connect

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.security import ratelimit
from tests.integration.held import HELD, install
from tests.integration.helpers import details, job
from tests.integration.rest_helpers import job as rest_job
from tests.integration.rest_helpers import problem
from tests.integration.secured import Secured, secured_server

pytestmark = pytest.mark.integration

UNKNOWN = "nosuchjob0000000000000000"  # an id no job has


class Tenants:
    """Alice of tenant ``alpha`` and her namesake of tenant ``beta`` (the same subject, so
    only the tenant tells them apart), and an admin of a third tenant."""

    def __init__(self, secured: Secured) -> None:
        self.secured = secured
        secured.add_key("a", tenant="alpha", role="submitter", name="alice")
        secured.add_key("b", tenant="beta", role="submitter", name="alice")
        secured.add_key("admin", tenant="ops", role="admin")
        self.channel = grpc.insecure_channel(secured.server.address)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.http = httpx.Client(base_url=secured.server.http_address, timeout=60)
        request = jobs_pb2.SubmitJobRequest(job=job(shots=10), idempotency_key="shared-key")
        self.done = self.jobs.SubmitJob(request, metadata=self.md("a")).job.id
        list(
            self.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=self.done), metadata=self.md("a"), timeout=60)
        )
        self.held = install(secured.server)
        self.held.gate.clear()
        held = jobs_pb2.SubmitJobRequest(job=job(target=HELD, shots=4))
        self.running = self.jobs.SubmitJob(held, metadata=self.md("a")).job.id
        self.held.wait_held()

    def md(self, caller: str) -> tuple[tuple[str, str], ...]:
        return self.secured.metadata(caller)

    def headers(self, caller: str) -> dict[str, str]:
        return self.secured.headers(caller)

    def close(self) -> None:
        self.held.release()
        self.http.close()
        self.channel.close()


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with secured_server(tmp_path_factory.mktemp("security-isolation")) as secured:
        made = Tenants(secured)
        try:
            yield made
        finally:
            made.close()


def not_found(call: Any) -> str:
    """The message of the NOT_FOUND that ``call()`` fails with."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    assert error.code() is grpc.StatusCode.NOT_FOUND, error  # type: ignore[attr-defined]
    assert details(error)[0] == "EIGEN_NOT_FOUND"
    return str(error.details())  # type: ignore[attr-defined]


def unknown_message(tenants: Tenants, job_id: str) -> str:
    """What B is told about a job that does not exist, with ``job_id`` in its place."""
    get = jobs_pb2.GetJobRequest(job_id=UNKNOWN)
    message = not_found(lambda: tenants.jobs.GetJob(get, metadata=tenants.md("b")))
    assert UNKNOWN in message
    return message.replace(UNKNOWN, job_id)


def test_get_is_not_found_like_an_unknown_job(tenants: Tenants) -> None:
    for job_id in (tenants.done, tenants.running):
        request = jobs_pb2.GetJobRequest(job_id=job_id)
        message = not_found(lambda request=request: tenants.jobs.GetJob(request, metadata=tenants.md("b")))
        assert message == unknown_message(tenants, job_id)
        assert tenants.jobs.GetJob(request, metadata=tenants.md("a")).id == job_id


def test_watch_results_and_stream_are_not_found(tenants: Tenants) -> None:
    jobs, md = tenants.jobs, tenants.md("b")
    done, running = tenants.done, tenants.running
    calls = {
        done: [
            lambda: list(jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=done), metadata=md, timeout=30)),
            lambda: jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=done), metadata=md),
            lambda: list(jobs.StreamResults(jobs_pb2.StreamResultsRequest(job_id=done), metadata=md)),
        ],
        running: [
            lambda: list(jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=running), metadata=md, timeout=30)),
        ],
    }
    for job_id, job_calls in calls.items():
        for call in job_calls:
            assert not_found(call) == unknown_message(tenants, job_id)


def test_waiting_for_results_of_another_tenant_does_not_wait(tenants: Tenants) -> None:
    """NOT_FOUND at once, as for an unknown job: how long the answer takes says nothing."""
    request = jobs_pb2.GetJobResultsRequest(job_id=tenants.running, wait_seconds=20)
    began = time.monotonic()
    message = not_found(lambda: tenants.jobs.GetJobResults(request, metadata=tenants.md("b"), timeout=30))
    assert time.monotonic() - began < 5
    assert message == unknown_message(tenants, tenants.running)


def test_cancel_is_not_found_and_changes_nothing(tenants: Tenants) -> None:
    request = jobs_pb2.CancelJobRequest(job_id=tenants.running)
    message = not_found(lambda: tenants.jobs.CancelJob(request, metadata=tenants.md("b")))
    assert message == unknown_message(tenants, tenants.running)
    rest = tenants.http.post(f"/v1/jobs/{tenants.running}:cancel", headers=tenants.headers("b"))
    assert problem(rest, 404, "EIGEN_NOT_FOUND")["detail"] == message
    state = tenants.jobs.GetJob(
        jobs_pb2.GetJobRequest(job_id=tenants.running), metadata=tenants.md("a")
    ).state
    assert state == pb.JOB_STATE_RUNNING, "another tenant's cancel reached the job"


def test_list_holds_only_the_callers_tenant(tenants: Tenants) -> None:
    mine = {j.id for j in tenants.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=tenants.md("a")).jobs}
    assert {tenants.done, tenants.running} <= mine
    theirs = {j.id for j in tenants.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=tenants.md("b")).jobs}
    assert not theirs & mine
    for job_id in (tenants.done, tenants.running):
        prefix = jobs_pb2.ListJobsRequest(id_prefix=job_id[:6])
        assert not tenants.jobs.ListJobs(prefix, metadata=tenants.md("b")).jobs
        assert job_id in {j.id for j in tenants.jobs.ListJobs(prefix, metadata=tenants.md("a")).jobs}
        listed = tenants.http.get("/v1/jobs", params={"id_prefix": job_id[:6]}, headers=tenants.headers("b"))
        assert listed.status_code == 200 and listed.json()["jobs"] == []
    rest = tenants.http.get("/v1/jobs", headers=tenants.headers("b")).json()["jobs"]
    assert not {j["id"] for j in rest} & mine


def test_rest_and_sse_are_not_found_like_an_unknown_job(tenants: Tenants) -> None:
    b = tenants.headers("b")
    for job_id in (tenants.done, tenants.running):
        expected = unknown_message(tenants, job_id)
        for path in (
            f"/v1/jobs/{job_id}",
            f"/v1/jobs/{job_id}/events",
            f"/v1/jobs/{job_id}/results",
            f"/v1/jobs/{job_id}/results?wait_seconds=20",
            f"/v1/jobs/{job_id}/results:stream",
        ):
            with tenants.http.stream("GET", path, headers=b) as response:
                response.read()
            assert problem(response, 404, "EIGEN_NOT_FOUND")["detail"] == expected, path
    unknown = tenants.http.get(f"/v1/jobs/{UNKNOWN}", headers=b)
    assert problem(unknown, 404, "EIGEN_NOT_FOUND")["detail"] == unknown_message(tenants, UNKNOWN)


def test_idempotency_key_of_another_tenant_tells_nothing(tenants: Tenants) -> None:
    """B (the same subject in another tenant) sends A's key: with the same request and with
    another one it gets a new job of its own, never A's job nor a conflict about it."""
    same = jobs_pb2.SubmitJobRequest(job=job(shots=10), idempotency_key="shared-key")
    first = tenants.jobs.SubmitJob(same, metadata=tenants.md("b"))
    assert first.job.id != tenants.done and not first.deduplicated
    other = jobs_pb2.SubmitJobRequest(job=job(shots=11), idempotency_key="shared-key")
    with pytest.raises(grpc.RpcError) as conflict:  # B's own key now, with another payload
        tenants.jobs.SubmitJob(other, metadata=tenants.md("b"))
    assert tenants.done not in str(conflict.value.details())  # type: ignore[attr-defined]
    repeat = tenants.jobs.SubmitJob(same, metadata=tenants.md("b"))
    assert repeat.job.id == first.job.id and repeat.deduplicated
    again = jobs_pb2.SubmitJobRequest(job=job(shots=10), idempotency_key="shared-key")
    mine = tenants.jobs.SubmitJob(again, metadata=tenants.md("a"))
    assert mine.job.id == tenants.done and mine.deduplicated
    rest = tenants.http.post(
        "/v1/jobs",
        json={"job": rest_job(shots=10)},
        headers={**tenants.headers("b"), "Idempotency-Key": "shared-key"},
    )
    assert rest.status_code == 200 and rest.json()["job"]["id"] == first.job.id


def test_a_websocket_stream_follows_only_its_own_jobs(tenants: Tenants) -> None:
    """B's SubmitBatchStream: its jobs are B's (A cannot see them), and they are followed
    to their results."""
    url = tenants.secured.server.http_address.replace("http://", "ws://") + "/v1/jobs:batchStream"
    answers: list[dict[str, Any]] = []
    with ws_connect(url, additional_headers=tenants.headers("b"), open_timeout=10) as socket:
        socket.send(json.dumps({"client_request_id": "x", "job": rest_job(shots=10)}))
        socket.send(json.dumps({"end": True}))
        try:
            while True:
                answers.append(json.loads(socket.recv(timeout=60)))
        except ConnectionClosedOK:
            pass
    assert [a["kind"] for a in answers] == ["submitted", "completed"]
    job_id = answers[0]["job_id"]
    request = jobs_pb2.GetJobRequest(job_id=job_id)
    assert tenants.jobs.GetJob(request, metadata=tenants.md("b")).id == job_id
    assert not_found(lambda: tenants.jobs.GetJob(request, metadata=tenants.md("a"))) == unknown_message(
        tenants, job_id
    )


def test_admin_sees_every_tenant(tenants: Tenants) -> None:
    jobs, md = tenants.jobs, tenants.md("admin")
    seen = jobs.GetJob(jobs_pb2.GetJobRequest(job_id=tenants.done), metadata=md)
    assert (seen.id, seen.tenant) == (tenants.done, "alpha")  # the job says whose it is
    listed = {j.id for j in jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=500), metadata=md).jobs}
    assert {tenants.done, tenants.running} <= listed
    prefix = jobs_pb2.ListJobsRequest(id_prefix=tenants.done[:6])
    assert tenants.done in {j.id for j in jobs.ListJobs(prefix, metadata=md).jobs}
    events = list(jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=tenants.done), metadata=md, timeout=30))
    assert events[-1].terminal
    assert jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=tenants.done), metadata=md).job_id
    assert list(jobs.StreamResults(jobs_pb2.StreamResultsRequest(job_id=tenants.done), metadata=md))
    admin = tenants.headers("admin")
    with tenants.http.stream("GET", f"/v1/jobs/{tenants.done}/events", headers=admin) as response:
        assert response.status_code == 200 and "DONE" in response.read().decode()
    assert tenants.http.get(f"/v1/jobs/{tenants.done}/results", headers=admin).status_code == 200
    assert tenants.http.get(f"/v1/jobs/{tenants.done}", headers=admin).json()["tenant"] == "alpha"


def test_submission_rate_buckets_are_per_tenant_and_subject(tenants: Tenants) -> None:
    """The per-caller submission limit counts the authenticated tenant and subject: B's
    namesake in another tenant is not held back by A's spending; over the limit REST
    answers 429 with Retry-After, gRPC RESOURCE_EXHAUSTED with the hint."""
    ratelimit.install(ratelimit.RateLimiter(0.01, 1))
    try:
        a, b = tenants.headers("a"), tenants.headers("b")
        body = {"job": rest_job(shots=10)}
        assert tenants.http.post("/v1/jobs", json=body, headers=a).status_code == 201
        over = tenants.http.post("/v1/jobs", json=body, headers=a)
        problem(over, 429, "EIGEN_RESOURCE_EXHAUSTED")
        assert int(over.headers["retry-after"]) >= 1
        with pytest.raises(grpc.RpcError) as caught:
            tenants.jobs.SubmitJob(jobs_pb2.SubmitJobRequest(job=job(shots=10)), metadata=tenants.md("a"))
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
        assert details(caught.value)[0] == "EIGEN_RESOURCE_EXHAUSTED"
        assert tenants.http.post("/v1/jobs", json=body, headers=b).status_code == 201
    finally:
        ratelimit.install(None)


def test_admin_cancels_another_tenants_job(tenants: Tenants) -> None:
    """Last: it ends the held job the other tests look at."""
    request = jobs_pb2.CancelJobRequest(job_id=tenants.running)
    cancelled = tenants.jobs.CancelJob(request, metadata=tenants.md("admin"))
    assert cancelled.id == tenants.running and cancelled.state == pb.JOB_STATE_CANCELLED
