"""Issue 14 at the edge: sizes of what a caller sends (item 3), bounded error messages
(item 8) and the REST gateway's answers to odd requests (item 12), on a real gRPC server
and a real REST app (SQLite), and on PostgreSQL for the store's bounded columns."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest

from eigen.config.settings import Settings
from eigen.models import limits
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import BELL, details, job, submit
from tests.integration.rest_helpers import fields, problem, rest_client
from tests.integration.rest_helpers import job as rest_job
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration

CALLER = "x-eigen-caller"


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with rest_client(tmp_path_factory.mktemp("edge-rest")) as client:
        yield client


@pytest.fixture(scope="module")
def postgres_jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[jobs_pb2_grpc.JobServiceStub]:
    with fresh_database() as url:
        settings = Settings(database_url=url, data_dir=tmp_path_factory.mktemp("edge-pg"))
        with EmbeddedServer(settings) as running, grpc.insecure_channel(running.address) as channel:
            yield jobs_pb2_grpc.JobServiceStub(channel)


def refused(call: object, *fields_named: str) -> grpc.RpcError:
    """The RpcError of ``call`` (a thunk), checked to be INVALID_ARGUMENT naming the fields."""
    assert callable(call)
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    reason, named = details(error)
    assert reason == "EIGEN_INVALID_ARGUMENT"
    for name in fields_named:
        assert any(n.startswith(name) for n in named), (name, named)
    return error


# -- item 3: sizes of the store's bounded columns, on gRPC and REST ------------------------
def _submit_as(
    stub: jobs_pb2_grpc.JobServiceStub, caller: str, **fields: object
) -> jobs_pb2.SubmitJobResponse:
    return stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=job(BELL, **fields)), metadata=((CALLER, caller),))


def test_a_caller_longer_than_the_owner_column_is_invalid_argument(
    jobs: jobs_pb2_grpc.JobServiceStub,
) -> None:
    refused(lambda: _submit_as(jobs, "c" * (limits.OWNER_MAX + 1)), CALLER)
    refused(
        lambda: jobs.SubmitBatch(
            jobs_pb2.SubmitBatchRequest(jobs=[job(BELL)]), metadata=((CALLER, "c" * (limits.OWNER_MAX + 1)),)
        ),
        CALLER,
    )
    accepted = _submit_as(jobs, "c" * limits.OWNER_MAX).job
    assert accepted.owner == "c" * limits.OWNER_MAX


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"target": "t" * (limits.TARGET_MAX + 1)}, "job.target"),
        ({"labels": {"k" * (limits.LABEL_KEY_MAX + 1): "v"}}, "job.labels"),
        ({"labels": {"k": "v" * (limits.LABEL_VALUE_MAX + 1)}}, "job.labels.k"),
        ({"labels": {"k": "nul\x00"}}, "job.labels.k"),
        ({"labels": {f"k{i}": "v" for i in range(limits.LABELS_MAX + 1)}}, "job.labels"),
        ({"options": {"k": "v" * (limits.OPTION_VALUE_MAX + 1)}}, "job.options.k"),
        ({"dependencies": ["not a job id"]}, "job.dependencies"),
        ({"name": "n" * (limits.NAME_MAX + 1)}, "job.name"),
    ],
)
def test_strings_past_their_limit_are_invalid_argument_naming_the_field(
    jobs: jobs_pb2_grpc.JobServiceStub, fields: dict[str, object], named: str
) -> None:
    refused(lambda: submit(jobs, job(BELL, **fields)), named)


def test_an_overlong_idempotency_key_is_invalid_argument(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    refused(lambda: submit(jobs, job(BELL), key="k" * (limits.IDEMPOTENCY_KEY_MAX + 1)), "idempotency_key")


def test_postgresql_refuses_a_long_caller_at_the_edge_and_serves_the_others(
    postgres_jobs: jobs_pb2_grpc.JobServiceStub,
) -> None:
    refused(lambda: _submit_as(postgres_jobs, "p" * 5000), CALLER)
    refused(lambda: submit(postgres_jobs, job(BELL, labels={"k": "\x00"})), "job.labels.k")
    assert _submit_as(postgres_jobs, "innocent").job.owner == "innocent"


def test_rest_caller_header_past_its_limit_is_a_400_naming_it(
    rest: httpx.Client,
) -> None:
    client = rest
    response = client.post(
        "/v1/jobs", json={"job": rest_job()}, headers={CALLER: "h" * (limits.OWNER_MAX + 1)}
    )
    assert fields(problem(response, 400, "EIGEN_INVALID_ARGUMENT")) == [CALLER]
    response = client.post("/v1/jobs", json={"job": rest_job(labels={"k" * (limits.LABEL_KEY_MAX + 1): "v"})})
    assert fields(problem(response, 400, "EIGEN_INVALID_ARGUMENT"))[0].startswith("job.labels")


def test_an_unusable_request_id_is_replaced_not_echoed(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    for sent in ("r" * 5000, "has space", ""):
        _, call = jobs.ListJobs.with_call(jobs_pb2.ListJobsRequest(), metadata=(("x-request-id", sent),))
        echoed = dict(call.initial_metadata())["x-request-id"]
        assert echoed != sent and 8 <= len(echoed) <= 32


# -- item 8: no input makes an error outgrow the gRPC trailers --------------------------
def test_a_5000_character_include_name_is_invalid_argument_with_a_bounded_message(
    jobs: jobs_pb2_grpc.JobServiceStub,
) -> None:
    source = f'OPENQASM 3.0;\ninclude "{"x" * 5000}.inc";\nqubit[1] q;\n'
    error = refused(lambda: submit(jobs, job(source)))
    assert len(error.details() or "") <= 1100
    wide = f'OPENQASM 3.0;\ninclude "{"€" * 5000}.inc";\nqubit[1] q;\n'
    refused(lambda: submit(jobs, job(wide)))


def test_a_huge_rest_body_value_gets_a_bounded_problem(rest: httpx.Client) -> None:
    client = rest
    response = client.post("/v1/jobs", json={"job": rest_job(name="n" * 100_000)})
    body = problem(response, 400, "EIGEN_INVALID_ARGUMENT")
    assert fields(body) == ["job.name"]
    assert len(response.content) < 4000


# -- item 12: REST answers ----------------------------------------------------------------
def test_a_wrong_method_is_a_405_problem_with_the_allowed_methods(
    rest: httpx.Client,
) -> None:
    client = rest
    response = client.delete("/v1/jobs")
    problem(response, 405, "EIGEN_METHOD_NOT_ALLOWED")
    assert sorted(m.strip() for m in response.headers["allow"].split(",")) == ["GET", "POST"]
    response = client.put("/v1/backends")
    problem(response, 405, "EIGEN_METHOD_NOT_ALLOWED")
    assert [m.strip() for m in response.headers["allow"].split(",")] == ["GET"]


@pytest.mark.parametrize("path", ["/v1/jobs/abc:cancel", "/v1/jobs/abc:batch", "/v1/jobs/a:b"])
def test_get_of_an_action_path_is_never_a_get_job(rest: httpx.Client, path: str) -> None:
    client = rest
    response = client.get(path)
    assert response.status_code in (404, 405), response.text
    reason = "EIGEN_METHOD_NOT_ALLOWED" if response.status_code == 405 else "EIGEN_NOT_FOUND"
    body = problem(response, response.status_code, reason)
    assert "job id" not in body["detail"]


def test_a_5000_digit_integer_names_its_field(rest: httpx.Client) -> None:
    client = rest
    raw = '{"job": {"program": {"source": "OPENQASM 3.0;"}, "shots": ' + "9" * 5000 + "}}"
    response = client.post("/v1/jobs", content=raw, headers={"content-type": "application/json"})
    body = problem(response, 400, "EIGEN_INVALID_ARGUMENT")
    assert fields(body) in (["job.shots"], ["body"]), body
    assert len(body["detail"]) <= 1100


def test_very_deep_json_is_refused_naming_the_body(rest: httpx.Client) -> None:
    client = rest
    deep = '{"job": {"program": {"source": "x"}, "labels": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    response = client.post("/v1/jobs", content=deep, headers={"content-type": "application/json"})
    body = problem(response, 400, "EIGEN_INVALID_ARGUMENT")
    assert fields(body) == ["body"], body
    assert len(body["detail"]) <= 1100


def test_openapi_states_the_constraints_the_server_enforces(
    rest: httpx.Client,
) -> None:
    client = rest
    document = client.get("/openapi.json").json()

    def parameter(path: str, method: str, name: str) -> dict[str, object]:
        for item in document["paths"][path][method]["parameters"]:
            if item["name"] == name:
                schema: dict[str, object] = item["schema"]
                return schema
        raise AssertionError(f"{method} {path} has no parameter {name}")

    job_id = parameter("/v1/jobs/{job_id}", "get", "job_id")
    assert job_id["pattern"] == "^[A-Za-z0-9_-]{1,64}$"
    assert parameter("/v1/jobs/{job_id}/events", "get", "after_seq")["minimum"] == 0
    wait = parameter("/v1/jobs/{job_id}/results", "get", "wait_seconds")
    assert (wait["minimum"], wait["maximum"]) == (0, 3600)
    page_size = parameter("/v1/jobs", "get", "page_size")
    assert page_size["maximum"] == 500
    schemas = document["components"]["schemas"]
    assert schemas["Program"]["properties"]["source"]["minLength"] == 1
    assert schemas["JobRequest"]["properties"]["target"]["maxLength"] == limits.TARGET_MAX
