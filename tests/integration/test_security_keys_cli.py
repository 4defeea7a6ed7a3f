"""``eigen-server keys`` and ``eigen-server tenants`` on a real SQLite file, and what the
authenticator of a server on the same database and data folder makes of the keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from eigen.config.settings import Settings
from eigen.errors import Unauthenticated
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.keys import SqlKeyStore
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.security.authenticator import Credentials
from eigen.security.identity import Identity, authenticator_from
from eigen.server.embedded import EmbeddedServer
from eigen.server.main import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("EIGEN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data"
    monkeypatch.setenv("EIGEN_DATA_DIR", str(folder))
    return folder


def server_identity(data_dir: Path) -> tuple[Identity, SqlKeyStore]:
    """What an api node on this data folder authenticates with (no cache: every call reads)."""
    settings = Settings(data_dir=data_dir, auth_required=True, api_key_cache_s=0)
    store = SqlKeyStore(make_engine(settings.store_url), owns_engine=True)
    identity = authenticator_from(settings, store, None)
    assert identity is not None
    return identity, store


def create(*args: str) -> str:
    done = runner.invoke(app, ["keys", "create", *args])
    assert done.exit_code == 0, done.output
    key = done.stdout.strip()
    assert key.startswith("eig_") and "\n" not in key  # the key alone on stdout
    assert "not shown again" in done.stderr and key not in done.stderr
    return key


def refusal(identity: Identity, key: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        identity.authenticate(Credentials(headers={"x-api-key": key}))
    return caught.value.metadata["reason"]


def test_a_created_key_authenticates_and_is_listed_without_its_secret(data_dir: Path) -> None:
    key = create("--tenant", "research", "--name", "ci-bot", "--role", "submitter")
    viewer = create("--tenant", "lab", "--name", "dashboard", "--role", "viewer", "--expires", "30")
    identity, store = server_identity(data_dir)
    try:
        principal = identity.authenticate(Credentials(headers={"authorization": f"Bearer {key}"}))
        assert (principal.tenant, principal.subject, principal.roles) == ("research", "ci-bot", {"submitter"})
        assert identity.authenticate(Credentials(headers={"x-api-key": viewer})).roles == {"viewer"}
    finally:
        store.close()
    key_id = key.split("_")[1]
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert key_id in listed.stdout and "research" in listed.stdout and "active" in listed.stdout
    as_json = runner.invoke(app, ["keys", "list", "--json", "--tenant", "lab"])
    rows = json.loads(as_json.stdout)
    assert [r["name"] for r in rows] == ["dashboard"] and rows[0]["expires_at"] > rows[0]["created_at"]
    assert set(rows[0]) == {
        "key_id",
        "tenant",
        "name",
        "role",
        "created_at",
        "expires_at",
        "revoked_at",
        "state",
    }
    for output in (listed.output, as_json.output):
        for secret in (key.split("_", 2)[2], viewer.split("_", 2)[2]):  # the secret may hold "_"
            assert secret not in output
        assert "hmac-sha256" not in output


def test_a_revoked_key_is_refused(data_dir: Path) -> None:
    key = create("--tenant", "research", "--name", "ci-bot", "--role", "submitter")
    key_id = key.split("_")[1]
    revoked = runner.invoke(app, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0 and f"revoked API key {key_id}" in revoked.stdout
    identity, store = server_identity(data_dir)
    try:
        assert refusal(identity, key) == "revoked"
    finally:
        store.close()
    rows = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    assert rows[0]["state"] == "revoked" and rows[0]["revoked_at"] is not None
    unknown = runner.invoke(app, ["keys", "revoke", "nosuchkey000"])
    assert unknown.exit_code == 2 and "no API key 'nosuchkey000'" in unknown.stderr


def test_a_deleted_tenant_s_keys_stop_working_and_it_gets_no_new_ones(data_dir: Path) -> None:
    key = create("--tenant", "research", "--name", "ci-bot", "--role", "submitter")
    other = create("--tenant", "lab", "--name", "dashboard", "--role", "viewer")
    deleted = runner.invoke(app, ["tenants", "delete", "research"])
    assert deleted.exit_code == 0 and "tenant research deleted" in deleted.stdout
    assert "1 API key(s)" in deleted.stdout
    identity, store = server_identity(data_dir)
    try:
        assert refusal(identity, key) == "tenant deleted"
        assert identity.authenticate(Credentials(headers={"x-api-key": other})).tenant == "lab"
    finally:
        store.close()
    again = runner.invoke(app, ["keys", "create", "--tenant", "research", "--name", "n", "--role", "viewer"])
    assert (
        again.exit_code == 2 and "tenant 'research' is deleted" in again.stderr and "eig_" not in again.stdout
    )
    states = {
        r["tenant"]: r["state"] for r in json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    }
    assert states == {"research": "tenant deleted", "lab": "active"}


def test_an_expired_key_is_refused(data_dir: Path) -> None:
    key = create("--tenant", "research", "--name", "ci-bot", "--role", "submitter", "--expires", "1")
    settings = Settings(data_dir=data_dir, auth_required=True, api_key_cache_s=0)
    store = SqlKeyStore(make_engine(settings.store_url), owns_engine=True)
    try:
        later = authenticator_from(settings, store, None, now=lambda: time.time() + 86_400 + 1)
        assert later is not None
        assert refusal(later, key) == "expired"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--tenant", "has space", "--name", "n", "--role", "viewer"], "tenant 'has space'"),
        (["--tenant", "t", "--name", "n", "--role", "root"], "--role 'root': must be one of"),
        (["--tenant", "t", "--name", "", "--role", "viewer"], "--name ''"),
        (["--tenant", "t", "--name", "n", "--role", "viewer", "--expires", "0"], "--expires"),
    ],
)
def test_bad_arguments_exit_2(data_dir: Path, args: list[str], words: str) -> None:
    done = runner.invoke(app, ["keys", "create", *args])
    assert done.exit_code == 2 and words in done.stderr
    assert "eig_" not in done.stdout


def test_the_key_store_follows_database_url_and_reports_an_unreachable_one(
    data_dir: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    create("--tenant", "t", "--name", "n", "--role", "viewer", "--database-url", url)
    assert (tmp_path / "elsewhere.db").is_file()
    assert "no API keys" in runner.invoke(app, ["keys", "list"]).stdout  # the data folder's own db
    down = runner.invoke(
        app, ["keys", "list", "--database-url", "postgresql+psycopg://eigen:pw@127.0.0.1:1/e"]
    )
    assert down.exit_code == 3 and "cannot reach" in down.stderr and "pw@" not in down.stderr


def test_the_installed_command(data_dir: Path) -> None:
    """The entry point as an operator runs it: a process of its own."""
    env = {**os.environ, "EIGEN_DATA_DIR": str(data_dir)}
    command = [
        sys.executable,
        "-m",
        "eigen.server",
        "keys",
        "create",
        "--tenant",
        "t",
        "--name",
        "n",
        "--role",
        "admin",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("eig_") and done.stdout.count("\n") == 1
    assert (data_dir / "api-key.secret").stat().st_mode & 0o077 == 0


def test_a_revoke_is_refused_by_a_running_server_within_2_s(data_dir: Path) -> None:
    """A real gRPC server on the same database and data folder (so the same server
    secret): a key works, ``keys revoke`` runs beside it, and the server refuses the key
    within 2 s, then a deleted tenant's other key likewise."""
    key = create("--tenant", "research", "--name", "ci-bot", "--role", "viewer")
    other = create("--tenant", "research", "--name", "dashboard", "--role", "viewer")
    with (
        EmbeddedServer(Settings(data_dir=data_dir, auth_required=True)) as server,
        grpc.insecure_channel(server.address) as channel,
    ):
        stub = jobs_pb2_grpc.BackendServiceStub(channel)

        def status(presented: str) -> grpc.StatusCode:
            try:
                stub.ListBackends(
                    jobs_pb2.ListBackendsRequest(), metadata=(("x-api-key", presented),), timeout=10
                )
            except grpc.RpcError as exc:
                return exc.code()  # type: ignore[no-any-return]
            return grpc.StatusCode.OK

        def refused_within(presented: str, seconds: float) -> float:
            start = time.monotonic()
            while status(presented) is grpc.StatusCode.OK:
                assert time.monotonic() - start < seconds, "still accepted"
            return time.monotonic() - start

        assert status(key) is grpc.StatusCode.OK and status(other) is grpc.StatusCode.OK
        with pytest.raises(grpc.RpcError) as no_key:
            stub.ListBackends(jobs_pb2.ListBackendsRequest(), timeout=10)
        assert no_key.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert runner.invoke(app, ["keys", "revoke", key.split("_")[1]]).exit_code == 0
        refused_within(key, 2.0)
        assert status(key) is grpc.StatusCode.UNAUTHENTICATED
        assert status(other) is grpc.StatusCode.OK
        assert runner.invoke(app, ["tenants", "delete", "research"]).exit_code == 0
        refused_within(other, 2.0)
        assert status(other) is grpc.StatusCode.UNAUTHENTICATED
