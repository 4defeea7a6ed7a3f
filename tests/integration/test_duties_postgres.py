"""Singleton duties under the PostgreSQL advisory lock, on the real server: one node of
two runs them; when the holder stops, loses its connection or is killed (a real process,
kill -9), the other takes them over within a lease. The takeover times are printed.

Each test has a database of its own (tests/unit/store/postgres.py); without a reachable
server these tests skip, except under EIGEN_CI=1, where they fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from eigen.kernel.duties import DUTIES_LOCK_KEY, Duties
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration

LEASE_S = 1.0


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


class Node:
    """A Duties of one node with one duty that counts its runs and signals each."""

    def __init__(
        self, url: str, name: str, lease_s: float = LEASE_S, settle_s: float = 0.0, every_s: float = 0.1
    ) -> None:
        self.name = name
        self.duties = Duties(url, lease_s=lease_s, node=name)
        self.runs = 0
        self.ran = threading.Event()
        self.first_run_at: float | None = None
        self.run_at: list[float] = []  # every run's time (monotonic)
        self.duties.register("sweep", every_s, self._sweep, settle_s=settle_s)

    def _sweep(self) -> None:
        self.runs += 1
        self.run_at.append(time.monotonic())
        if self.first_run_at is None:
            self.first_run_at = time.monotonic()
        self.ran.set()


@pytest.fixture
def nodes(database_url: str) -> Iterator[Callable[[str], Node]]:
    made: list[Node] = []

    def make(name: str) -> Node:
        node = Node(database_url, name)
        made.append(node)
        return node

    yield make
    for node in made:
        node.duties.stop()


def until(condition: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll ``condition`` (there is no event for it) until it is true, or fail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    pytest.fail(f"not true within {timeout_s} s: {condition}")


def lock_holder_pids(url: str) -> list[int]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND ((classid::bigint << 32) | objid::bigint) = :key AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"key": DUTIES_LOCK_KEY},
            )
            return [int(row[0]) for row in rows]
    finally:
        engine.dispose()


def test_one_node_of_two_runs_the_duties(nodes: Callable[[str], Node]) -> None:
    first = nodes("n1")
    first.duties.start()
    assert first.ran.wait(10)
    second = nodes("n2")
    second.duties.start()
    runs = first.runs
    until(lambda: first.runs >= runs + 5)  # the holder keeps running them ...
    assert second.runs == 0 and not second.duties.holding()  # ... and the other never does
    assert first.duties.holding() and first.duties.problem() is None


def test_a_stopped_holder_hands_the_duties_over(nodes: Callable[[str], Node]) -> None:
    first, second = nodes("n1"), nodes("n2")
    first.duties.start()
    assert first.ran.wait(10)
    second.duties.start()
    stopped = time.monotonic()
    first.duties.stop()
    assert second.ran.wait(LEASE_S + 1)
    assert second.first_run_at is not None
    took = second.first_run_at - stopped
    print(f"\ntakeover after stop: {took * 1000:.0f} ms (lease {LEASE_S} s)")
    assert took <= LEASE_S
    assert not first.duties.holding() and second.duties.holding()


def test_a_holder_whose_connection_drops_loses_the_lock_and_one_node_takes_it(
    database_url: str, nodes: Callable[[str], Node]
) -> None:
    """The server ends the holder's lock session (as when it restarts, or the network
    drops): the holder notices at its next check, and within a lease exactly one node
    (either: whoever tries first) holds the lock again, on a new session."""
    first, second = nodes("n1"), nodes("n2")
    first.duties.start()
    assert first.ran.wait(10)
    second.duties.start()
    (pid,) = lock_holder_pids(database_url)
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            dropped = time.monotonic()
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        engine.dispose()
    holders = until(lambda: [p for p in lock_holder_pids(database_url) if p != pid], timeout_s=LEASE_S + 1)
    print(f"\nlock held again {(time.monotonic() - dropped) * 1000:.0f} ms after the holder's session ended")
    assert len(holders) == 1
    until(lambda: first.duties.holding() != second.duties.holding())
    holder, other = (first, second) if first.duties.holding() else (second, first)
    runs, other_runs = holder.runs, other.runs
    until(lambda: holder.runs >= runs + 5)
    assert other.runs == other_runs  # only the holder runs them


def terminate(url: str, pid: int) -> float:
    """End the session ``pid`` on the server (as a restart does); when (monotonic)."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            ended = time.monotonic()
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
            return ended
    finally:
        engine.dispose()


def test_a_settling_duty_waits_after_its_node_lost_the_database_not_after_a_takeover(
    database_url: str,
) -> None:
    """The lease sweep's ``settle_s``: a node that takes the duties over from a stopped
    holder (the database answering all along) runs the settling duty at once; a node that
    lost its lock's connection (as in a PostgreSQL restart) runs it ``settle_s`` after it
    has the database (and the lock) again, while its other duties run at once."""
    settle_s = 1.0
    # the settling duty runs when a node takes the lock, then not for a minute: its first
    # run after the session ended is the one the settling decides
    first = Node(database_url, "n1", settle_s=settle_s, every_s=60)
    second = Node(database_url, "n2", settle_s=settle_s, every_s=60)
    gauges: list[float] = []  # the second node's duty without settle_s
    second.duties.register("gauges", 0.1, lambda: gauges.append(time.monotonic()))
    try:
        first.duties.start()
        assert first.ran.wait(10)
        second.duties.start()
        until(lambda: len(lock_holder_pids(database_url)) == 1)
        stopped = time.monotonic()
        first.duties.stop()
        assert second.ran.wait(LEASE_S + 1)  # no outage: at once, as any duty
        assert second.first_run_at is not None and second.first_run_at - stopped <= LEASE_S

        (pid,) = lock_holder_pids(database_url)
        ended = terminate(database_url, pid)
        until(lambda: [p for p in lock_holder_pids(database_url) if p != pid], timeout_s=LEASE_S + 1)
        back = until(lambda: [at for at in gauges if at > ended])[0]  # at the latest, with the lock again
        after = until(lambda: [at for at in second.run_at if at > ended], timeout_s=settle_s + 5)[0]
        print(f"\nsettling duty ran {after - back:.2f} s after the lock was held again (settle {settle_s} s)")
        assert after - back >= settle_s - 0.1
        assert second.duties.holding() and second.duties.problem() is None
    finally:
        first.duties.stop()
        second.duties.stop()


_HOLDER = textwrap.dedent(
    """
    import sys, threading
    from eigen.kernel.duties import Duties

    duties = Duties(sys.argv[1], lease_s=float(sys.argv[2]), node="child")
    duties.register("sweep", 0.1, lambda: print("ran", flush=True))
    duties.start()
    threading.Event().wait()
    """
)


def test_kill_9_of_the_holder_moves_the_duties_within_a_lease(database_url: str) -> None:
    """A real process holds the duties; kill -9 it: this node takes them over within one
    lease (the server ends the dead process's session, releasing its lock)."""
    lease_s = 2.0
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, database_url, str(lease_s)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    survivor = Node(database_url, "survivor", lease_s=lease_s)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ran"  # the child holds the duties
        survivor.duties.start()
        # the survivor tried and found the lock taken (its first try is at once)
        until(lambda: len(lock_holder_pids(database_url)) == 1)
        assert not survivor.ran.wait(lease_s / 2 + 0.2) and not survivor.duties.holding()
        killed = time.monotonic()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert survivor.ran.wait(lease_s + 1)
        assert survivor.first_run_at is not None
        took = survivor.first_run_at - killed
        print(f"\ntakeover after kill -9 of the holder: {took * 1000:.0f} ms (lease {lease_s} s)")
        assert took <= lease_s
        assert survivor.duties.holding()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        survivor.duties.stop()


def test_a_failing_duty_shows_as_a_problem_and_the_others_run(database_url: str) -> None:
    duties = Duties(database_url, lease_s=LEASE_S)
    ran = threading.Event()

    def broken() -> None:
        raise RuntimeError("retention is broken")

    duties.register("retention", 0.1, broken)
    duties.register("gauges", 0.1, ran.set)
    duties.start()
    try:
        assert ran.wait(10)
        until(lambda: duties.problem())
        assert duties.problem() == "duty retention failed: retention is broken"
    finally:
        duties.stop()


def test_an_unreachable_database_is_a_problem_not_a_holder() -> None:
    duties = Duties("postgresql://postgres@127.0.0.1:1/nothing", lease_s=LEASE_S)
    duties.register("sweep", 0.1, lambda: pytest.fail("ran without the lock"))
    duties.start()
    try:
        problem = until(lambda: duties.problem())
        assert "cannot reach" in problem and "127.0.0.1:1" in problem
        assert not duties.holding()
    finally:
        duties.stop()
