"""The order of the queues (src/eigen/kernel/fair_order.py): priority classes, aging and its
bound, fair share per tenant, the rank's range; and that the memory dispatch claims in it."""

from __future__ import annotations

from typing import Any

import pytest

from eigen.config.settings import Settings
from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Entry, Stage
from eigen.kernel.fair_order import RANK_MAX, RANK_MIN, FairOrder, Policy, StaticShares, policy_of, rank_of
from eigen.models.jobspec_resolve import PRIORITY_CLASSES, resolve

STEP_S = 10.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def order(policy: Policy, clock: Clock, **kwargs: object) -> FairOrder:
    return FairOrder(policy=policy, aging_step_s=STEP_S, now=clock, **kwargs)  # type: ignore[arg-type]


def drain(dispatch: MemoryDispatch, stage: Stage = Stage.EXECUTE) -> list[str]:
    got: list[str] = []
    while claimed := dispatch.claim(stage, 1, 0):
        got.append(claimed[0].job_id)
        dispatch.ack(claimed)
    return got


def test_queue_classes_set_the_priority_unless_one_is_given() -> None:
    def priority(**sections: Any) -> object:
        spec = {"target": "sim:local", "program": {"source": "OPENQASM 3.0;"}, **sections.pop("spec", {})}
        doc = {"apiVersion": "eigen.os/v1", "kind": "QuantumJob", "metadata": {"name": "t"}, "spec": spec}
        resolution = resolve({**doc, **sections})
        assert resolution.violations == []
        return resolution.fields.get("priority")

    assert PRIORITY_CLASSES == {"high": 80, "normal": 50, "low": 20}
    assert [priority(scheduling={"queue": name}) for name in ("high", "normal", "low")] == [80, 50, 20]
    assert priority(scheduling={"queue": "interactive"}) is None  # recorded only
    assert priority(scheduling={"queue": "low", "priority": 90}) == 90  # an explicit number wins
    assert priority(scheduling={"queue": "high"}, spec={"priority": 5}) == 5


def test_priority_then_first_come_and_fifo_ignores_priority() -> None:
    clock = Clock()
    for policy, wanted in (
        ("priority", ["hi", "mid-1", "mid-2", "lo"]),
        ("fifo", ["lo", "mid-1", "hi", "mid-2"]),
    ):
        dispatch = MemoryDispatch(order=order(policy, clock))  # type: ignore[arg-type]
        for job_id, priority in (("lo", 20), ("mid-1", 50), ("hi", 80), ("mid-2", 50)):
            clock.now += 0.5
            dispatch.enqueue(Stage.EXECUTE, [Entry(job_id, priority)])
        assert drain(dispatch) == wanted


def test_aging_a_higher_job_overtakes_only_within_the_bound() -> None:
    """A low job (20) is overtaken by a high one (80) arriving less than 60 steps after it."""
    clock = Clock()
    bound_s = (80 - 20) * STEP_S
    fair = order("priority", clock)
    low = fair.ranked([Entry("low", 20)])[0]
    clock.now += bound_s - 1
    inside = fair.ranked([Entry("inside", 80)])[0]
    clock.now += 2
    outside = fair.ranked([Entry("outside", 80)])[0]
    assert low.rank is not None and inside.rank is not None and outside.rank is not None
    assert inside.rank > low.rank > outside.rank


def test_a_low_job_under_a_constant_stream_of_high_ones_starts_within_the_bound() -> None:
    """One slot, jobs of 1 s; a high job arrives every second (the slot is always wanted):
    the low job waits the bound plus the backlog ahead of it, never forever."""
    clock = Clock()
    dispatch = MemoryDispatch(order=order("priority", clock))
    backlog = [Entry(f"h-{n}", 80) for n in range(5)]
    dispatch.enqueue(Stage.EXECUTE, backlog)
    dispatch.enqueue(Stage.EXECUTE, [Entry("low", 20)])
    arrived = clock.now
    bound_s = (80 - 20) * STEP_S
    started = None
    for second in range(int(bound_s) * 3):
        clock.now += 1.0
        dispatch.enqueue(Stage.EXECUTE, [Entry(f"s-{second}", 80)])
        claimed = dispatch.claim(Stage.EXECUTE, 1, 0)
        dispatch.ack(claimed)
        if claimed[0].job_id == "low":
            started = clock.now
            break
    assert started is not None
    waited = started - arrived
    print(f"low job started after {waited:.0f} s; bound {bound_s:.0f} s + backlog {len(backlog)} s")
    assert bound_s - 1 <= waited <= bound_s + len(backlog) + 1


def test_fair_share_a_tenants_backlog_delays_another_by_one_job_per_slot() -> None:
    clock = Clock()
    dispatch = MemoryDispatch(order=order("fair_share", clock, cost_s=1.0))
    dispatch.enqueue(Stage.EXECUTE, [Entry(f"a-{n}", 50, "sim:x", "A") for n in range(1000)])
    clock.now += 0.01
    dispatch.enqueue(Stage.EXECUTE, [Entry("b", 50, "sim:x", "B")])
    got = drain(dispatch)
    assert got.index("b") == 1  # right after A's first
    assert got[:1] == ["a-0"] and len(got) == 1001


def test_fair_share_with_two_slots_and_equal_priority_alternates_tenants() -> None:
    clock = Clock()
    dispatch = MemoryDispatch(order=order("fair_share", clock, cost_s=1.0))
    dispatch.enqueue(Stage.EXECUTE, [Entry(f"a-{n}", 50, "", "A") for n in range(10)])
    dispatch.enqueue(Stage.EXECUTE, [Entry(f"b-{n}", 50, "", "B") for n in range(10)])
    got = drain(dispatch)
    assert [g[0] for g in got[:6]] == ["a", "b"] * 3


def test_fair_share_shares_weigh_the_device_time() -> None:
    clock = Clock()
    fair = order("fair_share", clock, cost_s=1.0, shares=StaticShares({"big": 2.0}))
    dispatch = MemoryDispatch(order=fair)
    dispatch.enqueue(Stage.EXECUTE, [Entry(f"s-{n}", 50, "", "small") for n in range(30)])
    dispatch.enqueue(Stage.EXECUTE, [Entry(f"b-{n}", 50, "", "big") for n in range(30)])
    first = drain(dispatch)[:30]
    assert sum(job.startswith("b-") for job in first) == 20  # twice the small tenant's


def test_fair_share_forgets_an_idle_tenants_past() -> None:
    clock = Clock()
    fair = order("fair_share", clock, cost_s=1.0)
    fair.ranked([Entry(f"a-{n}", 50, "", "A") for n in range(100)])
    clock.now += 100.0  # A's virtual time is behind the clock again
    a, b = fair.ranked([Entry("a-late", 50, "", "A"), Entry("b", 50, "", "B")])
    assert a.rank == b.rank


def test_the_compile_stage_is_not_charged_to_fair_share() -> None:
    clock = Clock()
    fair = order("fair_share", clock, cost_s=1.0)
    fair.ranked([Entry(f"a-{n}", 50, "", "A") for n in range(100)], share=False)
    a, b = fair.ranked([Entry("a", 50, "", "A"), Entry("b", 50, "", "B")])
    assert a.rank == b.rank


def test_a_given_back_entry_keeps_its_rank() -> None:
    clock = Clock()
    fair = order("priority", clock)
    ranked = fair.ranked([Entry("x", 50)])[0]
    clock.now += 1000
    assert fair.ranked([ranked]) == [ranked]


def test_the_rank_fits_postgresql_integer_and_orders_by_the_key() -> None:
    assert rank_of(1e12) == RANK_MIN and rank_of(-1e12) == RANK_MAX
    keys = [1_790_000_000.0, 1_800_000_000.0, 1_800_000_000.2, 1_900_000_000.0]
    ranks = [rank_of(key) for key in keys]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == len(ranks)
    assert all(RANK_MIN <= rank <= RANK_MAX for rank in ranks)


@pytest.mark.parametrize(
    ("values", "wanted"),
    [
        ({}, "priority"),
        ({"auth_required": True}, "fair_share"),
        ({"auth_required": True, "scheduling_policy": "fifo"}, "fifo"),
    ],
)
def test_the_policy_defaults_to_fair_share_once_authentication_is_on(
    values: dict[str, object], wanted: str
) -> None:
    settings = Settings(**values)  # type: ignore[arg-type]
    assert policy_of(settings) == wanted
    assert FairOrder.of(settings).policy == wanted
