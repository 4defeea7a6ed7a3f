"""A job queue that cannot be reached (its database restarting) stops no worker: the
stage workers claim nothing meanwhile, readiness names the queue (not a dead worker), and
the same threads take the work again once the queue answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from eigen.errors import Unavailable
from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Claimed, Entry, Stage
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.memory import MemoryJobStore
from eigen.models.state import JobState
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, job_request

UNREACHABLE = "the job queue's database is unreachable: connection refused"


class OutageDispatch(MemoryDispatch):
    """The in-memory queue, whose claims fail as PostgreSQL's do while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()
        self.failed = 0
        self._count = threading.Condition()

    def claim(
        self, stage: Stage, limit: int, timeout_s: float, together: Callable[[Entry], bool] | None = None
    ) -> list[Claimed]:
        if self.down.is_set():
            with self._count:
                self.failed += 1
                self._count.notify_all()
            raise Unavailable(UNREACHABLE)
        return super().claim(stage, limit, timeout_s, together)

    def wait_failed(self, count: int, timeout_s: float) -> bool:
        with self._count:
            return self._count.wait_for(lambda: self.failed >= count, timeout_s)


def test_an_unreachable_queue_is_named_by_readiness_and_no_worker_dies(tmp_path: Path) -> None:
    dispatch = OutageDispatch()
    dispatch.down.set()
    settings = KernelSettings(compile_workers=1, execute_workers=1, supervise_interval_s=0.05)
    kernel = Kernel(
        MemoryJobStore(), ArtifactStore(tmp_path), FakeCompiler(), FakeDrivers(), settings, dispatch=dispatch
    )
    kernel.start()
    try:
        threads = {name: thread for name, (_, thread) in kernel.workers._workers.items()}
        job, _ = kernel.submit(job_request())  # stored and queued: put() still works
        assert dispatch.wait_failed(6, timeout_s=10)  # each stage worker tried three times
        assert kernel.problems() == [UNREACHABLE]  # the queue, not a dead worker
        alive = {name: thread for name, (_, thread) in kernel.workers._workers.items()}
        assert alive == threads and all(t.is_alive() for t in alive.values())  # none replaced

        dispatch.down.clear()
        deadline = time.monotonic() + 10
        while kernel.get(job.id).state is not JobState.DONE and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the job: the queue's return has no event of its own
        assert kernel.get(job.id).state is JobState.DONE
        assert kernel.problems() == []
    finally:
        kernel.stop()
