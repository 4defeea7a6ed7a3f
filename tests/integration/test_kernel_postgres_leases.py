"""The kernel's main path on PostgreSQL (``start(settings)``: what ``eigen-server serve`` and
the embedded server run): the postgres dispatch, claims with leases, and a second node
taking over a job whose worker vanished (its lease lapsed), or giving up on it."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eigen.config.settings import Settings
from eigen.kernel.dispatch.postgres import PostgresDispatch
from eigen.kernel.recovery import MAX_ATTEMPTS_CODE
from eigen.kernel.service import Kernel
from eigen.kernel.store.sql import SqlJobStore
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.state import JobState
from eigen.server.embedded import EmbeddedServer
from tests.unit.store.postgres import fresh_database

BELL = (Path(__file__).resolve().parents[2] / "examples" / "bell-qasm3" / "bell.qasm").read_text()
PATH = [JobState.PENDING, JobState.COMPILING, JobState.QUEUED, JobState.RUNNING]


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def bell(**fields: object) -> JobRequest:
    values: dict[str, object] = {
        "name": "bell",
        "program": BELL,
        "language": ProgramLanguage.QASM3,
        "shots": 100,
    }
    return JobRequest(**{**values, **fields})


def node(url: str, tmp_path: Path, name: str, **values: object) -> EmbeddedServer:
    settings = Settings(database_url=url, node_id=name, lease_s=1.0, **values)  # type: ignore[arg-type]
    return EmbeddedServer(settings, data_dir=tmp_path / name)


def final(kernel: Kernel, job_id: str) -> Job:
    events = [e for e in kernel.watch(job_id) if e.kind == "state"]
    assert events and events[-1].terminal, events
    return kernel.get(job_id)


def left_running(url: str, job_id: str, *, attempt: int) -> None:
    """A job a vanished node left RUNNING, its lease lapsed a moment ago."""
    store = SqlJobStore(url)
    try:
        now = time.time()
        store.create(
            Job(job_id, bell(), JobState.PENDING, now, now, deadline_at=now + 3600), _event(job_id, 1)
        )
        for seq, (current, following) in enumerate(itertools.pairwise(PATH), start=2):
            changes = {"worker_id": "vanished", "lease_expires_at": now - 1, "attempt": attempt}
            store.transition(job_id, current, _event(job_id, seq, following), changes)
    finally:
        store.close()


def _event(job_id: str, seq: int, state: JobState = JobState.PENDING) -> JobEvent:
    return JobEvent(job_id, seq, state, "state", time.time())


def test_a_node_on_postgresql_runs_jobs_through_the_postgres_dispatch(database: str, tmp_path: Path) -> None:
    with node(database, tmp_path, "node-a") as server:
        assert server.stack is not None and server.stack.kernel is not None
        kernel = server.stack.kernel
        assert isinstance(kernel.dispatch, PostgresDispatch) and kernel.settings.shared_store
        jobs = [kernel.submit(bell(seed=seed))[0] for seed in range(3)]
        for job in jobs:
            done = final(kernel, job.id)
            assert (done.state, done.worker_id, done.attempt) == (JobState.DONE, "node-a", 1)
            assert sum(kernel.results(job.id).counts.values()) == 100
        assert kernel.queue_depth() == 0


def test_another_node_takes_over_a_job_whose_lease_lapsed(database: str, tmp_path: Path) -> None:
    with node(database, tmp_path, "node-a"):  # a first node creates the schema
        pass
    left_running(database, "orphan", attempt=1)
    with node(database, tmp_path, "node-b") as server:
        assert server.stack is not None and server.stack.kernel is not None
        done = final(server.stack.kernel, "orphan")  # the lease sweep (a duty) put it back
        assert (done.state, done.worker_id, done.attempt) == (JobState.DONE, "node-b", 2)


def test_a_job_that_lost_its_worker_max_attempts_times_is_a_dead_letter(
    database: str, tmp_path: Path
) -> None:
    with node(database, tmp_path, "node-a"):
        pass
    left_running(database, "poison", attempt=2)
    with node(database, tmp_path, "node-b", max_attempts=2) as server:
        assert server.stack is not None and server.stack.kernel is not None
        kernel = server.stack.kernel
        ended = final(kernel, "poison")
        assert (ended.state, ended.error_code) == (JobState.ERROR, MAX_ATTEMPTS_CODE)
        assert "vanished" in (ended.error_summary or "")
        (letter,) = kernel.store.dead_letters()  # type: ignore[attr-defined]
        assert (letter.job_id, letter.attempts) == ("poison", 2)
