"""TLS and mutual TLS on the public servers, with certificates made in the test.

One real stack (SQLite in tmp) served by several real gRPC and HTTPS servers on free
loopback ports: TLS, mutual TLS, an expired certificate, a plain port, and one whose
files are replaced while it runs. Clients are the SDK's, httpx, and eigen-cli; every
failure is a clean error on both sides (no traceback in the server's logs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import APIRouter, Request, WebSocket
from typer.testing import CliRunner

from eigen.cli.main import app as cli_app
from eigen.client import AsyncClient, ChannelOptions, Client, TlsOptions, Unavailable
from eigen.config.settings import Settings
from eigen.security import tls
from eigen.server.build import Stack, build
from eigen.server.grpc_server import GrpcServer, start_grpc
from eigen.server.http import HttpServer, start_http
from tests.certificates import Authority, Issued

pytestmark = pytest.mark.integration

T = TypeVar("T")
#: Each test's clients open their own connections (no subchannel shared across tests).
OWN_CONNECTION = ChannelOptions(timeout=10, retry=None, extra=(("grpc.use_local_subchannel_pool", 1),))


@dataclass
class Pki:
    folder: Path
    ca: Authority
    other: Authority
    ca_file: Path
    other_ca_file: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path

    def server_files(self, name: str, issued: Issued, *, mutual: bool = False) -> tls.CertificateFiles:
        cert, key = issued.write(self.folder / name)
        return tls.CertificateFiles(cert, key, self.ca_file if mutual else None)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, other = Authority("Eigen Test CA"), Authority("Another CA")
    client_cert, client_key = ca.issue("alice", dns=("alice.example",), client=True).write(folder / "alice")
    stranger_cert, stranger_key = other.issue("mallory", client=True).write(folder / "mallory")
    return Pki(
        folder,
        ca,
        other,
        ca.write(folder / "ca.pem"),
        other.write(folder / "other-ca.pem"),
        client_cert,
        client_key,
        stranger_cert,
        stranger_key,
    )


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), host="127.0.0.1", port=0, http_port=0)


@pytest.fixture(scope="module")
def stack(settings: Settings) -> Iterator[Stack]:
    built = build(settings)
    built.start()
    yield built
    built.close()


def names_router() -> APIRouter:
    """Routes that echo the certificate names of the scope (what the REST edge reads)."""
    router = APIRouter()

    @router.get("/test/names")
    def names(request: Request) -> dict[str, Any]:
        return {"names": request.scope.get(tls.CERTIFICATE_NAMES_SCOPE_KEY)}

    @router.websocket("/test/names/ws")
    async def names_ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"names": websocket.scope.get(tls.CERTIFICATE_NAMES_SCOPE_KEY)})
        await websocket.close()

    return router


@dataclass
class Served:
    grpc: GrpcServer
    port: int
    http: HttpServer

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@contextmanager
def serving(stack: Stack, settings: Settings, files: tls.CertificateFiles | None) -> Iterator[Served]:
    server, port = start_grpc(stack, settings, files)
    http = start_http(stack, settings, extra_routers=[names_router()], certificates=files)
    try:
        yield Served(server, port, http)
    finally:
        http.stop()
        server.stop(0).wait()


@pytest.fixture(scope="module")
def tls_server(stack: Stack, settings: Settings, pki: Pki) -> Iterator[Served]:
    with serving(stack, settings, pki.server_files("server", pki.ca.server())) as served:
        yield served


@pytest.fixture(scope="module")
def mtls_server(stack: Stack, settings: Settings, pki: Pki) -> Iterator[Served]:
    with serving(stack, settings, pki.server_files("mtls", pki.ca.server(), mutual=True)) as served:
        yield served


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of the process (asyncio, uvicorn, eigen), to show no traceback."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


def assert_no_traceback(log: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    printed = capfd.readouterr()
    assert "Traceback" not in printed.out + printed.err
    assert not [r for r in log.records if r.exc_info and r.levelno >= logging.WARNING], log.text
    assert "Traceback" not in log.text


def https(pki: Pki, *, cert: bool = False, stranger: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca_file)
    if cert:
        context.load_cert_chain(pki.client_cert, pki.client_key)
    if stranger:
        context.load_cert_chain(pki.stranger_cert, pki.stranger_key)
    return context


def client(endpoint: str, **kwargs: Any) -> Client:
    return Client(endpoint, options=OWN_CONNECTION, **kwargs)


def refused(call: Callable[[], T]) -> str:
    with pytest.raises(Unavailable) as caught:
        call()
    return str(caught.value)


def poll(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether ``condition`` holds within ``timeout`` seconds (tried every 50 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- TLS ----------------------------------------------------------------------------------------
def test_tls_grpc_and_https_answer(tls_server: Served, pki: Pki) -> None:
    with client(tls_server.endpoint, tls=TlsOptions(ca_file=pki.ca_file)) as secure:
        assert secure.tls and secure.backends()
    assert tls_server.http.url.startswith("https://")
    live = httpx.get(f"{tls_server.http.url}/health/live", verify=https(pki), timeout=10)
    assert live.status_code == 200
    # no client certificate without mTLS: the scope claims no names
    names = httpx.get(f"{tls_server.http.url}/test/names", verify=https(pki), timeout=10)
    assert names.json() == {"names": None}


def test_async_client_over_tls(tls_server: Served, pki: Pki) -> None:
    async def main() -> int:
        async with AsyncClient(
            tls_server.endpoint, tls=TlsOptions(ca_file=pki.ca_file), options=OWN_CONNECTION
        ) as secure:
            return len(await secure.backends())

    assert asyncio.run(main()) > 0


def test_wrong_ca_is_refused_by_the_client(
    tls_server: Served, pki: Pki, server_log: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with client(tls_server.endpoint, tls=TlsOptions(ca_file=pki.other_ca_file)) as wrong:
        message = refused(wrong.backends)
    assert "TLS handshake failed" in message and "not signed by a trusted CA" in message
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_server.http.url}/health/live", verify=str(pki.other_ca_file), timeout=10)
    assert_no_traceback(server_log, capfd)


def test_wrong_ca_through_the_cli(tls_server: Served, pki: Pki) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli_app, ["--ca-file", str(pki.other_ca_file), "backends", "--endpoint", tls_server.endpoint]
    )
    assert result.exit_code == 3, result.output
    assert "EIGEN_UNAVAILABLE" in result.output and "TLS handshake failed" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    trusted = runner.invoke(
        cli_app, ["--ca-file", str(pki.ca_file), "backends", "--json", "--endpoint", tls_server.endpoint]
    )
    assert trusted.exit_code == 0, trusted.output
    assert json.loads(trusted.stdout)


def test_expired_server_certificate(
    stack: Stack,
    settings: Settings,
    pki: Pki,
    server_log: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    files = pki.server_files("expired", pki.ca.server(expired=True))
    with serving(stack, settings, files) as expired:
        with client(expired.endpoint, tls=TlsOptions(ca_file=pki.ca_file)) as secure:
            message = refused(secure.backends)
        assert "TLS handshake failed" in message and "expired" in message
        with pytest.raises(httpx.ConnectError, match="expired"):
            httpx.get(f"{expired.http.url}/health/live", verify=https(pki), timeout=10)
    assert_no_traceback(server_log, capfd)


def test_plain_client_against_a_tls_port_and_tls_client_against_a_plain_one(
    stack: Stack,
    settings: Settings,
    tls_server: Served,
    pki: Pki,
    server_log: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with client(f"127.0.0.1:{tls_server.port}") as plain:
        assert "if it serves TLS, use https://host:port" in refused(plain.backends)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_server.http.port}/health/live", timeout=10)
    with serving(stack, settings, None) as open_port:
        with client(open_port.endpoint, tls=TlsOptions(ca_file=pki.ca_file)) as secure:
            assert "does not serve TLS" in refused(secure.backends)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{open_port.http.port}/health/live", verify=https(pki), timeout=10)
        # the plain port still answers plain clients
        with client(f"127.0.0.1:{open_port.port}") as plain:
            assert plain.backends()
    with client(tls_server.endpoint, tls=TlsOptions(ca_file=pki.ca_file)) as secure:
        assert secure.backends()  # the TLS server is none the worse
    assert_no_traceback(server_log, capfd)


# -- mutual TLS ---------------------------------------------------------------------------------
def test_mtls_requires_a_client_certificate(
    mtls_server: Served, pki: Pki, server_log: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with client(mtls_server.endpoint, tls=TlsOptions(ca_file=pki.ca_file)) as anonymous:
        assert "client certificate" in refused(anonymous.backends)
    stranger = TlsOptions(pki.ca_file, pki.stranger_cert, pki.stranger_key)
    with client(mtls_server.endpoint, tls=stranger) as mallory:
        assert "client certificate" in refused(mallory.backends)
    with client(mtls_server.endpoint, tls=TlsOptions(pki.ca_file, pki.client_cert, pki.client_key)) as alice:
        assert alice.backends()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{mtls_server.http.url}/health/live", verify=https(pki), timeout=10)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{mtls_server.http.url}/health/live", verify=https(pki, stranger=True), timeout=10)
    assert httpx.get(f"{mtls_server.http.url}/health/live", verify=https(pki, cert=True)).status_code == 200
    assert_no_traceback(server_log, capfd)


def test_mtls_through_the_cli(mtls_server: Served, pki: Pki) -> None:
    runner = CliRunner()
    base = ["--ca-file", str(pki.ca_file)]
    endpoint = ["--endpoint", mtls_server.endpoint]
    without = runner.invoke(cli_app, [*base, "backends", *endpoint])
    assert without.exit_code == 3 and "client certificate" in without.output
    cert = ["--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    assert runner.invoke(cli_app, [*base, *cert, "backends", *endpoint]).exit_code == 0
    half = runner.invoke(cli_app, [*base, "--cert", str(pki.client_cert), "backends", *endpoint])
    assert half.exit_code == 2 and "both cert_file and key_file" in half.output


def test_rest_scope_gets_the_certificate_names(mtls_server: Served, pki: Pki) -> None:
    response = httpx.get(f"{mtls_server.http.url}/test/names", verify=https(pki, cert=True), timeout=10)
    assert response.json() == {"names": ["alice", "alice.example"]}

    import websockets.sync.client

    url = mtls_server.http.url.replace("https://", "wss://") + "/test/names/ws"
    with websockets.sync.client.connect(url, ssl=https(pki, cert=True)) as socket:
        assert json.loads(socket.recv(timeout=10)) == {"names": ["alice", "alice.example"]}


# -- certificate rotation -----------------------------------------------------------------------
def test_replaced_files_are_served_to_new_connections_without_a_restart(
    stack: Stack, settings: Settings, pki: Pki, tmp_path: Path
) -> None:
    cert, key = pki.ca.server().write(tmp_path / "rotating")
    files = tls.CertificateFiles(cert, key)
    with serving(stack, settings, files) as served:
        with client(served.endpoint, tls=TlsOptions(ca_file=pki.ca_file)) as before:
            assert before.backends()
        renewed = pki.other.server()  # the new certificate is signed by the other CA
        for path, content in ((cert, renewed.cert_pem), (key, renewed.key_pem)):
            staged = path.with_suffix(".new")
            staged.write_bytes(content)
            os.replace(staged, path)  # as a deployment does: each file replaced whole

        def grpc_sees_new() -> bool:
            with client(served.endpoint, tls=TlsOptions(ca_file=pki.other_ca_file)) as after:
                try:
                    return bool(after.backends())
                except Unavailable:
                    return False

        def https_sees_new() -> bool:
            try:
                live = httpx.get(f"{served.http.url}/health/live", verify=str(pki.other_ca_file), timeout=10)
            except httpx.ConnectError:
                return False
            return live.status_code == 200

        assert poll(grpc_sees_new), "gRPC still serves the old certificate"
        assert poll(https_sees_new), "HTTPS still serves the old certificate"
        with client(served.endpoint, tls=TlsOptions(ca_file=pki.ca_file)) as old_trust:
            assert "not signed by a trusted CA" in refused(old_trust.backends)
        assert files.refresh().generation == 2


# -- the serve rule -----------------------------------------------------------------------------
def _serve_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("EIGEN_")}
    return {**env, "EIGEN_DATA_DIR": str(data_dir), "EIGEN_LOG_FORMAT": "json", **extra}


def test_serve_refuses_a_public_host_without_tls_and_auth(tmp_path: Path, pki: Pki) -> None:
    command = [sys.executable, "-m", "eigen.server", "serve", "--host", "0.0.0.0", "--port", "0"]
    bare = subprocess.run(command, env=_serve_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2, bare.stderr
    for said in ("refusing to serve 0.0.0.0", "EIGEN_TLS_CERT_FILE", "EIGEN_AUTH_REQUIRED", "--insecure"):
        assert said in bare.stderr
    cert, key = pki.ca.server().write(tmp_path / "server")
    tls_only = _serve_env(tmp_path, EIGEN_TLS_CERT_FILE=str(cert), EIGEN_TLS_KEY_FILE=str(key))
    half = subprocess.run(command, env=tls_only, capture_output=True, text=True, timeout=60)
    assert half.returncode == 2 and "without authentication (auth_required)" in half.stderr
    assert "Traceback" not in bare.stderr + half.stderr


def test_serve_insecure_warns_at_start_and_in_readiness(tmp_path: Path) -> None:
    """... and SIGHUP reloads its policy file (it does not end the server)."""
    command = [
        *(sys.executable, "-m", "eigen.server", "serve", "--host", "0.0.0.0", "--port", "0"),
        *("--http-port", "0", "--insecure"),
    ]
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies: []\n")
    env = _serve_env(tmp_path, EIGEN_POLICY_FILE=str(policy))
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=sink)
        try:
            assert process.stdout is not None
            http_url = ""
            for raw in process.stdout:  # ends when the process does: bounded by its start
                line = raw.decode()
                if "serving HTTP on" in line:
                    http_url = line.rsplit(" ", 1)[1].strip()
                    break
            assert http_url, log.read_text()
            port = http_url.rsplit(":", 1)[1]
            ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=30)
            assert ready.status_code == 200, ready.text
            security = ready.json()["checks"]["security"]
            assert security.startswith("insecure: serving 0.0.0.0 without TLS")

            reloads = log.read_text().count('"policy file reloaded"')
            process.send_signal(signal.SIGHUP)
            assert poll(lambda: log.read_text().count('"policy file reloaded"') > reloads), log.read_text()
            assert process.poll() is None
            assert httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=30).status_code == 200
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    assert process.returncode == 0, log.read_text()
    warnings = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    warned = [w for w in warnings if w.get("event") == "serving without TLS or authentication"]
    assert warned and warned[0]["level"].lower().startswith("warn"), log.read_text()
    assert "insecure" in warned[0]["security"]


def _listening(process: subprocess.Popen[bytes], log: Path) -> int:
    """The gRPC port ``serve`` prints once it listens (reading its stdout until then)."""
    assert process.stdout is not None
    for raw in process.stdout:  # ends when the process does: bounded by its start
        line = raw.decode()
        if " listening on " in line:
            return int(line.split(" listening on ", 1)[1].split()[0].rsplit(":", 1)[1])
    raise AssertionError(log.read_text())


def test_a_public_server_with_tls_and_keys_end_to_end(tmp_path: Path, pki: Pki) -> None:
    """The serve rule satisfied (TLS and auth on 0.0.0.0); a key made with `keys create`;
    eigen-cli and the SDK over TLS: no key is exit 5 (not authenticated), a viewer's key
    reads and may not cancel (exit 5, not allowed)."""
    cert, key = pki.ca.server().write(tmp_path / "server")
    env = _serve_env(
        tmp_path, EIGEN_TLS_CERT_FILE=str(cert), EIGEN_TLS_KEY_FILE=str(key), EIGEN_AUTH_REQUIRED="true"
    )
    create = [sys.executable, "-m", "eigen.server", "keys", "create", "--tenant", "research"]
    made = subprocess.run(
        [*create, "--name", "ada", "--role", "viewer"], env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    viewer_key = made.stdout.strip()
    command = [sys.executable, "-m", "eigen.server", "serve", "--host", "0.0.0.0", "--port", "0"]
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=sink)
        try:
            endpoint = f"https://127.0.0.1:{_listening(process, log)}"
            runner = CliRunner()
            ca = ["--ca-file", str(pki.ca_file)]
            anonymous = runner.invoke(cli_app, [*ca, "backends", "--endpoint", endpoint])
            assert anonymous.exit_code == 5, anonymous.output
            assert "not authenticated" in anonymous.output and "--api-key" in anonymous.output
            wrong = runner.invoke(cli_app, [*ca, "--api-key", "ek_wrong", "backends", "--endpoint", endpoint])
            assert wrong.exit_code == 5 and "EIGEN_UNAUTHENTICATED" in wrong.output
            reads = runner.invoke(cli_app, [*ca, "--api-key", viewer_key, "jobs", "--endpoint", endpoint])
            assert reads.exit_code == 0, reads.output
            cancel = [*ca, "--api-key", viewer_key, "cancel", "0" * 32, "--endpoint", endpoint]
            denied = runner.invoke(cli_app, cancel)
            assert denied.exit_code == 5, denied.output
            assert "EIGEN_PERMISSION_DENIED" in denied.output and "not allowed" in denied.output
            assert viewer_key not in anonymous.output + wrong.output + reads.output + denied.output
            with client(endpoint, api_key=viewer_key, tls=TlsOptions(ca_file=pki.ca_file)) as sdk:
                assert sdk.backends()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    text = log.read_text()
    assert process.returncode == 0, text
    assert "Traceback" not in text and viewer_key not in text
