"""``eigen-server migrate`` and ``eigen-server gc`` on SQLite files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from eigen.kernel.store import migrate, schema
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.server.main import app
from tests.unit.store.contract import a_result, new_job

pytestmark = pytest.mark.usefixtures("clean_env")
runner = CliRunner()


def test_migrate_creates_then_finds_the_schema_at_head(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "db" / "eigen.db")
    first = runner.invoke(app, ["migrate", "--database-url", url])
    assert first.exit_code == 0, first.output
    assert f"migrated from an empty database to {migrate.head_revision()}" in first.output
    second = runner.invoke(app, ["migrate", "--database-url", url])
    assert second.exit_code == 0 and "already at revision" in second.output
    SqlJobStore(url, migrate=False).close()


def test_migrate_uses_the_data_dir_of_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EIGEN_DATA_DIR", str(tmp_path / "data"))
    done = runner.invoke(app, ["migrate"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "data" / "eigen.db").is_file()


def test_migrate_reports_bad_urls_and_unreachable_databases() -> None:
    unsupported = runner.invoke(app, ["migrate", "--database-url", "mysql://u@h/db"])
    assert unsupported.exit_code == 2 and "unsupported database" in unsupported.output
    down = runner.invoke(
        app, ["migrate", "--database-url", "postgresql+psycopg://eigen:pw@127.0.0.1:1/eigen"]
    )
    assert down.exit_code == 3 and "cannot reach" in down.output
    assert "pw@" not in down.output and "eigen:***@" in down.output


def age_result(url: str, job_id: str, days: float) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            schema.results.update()
            .where(schema.results.c.job_id == job_id)
            .values(saved_at=time.time() - days * 86_400)
        )
    engine.dispose()


def test_gc_expires_results_older_than_the_retention(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "eigen.db")
    store = SqlJobStore(url)
    for job_id in ("old", "young"):
        new_job(store, job_id, 10.0)
        store.save_result(job_id, a_result(job_id))
    store.close()
    age_result(url, "old", days=10)
    config = tmp_path / "eigen.yaml"
    config.write_text(f"database_url: {url}\nresult_retention_days: 30\n")

    kept = runner.invoke(app, ["gc", "--config", str(config)])
    assert kept.exit_code == 0 and "expired the results of 0 job(s)" in kept.output
    done = runner.invoke(app, ["gc", "--config", str(config), "--retention-days", "7"])
    assert done.exit_code == 0 and "expired the results of 1 job(s)" in done.output

    store = SqlJobStore(url)
    try:
        assert store.result("old") is None and store.result_expired_at("old") is not None
        assert store.result("young") == a_result("young") and store.get("old") is not None
    finally:
        store.close()


def test_gc_with_retention_off_touches_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "eigen.db")
    done = runner.invoke(app, ["gc", "--database-url", url])
    assert done.exit_code == 0 and "retention is off" in done.output
    assert not (tmp_path / "eigen.db").exists()
