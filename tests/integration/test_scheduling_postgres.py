"""Scheduling on the PostgreSQL dispatch with two nodes (two dispatches, own connections) on
one database at 127.0.0.1:5432: they honour one order (fair share's virtual times are in
the database, migration 0006) and one capacity per device (pgqueuer's concurrency limit,
global across consumers), and a dead node's slot comes back.

Each test runs in a database of its own, migrated to head. Without a reachable server these
tests skip, except under EIGEN_CI=1, where they fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from eigen.config.settings import Settings
from eigen.kernel.dispatch.port import Claimed, Entry, Stage
from eigen.kernel.dispatch.postgres import PostgresDispatch
from eigen.kernel.fair_order import Shares
from eigen.kernel.store import migrate
from eigen.security.policy import PolicyFile, PolicyShares
from tests.unit.store.postgres import migrated_engine

pytestmark = pytest.mark.integration

LEASE_S = 1.0
SLOW, FAST = "qpu:slow", "sim:fast"
Make = Callable[..., PostgresDispatch]


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    with migrated_engine() as made:
        yield made


@pytest.fixture
def make(engine: sa.Engine) -> Iterator[Make]:
    opened: list[PostgresDispatch] = []

    def open_one(shares: Shares | None = None, **values: object) -> PostgresDispatch:
        settings = Settings(lease_s=LEASE_S, node_id=f"node-{len(opened)}", **values)  # type: ignore[arg-type]
        opened.append(PostgresDispatch(engine, settings, shares))
        return opened[-1]

    yield open_one
    for dispatch in opened:
        dispatch.close()


def ids(claimed: list[Claimed]) -> list[str]:
    return [item.job_id for item in claimed]


def drain(dispatch: PostgresDispatch) -> list[str]:
    got: list[str] = []
    while claimed := dispatch.claim(Stage.EXECUTE, 1, 0.2):
        got.extend(ids(claimed))
        dispatch.ack(claimed)
    return got


def test_two_nodes_share_one_fair_order(make: Make) -> None:
    """Tenant A's 200 jobs from one node, then tenant B's one from the other: B goes right
    after A's first, whichever node claims."""
    first, second = make(scheduling_policy="fair_share"), make(scheduling_policy="fair_share")
    first.enqueue(Stage.EXECUTE, [Entry(f"a-{n:03}", 50, FAST, "A") for n in range(200)])
    second.enqueue(Stage.EXECUTE, [Entry("b", 50, FAST, "B")])
    second.enqueue(Stage.EXECUTE, [Entry("a-late", 50, FAST, "A")])  # A's virtual time, from the other node
    got = drain(second)
    assert got[:2] == ["a-000", "b"] and got[-1] == "a-late" and len(got) == 202


def test_two_nodes_weigh_tenants_by_the_policy_files_fair_share(make: Make, tmp_path: Path) -> None:
    """Each node reads the policy file (research 3, lab 1); each enqueues one tenant's jobs:
    research gets about three of every four of the first 40 slots."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies: [{tenant: research, fair_share: 3}, {tenant: lab, fair_share: 1}]\n")
    first, second = (
        make(PolicyShares(PolicyFile(policy), {"research": 1.0}), scheduling_policy="fair_share")
        for _ in range(2)
    )
    first.enqueue(Stage.EXECUTE, [Entry(f"research-{n:02}", 50, FAST, "research") for n in range(40)])
    second.enqueue(Stage.EXECUTE, [Entry(f"lab-{n:02}", 50, FAST, "lab") for n in range(40)])
    front = drain(second)[:40]
    assert 29 <= sum(job.startswith("research-") for job in front) <= 31, front


def test_the_virtual_time_rolls_back_with_the_enqueue(engine: sa.Engine, make: Make) -> None:
    dispatch = make(scheduling_policy="fair_share")
    with pytest.raises(RuntimeError), engine.begin() as connection:
        dispatch.enqueue(
            Stage.EXECUTE, [Entry(f"gone-{n}", 50, FAST, "A") for n in range(50)], within=connection
        )
        raise RuntimeError("the jobs' transaction fails")
    dispatch.enqueue(Stage.EXECUTE, [Entry("a", 50, FAST, "A")])
    dispatch.enqueue(Stage.EXECUTE, [Entry("b", 50, FAST, "B")])
    claimed = [dispatch.claim(Stage.EXECUTE, 1, 1.0)[0].entry for _ in range(2)]
    # A was not charged for what never committed (that would be 50 jobs x 1 s = 500 rank units
    # apart); the two ranks differ only by the clock between the two enqueues (0.1 s a unit)
    assert abs(claimed[0].rank - claimed[1].rank) <= 5


def test_a_devices_capacity_holds_across_nodes_and_never_blocks_another_device(make: Make) -> None:
    capacity = {"device_capacity": {SLOW: 1}}
    first, second = make(**capacity), make(**capacity)
    first.enqueue(Stage.EXECUTE, [Entry(f"slow-{n}", 90, SLOW) for n in range(10)])
    first.enqueue(Stage.EXECUTE, [Entry("fast", 10, FAST)])
    running = first.claim(Stage.EXECUTE, 1, 1.0)
    assert ids(running) == ["slow-0"]
    started = time.perf_counter()
    assert ids(second.claim(Stage.EXECUTE, 4, 1.0, together=lambda _: True)) == ["fast"]
    fast_wait_s = time.perf_counter() - started
    assert second.claim(Stage.EXECUTE, 1, 0.3) == []  # the slow device's one slot is taken
    got: list[list[Claimed]] = []
    waiter = threading.Thread(target=lambda: got.append(second.claim(Stage.EXECUTE, 1, 10)), daemon=True)
    waiter.start()
    time.sleep(0.2)  # the waiter is waiting (it shows no sign)
    freed = time.perf_counter()
    first.ack(running)
    waiter.join(10)
    woken_s = time.perf_counter() - freed
    print(
        f"other device job claimed in {fast_wait_s * 1e3:.0f} ms; "
        f"freed slot taken {woken_s * 1e3:.0f} ms after the ack"
    )
    assert got and ids(got[0]) == ["slow-1"]
    assert fast_wait_s < 0.5 and woken_s < 0.5  # the ack's NOTIFY, not the claim's poll
    assert first.depth(Stage.EXECUTE) == 8


def test_a_dead_nodes_slot_comes_back_after_its_lease(make: Make) -> None:
    capacity = {"device_capacity": {SLOW: 1}}
    dying, alive = make(**capacity), make(**capacity)
    dying.enqueue(Stage.EXECUTE, [Entry(f"slow-{n}", 50, SLOW) for n in range(2)])
    assert ids(dying.claim(Stage.EXECUTE, 1, 1.0)) == ["slow-0"]
    dying.close()  # no heartbeat any more
    again = alive.claim(Stage.EXECUTE, 1, 10 * LEASE_S)
    assert ids(again) == ["slow-0"]  # picked again, in the slot it held
    assert alive.claim(Stage.EXECUTE, 1, 0.3) == []
    alive.ack(again)
    assert ids(alive.claim(Stage.EXECUTE, 1, 1.0)) == ["slow-1"]


def test_release_keeps_the_rank_and_the_place(make: Make) -> None:
    dispatch = make()
    dispatch.enqueue(Stage.EXECUTE, [Entry("x", 50, FAST), Entry("y", 50, SLOW)])
    claimed = dispatch.claim(Stage.EXECUTE, 2, 1.0, together=lambda _: True)
    assert ids(claimed) == ["x", "y"]
    dispatch.release(claimed)
    again = dispatch.claim(Stage.EXECUTE, 2, 1.0, together=lambda _: True)
    assert [c.entry for c in again] == [c.entry for c in claimed]
    assert [c.entry.target for c in again] == [FAST, SLOW]


def test_the_fair_share_table_comes_and_goes_with_migration_0006(engine: sa.Engine) -> None:
    def tables() -> set[str]:
        return set(sa.inspect(engine).get_table_names(schema="eigen_queue"))

    assert "fair_share" in tables()
    migrate.downgrade(engine, "0005")
    assert "fair_share" not in tables() and "pgqueuer" in tables()
    migrate.upgrade(engine)
    assert "fair_share" in tables()
