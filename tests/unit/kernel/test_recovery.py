"""A restarted kernel keeps every job: queued ones resume, a running one is run again."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.job import Job, JobEvent
from eigen.models.state import JobState
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, job_request

PATH = [JobState.PENDING, JobState.COMPILING, JobState.QUEUED, JobState.RUNNING]


def leave_job_in(store: SqlJobStore, job_id: str, state: JobState) -> None:
    now = time.time()
    job = Job(job_id, job_request(), JobState.PENDING, now, now)
    store.create(job, JobEvent(job_id, 1, JobState.PENDING, "state", now))
    for seq, (current, following) in enumerate(itertools.pairwise(PATH), start=2):
        if current is state:
            break
        store.transition(job_id, current, JobEvent(job_id, seq, following, "state", now), {})


def test_restart_resumes_every_unfinished_job(tmp_path: Path) -> None:
    store = SqlJobStore(sqlite_url(tmp_path / "eigen.db"))
    for state in PATH:
        leave_job_in(store, f"left-{state.value.lower()}", state)
    drivers = FakeDrivers()
    kernel = Kernel(store, ArtifactStore(tmp_path / "artifacts"), FakeCompiler(), drivers)
    kernel.start()
    try:
        for state in PATH:
            job_id = f"left-{state.value.lower()}"
            events = list(kernel.watch(job_id))
            assert events[-1].state is JobState.DONE, job_id
            assert kernel.results(job_id).counts == {"00": 100}
        rerun = [e.state for e in kernel.store.events("left-running") if e.kind == "state"]
        assert rerun[-4:] == [JobState.RUNNING, JobState.QUEUED, JobState.RUNNING, JobState.DONE]
        assert len(drivers.executed) == len(PATH)  # each job executed once after the restart
    finally:
        kernel.stop()
        store.close()
