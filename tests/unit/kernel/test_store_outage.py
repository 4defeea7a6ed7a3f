"""A job store whose database cannot be reached for a while (PostgreSQL restarting) makes
no job run twice: a run that ends meanwhile holds its outcome and stores it once the store
answers; the heartbeat then renews the leases that lapsed during the outage (not one that
lapsed while the store answered); the lease sweep, a settling duty, waits after the outage
before it judges any lease. With real processes and a real PostgreSQL:
tests/integration/test_cluster_outages.py and tests/integration/test_duties_postgres.py."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from eigen.errors import Unavailable
from eigen.kernel.duties import Duties
from eigen.kernel.leases import Leases
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.base import JobStore, Then, Transition
from eigen.kernel.store.memory import MemoryJobStore
from eigen.models.job import Job, JobEvent
from eigen.models.state import JobState
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, job_request

UNREACHABLE = "the job store's database postgresql://db/eigen is unreachable: connection refused"


class OutageStore(MemoryJobStore):
    """The memory store, whose job reads and writes fail as PostgreSQL's do while ``down``
    is set; it counts the calls it refused, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()
        self.refused: Counter[str] = Counter()
        self._count = threading.Condition()

    def _reach(self, call: str) -> None:
        if self.down.is_set():
            with self._count:
                self.refused[call] += 1
                self._count.notify_all()
            raise Unavailable(UNREACHABLE)

    def wait_refused(self, call: str, count: int, timeout_s: float = 10.0) -> bool:
        with self._count:
            return self._count.wait_for(lambda: self.refused[call] >= count, timeout_s)

    def stored(self, job_id: str) -> Job | None:
        """The job as stored (the referee's read, never refused)."""
        return super().get(job_id)

    def get(self, job_id: str) -> Job | None:
        self._reach("get")
        return super().get(job_id)

    def transition(
        self,
        job_id: str,
        expected: JobState,
        event: JobEvent,
        changes: dict[str, Any],
        result: Any = None,
        *,
        then: Then | None = None,
        lease_before: float | None = None,
    ) -> bool:
        self._reach("transition")
        return super().transition(
            job_id, expected, event, changes, result, then=then, lease_before=lease_before
        )

    def transitions(self, batch: Sequence[Transition], *, then: Then | None = None) -> list[bool]:
        self._reach("transitions")
        return super().transitions(batch, then=then)

    def renew_leases(
        self, worker_id: str, job_ids: Collection[str], until: float, now: float | None = None
    ) -> set[str]:
        self._reach("renew_leases")
        return super().renew_leases(worker_id, job_ids, until, now)

    def append_event(
        self,
        event: JobEvent,
        progress: dict[str, Any] | None = None,
        checkpoint: dict[str, Any] | None = None,
        *,
        then: Then | None = None,
    ) -> bool:
        self._reach("append_event")
        return super().append_event(event, progress, checkpoint, then=then)


def test_a_run_that_ends_while_the_store_is_unreachable_is_stored_once_it_answers(tmp_path: Path) -> None:
    store = OutageStore()
    drivers = FakeDrivers()
    gate = drivers.gate = threading.Event()  # the run waits here
    settings = KernelSettings(node_id="node-a", lease_s=0.3, compile_workers=1, execute_workers=1)
    kernel = Kernel(store, ArtifactStore(tmp_path), FakeCompiler(), drivers, settings)
    kernel.start()
    try:
        job, _ = kernel.submit(job_request())
        assert drivers.started.wait(10)
        store.down.set()
        gate.set()  # the run ends while the store cannot be reached
        assert store.wait_refused("transitions", 2)  # its move to DONE, tried again
        assert store.wait_refused("renew_leases", 1)  # the heartbeat goes on meanwhile
        assert job.id in kernel.workers.held()  # its worker holds it (and its lease) ...
        held = store.stored(job.id)
        assert held is not None and held.state is JobState.RUNNING  # ... with the outcome

        store.down.clear()  # the database answers again
        states = [e.state for e in kernel.watch(job.id) if e.kind == "state"]
        assert states[-1] is JobState.DONE
        done = store.stored(job.id)
        assert done is not None and (done.attempt, done.worker_id) == (1, "node-a")
        assert store.result(job.id) is not None
        assert len(drivers.executed) == 1  # one execution: nothing ran it again
        assert job.id not in kernel.workers.held()
    finally:
        kernel.stop()


class Renewals:
    """What :class:`Leases` calls of a store: ``renew_leases`` of a memory store, which
    fails while ``down``."""

    def __init__(self, store: MemoryJobStore) -> None:
        self.store = store
        self.down = False

    def renew_leases(
        self, worker_id: str, job_ids: Collection[str], until: float, now: float | None = None
    ) -> set[str]:
        if self.down:
            raise Unavailable(UNREACHABLE)
        return self.store.renew_leases(worker_id, job_ids, until, now)


def leased(store: MemoryJobStore, job_id: str, worker: str, until: float) -> None:
    """A job RUNNING under ``worker``'s lease until ``until``."""
    job = Job(job_id, job_request(), JobState.PENDING, 0.0, 0.0)
    store.create(job, JobEvent(job_id, 1, JobState.PENDING, "state", 0.0))
    path = [JobState.PENDING, JobState.COMPILING, JobState.QUEUED, JobState.RUNNING]
    for seq, (current, following) in enumerate(itertools.pairwise(path), start=2):
        changes = {"worker_id": worker, "lease_expires_at": until, "attempt": 1}
        assert store.transition(job_id, current, JobEvent(job_id, seq, following, "state", 0.0), changes)


def test_after_an_outage_the_heartbeat_renews_leases_that_lapsed_during_it_only() -> None:
    store = MemoryJobStore()
    renewals = Renewals(store)
    now = [1000.0]
    leases = Leases(cast(JobStore, renewals), "w1", 3.0, held=lambda: ["live", "stale"], clock=lambda: now[0])
    leased(store, "live", "w1", 1003.0)
    leased(store, "stale", "w1", 1001.5)  # its heartbeats stalled, the store answering

    now[0] = 1002.0
    renewals.down = True  # the database goes away: the heartbeat cannot renew
    with pytest.raises(Unavailable):
        leases.renew()
    now[0] = 1005.0  # "live"'s lease lapsed (at 1003) while the store was down
    with pytest.raises(Unavailable):
        leases.renew()

    now[0] = 1006.0
    renewals.down = False
    assert leases.renew() == {"live"}  # live when the store stopped answering: renewed
    live = store.get("live")
    assert live is not None and live.lease_expires_at == 1009.0
    now[0] = 1010.0  # lapsed again, the store answering all along: lost for good
    assert leases.renew() == set()


def test_a_settling_duty_waits_after_the_database_could_not_be_reached() -> None:
    """A duty that meets an unreachable store (``Unavailable``) marks an outage: the
    settling duties wait ``settle_s`` from the next round (a local node has no lock's
    connection to probe), the others keep their interval."""
    settle_s = 0.5
    duties = Duties(None, lease_s=0.2)
    sweeps: list[float] = []
    others: list[float] = []
    failed = threading.Event()
    again = threading.Event()

    def sweep() -> None:
        sweeps.append(time.monotonic())
        if len(sweeps) == 1:
            failed.set()
            raise Unavailable(UNREACHABLE)
        again.set()

    duties.register("lease-sweep", 0.05, sweep, settle_s=settle_s)
    duties.register("gauges", 0.05, lambda: others.append(time.monotonic()))
    duties.start()
    try:
        assert failed.wait(10) and again.wait(10)
        waited = sweeps[1] - sweeps[0]
        assert waited >= settle_s, f"ran again {waited:.2f} s after the outage"
        assert len([at for at in others if sweeps[0] < at < sweeps[1]]) >= 3  # the others ran on
        assert duties.problem() is None  # the second run succeeded
    finally:
        duties.stop()


def test_settle_s_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="settle_s"):
        Duties(None, lease_s=1.0).register("sweep", 1.0, lambda: None, settle_s=-1)
