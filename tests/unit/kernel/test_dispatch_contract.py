"""What every Dispatch does (the port, src/eigen/kernel/dispatch/port.py), whatever holds the
queues: run here on the memory dispatch, and on PostgreSQL in
tests/integration/test_dispatch_postgres.py (the same class, another ``make`` fixture).

A subclass supplies ``make``: a function that opens a new dispatch on the same queues (two
of them are two nodes); the fixture closes what it opened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Claimed, Dispatch, Entry, Stage, Standing

MakeDispatch = Callable[[], Dispatch]


def entries(*ids: str, priority: int = 50, target: str = "") -> list[Entry]:
    return [Entry(job_id, priority, target) for job_id in ids]


def ids(claimed: list[Claimed]) -> list[str]:
    return [item.job_id for item in claimed]


class Claiming(threading.Thread):
    """A claim on another thread; ``got`` and ``waited_s`` once it answered."""

    def __init__(self, dispatch: Dispatch, stage: Stage, timeout_s: float, limit: int = 1) -> None:
        super().__init__(daemon=True)
        self.dispatch, self.stage, self.timeout_s, self.limit = dispatch, stage, timeout_s, limit
        self.got: list[Claimed] | None = None
        self.answered_at = 0.0
        self.started_claim = threading.Event()

    def run(self) -> None:
        self.started_claim.set()
        self.got = self.dispatch.claim(self.stage, self.limit, self.timeout_s)
        self.answered_at = time.perf_counter()


class DispatchContract:
    @pytest.fixture
    def dispatch(self, make: MakeDispatch) -> Dispatch:
        return make()

    def test_highest_priority_first_then_first_come(self, dispatch: Dispatch) -> None:
        dispatch.enqueue(Stage.EXECUTE, entries("low-1", priority=10))
        dispatch.enqueue(Stage.EXECUTE, entries("high-1", "high-2", priority=90))
        dispatch.enqueue(Stage.EXECUTE, entries("mid-1", "mid-2"))
        dispatch.enqueue(Stage.EXECUTE, entries("high-3", priority=90))
        order = [ids(dispatch.claim(Stage.EXECUTE, 1, 1.0)) for _ in range(6)]
        assert order == [["high-1"], ["high-2"], ["high-3"], ["mid-1"], ["mid-2"], ["low-1"]]
        assert dispatch.claim(Stage.EXECUTE, 1, 0.05) == []

    def test_stages_are_separate_queues(self, dispatch: Dispatch) -> None:
        dispatch.enqueue(Stage.COMPILE, entries("c"))
        dispatch.enqueue(Stage.EXECUTE, entries("e"))
        assert (dispatch.depth(Stage.COMPILE), dispatch.depth(Stage.EXECUTE), dispatch.depth()) == (1, 1, 2)
        got = dispatch.claim(Stage.EXECUTE, 5, 1.0, together=lambda _: True)
        assert ids(got) == ["e"] and got[0].stage is Stage.EXECUTE
        assert dispatch.depth() == 1

    def test_together_takes_the_run_that_satisfies_it_up_to_the_limit(self, dispatch: Dispatch) -> None:
        dispatch.enqueue(Stage.EXECUTE, entries("a1", "a2", "a3", target="sim:a"))
        dispatch.enqueue(Stage.EXECUTE, entries("b1", target="sim:b"))
        dispatch.enqueue(Stage.EXECUTE, entries("a4", target="sim:a"))
        same: Callable[[Entry], bool] = lambda entry: entry.target == "sim:a"  # noqa: E731
        assert ids(dispatch.claim(Stage.EXECUTE, 2, 1.0, together=same)) == ["a1", "a2"]
        assert ids(dispatch.claim(Stage.EXECUTE, 10, 1.0, together=same)) == ["a3"]  # b1 stops the run
        assert ids(dispatch.claim(Stage.EXECUTE, 10, 1.0, together=same)) == ["b1"]  # first always taken
        assert ids(dispatch.claim(Stage.EXECUTE, 10, 1.0, together=same)) == ["a4"]
        assert dispatch.depth() == 0

    def test_without_together_one_entry_at_a_time(self, dispatch: Dispatch) -> None:
        dispatch.enqueue(Stage.COMPILE, entries("x", "y"))
        assert ids(dispatch.claim(Stage.COMPILE, 10, 1.0)) == ["x"]
        assert dispatch.depth(Stage.COMPILE) == 1

    def test_a_claim_waits_and_wakes_on_an_enqueue_elsewhere(self, make: MakeDispatch) -> None:
        consumer, producer = make(), make()
        figures = []
        for n in range(5):
            claiming = Claiming(consumer, Stage.EXECUTE, timeout_s=10)
            claiming.start()
            claiming.started_claim.wait(5)
            time.sleep(0.2)  # the claim is waiting (nothing to await: it shows no sign)
            sent = time.perf_counter()
            producer.enqueue(Stage.EXECUTE, entries(f"woken-{n}"))
            claiming.join(10)
            assert claiming.got is not None and ids(claiming.got) == [f"woken-{n}"]
            figures.append(claiming.answered_at - sent)
        print(f"claim woken {[round(f * 1e3, 1) for f in figures]} ms after the enqueue")
        assert max(figures) < 0.5

    def test_a_claim_answers_nothing_after_its_timeout(self, dispatch: Dispatch) -> None:
        started = time.perf_counter()
        assert dispatch.claim(Stage.COMPILE, 1, 0.3) == []
        assert 0.25 <= time.perf_counter() - started < 3

    def test_two_consumers_never_both_get_one_entry(self, make: MakeDispatch) -> None:
        producer, consumers = make(), [make(), make()]
        wanted = [f"j{n:03}" for n in range(120)]
        got: list[list[str]] = [[], []]

        def consume(k: int) -> None:
            while True:
                claimed = consumers[k].claim(Stage.EXECUTE, 4, 1.0, together=lambda _: True)
                if not claimed:
                    return
                got[k].extend(ids(claimed))
                consumers[k].ack(claimed)

        threads = [threading.Thread(target=consume, args=(k,), daemon=True) for k in (0, 1)]
        producer.enqueue(Stage.EXECUTE, entries(*wanted[:60]))
        for thread in threads:
            thread.start()
        producer.enqueue(Stage.EXECUTE, entries(*wanted[60:]))
        for thread in threads:
            thread.join(60)
        assert sorted(got[0] + got[1]) == wanted
        assert not set(got[0]) & set(got[1])

    def test_release_puts_entries_back_for_anyone(self, make: MakeDispatch) -> None:
        first, second = make(), make()
        first.enqueue(Stage.EXECUTE, entries("r1", "r2"))
        claimed = first.claim(Stage.EXECUTE, 2, 1.0, together=lambda _: True)
        assert ids(claimed) == ["r1", "r2"] and first.depth() == 0
        first.release(claimed)
        assert first.depth() == 2
        assert ids(second.claim(Stage.EXECUTE, 2, 1.0, together=lambda _: True)) == ["r1", "r2"]

    def test_standing_counts_the_entries_ahead_on_the_entrys_device(self, dispatch: Dispatch) -> None:
        dispatch.enqueue(Stage.EXECUTE, entries("s1", "s2", target="dev:a") + entries("t1", target="dev:b"))
        dispatch.enqueue(Stage.EXECUTE, entries("s0", priority=90, target="dev:a"))
        dispatch.enqueue(Stage.COMPILE, entries("c1", "c2"))
        mine = [Entry("s0", 90, "dev:a"), *entries("s1", "s2", target="dev:a")]  # as they were enqueued
        found = {e.job_id: dispatch.standing(Stage.EXECUTE, e) for e in mine}
        assert {job: s.ahead for job, s in found.items() if s is not None} == {"s0": 0, "s1": 1, "s2": 2}
        assert found["s0"] is not None and found["s1"] is not None and found["s0"].rank > found["s1"].rank
        assert dispatch.standing(Stage.EXECUTE, Entry("t1", 50, "dev:b")) == Standing(0, found["s1"].rank, 0)
        assert dispatch.standing(Stage.COMPILE, Entry("c2")) is not None
        assert dispatch.standing(Stage.COMPILE, Entry("c2")).ahead == 1  # type: ignore[union-attr]
        claimed = dispatch.claim(Stage.EXECUTE, 1, 1.0)
        assert ids(claimed) == ["s0"] and dispatch.standing(Stage.EXECUTE, Entry("s0", 90, "dev:a")) is None
        assert dispatch.standing(Stage.EXECUTE, Entry("s2", 50, "dev:a")).ahead == 1  # type: ignore[union-attr]
        assert dispatch.standing(Stage.EXECUTE, Entry("missing", 50, "dev:a")) is None

    def test_ack_and_heartbeat_of_claimed_entries(self, dispatch: Dispatch) -> None:
        dispatch.enqueue(Stage.COMPILE, entries("h"))
        claimed = dispatch.claim(Stage.COMPILE, 1, 1.0)
        dispatch.heartbeat(claimed)
        dispatch.ack(claimed)
        dispatch.heartbeat([])
        dispatch.ack([])
        dispatch.release([])
        assert dispatch.depth() == 0 and dispatch.claim(Stage.COMPILE, 1, 0.05) == []

    def test_close_wakes_every_waiting_claim(self, make: MakeDispatch) -> None:
        dispatch = make()
        claims = [Claiming(dispatch, stage, timeout_s=30) for stage in (Stage.COMPILE, Stage.EXECUTE)]
        for claiming in claims:
            claiming.start()
            claiming.started_claim.wait(5)
        time.sleep(0.2)
        closed_at = time.perf_counter()
        dispatch.close()
        for claiming in claims:
            claiming.join(5)
            assert claiming.got == [] and claiming.answered_at - closed_at < 2
        assert dispatch.claim(Stage.COMPILE, 1, 5) == []

    def test_a_held_device_gives_out_nothing_until_its_hold_ends(self, make: MakeDispatch) -> None:
        node, other = make(), make()
        until = time.time() + 0.6
        for each in (node, other):
            each.holds = lambda: {"dev:held": until}
        node.enqueue(Stage.EXECUTE, entries("h1", target="dev:held") + entries("f1", target="dev:free"))
        assert ids(node.claim(Stage.EXECUTE, 5, 1.0, together=lambda _: True)) == ["f1"]
        assert other.claim(Stage.EXECUTE, 1, 0.1) == []  # held on every node
        claiming = Claiming(other, Stage.EXECUTE, timeout_s=10)
        claiming.start()
        claiming.join(10)
        assert claiming.got is not None and ids(claiming.got) == ["h1"]
        # the claim waited for the hold's end, by the clock, not for its own timeout
        assert until - 0.05 <= time.time() < until + 1.5

    def test_the_session_lane_holds_its_device_until_its_entries_are_acked(self, make: MakeDispatch) -> None:
        node, other = make(), make()
        node.enqueue(Stage.EXECUTE, entries("plain", target="dev:s"))
        node.enqueue(Stage.SESSION, [Entry("in-session", 50, "dev:s", session="s" * 32)])
        assert node.claim(Stage.EXECUTE, 1, 0.1) == []  # a waiting lane entry holds the device
        lane = node.claim(Stage.SESSION, 1, 1.0)
        assert ids(lane) == ["in-session"]
        assert other.claim(Stage.EXECUTE, 1, 0.1) == []  # a claimed one too, on every node
        claiming = Claiming(other, Stage.EXECUTE, timeout_s=10)
        claiming.start()
        claiming.started_claim.wait(5)
        time.sleep(0.2)  # the claim is waiting (nothing to await: it shows no sign)
        acked = time.perf_counter()
        node.ack(lane)
        claiming.join(10)
        assert claiming.got is not None and ids(claiming.got) == ["plain"]
        assert claiming.answered_at - acked < 1.0  # woken by the ack, not after a timeout


class TestMemoryDispatch(DispatchContract):
    @pytest.fixture
    def make(self) -> Iterator[MakeDispatch]:
        shared = MemoryDispatch()  # one process's queues: every "node" here is the same one
        yield lambda: shared
        shared.close()
