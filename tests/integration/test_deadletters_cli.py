"""``eigen-server dead-letters`` over real databases: records the store wrote (SQLite file
and PostgreSQL), newest first, by tenant, as a table or JSON; the exit codes of a missing
store, a schema behind this Eigen's and an unreachable server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eigen.kernel.store import migrate
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.server.main import app
from tests.unit.store.lease_contract import T0, stored
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("EIGEN_") and name != "EIGEN_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def buried(url: str) -> None:
    """Three dead letters of two tenants, one minute apart."""
    store = SqlJobStore(url)
    try:
        for index, (tenant, worker) in enumerate(
            [("lab", "node-a:1"), ("research", None), ("lab", "node-b:7")]
        ):
            stored(store, f"job{index}", tenant=tenant)
            store.add_dead_letter(
                f"job{index}", 3, f"lease lapsed 3 times (#{index})", worker, at=T0 + 60 * index
            )
    finally:
        store.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path / "data" / "eigen.db")
    buried(url)
    return url


@pytest.fixture
def postgres_db() -> Iterator[str]:
    with fresh_database() as url:
        buried(url)
        yield url


def listed(url: str, *flags: str) -> list[dict[str, object]]:
    done = runner.invoke(app, ["dead-letters", "--database-url", url, "--json", *flags])
    assert done.exit_code == 0, done.output
    rows: list[dict[str, object]] = json.loads(done.output)
    return rows


@pytest.mark.parametrize("db", ["sqlite_db", "postgres_db"])
def test_dead_letters_newest_first_by_tenant(db: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue(db)
    rows = listed(url)
    assert [r["job_id"] for r in rows] == ["job2", "job1", "job0"]
    assert rows[0] == {
        "at": "2023-11-14T22:15:20Z",
        "job_id": "job2",
        "tenant": "lab",
        "attempts": 3,
        "last_worker": "node-b:7",
        "reason": "lease lapsed 3 times (#2)",
    }
    assert rows[1]["last_worker"] is None
    assert [r["job_id"] for r in listed(url, "--tenant", "lab")] == ["job2", "job0"]
    assert [r["job_id"] for r in listed(url, "--limit", "1")] == ["job2"]
    assert listed(url, "--tenant", "nobody") == []


def test_the_table_has_a_header_and_one_line_per_letter(sqlite_db: str) -> None:
    done = runner.invoke(app, ["dead-letters", "--database-url", sqlite_db, "--tenant", "lab"])
    assert done.exit_code == 0, done.output
    header, *lines = done.output.splitlines()
    assert header.split() == ["AT", "JOB_ID", "TENANT", "ATTEMPTS", "LAST_WORKER", "REASON"]
    assert len(lines) == 2 and "job2" in lines[0] and "node-b:7" in lines[0] and "job0" in lines[1]
    none = runner.invoke(app, ["dead-letters", "--database-url", sqlite_db, "--tenant", "nobody"])
    assert none.exit_code == 0 and "no dead letters of tenant nobody" in none.output


def test_the_real_command_reads_the_data_folder(tmp_path: Path) -> None:
    buried(sqlite_url(tmp_path / "data" / "eigen.db"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EIGEN_")}
    env["EIGEN_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "eigen-server"), "dead-letters", "--json", "--tenant", "research"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [r["job_id"] for r in json.loads(done.stdout)] == ["job1"]


def test_exit_codes(tmp_path: Path, sqlite_db: str) -> None:
    bad_limit = runner.invoke(app, ["dead-letters", "--database-url", sqlite_db, "--limit", "0"])
    assert bad_limit.exit_code == 2 and "--limit" in bad_limit.output
    missing = runner.invoke(app, ["dead-letters", "--database-url", sqlite_url(tmp_path / "none.db")])
    assert missing.exit_code == 4 and "no job store" in missing.output
    assert not (tmp_path / "none.db").exists()  # reading never creates a database
    old = sqlite_url(tmp_path / "old.db")
    engine = make_engine(old)
    migrate.upgrade(engine, "0003")
    engine.dispose()
    behind = runner.invoke(app, ["dead-letters", "--database-url", old])
    assert behind.exit_code == 4 and "eigen-server migrate" in behind.output
    down = runner.invoke(
        app, ["dead-letters", "--database-url", "postgresql+psycopg://eigen:pw@127.0.0.1:1/eigen"]
    )
    assert down.exit_code == 3 and "cannot reach" in down.output and "pw@" not in down.output
