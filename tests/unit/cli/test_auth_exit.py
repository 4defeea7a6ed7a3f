"""eigen-cli exits with 5 when the server refuses the credential (UNAUTHENTICATED) or the
call (PERMISSION_DENIED), saying which and what to do; --api-key, --token and their
variables reach the server. The server is a real gRPC server on a free loopback port
with a test servicer that decides by the ``authorization`` metadata, and answers with the
Eigen error details as the real edge does (or a bare status, as a proxy would)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from typer.testing import CliRunner

from eigen.cli.main import app
from eigen.cli.session import AUTH_EXIT_CODE, ClientAuth, exit_code_for
from eigen.errors import EigenError, PermissionDenied, Unauthenticated
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.proto.status import to_status

ADMIN, VIEWER, BARE = "sk-admin", "sk-viewer", "sk-bare"


class Doorman(jobs_pb2_grpc.BackendServiceServicer):
    """ListBackends for an admin key; PERMISSION_DENIED for a viewer's; UNAUTHENTICATED
    otherwise (a bare status, without Eigen details, for the key BARE)."""

    def ListBackends(self, request: object, context: grpc.ServicerContext) -> jobs_pb2.ListBackendsResponse:
        presented = dict(context.invocation_metadata()).get("authorization", "")
        if presented == f"Bearer {ADMIN}":
            return jobs_pb2.ListBackendsResponse()
        if presented == f"Bearer {BARE}":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "denied by the proxy")
        error: EigenError = (
            PermissionDenied("role viewer may not backends.read", metadata={"permission": "backends.read"})
            if presented == f"Bearer {VIEWER}"
            else Unauthenticated("no credential", metadata={"reason": "missing"})
        )
        context.abort_with_status(to_status(error))
        raise AssertionError("abort raises")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    jobs_pb2_grpc.add_BackendServiceServicer_to_server(Doorman(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("EIGEN_API_KEY", "EIGEN_TOKEN", "EIGEN_ENDPOINT", "EIGEN_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_exit_codes_of_refusals() -> None:
    assert exit_code_for(Unauthenticated("x")) == AUTH_EXIT_CODE == 5
    assert exit_code_for(PermissionDenied("x")) == 5


def test_not_authenticated_exits_5_and_says_what_to_pass(runner: CliRunner, endpoint: str) -> None:
    result = runner.invoke(app, ["backends", "--endpoint", endpoint])
    assert result.exit_code == 5, result.output
    assert "EIGEN_UNAUTHENTICATED" in result.output
    assert "not authenticated" in result.output and "--api-key" in result.output
    assert "EIGEN_API_KEY" in result.output and "Traceback" not in result.output


def test_not_allowed_exits_5_and_says_so(runner: CliRunner, endpoint: str) -> None:
    result = runner.invoke(app, ["--api-key", VIEWER, "backends", "--endpoint", endpoint])
    assert result.exit_code == 5, result.output
    assert "EIGEN_PERMISSION_DENIED" in result.output and "not allowed" in result.output
    assert VIEWER not in result.output  # the key is never printed


def test_a_bare_refusal_exits_5_too(runner: CliRunner, endpoint: str) -> None:
    result = runner.invoke(app, ["--token", BARE, "backends", "--endpoint", endpoint])
    assert result.exit_code == 5, result.output
    assert "not allowed" in result.output


def test_the_credential_reaches_the_server(runner: CliRunner, endpoint: str) -> None:
    assert runner.invoke(app, ["--api-key", ADMIN, "backends", "--endpoint", endpoint]).exit_code == 0
    assert runner.invoke(app, ["--token", ADMIN, "backends", "--endpoint", endpoint]).exit_code == 0
    from_env = runner.invoke(app, ["backends", "--endpoint", endpoint], env={"EIGEN_API_KEY": ADMIN})
    assert from_env.exit_code == 0, from_env.output
    token_env = runner.invoke(app, ["backends", "--endpoint", endpoint], env={"EIGEN_TOKEN": ADMIN})
    assert token_env.exit_code == 0, token_env.output


def test_a_key_and_a_token_at_once_is_a_user_error(runner: CliRunner, endpoint: str) -> None:
    result = runner.invoke(app, ["--api-key", ADMIN, "--token", VIEWER, "backends", "--endpoint", endpoint])
    assert result.exit_code == 2 and "not both" in result.output


def test_client_auth_repr_hides_secrets() -> None:
    shown = repr(ClientAuth(api_key="sk-secret", token="tok-secret"))
    assert "secret" not in shown
