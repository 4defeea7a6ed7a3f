"""ListDeadLetters over gRPC and REST (``GET /v1/dead-letters``), against a real embedded
server with authentication on: an admin sees every tenant's dead letters, a tenant-admin
its own tenant's only, anyone else is refused; pages follow a keyset cursor; bad sizes and
tokens are INVALID_ARGUMENT / 400 problem+json. And GetJob shows the worker holding a job."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from eigen.kernel.store.base import JobStore
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from tests.integration.held import HELD, install
from tests.integration.helpers import details, job
from tests.integration.rest_helpers import fields, problem
from tests.integration.secured import Secured, secured_server

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0  # the dead letters' times: one a second, acme's then lab's


@dataclass
class World:
    secured: Secured
    jobs: jobs_pb2_grpc.JobServiceStub
    http: httpx.Client
    acme: list[str]  # acme's dead jobs, newest first
    lab: list[str]


def store_of(secured: Secured) -> JobStore:
    stack = secured.server.stack
    assert stack is not None and stack.kernel is not None
    return stack.kernel.store


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with secured_server(tmp_path_factory.mktemp("dead-letters-api")) as secured:
        for caller, tenant, role in (
            ("admin", "acme", "admin"),
            ("acme-admin", "acme", "tenant-admin"),
            ("acme-viewer", "acme", "viewer"),
            ("acme-submitter", "acme", "submitter"),
            ("lab-submitter", "lab", "submitter"),
        ):
            secured.add_key(caller, tenant=tenant, role=role)
        channel = grpc.insecure_channel(secured.server.address)
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        made: dict[str, list[str]] = {"acme": [], "lab": []}
        second = 0
        for tenant, count in (("acme", 3), ("lab", 2)):
            for _ in range(count):
                request = jobs_pb2.SubmitJobRequest(job=job(shots=10))
                submitted = stub.SubmitJob(request, metadata=secured.metadata(f"{tenant}-submitter")).job
                store_of(secured).add_dead_letter(
                    submitted.id, 3, "lease lapsed 3 times", f"node-{tenant}", at=T0 + second
                )
                second += 1
                made[tenant].insert(0, submitted.id)
        http = httpx.Client(base_url=secured.server.http_address, timeout=60)
        try:
            yield World(secured, stub, http, made["acme"], made["lab"])
        finally:
            http.close()
            channel.close()


def grpc_list(world: World, caller: str, **request: Any) -> jobs_pb2.ListDeadLettersResponse:
    message = jobs_pb2.ListDeadLettersRequest(**request)
    response: jobs_pb2.ListDeadLettersResponse = world.jobs.ListDeadLetters(
        message, metadata=world.secured.metadata(caller), timeout=30
    )
    return response


def rest_list(world: World, caller: str, **params: Any) -> httpx.Response:
    return world.http.get("/v1/dead-letters", params=params, headers=world.secured.headers(caller))


def test_an_admin_lists_every_tenants_dead_letters_newest_first(world: World) -> None:
    everyone = world.lab + world.acme  # lab's were given up on last
    found = grpc_list(world, "admin")
    assert [d.job_id for d in found.dead_letters] == everyone and found.next_page_token == ""
    first = found.dead_letters[0]
    assert (first.tenant, first.attempts, first.reason, first.last_worker) == (
        "lab",
        3,
        "lease lapsed 3 times",
        "node-lab",
    )
    assert first.at.seconds == int(T0) + 4
    response = rest_list(world, "admin")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["job_id"] for d in body["dead_letters"]] == everyone and body["next_page_token"] == ""
    assert body["dead_letters"][0] == {
        "job_id": world.lab[0],
        "tenant": "lab",
        "attempts": 3,
        "reason": "lease lapsed 3 times",
        "at": "2023-11-14T22:13:24Z",
        "last_worker": "node-lab",
    }
    assert [d.job_id for d in grpc_list(world, "admin", tenant="acme").dead_letters] == world.acme
    assert [d["job_id"] for d in rest_list(world, "admin", tenant="lab").json()["dead_letters"]] == world.lab


def test_pages_follow_the_cursor_on_both_edges(world: World) -> None:
    everyone = world.lab + world.acme
    seen: list[str] = []
    token = ""
    while True:
        page = grpc_list(world, "admin", page_size=2, page_token=token)
        assert len(page.dead_letters) <= 2
        seen += [d.job_id for d in page.dead_letters]
        token = page.next_page_token
        if not token:
            break
    assert seen == everyone
    rest_seen: list[str] = []
    token = ""
    while True:
        body = rest_list(world, "admin", page_size=3, page_token=token).json()
        rest_seen += [d["job_id"] for d in body["dead_letters"]]
        token = body["next_page_token"]
        if not token:
            break
    assert rest_seen == everyone


def test_a_tenant_admin_sees_its_own_tenants_only(world: World) -> None:
    assert [d.job_id for d in grpc_list(world, "acme-admin").dead_letters] == world.acme
    assert [d.job_id for d in grpc_list(world, "acme-admin", tenant="acme").dead_letters] == world.acme
    other = grpc_list(world, "acme-admin", tenant="lab")
    assert list(other.dead_letters) == [] and other.next_page_token == ""
    body = rest_list(world, "acme-admin").json()
    assert [d["job_id"] for d in body["dead_letters"]] == world.acme
    assert {d["tenant"] for d in body["dead_letters"]} == {"acme"}
    assert rest_list(world, "acme-admin", tenant="lab").json()["dead_letters"] == []
    # paging a tenant's letters never reaches another tenant's
    page = grpc_list(world, "acme-admin", page_size=2)
    rest = grpc_list(world, "acme-admin", page_size=2, page_token=page.next_page_token)
    assert [d.job_id for d in [*page.dead_letters, *rest.dead_letters]] == world.acme


@pytest.mark.parametrize("caller", ["acme-viewer", "acme-submitter"])
def test_a_role_without_deadletters_read_is_refused(world: World, caller: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_list(world, caller)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    assert details(caught.value)[0] == "EIGEN_PERMISSION_DENIED"
    body = problem(rest_list(world, caller), 403, "EIGEN_PERMISSION_DENIED")
    assert "deadletters.read" in body["detail"]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": -1}, "page_size"),
        ({"page_size": 501}, "page_size"),
        ({"page_token": "bm90LWEtdG9rZW4="}, "page_token"),
        ({"tenant": "no spaces allowed"}, "tenant"),
    ],
)
def test_bad_paging_is_invalid_argument(world: World, request_fields: dict[str, Any], field: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_list(world, "admin", **request_fields)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert details(caught.value) == ("EIGEN_INVALID_ARGUMENT", [field])
    body = problem(rest_list(world, "admin", **request_fields), 400, "EIGEN_INVALID_ARGUMENT")
    assert fields(body) == [field]


def test_get_job_shows_the_worker_and_its_lease(world: World) -> None:
    held = install(world.secured.server)
    held.gate.clear()
    try:
        request = jobs_pb2.SubmitJobRequest(job=job(target=HELD, shots=4))
        job_id = world.jobs.SubmitJob(request, metadata=world.secured.metadata("acme-submitter")).job.id
        held.wait_held()
        running = world.jobs.GetJob(
            jobs_pb2.GetJobRequest(job_id=job_id), metadata=world.secured.metadata("acme-viewer")
        )
        stored = store_of(world.secured).get(job_id)
        assert stored is not None and stored.worker_id
        assert running.worker == stored.worker_id and running.attempt == stored.attempt
        assert running.HasField("lease_expires_at")
        body = world.http.get(f"/v1/jobs/{job_id}", headers=world.secured.headers("acme-viewer")).json()
        assert body["worker"] == stored.worker_id and body["lease_expires_at"]
    finally:
        held.release()
    done = world.jobs.GetJob(
        jobs_pb2.GetJobRequest(job_id=world.acme[0]), metadata=world.secured.metadata("acme-viewer")
    )
    assert not done.HasField("lease_expires_at")


def test_the_sdk_lists_dead_letters_page_by_page_as_its_role_allows(world: World) -> None:
    from eigen.client import Client
    from eigen.errors import PermissionDenied

    address = world.secured.server.address
    with Client(address, api_key=world.secured.keys["admin"]) as admin:
        first, token = admin.dead_letters(page_size=3)
        rest, end = admin.dead_letters(page_size=3, page_token=token)
        assert [d.job_id for d in first + rest] == world.lab + world.acme and end == ""
        assert (first[0].tenant, first[0].attempts, first[0].last_worker) == ("lab", 3, "node-lab")
        assert [d.job_id for d in admin.dead_letters(tenant="acme")[0]] == world.acme
    with Client(address, api_key=world.secured.keys["acme-admin"]) as tenant_admin:
        assert [d.job_id for d in tenant_admin.dead_letters()[0]] == world.acme
    with (
        Client(address, api_key=world.secured.keys["acme-viewer"]) as viewer,
        pytest.raises(PermissionDenied),
    ):
        viewer.dead_letters()
