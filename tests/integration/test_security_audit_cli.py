"""``eigen-server audit list`` over real databases: rows the audit writer wrote into a
migrated SQLite file (and PostgreSQL), newest first, filtered by time and tenant, as a
table or JSON; the exit codes of a bad flag, a missing table and an unreachable server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eigen.kernel.store import migrate
from eigen.kernel.store.audit import SqlAuditStore
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.sql import sqlite_url
from eigen.models.audit import AuditEvent
from eigen.security.audit import AuditWriter
from eigen.server.audit_cli import since_time
from eigen.server.main import app
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration
runner = CliRunner()
SECRET = "ek_live_9fQw2LrTmVbSecretValue"
HOUR = 3600.0


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("EIGEN_") and name != "EIGEN_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def audited(url: str) -> list[AuditEvent]:
    """Four events written through the real writer: two tenants, over three hours."""
    now = time.time()
    engine = make_engine(url)
    migrate.upgrade(engine)
    writer = AuditWriter(SqlAuditStore(engine), flush_every_s=3600)
    events = [
        AuditEvent(now - 3 * HOUR, "authentication", "success", "api_key", "lab", "k_old", "ipv4:10.0.0.1:1"),
        AuditEvent(
            now - 2 * HOUR,
            "authentication",
            "failure",
            "jwt",
            "",
            "someone",
            "ipv4:10.0.0.2:2",
            "GetJob",
            f"EIGEN_UNAUTHENTICATED: token expired authorization: Bearer {SECRET}",
            "req-2",
        ),
        AuditEvent(
            now - 60, "refusal", "denied", "api_key", "research", "ci", "", "SubmitJob", "quota", "req-3"
        ),
        AuditEvent(now - 1, "refusal", "denied", "mtls", "lab", "worker", "", "CancelJob", "role", "req-4"),
    ]
    for event in events:
        writer.record(event)
    writer.close()  # flushes: one batch
    engine.dispose()
    return events


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path / "data" / "eigen.db")
    audited(url)
    return url


@pytest.fixture
def postgres_db() -> Iterator[str]:
    with fresh_database() as url:
        audited(url)
        yield url


def listed(url: str, *flags: str) -> list[dict[str, str]]:
    done = runner.invoke(app, ["audit", "list", "--database-url", url, "--json", *flags])
    assert done.exit_code == 0, done.output
    rows: list[dict[str, str]] = json.loads(done.output)
    return rows


@pytest.mark.parametrize("db", ["sqlite_db", "postgres_db"])
def test_audit_list_reads_newest_first_with_filters(db: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue(db)
    rows = listed(url)
    assert [r["subject"] for r in rows] == ["worker", "ci", "someone", "k_old"]
    assert set(rows[0]) == {
        "at", "kind", "outcome", "method", "tenant", "subject", "peer", "operation", "reason", "request_id"
    }  # fmt: skip
    assert rows[0]["at"].endswith("Z") and rows[0]["request_id"] == "req-4"
    assert [r["subject"] for r in listed(url, "--tenant", "lab")] == ["worker", "k_old"]
    assert [r["subject"] for r in listed(url, "--since", "90m")] == ["worker", "ci"]
    two_and_a_half_hours_ago = datetime.fromtimestamp(time.time() - 2.5 * HOUR, UTC).isoformat()
    assert [r["subject"] for r in listed(url, "--since", two_and_a_half_hours_ago)] == [
        "worker",
        "ci",
        "someone",
    ]
    assert [r["subject"] for r in listed(url, "--limit", "1")] == ["worker"]
    assert listed(url, "--tenant", "nobody") == []
    everything = runner.invoke(app, ["audit", "list", "--database-url", url])
    assert SECRET not in everything.output and SECRET not in json.dumps(rows)


def test_the_table_has_a_header_and_one_line_per_event(sqlite_db: str) -> None:
    done = runner.invoke(app, ["audit", "list", "--database-url", sqlite_db, "--since", "1h"])
    assert done.exit_code == 0, done.output
    header, *lines = done.output.splitlines()
    assert header.split() == [
        "AT",
        "KIND",
        "OUTCOME",
        "METHOD",
        "TENANT",
        "SUBJECT",
        "PEER",
        "OPERATION",
        "REASON",
    ]
    assert len(lines) == 2 and "worker" in lines[0] and "CancelJob" in lines[0] and "ci" in lines[1]
    none = runner.invoke(app, ["audit", "list", "--database-url", sqlite_db, "--tenant", "nobody"])
    assert none.exit_code == 0 and "no audit events matched" in none.output


def test_the_real_command_reads_the_data_folder(tmp_path: Path) -> None:
    audited(sqlite_url(tmp_path / "data" / "eigen.db"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EIGEN_")}
    env["EIGEN_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "eigen-server"),
            "audit",
            "list",
            "--json",
            "--tenant",
            "research",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [r["subject"] for r in json.loads(done.stdout)] == ["ci"]


def test_exit_codes(tmp_path: Path, sqlite_db: str) -> None:
    bad_since = runner.invoke(app, ["audit", "list", "--database-url", sqlite_db, "--since", "yesterday"])
    assert bad_since.exit_code == 2 and "--since must be an ISO time" in bad_since.output
    missing = runner.invoke(app, ["audit", "list", "--database-url", sqlite_url(tmp_path / "none.db")])
    assert missing.exit_code == 4 and "no job store" in missing.output
    assert not (tmp_path / "none.db").exists()  # reading never creates a database
    empty = tmp_path / "empty.db"
    make_engine(sqlite_url(empty)).connect().close()
    no_table = runner.invoke(app, ["audit", "list", "--database-url", sqlite_url(empty)])
    assert no_table.exit_code == 4 and "eigen-server migrate" in no_table.output
    down = runner.invoke(
        app, ["audit", "list", "--database-url", "postgresql+psycopg://eigen:pw@127.0.0.1:1/eigen"]
    )
    assert down.exit_code == 3 and "cannot reach" in down.output and "pw@" not in down.output


def test_since_accepts_ages_and_iso_times() -> None:
    now = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    assert since_time("30m", now) == now.timestamp() - 1800
    assert since_time("7d", now) == now.timestamp() - 7 * 86400
    assert since_time("2026-01-31T11:00:00", now) == now.timestamp() - 3600  # UTC when no zone
    assert since_time("2026-01-31T13:00:00+02:00", now) == now.timestamp() - 3600
    with pytest.raises(ValueError, match="'soon'"):
        since_time("soon", now)
