"""What the SQL store does beyond the contract: engines, pools, batches, reopening."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from eigen.kernel.store import sql
from eigen.kernel.store.engine import PoolOptions, make_engine, masked, normalize_url
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.job import JobEvent
from eigen.models.state import JobState
from tests.unit.store.contract import a_result, new_job


def test_store_survives_reopening(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "j.db")
    first = SqlJobStore(url)
    new_job(first, "a1", 10.0)
    first.save_result("a1", a_result("a1"))
    first.close()
    second = SqlJobStore(url)
    try:
        assert second.get("a1") is not None
        assert second.in_states((JobState.PENDING,))[0].id == "a1"
        assert second.result("a1") == a_result("a1")
    finally:
        second.close()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///tmp/x.db", "sqlite"),
    ],
)
def test_urls_are_normalised_to_psycopg(given: str, driver: str) -> None:
    assert normalize_url(given).drivername == driver


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        normalize_url("mysql://u@h/db")


def test_passwords_are_masked() -> None:
    assert masked("postgresql+psycopg://eigen:s3cret@db:5432/eigen") == (
        "postgresql+psycopg://eigen:***@db:5432/eigen"
    )


def test_engine_applies_the_pool_and_creates_the_sqlite_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "eigen.db"
    engine = make_engine(sqlite_url(path), PoolOptions(size=3, max_overflow=1, timeout_s=7.0))
    try:
        with engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        assert path.is_file() and mode == "wal" and foreign_keys == 1
        pool = engine.pool
        assert isinstance(pool, sa.pool.QueuePool)
        assert pool.size() == 3 and pool.timeout() == 7.0
    finally:
        engine.dispose()


def test_results_expire_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "EXPIRE_BATCH", 2)
    store = SqlJobStore(sqlite_url(tmp_path / "j.db"))
    try:
        for index in range(5):
            new_job(store, f"j{index}", 10.0)
            store.save_result(f"j{index}", a_result(f"j{index}"))
        assert store.expire_results(time.time() + 1) == 5
        assert all(store.result_expired_at(f"j{index}") is not None for index in range(5))
        assert store.expire_results(time.time() + 1) == 0
    finally:
        store.close()


def test_a_result_needs_its_job(tmp_path: Path) -> None:
    store = SqlJobStore(sqlite_url(tmp_path / "j.db"))
    try:
        with pytest.raises(sa.exc.IntegrityError):
            store.save_result("missing", a_result("missing"))
    finally:
        store.close()


def test_a_result_saved_with_done_is_read_back_without_a_query(tmp_path: Path) -> None:
    store = SqlJobStore(sqlite_url(tmp_path / "j.db"))
    try:
        new_job(store, "a1", 10.0)
        done = JobEvent("a1", 2, JobState.DONE, "state", time.time())
        assert store.transition("a1", JobState.PENDING, done, {}, a_result("a1"))
        statements: list[str] = []
        sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        assert store.result("a1") == a_result("a1")
        assert statements == []
        assert store.expire_results(time.time() + 1) == 1
        assert store.result("a1") is None  # an expired result is gone from memory too
    finally:
        store.close()


def test_json_columns_round_trip_through_orjson_and_its_fallback(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path / "j.db"))
    columns = sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.JSON)
    table = sa.Table("t", sa.MetaData(), *columns)
    table.create(engine)
    values = [
        {"counts": {"00": 500, "11": 500}, "nested": [1.5, None, True]},
        {"big": 2**70 + 1},  # beyond orjson: the standard library encodes it
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "v": v} for i, v in enumerate(values)])
    with engine.connect() as conn:
        assert [row.v for row in conn.execute(table.select().order_by(table.c.id))] == values
        text = conn.execute(sa.text("SELECT v FROM t WHERE id = 0")).scalar_one()
    assert text == '{"counts":{"00":500,"11":500},"nested":[1.5,null,true]}'  # compact, in order
    engine.dispose()
