"""Migrations on a dialect. Subclasses supply ``database_url``: the URL of an empty database
(SQLite in tests/unit/store/test_migrations.py, PostgreSQL in the integration tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from eigen.kernel.store import migrate
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.schema import metadata
from eigen.kernel.store.sql import SqlJobStore
from eigen.models.result import result_to_dict
from eigen.models.state import JobState
from tests.unit.store.contract import a_result, job_request


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def schema_diffs(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return migrate.current_revision(connection)


class MigrationContract:
    def test_migrated_schema_equals_the_models(self, database_url: str) -> None:
        with engine_for(database_url) as engine:
            done = migrate.upgrade(engine)
            assert (done.before, done.after) == (None, migrate.head_revision())
            assert schema_diffs(engine) == []

    def test_the_comparison_sees_a_schema_behind_the_models(self, database_url: str) -> None:
        with engine_for(database_url) as engine:
            migrate.upgrade(engine, migrate.BASELINE)
            found = repr(schema_diffs(engine))
            assert "saved_at" in found and "result_expired_at" in found
            assert "ix_job_results_saved_at" in found

    def test_downgrade_to_base_and_up_again(self, database_url: str) -> None:
        with engine_for(database_url) as engine:
            migrate.upgrade(engine)
            done = migrate.downgrade(engine, "base")
            assert done.after is None
            assert tables(engine) <= {"alembic_version"}
            migrate.upgrade(engine)
            assert revision(engine) == migrate.head_revision() and schema_diffs(engine) == []

    def test_processes_starting_together_migrate_once(self, database_url: str) -> None:
        errors: list[BaseException] = []
        done: list[migrate.Migration] = []
        start = threading.Barrier(6)

        def open_and_migrate() -> None:
            engine = make_engine(database_url)
            try:
                start.wait()
                done.append(migrate.upgrade(engine))
            except BaseException as exc:
                errors.append(exc)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=open_and_migrate) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        head = migrate.head_revision()
        assert sorted((m.before or "", m.after) for m in done) == [("", head)] + [(head, head)] * 5
        with engine_for(database_url) as engine:
            assert revision(engine) == migrate.head_revision() and schema_diffs(engine) == []

    def test_a_failed_migration_changes_nothing(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        real_upgrade = command.upgrade

        def upgrade_then_fail(config: Any, revision: str) -> None:
            real_upgrade(config, revision)
            raise RuntimeError("power cut")

        monkeypatch.setattr(command, "upgrade", upgrade_then_fail)
        with engine_for(database_url) as engine:
            with pytest.raises(RuntimeError, match="power cut"):
                migrate.upgrade(engine)
            assert tables(engine) == set() and revision(engine) is None

    def test_opening_a_store_migrates_a_fresh_database(self, database_url: str) -> None:
        store = SqlJobStore(database_url)
        try:
            assert revision(store.engine) == migrate.head_revision()
            assert {"jobs", "job_events", "job_results", "job_checkpoints"} <= tables(store.engine)
        finally:
            store.close()
        reopened = SqlJobStore(database_url, migrate=False)
        reopened.close()

    def test_without_auto_migrate_an_old_schema_is_refused(self, database_url: str) -> None:
        with pytest.raises(migrate.SchemaVersionError, match="eigen-server migrate"):
            SqlJobStore(database_url, migrate=False)
        with engine_for(database_url) as engine:
            assert tables(engine) <= {"alembic_version"}
            migrate.upgrade(engine, migrate.BASELINE)
        with pytest.raises(migrate.SchemaVersionError, match=f"at revision {migrate.BASELINE}"):
            SqlJobStore(database_url, migrate=False)

    def test_a_database_from_before_migrations_is_adopted(self, database_url: str) -> None:
        with engine_for(database_url) as engine:
            migrate.upgrade(engine, migrate.BASELINE)
            legacy = sa.MetaData()
            with engine.begin() as connection:
                connection.execute(sa.text("DROP TABLE alembic_version"))
                legacy.reflect(connection)
                connection.execute(legacy.tables["jobs"].insert().values(**legacy_job_row("old", 1000.5)))
                connection.execute(
                    legacy.tables["job_results"].insert().values(job_id="old", result=result_dict("old"))
                )
        store = SqlJobStore(database_url)
        try:
            assert revision(store.engine) == migrate.head_revision()
            job = store.get("old")
            assert job is not None and job.state is JobState.DONE
            assert store.result("old") == a_result("old")
            # saved_at came from the job's finished_at (1000.5)
            assert store.expire_results(1000.5) == 0
            assert store.expire_results(1000.6) == 1
            assert store.result_expired_at("old") is not None
        finally:
            store.close()

    def test_a_revision_from_a_newer_eigen_is_refused(self, database_url: str) -> None:
        with engine_for(database_url) as engine:
            migrate.upgrade(engine)
            with engine.begin() as connection:
                connection.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d'"))
        with pytest.raises(migrate.SchemaVersionError, match="newer version"):
            SqlJobStore(database_url)


def result_dict(job_id: str) -> dict[str, Any]:
    return result_to_dict(a_result(job_id))


def legacy_job_row(job_id: str, finished_at: float) -> dict[str, Any]:
    request = job_request()
    return {
        "id": job_id,
        "name": request.name,
        "state": JobState.DONE.value,
        "owner": "anonymous",
        "target": request.target,
        "priority": request.priority,
        "created_at": finished_at - 10,
        "updated_at": finished_at,
        "started_at": finished_at - 5,
        "finished_at": finished_at,
        "traceparent": "",
        "attempt": 0,
        "last_seq": 1,
        "labels": {},
        "request": request.model_dump(mode="json"),
        "timings": {},
        "progress": {},
    }
