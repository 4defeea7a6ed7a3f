"""Every public RPC x every kind of caller x both edges (gRPC and REST), against a real
server with authentication on: allowed or refused exactly as the permission table says.

The cases come from the table itself (:data:`eigen.security.permissions.PERMISSION_OF`),
the outcomes from :data:`EXPECTED`, written out here, so that a change to the table that
nobody meant fails (:func:`test_expected_is_the_permission_table`).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from eigen.config.settings import Settings
from eigen.models.principal import Principal
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.security import permissions, tls
from eigen.security.permissions import PERMISSION_OF
from eigen.server.build import build
from eigen.server.grpc_server import start_grpc
from eigen.server.http import start_http
from tests.certificates import Authority
from tests.integration.held import HELD, install
from tests.integration.helpers import details, job
from tests.integration.rest_helpers import PROBLEM_JSON
from tests.integration.rest_helpers import job as rest_job
from tests.integration.secured import Secured, secured_server

pytestmark = pytest.mark.integration

TENANT = "acme"
ROLES = ("viewer", "submitter", "tenant-admin", "admin")
CALLERS = (*ROLES, "none", "bad")
TARGET = "sim:statevector"

READS = {"GetJob", "ListJobs", "WatchJob", "GetJobResults", "StreamResults", "GetSession"}
BACKENDS = {"ListBackends", "GetBackend", "GetCalibration"}
WRITES = {
    "SubmitJob",
    "SubmitBatch",
    "SubmitBatchStream",
    "CancelJob",
    "OpenSession",
    "CloseSession",
    "CancelSession",
}
TENANT_ADMIN = {"ListDeadLetters"}

EXPECTED: dict[str, set[str]] = {
    "viewer": READS | BACKENDS,
    "submitter": READS | BACKENDS | WRITES,
    "tenant-admin": READS | BACKENDS | WRITES | TENANT_ADMIN,
    "admin": READS | BACKENDS | WRITES | TENANT_ADMIN,
    "none": set(),
    "bad": set(),
}
"""Who may call what: every other call is refused (UNAUTHENTICATED without a valid
credential, PERMISSION_DENIED for a role without the permission)."""


def expected(caller: str, rpc: str) -> str:
    if caller in ("none", "bad"):
        return "UNAUTHENTICATED"
    return "OK" if rpc in EXPECTED[caller] else "PERMISSION_DENIED"


def test_expected_is_the_permission_table() -> None:
    for role in ROLES:
        principal = Principal(TENANT, role, frozenset({role}), "api_key")
        allowed = {
            rpc for rpc, permission in PERMISSION_OF.items() if permissions.allows(principal, permission)
        }
        assert allowed == EXPECTED[role], role


def test_every_public_rpc_has_a_permission() -> None:
    services = jobs_pb2.DESCRIPTOR.services_by_name
    rpcs = {method.name for name in ("JobService", "BackendService") for method in services[name].methods}
    assert set(PERMISSION_OF) == rpcs


class World:
    """The server, a DONE job of the tenant (to read), and a held job (to cancel)."""

    def __init__(self, secured: Secured) -> None:
        self.secured = secured
        for role in ROLES:
            secured.add_key(role, tenant=TENANT, role=role)
        self.channel = grpc.insecure_channel(secured.server.address)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.backends = jobs_pb2_grpc.BackendServiceStub(self.channel)
        self.http = httpx.Client(base_url=secured.server.http_address, timeout=60)
        submitter = secured.metadata("submitter")
        self.done = self.jobs.SubmitJob(
            jobs_pb2.SubmitJobRequest(job=job(shots=10)), metadata=submitter
        ).job.id
        list(self.jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=self.done), metadata=submitter, timeout=60))
        self.held = install(secured.server)
        self.held.gate.clear()
        request = jobs_pb2.SubmitJobRequest(job=job(target=HELD, shots=4))
        self.running = self.jobs.SubmitJob(request, metadata=submitter).job.id
        opened = jobs_pb2.OpenSessionRequest(target=TARGET)
        self.session = self.jobs.OpenSession(opened, metadata=submitter).id

    def close(self) -> None:
        self.held.release()
        self.http.close()
        self.channel.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with secured_server(tmp_path_factory.mktemp("security-matrix")) as secured:
        made = World(secured)
        try:
            yield made
        finally:
            made.close()


# -- gRPC ------------------------------------------------------------------------------------
def grpc_outcome(world: World, rpc: str, caller: str) -> str:
    """The status code name of ``rpc`` called by ``caller``; a refusal's ErrorInfo reason
    is checked to be the EIGEN_* of its code."""
    md = world.secured.metadata(caller)
    jobs, backends = world.jobs, world.backends
    try:
        if rpc == "SubmitJob":
            jobs.SubmitJob(jobs_pb2.SubmitJobRequest(job=job(shots=10)), metadata=md)
        elif rpc == "SubmitBatch":
            jobs.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=[job(shots=10)]), metadata=md)
        elif rpc == "SubmitBatchStream":
            item = jobs_pb2.BatchStreamRequest(client_request_id="a", job=job(shots=10))
            answers = list(jobs.SubmitBatchStream(iter([item]), metadata=md, timeout=60))
            assert [a.WhichOneof("outcome") for a in answers] == ["submitted_job_id", "completed"], answers
        elif rpc == "GetJob":
            assert jobs.GetJob(jobs_pb2.GetJobRequest(job_id=world.done), metadata=md).id == world.done
        elif rpc == "ListJobs":
            listed = jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=md)
            assert world.done in {j.id for j in listed.jobs}
        elif rpc == "WatchJob":
            events = list(jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=world.done), metadata=md, timeout=60))
            assert events and events[-1].terminal
        elif rpc == "GetJobResults":
            jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=world.done), metadata=md)
        elif rpc == "StreamResults":
            chunks = list(jobs.StreamResults(jobs_pb2.StreamResultsRequest(job_id=world.done), metadata=md))
            assert chunks and chunks[-1].is_final
        elif rpc == "ListDeadLetters":
            listed_letters = jobs.ListDeadLetters(jobs_pb2.ListDeadLettersRequest(), metadata=md)
            assert listed_letters.next_page_token == ""
        elif rpc == "CancelJob":
            jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=world.running), metadata=md)
        elif rpc == "OpenSession":
            assert jobs.OpenSession(jobs_pb2.OpenSessionRequest(target=TARGET), metadata=md).state == "ACTIVE"
        elif rpc in ("GetSession", "CloseSession", "CancelSession"):
            found = getattr(jobs, rpc)(jobs_pb2.SessionRequest(session_id=world.session), metadata=md)
            assert found.id == world.session
        elif rpc == "ListBackends":
            assert backends.ListBackends(jobs_pb2.ListBackendsRequest(), metadata=md).backends
        elif rpc == "GetBackend":
            backends.GetBackend(jobs_pb2.GetBackendRequest(name=TARGET), metadata=md)
        elif rpc == "GetCalibration":
            backends.GetCalibration(jobs_pb2.GetCalibrationRequest(name="emu:manila"), metadata=md)
        else:
            raise AssertionError(f"no gRPC call for {rpc}")
    except grpc.RpcError as exc:
        code = exc.code().name  # type: ignore[attr-defined]
        reason, _ = details(exc)
        assert reason == f"EIGEN_{code}", (code, reason)
        return str(code)
    return "OK"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("rpc", sorted(PERMISSION_OF))
def test_grpc(world: World, rpc: str, caller: str) -> None:
    assert grpc_outcome(world, rpc, caller) == expected(caller, rpc)


# -- REST ------------------------------------------------------------------------------------
ROUTES: dict[str, tuple[str, str]] = {
    "SubmitJob": ("POST", "/v1/jobs"),
    "SubmitBatch": ("POST", "/v1/jobs:batch"),
    "GetJob": ("GET", "/v1/jobs/{done}"),
    "ListJobs": ("GET", "/v1/jobs"),
    "WatchJob": ("GET", "/v1/jobs/{done}/events"),
    "GetJobResults": ("GET", "/v1/jobs/{done}/results"),
    "StreamResults": ("GET", "/v1/jobs/{done}/results:stream"),
    "CancelJob": ("POST", "/v1/jobs/{running}:cancel"),
    "ListDeadLetters": ("GET", "/v1/dead-letters"),
    "OpenSession": ("POST", "/v1/sessions"),
    "GetSession": ("GET", "/v1/sessions/{session}"),
    "CloseSession": ("POST", "/v1/sessions/{session}:close"),
    "CancelSession": ("POST", "/v1/sessions/{session}:cancel"),
    "ListBackends": ("GET", "/v1/backends"),
    "GetBackend": ("GET", f"/v1/backends/{TARGET}"),
    "GetCalibration": ("GET", "/v1/backends/emu:manila/calibration"),
}
BODIES: dict[str, dict[str, Any]] = {
    "SubmitJob": {"job": rest_job(shots=10)},
    "SubmitBatch": {"jobs": [rest_job(shots=10)]},
    "OpenSession": {"target": TARGET},
}
CODE_OF_STATUS = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}


def rest_outcome(world: World, rpc: str, caller: str) -> str:
    if rpc == "SubmitBatchStream":
        return websocket_outcome(world, caller)
    method, path = ROUTES[rpc]
    url = path.format(done=world.done, running=world.running, session=world.session)
    headers = world.secured.headers(caller)
    with world.http.stream(method, url, json=BODIES.get(rpc), headers=headers) as response:
        response.read()
    if response.is_success:
        return "OK"
    assert response.status_code in CODE_OF_STATUS, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    code = CODE_OF_STATUS[response.status_code]
    assert body["reason"] == f"EIGEN_{code}" and body["status"] == response.status_code
    if response.status_code == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    return code


def websocket_outcome(world: World, caller: str) -> str:
    """SubmitBatchStream over the WebSocket: one item, then the end marker. A refusal is
    a close with 1008 and the EIGEN_* reason before anything is read."""
    url = world.secured.server.http_address.replace("http://", "ws://") + "/v1/jobs:batchStream"
    item = {"client_request_id": "a", "job": rest_job(shots=10)}
    try:
        with ws_connect(url, additional_headers=world.secured.headers(caller), open_timeout=10) as socket:
            answers: list[dict[str, Any]] = []
            try:
                socket.send(json.dumps(item))
                socket.send(json.dumps({"end": True}))
                while True:
                    answers.append(json.loads(socket.recv(timeout=60)))
            except ConnectionClosed:
                pass
            code, reason = socket.close_code, socket.close_reason or ""
    except InvalidStatus as exc:  # pragma: no cover - the server accepts, then closes
        raise AssertionError(f"handshake refused: {exc}") from None
    if code == 1000:
        assert [a["kind"] for a in answers] == ["submitted", "completed"], answers
        return "OK"
    assert code == 1008 and not answers, (code, reason, answers)
    found = reason.split(":", 1)[0].removeprefix("EIGEN_")
    assert found in ("UNAUTHENTICATED", "PERMISSION_DENIED"), reason
    return found


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("rpc", sorted(PERMISSION_OF))
def test_rest(world: World, rpc: str, caller: str) -> None:
    assert rest_outcome(world, rpc, caller) == expected(caller, rpc)


def test_health_and_documents_need_no_credential(world: World) -> None:
    assert world.http.get("/health/live").status_code == 200
    document = world.http.get("/openapi.json")
    assert document.status_code == 200
    schema = document.json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert schema["paths"]["/v1/jobs"]["post"]["security"][0] == {"bearer": []}
    assert "security" not in schema["paths"]["/health/live"]["get"]
    assert "x-api-key" in schema["info"]["description"] and "401" in schema["info"]["description"]


def test_unknown_route_is_unauthenticated_first(world: World) -> None:
    """Without a credential nothing about the API answers, not even which paths exist."""
    assert world.http.get("/v1/nothing-here").status_code == 401
    assert world.http.get("/v1/nothing-here", headers=world.secured.headers("viewer")).status_code == 404


# -- mutual TLS: the certificate is the credential, at both edges ---------------------------
@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A stack with authentication on and a policy mapping the certificate ``alice`` to a
    viewer of ``acme``, served over mutual TLS on gRPC and HTTPS; ``bob`` is unmapped."""
    folder = tmp_path_factory.mktemp("mtls")
    ca = Authority("Edges Test CA")
    ca_file = ca.write(folder / "ca.pem")
    server_cert, server_key = ca.server().write(folder / "server")
    alice = ca.issue("alice", dns=("alice.example",), client=True).write(folder / "alice")
    bob = ca.issue("bob", client=True).write(folder / "bob")
    policy = folder / "policy.yaml"
    policy.write_text("certificates:\n  - name: alice.example\n    tenant: acme\n    roles: [viewer]\n")
    settings = Settings(
        data_dir=folder / "data",
        host="127.0.0.1",
        port=0,
        http_port=0,
        auth_required=True,
        policy_file=policy,
        api_key_secret="edges-test-server-secret-0123456789",
    )
    files = tls.CertificateFiles(server_cert, server_key, ca_file)
    stack = build(settings)
    stack.start()
    grpc_server, port = start_grpc(stack, settings, files)
    http = start_http(stack, settings, certificates=files)
    try:
        yield {"port": port, "url": http.url, "ca": ca_file, "alice": alice, "bob": bob}
    finally:
        http.stop()
        grpc_server.stop(0).wait()
        stack.close()


def mtls_channel(served: dict[str, Any], who: str) -> grpc.Channel:
    cert, key = served[who]
    credentials = grpc.ssl_channel_credentials(
        root_certificates=served["ca"].read_bytes(),
        private_key=key.read_bytes(),
        certificate_chain=cert.read_bytes(),
    )
    return grpc.secure_channel(f"127.0.0.1:{served['port']}", credentials)


def test_mtls_certificate_is_the_principal_over_grpc(mtls: dict[str, Any]) -> None:
    with mtls_channel(mtls, "alice") as channel:
        jobs = jobs_pb2_grpc.JobServiceStub(channel)
        jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=30)  # a viewer reads
        with pytest.raises(grpc.RpcError) as denied:  # ... and may not submit
            jobs.SubmitJob(jobs_pb2.SubmitJobRequest(job=job(shots=10)), timeout=30)
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        assert details(denied.value)[0] == "EIGEN_PERMISSION_DENIED"
    with mtls_channel(mtls, "bob") as channel:
        with pytest.raises(grpc.RpcError) as refused:  # verified, but nobody the policy knows
            jobs_pb2_grpc.JobServiceStub(channel).ListJobs(jobs_pb2.ListJobsRequest(), timeout=30)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]


def test_mtls_certificate_is_the_principal_over_https(mtls: dict[str, Any]) -> None:
    def https(who: str) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=mtls["ca"])
        context.load_cert_chain(*mtls[who])
        return context

    with httpx.Client(base_url=mtls["url"], verify=https("alice"), timeout=30) as alice:
        assert alice.get("/v1/jobs").status_code == 200
        denied = alice.post("/v1/jobs", json={"job": rest_job(shots=10)})
        assert denied.status_code == 403 and denied.json()["reason"] == "EIGEN_PERMISSION_DENIED"
    with httpx.Client(base_url=mtls["url"], verify=https("bob"), timeout=30) as bob:
        refused = bob.get("/v1/jobs")
        assert refused.status_code == 401 and refused.json()["reason"] == "EIGEN_UNAUTHENTICATED"
