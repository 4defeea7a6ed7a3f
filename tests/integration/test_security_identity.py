"""Identity through a real server: JWTs from an identity provider whose JWKS is served
over local HTTP, and API keys, over gRPC and REST; the token's tenant and subject end up
on the job; a refused token is refused by both edges alike, never taken as anonymous."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from eigen.config.settings import Settings
from eigen.jobfile import load_job_file
from eigen.kernel.store.keys import SqlKeyStore
from eigen.kernel.store.sql import SqlJobStore
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.security import apikeys
from eigen.server.embedded import EmbeddedServer
from tests.unit.security.test_tokens import AUDIENCE, ISSUER, JwksServer, SigningKey

ROOT = Path(__file__).resolve().parents[2]
BELL = ROOT / "examples" / "bell-qasm3" / "job.yaml"


@pytest.fixture(scope="module")
def signer() -> SigningKey:
    return SigningKey("idp-key-1", "ES256")


@pytest.fixture
def provider(signer: SigningKey) -> Iterator[JwksServer]:
    running = JwksServer(signer)
    yield running
    running.close()


@pytest.fixture
def server(tmp_path: Path, provider: JwksServer) -> Iterator[EmbeddedServer]:
    settings = Settings(
        data_dir=tmp_path / "data",
        http_port=0,
        auth_required=True,
        jwt_jwks_url=provider.url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_tenant_claim="org",
        jwt_roles_claim="scope",
    )
    with EmbeddedServer(settings) as running:
        yield running


def api_key(server: EmbeddedServer, *, tenant: str, role: str, name: str) -> str:
    assert server.stack is not None and server.stack.kernel is not None
    store = server.stack.kernel.store
    assert isinstance(store, SqlJobStore)
    key, record = apikeys.new_key(
        apikeys.server_secret(server.settings), tenant=tenant, name=name, role=role, created_at=time.time()
    )
    SqlKeyStore(store.engine).add_key(record, time.time())
    return key


def test_a_token_s_tenant_and_subject_own_the_job_by_grpc_and_rest(
    server: EmbeddedServer, signer: SigningKey, provider: JwksServer
) -> None:
    token = signer.sign(org="research", sub="alice@research", scope="submitter", tenant=None, roles=None)
    metadata = (("authorization", f"Bearer {token}"),)
    request = jobs_pb2.SubmitJobRequest(job=convert.request_to_pb(load_job_file(BELL)))
    with grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        job = stub.SubmitJob(request, metadata=metadata, timeout=30).job
        assert (job.tenant, job.owner) == ("research", "alice@research")
        assert stub.GetJob(jobs_pb2.GetJobRequest(job_id=job.id), metadata=metadata, timeout=10).id == job.id
    answer = httpx.get(
        f"{server.http_address}/v1/jobs/{job.id}", headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 200 and answer.json()["id"] == job.id
    assert provider.fetches == 1  # one fetch of the key set for all of it

    # a viewer of another tenant, by API key (x-api-key on REST): the job is not there
    key = api_key(server, tenant="lab", role="viewer", name="dashboard")
    elsewhere = httpx.get(f"{server.http_address}/v1/jobs/{job.id}", headers={"x-api-key": key}, timeout=10)
    assert elsewhere.status_code == 404


def test_a_refused_token_is_refused_by_both_edges_and_says_why(
    server: EmbeddedServer, signer: SigningKey
) -> None:
    expired = signer.sign(org="research", exp=time.time() - 3600)
    with grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.BackendServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListBackends(
                jobs_pb2.ListBackendsRequest(),
                metadata=(("authorization", f"Bearer {expired}"), ("x-eigen-caller", "admin")),
                timeout=10,
            )
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "token refused: expired" in (caught.value.details() or "")
    answer = httpx.get(
        f"{server.http_address}/v1/backends", headers={"authorization": f"Bearer {expired}"}, timeout=10
    )
    assert answer.status_code == 401 and answer.headers["content-type"].startswith("application/problem+json")
    assert "www-authenticate" in answer.headers
    assert "expired" in answer.text
    unknown = SigningKey("not-the-idp", "ES256").sign(org="research")
    refused = httpx.get(
        f"{server.http_address}/v1/backends", headers={"authorization": f"Bearer {unknown}"}, timeout=10
    )
    assert refused.status_code == 401 and "unknown kid" in refused.text
