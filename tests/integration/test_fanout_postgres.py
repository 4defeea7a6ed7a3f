"""Job events between kernel nodes over PostgreSQL LISTEN/NOTIFY
(:mod:`eigen.kernel.fanout.postgres`), on the real PostgreSQL server (127.0.0.1:5432), in a
database of each test's own: delivery and own messages (the contract the Redis fan-out
meets too), a second real process, an event too large for a NOTIFY read from a real store,
a listening connection killed by the server, and a server nobody listens on."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from eigen.errors import InvalidArgument
from eigen.kernel.events import EventBus
from eigen.kernel.fanout.postgres import PAYLOAD_LIMIT, PostgresFanout, conninfo
from eigen.kernel.lifecycle import Lifecycle
from eigen.kernel.store.sql import SqlJobStore
from eigen.models.job import JobEvent
from tests.integration.test_fanout_redis import (
    Node,
    check_another_process,
    check_delivery_and_own_messages,
    event,
    nodes,
    until,
    wake_latency,
)
from tests.integration.test_four_processes import free_port
from tests.unit.store.contract import new_job
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_an_event_reaches_the_other_node_and_its_own_node_ignores_it(database_url: str) -> None:
    check_delivery_and_own_messages(lambda node_id: PostgresFanout(database_url, node_id), "postgres")


def test_an_event_reaches_another_process(database_url: str) -> None:
    with nodes(lambda node_id: PostgresFanout(database_url, node_id), count=1) as (publisher,):
        check_another_process(publisher, "postgres", database_url)


def test_an_event_too_large_for_a_notify_is_read_from_the_store(database_url: str) -> None:
    store = SqlJobStore(database_url)
    reads: list[tuple[str, int]] = []

    def read_events(job_id: str, after_seq: int) -> list[JobEvent]:
        reads.append((job_id, after_seq))
        return store.events(job_id, after_seq)

    first = Node(PostgresFanout(database_url, "node-1"))
    second = Node(PostgresFanout(database_url, "node-2", read_events=read_events))
    try:
        job = new_job(store, f"big-{uuid.uuid4().hex[:8]}", time.time())
        lifecycle = Lifecycle(store, first.bus)  # stores each event, then publishes it
        big = {"samples": "x" * (2 * PAYLOAD_LIMIT)}
        woke: list[bool] = []
        watcher = threading.Thread(target=lambda: woke.append(second.bus.wait(job.id, 1, 10.0)))
        watcher.start()
        assert lifecycle.progress(job.id, big, "a large iteration")
        assert lifecycle.progress(job.id, {"small": 1}, "a small one")
        watcher.join(10.0)
        assert woke == [True]
        assert until(lambda: [e.seq for e in second.bus.since(job.id, 1) or []] == [2, 3])
        found = second.bus.since(job.id, 1) or []
        assert found[0].data == big and found[1].data == {"small": 1}
        assert reads == [(job.id, 1)]  # only the large one came from the store
        assert second.losses == 0
    finally:
        first.close()
        second.close()
        store.close()


def test_a_killed_listening_connection_is_a_problem_then_listens_again(database_url: str) -> None:
    with nodes(lambda node_id: PostgresFanout(database_url, node_id)) as (first, second):
        second.bus.publish(event("held", 1))
        assert until(lambda: first.bus.knows("held"))
        with psycopg.connect(conninfo(database_url), autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()"
            ).fetchall()
        assert len(killed) == 2  # both nodes' listening connections
        # The pool opens a new connection (its backoff), the node LISTENs again, and its
        # bus forgets what it held (messages sent meanwhile may never have come).
        assert until(lambda: first.losses >= 1 and second.losses >= 1, 30.0)
        assert first.fanout.subscribed(10.0) and second.fanout.subscribed(10.0)
        assert not first.bus.knows("held")
        print(f"\npostgres: after the reconnection: {wake_latency(second, first, 'after') * 1000:.2f} ms")
        assert first.fanout.problem() is None


def test_nothing_listening_is_a_problem_and_publishing_does_not_wait() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres"
    fanout = PostgresFanout(url, "lonely", timeout_s=1.0)
    bus = EventBus(fanout)
    bus.start()
    try:
        assert until(lambda: "no connection" in (fanout.problem() or ""), 15.0)
        assert "not receiving other nodes' job events from PostgreSQL at" in (fanout.problem() or "")
        started = time.perf_counter()
        for seq in range(1, 1001):
            bus.publish(event("lonely-job", seq))
        assert time.perf_counter() - started < 0.5  # the workers' side never waits on the database
        assert until(lambda: "cannot NOTIFY" in (fanout._sending or ""), 15.0)
    finally:
        started = time.perf_counter()
        bus.close()
        assert time.perf_counter() - started < 8.0


def test_only_postgresql_and_a_plain_channel_name() -> None:
    with pytest.raises(InvalidArgument, match="PostgreSQL"):
        PostgresFanout("sqlite:///x.db", "n")
    with pytest.raises(InvalidArgument, match="channel"):
        PostgresFanout("postgresql://postgres@127.0.0.1/postgres", "n", channel="bad; DROP")
