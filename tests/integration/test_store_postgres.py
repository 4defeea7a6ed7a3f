"""The job store and its migrations on the real PostgreSQL server (127.0.0.1:5432).

Each test runs in a database of its own, created and dropped by the fixture. Without a
reachable server these tests skip, except under EIGEN_CI=1, where they fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from eigen.kernel.store import migrate
from eigen.kernel.store.engine import PoolOptions
from eigen.kernel.store.sql import SqlJobStore
from eigen.server.main import app
from tests.unit.store.contract import StoreContract, a_result, new_job
from tests.unit.store.migration_contract import MigrationContract, engine_for, revision
from tests.unit.store.postgres import admin_url, fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[SqlJobStore]:
    made = SqlJobStore(database_url)
    yield made
    made.close()


class TestPostgresContract(StoreContract):
    """The same contract as memory and SQLite (tests/unit/store/test_contract.py)."""


class TestPostgresMigrations(MigrationContract):
    """The same migration checks as SQLite (tests/unit/store/test_migrations.py)."""


def test_the_store_uses_postgresql_types(store: SqlJobStore) -> None:
    columns = {c["name"]: c["type"] for c in sa.inspect(store.engine).get_columns("jobs")}
    assert store.engine.dialect.name == "postgresql"
    assert isinstance(columns["labels"], sa.JSON) and not isinstance(
        columns["labels"], sa.dialects.postgresql.JSONB
    )
    assert isinstance(columns["created_at"], sa.Float)
    with store.engine.connect() as connection:
        kind = connection.execute(
            sa.text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'jobs' AND column_name = 'created_at'"
            )
        ).scalar()
    assert kind == "double precision"


def test_concurrent_saves_of_one_result_upsert(store: SqlJobStore) -> None:
    new_job(store, "a1", 10.0)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def save(index: int) -> None:
        start.wait()
        try:
            store.save_result("a1", a_result("a1", {"0": index + 1}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    saved = store.result("a1")
    assert saved is not None and 1 <= saved.experiments[0].counts["0"] <= 8


def test_pre_ping_replaces_connections_the_server_closed(database_url: str) -> None:
    store = SqlJobStore(database_url, pool=PoolOptions(size=1, max_overflow=0))
    try:
        new_job(store, "a1", 10.0)
        with store.engine.connect() as connection:
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        killer = sa.create_engine(admin_url(), poolclass=NullPool)
        with killer.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        killer.dispose()
        found = store.get("a1")
        assert found is not None and found.id == "a1"
        with store.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        store.close()


def test_repr_hides_the_password(database_url: str) -> None:
    with_password = sa.make_url(database_url).set(password="hunter2").render_as_string(hide_password=False)
    store = SqlJobStore(with_password)  # trust auth: the password is not checked
    try:
        assert "hunter2" not in repr(store) and "***" in repr(store)
    finally:
        store.close()


def test_migrate_command_on_postgresql(database_url: str) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["migrate", "--database-url", database_url])
    assert done.exit_code == 0, done.output
    assert f"to {migrate.head_revision()}" in done.output
    with engine_for(database_url) as engine:
        assert revision(engine) == migrate.head_revision()


def test_each_test_database_is_dropped_afterwards() -> None:
    with fresh_database() as url:
        name = sa.make_url(url).database
        SqlJobStore(url).close()
    admin = sa.create_engine(admin_url(), poolclass=NullPool)
    try:
        with admin.connect() as connection:
            left = connection.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
    finally:
        admin.dispose()
    assert name is not None and name.startswith("eigen_test_") and left == 0
