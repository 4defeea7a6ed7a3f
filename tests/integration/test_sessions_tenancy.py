"""Sessions are a tenant's: with authentication on, another tenant's session is NOT_FOUND
by every path (gRPC, REST, submitting into it), as a missing one is; an admin sees it."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest

from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from tests.integration.helpers import BELL, details, job
from tests.integration.secured import secured_server

pytestmark = pytest.mark.integration

TARGET = "sim:stabilizer"


def test_another_tenants_session_is_not_found_by_every_path(tmp_path: Path) -> None:
    with secured_server(tmp_path) as secured:
        secured.add_key("alice", tenant="research", role="submitter")
        secured.add_key("bob", tenant="physics", role="submitter")
        secured.add_key("root", tenant="ops", role="admin")
        with grpc.insecure_channel(secured.server.address) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            alice, bob = secured.metadata("alice"), secured.metadata("bob")
            mine = stub.OpenSession(jobs_pb2.OpenSessionRequest(target=TARGET), metadata=alice)
            assert mine.tenant == "research" and mine.owner == "alice"
            request = jobs_pb2.SessionRequest(session_id=mine.id)
            for rpc in (stub.GetSession, stub.CloseSession, stub.CancelSession):
                with pytest.raises(grpc.RpcError) as refused:
                    rpc(request, metadata=bob)
                assert refused.value.code() == grpc.StatusCode.NOT_FOUND
                assert details(refused.value)[0] == "EIGEN_NOT_FOUND"
            into = jobs_pb2.SubmitJobRequest(job=job(BELL, target=TARGET, shots=10, session_id=mine.id))
            with pytest.raises(grpc.RpcError) as submitted:
                stub.SubmitJob(into, metadata=bob)
            assert submitted.value.code() == grpc.StatusCode.NOT_FOUND
            assert stub.GetSession(request, metadata=secured.metadata("root")).id == mine.id  # an admin
            assert stub.SubmitJob(into, metadata=alice).job.id  # its own tenant's submitter may
            assert stub.GetSession(request, metadata=alice).state == "ACTIVE"  # bob changed nothing
        with httpx.Client(base_url=secured.server.http_address, timeout=30) as rest:
            path = f"/v1/sessions/{mine.id}"
            for method, url in (("GET", path), ("POST", f"{path}:close"), ("POST", f"{path}:cancel")):
                answer = rest.request(method, url, headers=secured.headers("bob"))
                assert answer.status_code == 404 and answer.json()["reason"] == "EIGEN_NOT_FOUND"
            assert rest.get(path, headers=secured.headers("alice")).json()["state"] == "ACTIVE"
