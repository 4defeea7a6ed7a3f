"""Leases: a claim carries this node's id and a lease the heartbeat renews; the lease sweep
puts back what a vanished worker held (a run or a compile), or gives up on it after
max_attempts (dead letter); a worker that lost its claim cannot record its outcome; a
kernel sharing its store never touches a live node's jobs; deadlines live in the store."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eigen.kernel.dispatch.port import Stage
from eigen.kernel.qfs.artifacts import Artifact, ArtifactStore
from eigen.kernel.recovery import CLEARED, MAX_ATTEMPTS_CODE
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.kernel.submission import new_job
from eigen.models.job import Job, JobEvent
from eigen.models.result import Experiment, JobResult, result_to_dict
from eigen.models.state import JobState
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, job_request

PATH = [JobState.PENDING, JobState.COMPILING, JobState.QUEUED, JobState.RUNNING]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlJobStore]:
    opened = SqlJobStore(sqlite_url(tmp_path / "eigen.db"))
    yield opened
    opened.close()


def until(check: Callable[[], object], timeout_s: float = 10.0) -> object:
    """Poll ``check`` until it is truthy (what it returned) or the time is up (None)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.01)
    return None


def left_running(
    store: SqlJobStore,
    job_id: str,
    *,
    worker: str,
    lease_at: float,
    attempt: int = 1,
    deadline_in_s: float = 3600,
) -> Job:
    """A job another worker left RUNNING, its lease lapsing at ``lease_at``."""
    now = time.time()
    job = Job(job_id, job_request(), JobState.PENDING, now, now, deadline_at=now + deadline_in_s)
    store.create(job, JobEvent(job_id, 1, JobState.PENDING, "state", now))
    for seq, (current, following) in enumerate(itertools.pairwise(PATH), start=2):
        changes = {"worker_id": worker, "lease_expires_at": lease_at, "attempt": attempt}
        store.transition(job_id, current, JobEvent(job_id, seq, following, "state", now), changes)
    stored = store.get(job_id)
    assert stored is not None and stored.state is JobState.RUNNING
    return stored


def left_compiling(store: SqlJobStore, job_id: str, *, worker: str, lease_at: float, attempt: int = 0) -> Job:
    """A job ``worker`` claimed for its compile (PENDING -> COMPILING) and left there."""
    now = time.time()
    if store.get(job_id) is None:
        job = Job(job_id, job_request(), JobState.PENDING, now, now, deadline_at=now + 3600)
        store.create(job, JobEvent(job_id, 1, JobState.PENDING, "state", now))
    head = store.head(job_id)
    assert head is not None and head[0] is JobState.PENDING
    changes = {"worker_id": worker, "lease_expires_at": lease_at, "attempt": attempt}
    event = JobEvent(job_id, head[1] + 1, JobState.COMPILING, "state", now)
    assert store.transition(job_id, JobState.PENDING, event, changes)
    stored = store.get(job_id)
    assert stored is not None
    return stored


def kernel_on(
    store: SqlJobStore, tmp_path: Path, drivers: FakeDrivers | None = None, **values: object
) -> Kernel:
    settings = KernelSettings(node_id="node-a", **values)  # type: ignore[arg-type]
    return Kernel(
        store, ArtifactStore(tmp_path / "artifacts"), FakeCompiler(), drivers or FakeDrivers(), settings
    )


def final(kernel: Kernel, job_id: str) -> Job:
    events = [e for e in kernel.watch(job_id) if e.kind == "state"]
    assert events and events[-1].terminal
    return kernel.get(job_id)


def test_a_run_claims_the_job_and_the_heartbeat_renews_its_lease(store: SqlJobStore, tmp_path: Path) -> None:
    drivers = FakeDrivers()
    drivers.gate = threading.Event()  # the run waits here
    kernel = kernel_on(store, tmp_path, drivers, lease_s=0.3)
    kernel.start()
    try:
        job, _ = kernel.submit(job_request())
        assert drivers.started.wait(10)
        running = kernel.get(job.id)
        assert (running.state, running.worker_id, running.attempt) == (JobState.RUNNING, "node-a", 1)
        first = running.lease_expires_at
        assert first is not None and first > time.time() - 0.3
        renewed = until(lambda: (kernel.get(job.id).lease_expires_at or 0) > first)
        assert renewed, "the heartbeat never renewed the lease"
        drivers.gate.set()
        done = final(kernel, job.id)
        assert (done.state, done.attempt) == (JobState.DONE, 1)
        assert done.deadline_at == pytest.approx(done.created_at + 3600.0)  # the one default
    finally:
        kernel.stop()


def test_the_sweep_puts_back_a_job_whose_lease_lapsed_and_it_runs_again(
    store: SqlJobStore, tmp_path: Path
) -> None:
    left_running(store, "lapsed", worker="gone-node", lease_at=time.time() - 1)
    left_running(store, "live", worker="live-node", lease_at=time.time() + 3600)
    kernel = kernel_on(store, tmp_path, shared_store=True)
    assert kernel.recovery.sweep() == 1  # only the lapsed lease (before the start's duty sweeps)
    kernel.start()
    try:
        done = final(kernel, "lapsed")
        assert (done.state, done.attempt, done.worker_id) == (JobState.DONE, 2, "node-a")
        states = [e.state for e in store.events("lapsed") if e.kind == "state"]
        assert states[-3:] == [JobState.QUEUED, JobState.RUNNING, JobState.DONE]
        live = store.get("live")  # a live node's job: never touched, at start or by the sweep
        assert live is not None and (live.state, live.worker_id) == (JobState.RUNNING, "live-node")
    finally:
        kernel.stop()


def test_a_job_that_used_up_its_attempts_ends_in_error_with_a_dead_letter(
    store: SqlJobStore, tmp_path: Path
) -> None:
    left_running(store, "poison", worker="gone-node", lease_at=time.time() - 1, attempt=3)
    kernel = kernel_on(store, tmp_path, shared_store=True, max_attempts=3)
    kernel.start()  # the lease sweep is one of its duties
    try:
        ended = final(kernel, "poison")
        assert (ended.state, ended.error_code) == (JobState.ERROR, MAX_ATTEMPTS_CODE)
        assert "3 attempts" in (ended.error_summary or "") and "gone-node" in (ended.error_summary or "")
        (letter,) = store.dead_letters()
        assert (letter.job_id, letter.attempts, letter.last_worker) == ("poison", 3, "gone-node")
    finally:
        kernel.stop()


def test_alone_on_its_store_a_start_resumes_a_running_job_unless_it_used_up_its_attempts(
    store: SqlJobStore, tmp_path: Path
) -> None:
    far = time.time() + 3600  # alone on the store, a RUNNING job's worker is gone whatever its lease says
    left_running(store, "again", worker="previous-run", lease_at=far, attempt=1)
    left_running(store, "given-up", worker="previous-run", lease_at=far, attempt=2)
    kernel = kernel_on(store, tmp_path, max_attempts=2)
    kernel.start()
    try:
        assert (final(kernel, "again").state, kernel.get("again").attempt) == (JobState.DONE, 2)
        assert final(kernel, "given-up").error_code == MAX_ATTEMPTS_CODE
        assert [letter.job_id for letter in store.dead_letters()] == ["given-up"]
    finally:
        kernel.stop()


def test_an_overdue_job_in_the_store_times_out_though_no_kernel_tracked_it(
    store: SqlJobStore, tmp_path: Path
) -> None:
    left_running(store, "late", worker="live-node", lease_at=time.time() + 3600, deadline_in_s=-1)
    kernel = kernel_on(store, tmp_path, shared_store=True)
    kernel.recovery.recover()  # shared: it resumes nothing, so its watchdog heap does not hold the job
    assert kernel.timeouts.tracked() == 0
    assert kernel.timeouts.scan() == 1  # the store scan (a duty of the started kernel) finds it
    kernel.start()
    try:
        ended = final(kernel, "late")
        assert (ended.state, ended.error_code) == (JobState.TIMEOUT, "EIGEN_DEADLINE_EXCEEDED")
    finally:
        kernel.stop()


def test_a_new_job_stores_its_deadline_from_its_own_timeout() -> None:
    job = new_job(job_request().model_copy(update={"timeout_seconds": 5}), default_timeout_s=60)
    assert job.deadline_at == pytest.approx(job.created_at + 5)
    assert new_job(job_request(), default_timeout_s=60).deadline_at == pytest.approx(time.time() + 60, abs=5)


def test_a_lapsed_compile_goes_back_to_pending_counts_an_attempt_and_runs_again(
    store: SqlJobStore, tmp_path: Path
) -> None:
    left_compiling(store, "lost-compile", worker="gone-node", lease_at=time.time() - 1)
    kernel = kernel_on(store, tmp_path, shared_store=True)
    assert kernel.recovery.sweep() == 1
    back = store.get("lost-compile")
    assert back is not None
    assert (back.state, back.attempt, back.worker_id, back.lease_expires_at) == (
        JobState.PENDING,
        1,
        None,
        None,
    )
    assert kernel.dispatch.depth(Stage.COMPILE) == 1  # its compile entry, put back with it
    kernel.start()
    try:
        done = final(kernel, "lost-compile")
        assert (done.state, done.attempt, done.worker_id) == (
            JobState.DONE,
            2,
            "node-a",
        )  # a lost compile, a run
        states = [e.state for e in store.events("lost-compile") if e.kind == "state"]
        assert states[1:4] == [JobState.COMPILING, JobState.PENDING, JobState.COMPILING]
    finally:
        kernel.stop()


def test_a_compile_that_loses_its_worker_max_attempts_times_ends_in_error_with_a_dead_letter(
    store: SqlJobStore, tmp_path: Path
) -> None:
    kernel = kernel_on(store, tmp_path, shared_store=True, max_attempts=2)
    left_compiling(store, "poison-compile", worker="node-x", lease_at=time.time() - 1)
    assert kernel.recovery.sweep() == 1  # the first lost compile: back to PENDING, attempt 1
    left_compiling(store, "poison-compile", worker="node-y", lease_at=time.time() - 1, attempt=1)
    assert kernel.recovery.sweep() == 1  # the second: max_attempts used up
    ended = store.get("poison-compile")
    assert ended is not None and (ended.state, ended.error_code) == (JobState.ERROR, MAX_ATTEMPTS_CODE)
    assert "2 attempts" in (ended.error_summary or "") and "in COMPILING" in (ended.error_summary or "")
    (letter,) = store.dead_letters()
    assert (letter.job_id, letter.attempts, letter.last_worker) == ("poison-compile", 2, "node-y")


def test_a_worker_whose_claim_moved_on_cannot_record_its_result(
    store: SqlJobStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """node-a's heartbeat stalls while it runs a job: the sweep puts the job back and
    node-b claims it. node-a's run then finishes; its result is discarded, node-b's kept."""
    drivers = FakeDrivers()
    drivers.gate = threading.Event()
    kernel = kernel_on(store, tmp_path, drivers)
    kernel.start()
    try:
        job, _ = kernel.submit(job_request())
        assert drivers.started.wait(10)
        running = store.get(job.id)
        assert running is not None and (running.worker_id, running.attempt) == ("node-a", 1)
        swept = JobEvent(job.id, running.last_seq + 1, JobState.QUEUED, "state", time.time())
        assert store.transition(job.id, JobState.RUNNING, swept, dict(CLEARED))
        claimed = JobEvent(job.id, running.last_seq + 2, JobState.RUNNING, "state", time.time())
        node_b = {"worker_id": "node-b", "lease_expires_at": time.time() + 3600, "attempt": 2}
        assert store.transition(job.id, JobState.QUEUED, claimed, node_b)
        with caplog.at_level("WARNING", logger="eigen.kernel.lifecycle"):
            drivers.gate.set()  # node-a's run finishes late
            assert until(lambda: any("stale outcome discarded" in r.getMessage() for r in caplog.records))
        now = store.get(job.id)
        assert now is not None and (now.state, now.worker_id, now.attempt) == (JobState.RUNNING, "node-b", 2)
        assert store.result(job.id) is None
        node_b_run = kernel.lifecycle.move(
            job.id, JobState.DONE, "done", snapshot=now, result=kernel_result(job.id), fenced=True
        )
        assert node_b_run is not None
        assert final(kernel, job.id).state is JobState.DONE
        assert kernel.results(job.id).counts == {"11": 7}
    finally:
        kernel.stop()


def test_a_stale_worker_never_overwrites_the_live_attempts_results_json(
    store: SqlJobStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """node-a's lease lapses while it runs; node-b runs the job again and ends it DONE,
    with its results.json. node-a's run then finishes: its outcome is refused, and so are
    its files: they were written staged and are published only by a move that passed the
    fence, so node-b's results.json stays, and node-a's staged files are removed."""
    drivers = FakeDrivers()
    drivers.gate = threading.Event()
    kernel = kernel_on(store, tmp_path, drivers)
    artifacts = kernel.pipeline.artifacts
    kernel.start()
    try:
        job, _ = kernel.submit(job_request())
        assert drivers.started.wait(10)
        running = store.get(job.id)
        assert running is not None and (running.worker_id, running.attempt) == ("node-a", 1)
        swept = JobEvent(job.id, running.last_seq + 1, JobState.QUEUED, "state", time.time())
        assert store.transition(job.id, JobState.RUNNING, swept, dict(CLEARED))
        claimed = JobEvent(job.id, running.last_seq + 2, JobState.RUNNING, "state", time.time())
        node_b = {"worker_id": "node-b", "lease_expires_at": time.time() + 3600, "attempt": 2}
        assert store.transition(job.id, JobState.QUEUED, claimed, node_b)
        now = store.get(job.id)
        assert now is not None
        live = kernel_result(job.id)  # node-b's run, published as the pipeline publishes one
        staged = artifacts.stage([Artifact.json(job.id, "results.json", result_to_dict(live))])
        assert artifacts.put_many(staged) == [None]
        assert "results.json" not in artifacts.names(job.id)  # staged: not there yet
        done = kernel.lifecycle.move(
            job.id,
            JobState.DONE,
            "done",
            snapshot=now,
            result=live,
            then=lambda _: artifacts.publish(staged),
            fenced=True,
        )
        assert done is not None
        assert json.loads(artifacts.get(job.id, "results.json"))["experiments"][0]["counts"] == {"11": 7}
        with caplog.at_level("WARNING", logger="eigen.kernel.lifecycle"):
            drivers.gate.set()  # node-a's run finishes late, its counts {"00": 100}
            assert until(lambda: any("stale outcome discarded" in r.getMessage() for r in caplog.records))
        assert until(lambda: not [n for n in os.listdir(artifacts.folder(job.id)) if ".staged-" in n])
        assert json.loads(artifacts.get(job.id, "results.json"))["experiments"][0]["counts"] == {"11": 7}
        assert kernel.results(job.id).counts == {"11": 7}
        assert final(kernel, job.id).worker_id == "node-b"
    finally:
        kernel.stop()


def kernel_result(job_id: str) -> JobResult:
    return JobResult(job_id, "sim:statevector", [Experiment({"11": 7}, 7)], 1)
