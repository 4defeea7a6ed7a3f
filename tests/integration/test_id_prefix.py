"""Short job ids over a real server (gRPC and REST on free ports, a real SQLite file):
ListJobs ``id_prefix`` and ``Client.resolve_job_id`` (unique, none, ambiguous), and the
integers of a compile report arriving as integers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from eigen.client import Client
from eigen.errors import InvalidArgument, NotFound
from eigen.jobfile import load_job_file
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import details, job, wait

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# 17 uuid ids surely share a first hex digit (16 digits): an ambiguous one-digit prefix.
JOBS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    data_dir: Path = tmp_path_factory.mktemp("eigen-prefix")
    with EmbeddedServer(data_dir=data_dir, http_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def stub(server: EmbeddedServer) -> Iterator[jobs_pb2_grpc.JobServiceStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield jobs_pb2_grpc.JobServiceStub(channel)


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[Client]:
    with Client(server.address) as opened:
        yield opened


@pytest.fixture(scope="module")
def ids(stub: jobs_pb2_grpc.JobServiceStub) -> list[str]:
    """The ids of every job on the server."""
    request = jobs_pb2.SubmitBatchRequest(jobs=[job(seed=index) for index in range(JOBS)])
    return list(stub.SubmitBatch(request).job_ids)


def shared_digit(ids: list[str]) -> str:
    digit, count = Counter(job_id[0] for job_id in ids).most_common(1)[0]
    assert count >= 2
    return digit


def unique_prefix(ids: list[str], job_id: str) -> str:
    """The shortest start of ``job_id`` that no other id starts with."""
    length = 1
    while any(other != job_id and other.startswith(job_id[:length]) for other in ids):
        length += 1
    return job_id[:length]


def list_ids(stub: jobs_pb2_grpc.JobServiceStub, prefix: str, page_size: int = 50) -> list[str]:
    seen: list[str] = []
    token = ""
    while True:
        request = jobs_pb2.ListJobsRequest(id_prefix=prefix, page_size=page_size, page_token=token)
        page = stub.ListJobs(request)
        seen += [listed.id for listed in page.jobs]
        token = page.next_page_token
        if not token:
            return seen


def test_list_jobs_keeps_the_jobs_of_the_prefix_across_pages(
    stub: jobs_pb2_grpc.JobServiceStub, ids: list[str]
) -> None:
    digit = shared_digit(ids)
    expected = {job_id for job_id in ids if job_id.startswith(digit)}
    assert set(list_ids(stub, digit, page_size=1)) == expected
    assert len(list_ids(stub, digit, page_size=1)) == len(expected)  # no job twice
    assert list_ids(stub, ids[3]) == [ids[3]]
    assert set(list_ids(stub, "")) == set(ids)


@pytest.mark.parametrize("bad", ["ab!", "a b", "x" * 65, "é"])
def test_a_bad_prefix_is_invalid_argument_naming_the_field(
    stub: jobs_pb2_grpc.JobServiceStub, bad: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListJobs(jobs_pb2.ListJobsRequest(id_prefix=bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(caught.value) == ("EIGEN_INVALID_ARGUMENT", ["id_prefix"])
    assert "id_prefix" in str(caught.value.details())


def test_rest_lists_by_id_prefix(server: EmbeddedServer, ids: list[str]) -> None:
    digit = shared_digit(ids)
    with httpx.Client(base_url=server.http_address, timeout=30) as http:
        response = http.get("/v1/jobs", params={"id_prefix": digit, "page_size": 500})
        assert response.status_code == 200, response.text
        listed = {body["id"] for body in response.json()["jobs"]}
        assert listed == {job_id for job_id in ids if job_id.startswith(digit)}
        bad = http.get("/v1/jobs", params={"id_prefix": "ab!"})
        assert bad.status_code == 400
        assert bad.json()["reason"] == "EIGEN_INVALID_ARGUMENT" and "id_prefix" in bad.text


def test_resolve_a_unique_prefix(client: Client, ids: list[str]) -> None:
    for job_id in ids[:5]:
        assert client.resolve_job_id(unique_prefix(ids, job_id)) == job_id
        assert client.resolve_job_id(job_id[:-1]) == job_id


def test_resolve_a_full_id_as_is_without_a_lookup(client: Client, ids: list[str]) -> None:
    assert client.resolve_job_id(ids[0]) == ids[0]
    absent = "f" * 32 if "f" * 32 not in ids else "e" * 32
    assert client.resolve_job_id(absent) == absent  # a lookup would have said NotFound


def test_resolve_a_prefix_of_no_job_is_not_found_naming_it(client: Client, ids: list[str]) -> None:
    with pytest.raises(NotFound, match="'zz9'"):
        client.resolve_job_id("zz9")


def test_resolve_an_ambiguous_prefix_lists_the_candidates(client: Client, ids: list[str]) -> None:
    digit = shared_digit(ids)
    candidates = [job_id for job_id in ids if job_id.startswith(digit)]
    with pytest.raises(InvalidArgument) as caught:
        client.resolve_job_id(digit)
    message = str(caught.value)
    assert message.startswith(f"ambiguous job id prefix '{digit}': ")
    shown = message.split(": ", 1)[1].split(", ")
    shown = [text for text in shown if text != "…"]
    assert 2 <= len(shown) <= 10 and len(shown) == min(len(candidates), 10)
    for text in shown:  # each one a start of a real candidate, enough to tell it apart
        start = text.rstrip("…")
        assert [job_id for job_id in candidates if job_id.startswith(start)] != []
        assert sum(job_id.startswith(start) for job_id in ids) == 1


def test_resolve_refuses_a_bad_prefix(client: Client) -> None:
    with pytest.raises(InvalidArgument, match=r"^job_id: 'ab!' is not a job id or its start"):
        client.resolve_job_id("ab!")
    with pytest.raises(InvalidArgument, match="job_id"):
        client.resolve_job_id("")


def test_compile_report_integers_arrive_as_integers(
    stub: jobs_pb2_grpc.JobServiceStub, client: Client, ids: list[str]
) -> None:
    wait(stub, ids[0])
    report = client.results(ids[0]).compile_report
    depth = report["after"]["depth"]
    assert type(depth) is int and depth > 0


def test_progress_and_event_integers_arrive_as_integers(client: Client) -> None:
    request = load_job_file(EXAMPLES / "vqe-h2" / "job.yaml")
    job_id = client.submit(request.model_copy(update={"options": {"max_iters": "15"}})).id
    progress = [event for event in client.watch(job_id) if event.kind == "progress"]
    assert progress
    for data in [event.data for event in progress] + [client.get(job_id).progress]:
        assert [type(data[key]) for key in ("iteration", "evaluations", "max_iters")] == [int, int, int]
