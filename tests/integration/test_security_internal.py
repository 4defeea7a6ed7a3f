"""The internal edges across four real processes with EIGEN_INTERNAL_TOKEN: the public path
works end to end, and a call that reaches an internal port without the token, or from a
role that does not call that service, is refused (and logged without the token). Then the
same four with mutual TLS between every role (certificates made here, one CA)."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from eigen.client.channel import TlsOptions
from eigen.client.client import Client
from eigen.errors import NotFound
from eigen.models.principal import Principal
from eigen.models.state import JobState
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2
from eigen.proto.internal.v1 import (
    compiler_pb2,
    compiler_pb2_grpc,
    driver_pb2,
    driver_pb2_grpc,
    kernel_pb2,
    kernel_pb2_grpc,
)
from eigen.proto.status import error_from_rpc
from eigen.security.internal import PRINCIPAL, SERVICE_ROLE, SERVICE_TOKEN, encode_principal
from tests.certificates import Authority, Issued
from tests.integration.test_four_processes import free_port, wait_serving

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "internal-edges-token-0123456789abcdef"
ROLES = ("api", "kernel", "compiler", "driver-manager")


@contextlib.contextmanager
def running_roles(
    env: dict[str, str],
    ports: dict[str, int],
    logs: Path,
    credentials: grpc.ChannelCredentials | None = None,
) -> Iterator[None]:
    """The four roles as processes on ``ports`` (each started once the one it calls
    serves), stopped at the end: SIGTERM, then SIGKILL after 15 s."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for role in ("driver-manager", "compiler", "kernel", "api"):
            port = str(ports[role])
            command = [sys.executable, "-m", "eigen.server", "serve", "--role", role, "--port", port]
            log_file = (logs / f"{role}.log").open("w")
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
            processes.append(process)
            wait_serving(f"127.0.0.1:{port}", process, time.monotonic() + 60, credentials)
        yield
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory, logs: Path) -> Iterator[dict[str, int]]:
    ports = {role: free_port() for role in ROLES}
    env = {
        **os.environ,
        "EIGEN_DATA_DIR": str(tmp_path_factory.mktemp("four")),
        "EIGEN_KERNEL_ADDRESS": f"127.0.0.1:{ports['kernel']}",
        "EIGEN_COMPILER_ADDRESS": f"127.0.0.1:{ports['compiler']}",
        "EIGEN_DRIVER_MANAGER_ADDRESS": f"127.0.0.1:{ports['driver-manager']}",
        "EIGEN_INTERNAL_TOKEN": TOKEN,
    }
    with running_roles(env, ports, logs):
        yield ports


def refused(call: grpc.RpcError) -> str:
    """The EIGEN_* reason of a refused call (and its status code agrees)."""
    reason = error_from_rpc(call, "test").code
    assert isinstance(call, grpc.Call) and call.code().name == reason.removeprefix("EIGEN_")
    return reason


def test_the_public_path_works_end_to_end_with_the_token(ports: dict[str, int]) -> None:
    with Client(f"127.0.0.1:{ports['api']}", caller="internal-test") as client:
        job = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=50)
        final = client.wait(job.id)
        assert final.state is JobState.DONE, final.error_summary  # api -> kernel -> compiler, drivers
        assert final.owner == "internal-test"
        assert sum(client.results(job.id).counts.values()) == 50
        listed = client.jobs.ListJobs(jobs_pb2.ListJobsRequest(id_prefix=job.id[:20], page_size=5))
        assert [j.id for j in listed.jobs] == [job.id]


def test_every_internal_port_refuses_a_call_without_the_token(ports: dict[str, int], logs: Path) -> None:
    calls = {
        "kernel": lambda ch, md: kernel_pb2_grpc.KernelServiceStub(ch).ListBackends(
            jobs_pb2.ListBackendsRequest(), metadata=md, timeout=10
        ),
        "compiler": lambda ch, md: compiler_pb2_grpc.CompilationServiceStub(ch).Validate(
            compiler_pb2.CompileRequest(), metadata=md, timeout=10
        ),
        "driver-manager": lambda ch, md: driver_pb2_grpc.DriverManagerServiceStub(ch).ListDevices(
            driver_pb2.ListDevicesRequest(), metadata=md, timeout=10
        ),
    }
    for role, call in calls.items():
        with grpc.insecure_channel(f"127.0.0.1:{ports[role]}") as channel:
            for metadata in ((), ((SERVICE_TOKEN, "not-the-token"), (SERVICE_ROLE, "api"))):
                with pytest.raises(grpc.RpcError) as caught:
                    call(channel, metadata)
                assert refused(caught.value) == "EIGEN_UNAUTHENTICATED", role
    time.sleep(0.3)  # let the servers flush their logs
    for role in calls:
        text = (logs / f"{role}.log").read_text()
        assert TOKEN not in text
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        refusals = [line for line in lines if line.get("event") == "internal call refused"]
        assert len(refusals) >= 2 and {r["reason"] for r in refusals} >= {
            "no service token",
            "wrong service token",
        }
        assert all(r["peer"] for r in refusals)


def test_with_the_token_only_the_api_role_calls_the_kernel_and_asserts(ports: dict[str, int]) -> None:
    asserted = encode_principal(Principal("acme", "mallory", frozenset({"admin"}), "jwt"))
    with grpc.insecure_channel(f"127.0.0.1:{ports['kernel']}") as channel:
        kernel = kernel_pb2_grpc.KernelServiceStub(channel)
        for role in ("kernel", "compiler", "driver-manager", ""):
            metadata = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, role), (PRINCIPAL, asserted))
            with pytest.raises(grpc.RpcError) as caught:
                kernel.ListJobs(jobs_pb2.ListJobsRequest(page_size=5), metadata=metadata, timeout=10)
            assert refused(caught.value) == "EIGEN_PERMISSION_DENIED", role
        metadata = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"), (PRINCIPAL, "{broken"))
        with pytest.raises(grpc.RpcError) as caught:
            kernel.ListJobs(jobs_pb2.ListJobsRequest(page_size=5), metadata=metadata, timeout=10)
        assert refused(caught.value) == "EIGEN_UNAUTHENTICATED"
        # the api's own call (no principal behind it) with the token: served
        api = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"))
        assert kernel.ListBackends(jobs_pb2.ListBackendsRequest(), metadata=api, timeout=10).backends


def test_the_public_services_ignore_the_internal_headers(ports: dict[str, int]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{ports['api']}") as channel:
        from eigen.proto.api.v1 import jobs_pb2_grpc

        backends = jobs_pb2_grpc.BackendServiceStub(channel)
        metadata = ((SERVICE_TOKEN, "wrong"), (SERVICE_ROLE, "kernel"), (PRINCIPAL, "{broken"))
        assert backends.ListBackends(jobs_pb2.ListBackendsRequest(), metadata=metadata, timeout=10).backends


def test_the_kernel_holds_an_asserted_principal_to_its_tenant(ports: dict[str, int]) -> None:
    with Client(f"127.0.0.1:{ports['api']}", caller="someone") as client:
        theirs = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=10)  # the default tenant
    bell = (EXAMPLES / "bell-qasm3" / "bell.qasm").read_text()
    job = pb.JobRequest(program=pb.Program(source=bell), shots=10)

    def as_(principal: Principal) -> tuple[tuple[str, str], ...]:
        return ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"), (PRINCIPAL, encode_principal(principal)))

    submitter = as_(Principal("acme", "alice", frozenset({"submitter"}), "api_key"))
    viewer = as_(Principal("acme", "victor", frozenset({"viewer"}), "api_key"))
    with grpc.insecure_channel(f"127.0.0.1:{ports['kernel']}") as channel:
        kernel = kernel_pb2_grpc.KernelServiceStub(channel)
        for metadata, tenant in ((submitter, "default"), (viewer, "acme")):
            with pytest.raises(grpc.RpcError) as caught:
                kernel.Enqueue(
                    kernel_pb2.EnqueueRequest(job=job, tenant=tenant), metadata=metadata, timeout=30
                )
            assert refused(caught.value) == "EIGEN_PERMISSION_DENIED"
        ours = kernel.Enqueue(
            kernel_pb2.EnqueueRequest(job=job, tenant="acme"), metadata=submitter, timeout=30
        ).job
        assert ours.tenant == "acme" and ours.owner == "alice"
        batch = kernel_pb2.EnqueueBatchRequest(jobs=[job, job], tenant="acme")
        batched = kernel.EnqueueBatch(batch, metadata=submitter, timeout=30).jobs
        assert {(j.tenant, j.owner) for j in batched} == {("acme", "alice")}
        # a listing keeps the asserted tenant whatever filter comes with it
        for tenant in ("", "default"):
            listed = kernel.ListJobs(jobs_pb2.ListJobsRequest(page_size=100, tenant=tenant), metadata=viewer)
            assert {j.id for j in listed.jobs} == {ours.id, *(j.id for j in batched)}
        # the api's own listing (no principal) keeps the filter it sends
        api = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"))
        listed = kernel.ListJobs(jobs_pb2.ListJobsRequest(page_size=100, tenant="default"), metadata=api)
        assert theirs.id in {j.id for j in listed.jobs} and ours.id not in {j.id for j in listed.jobs}


def role_certificate(ca: Authority, tmp: Path) -> tuple[Path, Path]:
    """One certificate for every role: it serves (serverAuth) and, between roles with
    mutual TLS, it is also the certificate a role presents as a client (clientAuth)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eigen-roles")]))
        .issuer_name(ca.name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), pem).write(tmp / "roles")


@dataclass(frozen=True)
class TlsRoles:
    ports: dict[str, int]
    ca: Path
    cert: Path
    key: Path
    client: tuple[Path, Path]  # a client certificate of the same CA (the public edge's mTLS)

    def credentials(self, *, client_cert: bool = True) -> grpc.ChannelCredentials:
        cert, key = self.client
        if not client_cert:
            return grpc.ssl_channel_credentials(root_certificates=self.ca.read_bytes())
        return grpc.ssl_channel_credentials(self.ca.read_bytes(), key.read_bytes(), cert.read_bytes())


@pytest.fixture(scope="module")
def tls_roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRoles]:
    """Four processes with mutual TLS between every role (one CA) and the service token."""
    tmp = tmp_path_factory.mktemp("tls")
    authority = Authority("Eigen roles CA")
    ca = authority.write(tmp / "ca.crt")
    cert, key = role_certificate(authority, tmp)
    client = authority.issue("operator", client=True).write(tmp / "client")
    roles = TlsRoles({role: free_port() for role in ROLES}, ca, cert, key, client)
    env = {
        **os.environ,
        "EIGEN_DATA_DIR": str(tmp_path_factory.mktemp("four-tls")),
        "EIGEN_KERNEL_ADDRESS": f"127.0.0.1:{roles.ports['kernel']}",
        "EIGEN_COMPILER_ADDRESS": f"127.0.0.1:{roles.ports['compiler']}",
        "EIGEN_DRIVER_MANAGER_ADDRESS": f"127.0.0.1:{roles.ports['driver-manager']}",
        "EIGEN_INTERNAL_TOKEN": TOKEN,
        "EIGEN_TLS_CERT_FILE": str(cert),
        "EIGEN_TLS_KEY_FILE": str(key),
        "EIGEN_TLS_CLIENT_CA_FILE": str(ca),
    }
    with running_roles(env, roles.ports, tmp, roles.credentials()):
        yield roles


def test_the_roles_talk_mutual_tls_to_each_other(tls_roles: TlsRoles) -> None:
    cert, key = tls_roles.client
    tls = TlsOptions(ca_file=tls_roles.ca, cert_file=cert, key_file=key)
    with Client(f"https://127.0.0.1:{tls_roles.ports['api']}", tls=tls) as client:
        job = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=20)
        final = client.wait(job.id)
        assert final.state is JobState.DONE, (
            final.error_summary
        )  # api -> kernel -> compiler, drivers over TLS
        assert sum(client.results(job.id).counts.values()) == 20


def test_an_internal_tls_port_needs_a_client_certificate_and_then_the_token(tls_roles: TlsRoles) -> None:
    address = f"127.0.0.1:{tls_roles.ports['kernel']}"
    request = jobs_pb2.ListBackendsRequest()
    with grpc.insecure_channel(address) as plain:  # plain text against a TLS port
        with pytest.raises(grpc.RpcError) as caught:
            kernel_pb2_grpc.KernelServiceStub(plain).ListBackends(request, timeout=5)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    with grpc.secure_channel(address, tls_roles.credentials(client_cert=False)) as anonymous:
        with pytest.raises(grpc.RpcError) as caught:
            kernel_pb2_grpc.KernelServiceStub(anonymous).ListBackends(request, timeout=5)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE  # the handshake wants a certificate
    with grpc.secure_channel(address, tls_roles.credentials()) as channel:
        kernel = kernel_pb2_grpc.KernelServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            kernel.ListBackends(request, metadata=((SERVICE_ROLE, "api"),), timeout=10)
        assert refused(caught.value) == "EIGEN_UNAUTHENTICATED"  # a certificate is no service token
        api = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"))
        assert kernel.ListBackends(request, metadata=api, timeout=10).backends


@dataclass(frozen=True)
class AuthRoles:
    api: str
    kernel: str
    keys: dict[str, str]  # subject -> API key
    data_dir: Path  # the kernel's (its SQLite job store)


@pytest.fixture(scope="module")
def auth_roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRoles]:
    """Four processes with authentication on at the api (API keys) and the service token."""
    tmp = tmp_path_factory.mktemp("auth")
    ports = {role: free_port() for role in ROLES}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EIGEN_")},
        "EIGEN_DATA_DIR": str(tmp / "data"),
        "EIGEN_KERNEL_ADDRESS": f"127.0.0.1:{ports['kernel']}",
        "EIGEN_COMPILER_ADDRESS": f"127.0.0.1:{ports['compiler']}",
        "EIGEN_DRIVER_MANAGER_ADDRESS": f"127.0.0.1:{ports['driver-manager']}",
        "EIGEN_INTERNAL_TOKEN": TOKEN,
        "EIGEN_AUTH_REQUIRED": "true",
    }
    keys = {}
    for subject, tenant, role in (
        ("alice", "acme", "submitter"),
        ("bob", "beta", "submitter"),
        ("carol", "acme", "tenant-admin"),
        ("dave", "beta", "admin"),
    ):
        command = ["keys", "create", "--tenant", tenant, "--name", subject, "--role", role]
        done = subprocess.run(
            [sys.executable, "-m", "eigen.server", *command],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        keys[subject] = done.stdout.strip()
    with running_roles(env, ports, tmp):
        yield AuthRoles(f"127.0.0.1:{ports['api']}", f"127.0.0.1:{ports['kernel']}", keys, tmp / "data")


def test_the_api_asserts_its_callers_principal_and_tenants_stay_apart(auth_roles: AuthRoles) -> None:
    with Client(auth_roles.api, api_key=auth_roles.keys["alice"]) as alice:
        job = alice.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=10)
        final = alice.wait(job.id)
        assert final.state is JobState.DONE, final.error_summary
        assert (final.tenant, final.owner) == ("acme", "alice")  # the kernel stored what was asserted
    with Client(auth_roles.api, api_key=auth_roles.keys["bob"]) as bob:
        with pytest.raises(NotFound):
            bob.get(job.id)
        assert job.id not in {j.id for j in bob.list_jobs(page_size=100)[0]}
    # the kernel itself, asked as bob by something holding the token: NOT_FOUND there as well
    bob_principal = encode_principal(Principal("beta", "bob", frozenset({"submitter"}), "api_key"))
    metadata = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"), (PRINCIPAL, bob_principal))
    with grpc.insecure_channel(auth_roles.kernel) as channel:
        kernel = kernel_pb2_grpc.KernelServiceStub(channel)
        for call in (
            lambda: kernel.GetJob(jobs_pb2.GetJobRequest(job_id=job.id), metadata=metadata, timeout=10),
            lambda: kernel.CancelJob(jobs_pb2.CancelJobRequest(job_id=job.id), metadata=metadata, timeout=10),
            lambda: kernel.GetResults(
                jobs_pb2.GetJobResultsRequest(job_id=job.id), metadata=metadata, timeout=10
            ),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert refused(caught.value) == "EIGEN_NOT_FOUND"


def test_dead_letters_through_the_kernel_service_keep_to_the_callers_tenant(auth_roles: AuthRoles) -> None:
    """ListDeadLetters from the api role through KernelService (the remote kernel): an
    admin sees every tenant's, a tenant-admin its own, a submitter is refused; the kernel
    holds an asserted principal to the same."""
    from eigen.config.settings import Settings
    from eigen.kernel.store.sql import SqlJobStore
    from eigen.proto.api.v1 import jobs_pb2_grpc

    made = {}
    for subject in ("alice", "bob"):
        with Client(auth_roles.api, api_key=auth_roles.keys[subject]) as client:
            made[subject] = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=10).id
    store = SqlJobStore(Settings(data_dir=auth_roles.data_dir).store_url, migrate=False)
    try:
        store.add_dead_letter(made["alice"], 3, "lease lapsed", "node-a", at=1_700_000_000.0)
        store.add_dead_letter(made["bob"], 3, "lease lapsed", "node-b", at=1_700_000_001.0)
    finally:
        store.close()

    def listed(subject: str, **request: str) -> list[tuple[str, str]]:
        with grpc.insecure_channel(auth_roles.api) as channel:
            answer = jobs_pb2_grpc.JobServiceStub(channel).ListDeadLetters(
                jobs_pb2.ListDeadLettersRequest(**request),
                metadata=(("authorization", f"Bearer {auth_roles.keys[subject]}"),),
                timeout=30,
            )
        return [(d.job_id, d.last_worker) for d in answer.dead_letters]

    everyone = [(made["bob"], "node-b"), (made["alice"], "node-a")]
    assert listed("dave") == everyone  # newest first
    assert listed("dave", tenant="acme") == everyone[1:]
    assert listed("carol") == everyone[1:]
    assert listed("carol", tenant="beta") == []
    with pytest.raises(grpc.RpcError) as caught:
        listed("alice")
    assert refused(caught.value) == "EIGEN_PERMISSION_DENIED"

    def as_(principal: Principal) -> tuple[tuple[str, str], ...]:
        return ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"), (PRINCIPAL, encode_principal(principal)))

    with grpc.insecure_channel(auth_roles.kernel) as channel:
        kernel = kernel_pb2_grpc.KernelServiceStub(channel)
        tenant_admin = as_(Principal("acme", "carol", frozenset({"tenant-admin"}), "api_key"))
        answer = kernel.ListDeadLetters(
            jobs_pb2.ListDeadLettersRequest(tenant="beta", page_size=10), metadata=tenant_admin, timeout=10
        )
        assert {d.tenant for d in answer.dead_letters} == {"acme"}  # never another tenant's
        viewer = as_(Principal("acme", "victor", frozenset({"viewer"}), "api_key"))
        with pytest.raises(grpc.RpcError) as caught:
            kernel.ListDeadLetters(jobs_pb2.ListDeadLettersRequest(), metadata=viewer, timeout=10)
        assert refused(caught.value) == "EIGEN_PERMISSION_DENIED"
