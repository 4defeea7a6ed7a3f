"""The SDK's connection: endpoints that turn TLS on, the credential as ``authorization``
metadata on every call (sync, async, streams), its environment variables, and the typed
errors of refused calls. Calls go to a real gRPC server on a free loopback port that
records what each call carried."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from eigen.client import AsyncClient, Client, PermissionDenied, TlsOptions, Unauthenticated
from eigen.client.channel import (
    API_KEY_ENV,
    ENDPOINT_ENV,
    TOKEN_ENV,
    call_error,
    connection,
    credential_metadata,
    split_endpoint,
)
from eigen.errors import InvalidArgument, NotFound
from eigen.proto.api.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc

IDS = ["a1b2c3d4" + "0" * 24, "a1b2ffff" + "0" * 24]


class Recorder(jobs_pb2_grpc.JobServiceServicer, jobs_pb2_grpc.BackendServiceServicer):
    """Answers a few calls and keeps the metadata of each."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def _record(self, context: grpc.ServicerContext) -> None:
        with self.lock:
            self.seen.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})

    def ListBackends(self, request: object, context: grpc.ServicerContext) -> jobs_pb2.ListBackendsResponse:
        self._record(context)
        return jobs_pb2.ListBackendsResponse()

    def ListJobs(self, request: jobs_pb2.ListJobsRequest, context: grpc.ServicerContext) -> object:
        self._record(context)
        prefix = request.id_prefix or "-"  # a plain listing: none (bare ids do not convert to jobs)
        found = [common_pb2.Job(id=i) for i in IDS if i.startswith(prefix)]
        return jobs_pb2.ListJobsResponse(jobs=found)

    def WatchJob(self, request: object, context: grpc.ServicerContext) -> Iterator[object]:
        self._record(context)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "no credential")
        yield from ()

    def GetJob(self, request: object, context: grpc.ServicerContext) -> object:
        self._record(context)
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "not yours")
        raise AssertionError("abort raises")


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[Recorder, str]]:
    servicer = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    jobs_pb2_grpc.add_JobServiceServicer_to_server(servicer, server)
    jobs_pb2_grpc.add_BackendServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(0)


@pytest.fixture(autouse=True)
def no_credential_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (API_KEY_ENV, TOKEN_ENV, ENDPOINT_ENV):
        monkeypatch.delenv(name, raising=False)


# -- endpoints and TLS --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("endpoint", "address", "secure"),
    [
        ("https://eigen.example:443", "eigen.example:443", True),
        ("HTTPS://eigen.example:443/", "eigen.example:443", True),
        ("127.0.0.1:50051", "127.0.0.1:50051", False),
        ("http://eigen.example:50051", "http://eigen.example:50051", False),  # keeps the CLI's hint
        ("https://eigen.example:443/v1", "https://eigen.example:443/v1", False),
    ],
)
def test_https_endpoints_turn_tls_on(endpoint: str, address: str, secure: bool) -> None:
    assert split_endpoint(endpoint) == (address, secure)
    opened = connection(endpoint, env={})
    assert opened.address == address and (opened.tls is not None) is secure


def test_tls_argument(tmp_path: Path) -> None:
    assert connection("h:1", tls=True, env={}).tls == TlsOptions()
    options = TlsOptions(ca_file=tmp_path / "ca.pem")
    assert connection("h:1", tls=options, env={}).tls is options
    assert connection("h:1", env={}).tls is None
    with pytest.raises(InvalidArgument, match="tls=False"):
        connection("https://h:1", tls=False, env={})
    assert connection(None, env={ENDPOINT_ENV: "https://from-env:7"}).address == "from-env:7"


def test_tls_options_check_their_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="both cert_file and key_file"):
        TlsOptions(cert_file=tmp_path / "c.pem")
    with pytest.raises(InvalidArgument, match=r"missing\.pem"):
        TlsOptions(ca_file=tmp_path / "missing.pem").credentials()


# -- the credential -----------------------------------------------------------------------------
def test_credential_metadata_and_its_environment() -> None:
    assert credential_metadata("k1", None, {}) == (("authorization", "Bearer k1"),)
    assert credential_metadata(None, "t.o.k", {}) == (("authorization", "Bearer t.o.k"),)
    assert credential_metadata(None, None, {}) == ()
    assert credential_metadata(None, None, {API_KEY_ENV: "env-key"}) == (("authorization", "Bearer env-key"),)
    assert credential_metadata(None, None, {TOKEN_ENV: "env-tok"}) == (("authorization", "Bearer env-tok"),)
    assert credential_metadata("given", None, {TOKEN_ENV: "env-tok"}) == (("authorization", "Bearer given"),)
    with pytest.raises(InvalidArgument, match="not both"):
        credential_metadata("k", "t", {})
    with pytest.raises(InvalidArgument, match="unset one"):
        credential_metadata(None, None, {API_KEY_ENV: "k", TOKEN_ENV: "t"})
    with pytest.raises(InvalidArgument, match="printable"):
        credential_metadata("bad\nkey", None, {})


def test_the_connection_repr_hides_the_credential() -> None:
    opened = connection("h:1", api_key="sk-secret", caller="alice", env={})
    assert "sk-secret" not in repr(opened) and "authorization" in repr(opened)


def test_every_call_carries_the_credential(recorder: tuple[Recorder, str]) -> None:
    servicer, address = recorder
    servicer.seen.clear()
    with Client(address, api_key="sk-1", caller="alice") as client:
        client.backends()
        client.list_jobs()
        with pytest.raises(Unauthenticated):
            list(client.watch(IDS[0]))
    assert len(servicer.seen) == 3
    for seen in servicer.seen:
        assert seen["authorization"] == "Bearer sk-1" and seen["x-eigen-caller"] == "alice"


def test_the_environment_credential_is_sent(
    recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    servicer, address = recorder
    servicer.seen.clear()
    monkeypatch.setenv(TOKEN_ENV, "eyJ.from.env")
    with Client(address) as client:
        client.backends()
    with Client(address, api_key="explicit") as client:  # the argument wins
        client.backends()
    assert [s["authorization"] for s in servicer.seen] == ["Bearer eyJ.from.env", "Bearer explicit"]


def test_no_credential_no_header(recorder: tuple[Recorder, str]) -> None:
    servicer, address = recorder
    servicer.seen.clear()
    with Client(address) as client:
        client.backends()
    assert "authorization" not in servicer.seen[0]


def test_async_client_carries_the_credential_and_resolves_ids(recorder: tuple[Recorder, str]) -> None:
    servicer, address = recorder
    servicer.seen.clear()

    async def main() -> None:
        async with AsyncClient(address, token="tok-2") as client:
            await client.backends()
            assert await client.resolve_job_id(IDS[0]) == IDS[0]  # a full id: no call
            assert await client.resolve_job_id("a1b2c") == IDS[0]
            with pytest.raises(InvalidArgument, match="ambiguous"):
                await client.resolve_job_id("a1b2")
            assert await client.resolve_job_id("a1b2f") == IDS[1]
            with pytest.raises(NotFound, match="no job id starts with"):
                await client.resolve_job_id("ffff")
            with pytest.raises(InvalidArgument, match="not a job id"):
                await client.resolve_job_id("no spaces")
            with pytest.raises(PermissionDenied):
                await client.get(IDS[0])

    asyncio.run(main())
    assert servicer.seen and all(s["authorization"] == "Bearer tok-2" for s in servicer.seen)
    assert len(servicer.seen) == 6  # backends, 4 prefix lookups, get: the full id made no call


def test_sync_and_async_resolve_alike(recorder: tuple[Recorder, str]) -> None:
    _, address = recorder

    async def resolved(prefix: str) -> str:
        async with AsyncClient(address) as client:
            return await client.resolve_job_id(prefix)

    with Client(address) as client:
        for prefix in ("a1b2c", "a1b2f", IDS[1]):
            assert client.resolve_job_id(prefix) == asyncio.run(resolved(prefix))


def test_refusals_without_eigen_details_are_typed(recorder: tuple[Recorder, str]) -> None:
    _, address = recorder
    with Client(address) as client:
        with pytest.raises(PermissionDenied, match="PERMISSION_DENIED: not yours"):
            client.get(IDS[0])
        with pytest.raises(Unauthenticated, match="UNAUTHENTICATED"):
            list(client.watch(IDS[0]))


def test_transport_hints_name_tls() -> None:
    class Failed(grpc.RpcError, grpc.Call):  # type: ignore[misc]
        def __init__(self, details: str) -> None:
            self._details = details

        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.UNAVAILABLE

        def details(self) -> str:
            return self._details

        def trailing_metadata(self) -> None:
            return None

        def initial_metadata(self) -> None:
            return None

        def is_active(self) -> bool:
            return False

        def time_remaining(self) -> None:
            return None

        def cancel(self) -> bool:
            return False

        def add_callback(self, callback: object) -> bool:
            return False

    verify = "Tls handshake failed (TSI_PROTOCOL_FAILURE): CERTIFICATE_VERIFY_FAILED"
    assert "--ca-file" in str(call_error(Failed(verify), "Eigen", tls=True))
    assert "https://" in str(call_error(Failed("Socket closed"), "Eigen", tls=False))
    assert "client certificate" in str(call_error(Failed("Socket closed"), "Eigen", tls=True))
    refused = "Connection refused"
    assert str(call_error(Failed(refused), "Eigen", tls=True)) == str(call_error(Failed(refused), "Eigen"))


def test_qiskit_connect_takes_the_same_arguments(recorder: tuple[Recorder, str]) -> None:
    from eigen.client.qiskit.job import connect

    _, address = recorder
    opened, owned = connect(address, api_key="sk-q")
    try:
        assert owned and opened.connection.metadata == (("authorization", "Bearer sk-q"),)
        with pytest.raises(TypeError, match="a Client has its own"):
            connect(opened, token="t")
        assert connect(opened) == (opened, False)
    finally:
        opened.close()
