"""The PostgreSQL dispatch (pgqueuer) on the real server at 127.0.0.1:5432: the dispatch
contract of tests/unit/kernel/test_dispatch_contract.py, with every "node" a dispatch of its
own (own connections), and what only a shared database has: the entry in the job's
transaction, a consumer whose connections die, the migration.

Each test runs in a database of its own, migrated to head (the queue is revision 0005).
Without a reachable server these tests skip, except under EIGEN_CI=1, where they fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from eigen.config.settings import Settings
from eigen.errors import InvalidArgument, Unavailable
from eigen.kernel.dispatch.port import Dispatch, Stage
from eigen.kernel.dispatch.postgres import PostgresDispatch
from eigen.kernel.store import migrate
from tests.unit.kernel.test_dispatch_contract import DispatchContract, MakeDispatch, entries, ids
from tests.unit.store.postgres import migrated_engine

pytestmark = pytest.mark.integration

LEASE_S = 1.0


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    with migrated_engine() as made:
        yield made


@pytest.fixture
def make(engine: sa.Engine) -> Iterator[MakeDispatch]:
    opened: list[PostgresDispatch] = []

    def open_one(node: str | None = None) -> Dispatch:
        settings = Settings(lease_s=LEASE_S, node_id=node or f"test-node-{len(opened)}")
        opened.append(PostgresDispatch(engine, settings))
        return opened[-1]

    yield open_one
    for dispatch in opened:
        dispatch.close()


class TestPostgresDispatchContract(DispatchContract):
    """The same contract as the memory dispatch."""


def jobs_table(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE our_jobs (id text PRIMARY KEY)")


def test_the_entry_commits_and_rolls_back_with_the_job(engine: sa.Engine, make: MakeDispatch) -> None:
    dispatch = make()
    jobs_table(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO our_jobs VALUES ('kept')")
        dispatch.enqueue(Stage.COMPILE, entries("kept"), within=connection)
        # not committed yet: another connection sees neither the job nor its entry
        assert dispatch.depth() == 0
    with pytest.raises(RuntimeError), engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO our_jobs VALUES ('gone')")
        dispatch.enqueue(Stage.COMPILE, entries("gone"), within=connection)
        raise RuntimeError("the job's transaction fails")
    with engine.connect() as connection:
        rows = [r[0] for r in connection.exec_driver_sql("SELECT id FROM our_jobs")]
    assert rows == ["kept"] and dispatch.depth() == 1
    assert ids(dispatch.claim(Stage.COMPILE, 5, 1.0, together=lambda _: True)) == ["kept"]


def test_a_consumer_whose_connections_die_leaves_its_entries_to_others(
    engine: sa.Engine, make: MakeDispatch
) -> None:
    dying, alive = make("dying-node"), make("alive-node")
    dying.enqueue(Stage.EXECUTE, entries("orphan", "other"))
    held = dying.claim(Stage.EXECUTE, 1, 1.0)
    assert ids(held) == ["orphan"]
    with engine.connect() as connection:
        killed = connection.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'eigen-queue dying-node'"
        ).scalar_one()
    assert killed == 2  # its queries' connection and its listening one
    started = time.perf_counter()
    first = alive.claim(Stage.EXECUTE, 1, 1.0)
    assert ids(first) == ["other"]
    again = alive.claim(Stage.EXECUTE, 1, 10 * LEASE_S)
    redelivered_s = time.perf_counter() - started
    print(f"re-delivered {redelivered_s:.2f} s after the consumer's connections died (lease {LEASE_S} s)")
    assert ids(again) == ["orphan"] and redelivered_s < 4 * LEASE_S
    # the dying node's dispatch is not dead: it opens new connections and goes on
    dying.enqueue(Stage.COMPILE, entries("after"))
    assert ids(dying.claim(Stage.COMPILE, 1, 5.0)) == ["after"]


def test_a_heartbeat_keeps_an_entry_from_anyone_else(make: MakeDispatch) -> None:
    holder, other = make(), make()
    holder.enqueue(Stage.EXECUTE, entries("long"))
    held = holder.claim(Stage.EXECUTE, 1, 1.0)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(LEASE_S / 4):
            holder.heartbeat(held)

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    try:
        assert other.claim(Stage.EXECUTE, 1, 4 * LEASE_S) == []
    finally:
        stop.set()
        beating.join(5)
    holder.ack(held)
    assert other.claim(Stage.EXECUTE, 1, 3 * LEASE_S) == []


def test_the_completion_log_is_pruned(make: MakeDispatch) -> None:
    dispatch = make()
    assert isinstance(dispatch, PostgresDispatch)
    dispatch.enqueue(Stage.COMPILE, entries("p1", "p2"))
    dispatch.ack(dispatch.claim(Stage.COMPILE, 2, 1.0, together=lambda _: True))
    assert dispatch.prune_log(3600) == 0
    assert dispatch.prune_log(0) >= 2  # pgqueuer logs each entry queued, picked and done
    assert dispatch.prune_log(0) == 0


def test_a_closed_dispatch_takes_no_entries(make: MakeDispatch) -> None:
    dispatch = make()
    dispatch.close()
    with pytest.raises(Unavailable):
        dispatch.enqueue(Stage.COMPILE, entries("late"))
    dispatch.close()  # twice is harmless


def test_bad_calls_are_clear_errors(make: MakeDispatch) -> None:
    dispatch = make()
    with pytest.raises(InvalidArgument, match="limit"):
        dispatch.claim(Stage.COMPILE, 0, 0.1)


def test_the_dispatch_needs_postgresql(tmp_path: object) -> None:
    engine = sa.create_engine("sqlite://")
    with pytest.raises(InvalidArgument, match="PostgreSQL"):
        PostgresDispatch(engine, Settings())


def test_the_queue_schema_comes_and_goes_with_migration_0005(engine: sa.Engine) -> None:
    def queue_tables() -> set[str]:
        return set(sa.inspect(engine).get_table_names(schema="eigen_queue"))

    assert {"pgqueuer", "pgqueuer_log"} <= queue_tables()
    migrate.downgrade(engine, "0004")
    assert "eigen_queue" not in sa.inspect(engine).get_schema_names()
    migrate.upgrade(engine)
    assert "pgqueuer" in queue_tables()


def test_a_placement_finds_the_entry_by_the_payload_index(engine: sa.Engine, make: MakeDispatch) -> None:
    dispatch = make()
    queued = [f"job-{i:04d}" for i in range(2000)]
    dispatch.enqueue(Stage.COMPILE, entries(*queued))
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE eigen_queue.pgqueuer")

    def index_scans() -> int:
        with engine.connect() as connection:
            return int(
                connection.exec_driver_sql(
                    "SELECT idx_scan FROM pg_stat_user_indexes"
                    " WHERE indexrelname = 'pgqueuer_queued_payload_idx'"
                ).scalar_one()
            )

    before = index_scans()
    standing = dispatch.standing(Stage.COMPILE, entries("job-1234")[0])
    assert standing is not None and standing.ahead == 1234
    deadline = time.monotonic() + 10  # the backend reports its statistics within a second
    while index_scans() == before:
        assert time.monotonic() < deadline, "the placement did not use the payload index"
        time.sleep(0.05)
