"""Kernel behaviour on in-memory ports: pipeline, events, cancel, timeout, idempotency."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from eigen.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from eigen.kernel.qfs.artifacts import Artifact, ArtifactStore, published_name
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.watch import WatchCursor
from eigen.models.compiled import CompiledProgram, CompileRequest
from eigen.models.job import Job
from eigen.models.state import JobState
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, job_request


def finish(kernel: Kernel, job_id: str) -> list[JobState]:
    return [e.state for e in kernel.watch(job_id) if e.kind == "state"]


def running_held(kernel: Kernel, drivers: FakeDrivers) -> tuple[Job, threading.Event]:
    """A submitted job, RUNNING and held in the driver until the returned gate is set."""
    gate = drivers.gate = threading.Event()
    job, _ = kernel.submit(job_request())
    assert drivers.started.wait(5)
    return job, gate


def test_job_runs_through_every_stage_with_ordered_events(kernel: Kernel) -> None:
    job, dedup = kernel.submit(job_request())
    assert not dedup and job.state is JobState.PENDING
    states = finish(kernel, job.id)
    assert states == [
        JobState.PENDING,
        JobState.COMPILING,
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.DONE,
    ]
    events = kernel.store.events(job.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert kernel.results(job.id).counts == {"00": 100}
    final = kernel.get(job.id)
    assert final.started_at is not None and final.finished_at is not None
    assert {"compile_s", "execute_s"} <= set(final.timings)


def test_artifacts_are_written(kernel: Kernel) -> None:
    job, _ = kernel.submit(job_request())
    finish(kernel, job.id)
    names = kernel.pipeline.artifacts.names(job.id)
    assert {
        "job.yaml",
        "program.qasm",
        "compiled.qasm",
        "compiled.aqo.json",
        "results.json",
    } <= set(names)


def test_validation_errors_create_no_job(kernel: Kernel) -> None:
    with pytest.raises(InvalidArgument, match="cannot parse"):
        kernel.submit(job_request("bad program"))
    with pytest.raises(NotFound, match="unknown backend"):
        kernel.submit(job_request(target="nowhere"))
    with pytest.raises(InvalidArgument) as caught:
        kernel.submit(job_request(shots=20_000))
    assert caught.value.violations[0].field == "shots"
    with pytest.raises(InvalidArgument):
        kernel.submit(job_request(shots=0))
    assert kernel.store.in_states(tuple(JobState)) == []


def test_results_before_terminal_are_a_failed_precondition(kernel: Kernel, drivers: FakeDrivers) -> None:
    job, gate = running_held(kernel, drivers)
    with pytest.raises(FailedPrecondition, match="RUNNING"):
        kernel.results(job.id)
    gate.set()
    assert finish(kernel, job.id)[-1] is JobState.DONE


def test_cancel_while_running_is_final(kernel: Kernel, drivers: FakeDrivers) -> None:
    job, gate = running_held(kernel, drivers)
    assert kernel.cancel(job.id).state is JobState.CANCELLED
    assert kernel.cancel(job.id).state is JobState.CANCELLED  # idempotent
    gate.set()
    assert finish(kernel, job.id)[-1] is JobState.CANCELLED
    kernel.stop()  # let the worker finish: the late result must not revive the job
    assert kernel.get(job.id).state is JobState.CANCELLED
    with pytest.raises(FailedPrecondition, match="CANCELLED"):
        kernel.results(job.id)


def test_cancel_of_a_done_job_is_refused(kernel: Kernel) -> None:
    job, _ = kernel.submit(job_request())
    finish(kernel, job.id)
    with pytest.raises(FailedPrecondition, match="already ended in DONE"):
        kernel.cancel(job.id)


def test_timeout_ends_a_job_in_timeout(kernel: Kernel, drivers: FakeDrivers) -> None:
    drivers.gate = threading.Event()
    job, _ = kernel.submit(job_request(timeout_seconds=0.2))
    states = finish(kernel, job.id)
    assert states[-1] is JobState.TIMEOUT
    assert kernel.get(job.id).error_code == "EIGEN_DEADLINE_EXCEEDED"


def test_compiler_crash_ends_in_error_not_a_dead_worker(kernel: Kernel) -> None:
    job, _ = kernel.submit(job_request("explode"))
    assert finish(kernel, job.id)[-1] is JobState.ERROR
    failed = kernel.get(job.id)
    assert failed.error_code == "EIGEN_INTERNAL" and "compiler bug" in (failed.error_summary or "")
    # what it was asked to compile stays, beside the error
    assert kernel.pipeline.artifacts.names(job.id) == ["error.json", "job.yaml", "program.qasm"]
    again, _ = kernel.submit(job_request())
    assert finish(kernel, again.id)[-1] is JobState.DONE


def test_idempotency_key(kernel: Kernel) -> None:
    first, dedup = kernel.submit(job_request(), idempotency_key="k1")
    same, dedup_again = kernel.submit(job_request(), idempotency_key="k1")
    assert not dedup and dedup_again and same.id == first.id
    with pytest.raises(FailedPrecondition, match="different job payload"):
        kernel.submit(job_request(shots=5), idempotency_key="k1")
    other, _ = kernel.submit(job_request(), idempotency_key="k1", owner="someone-else")
    assert other.id != first.id


def test_priority_order(kernel: Kernel, drivers: FakeDrivers) -> None:
    drivers.gate = threading.Event()
    blockers = []
    for _ in range(2):  # one after the other, so that each occupies a worker of its own
        blockers.append(kernel.submit(job_request("block"))[0])
        for event in kernel.watch(blockers[-1].id):
            if event.state is JobState.RUNNING:
                break
    low, _ = kernel.submit(job_request("low", priority=1))
    high, _ = kernel.submit(job_request("high", priority=99))
    for job in (low, high):
        for event in kernel.watch(job.id):
            if event.state is JobState.QUEUED:
                break
    drivers.gate.set()
    for job in (*blockers, low, high):
        finish(kernel, job.id)
    order = [p for p in drivers.executed if p in ("low", "high")]
    assert order == ["high", "low"]


def test_watch_resumes_after_a_sequence_number(kernel: Kernel) -> None:
    job, _ = kernel.submit(job_request())
    all_events = list(kernel.watch(job.id))
    resumed = list(kernel.watch(job.id, after_seq=2))
    assert [e.seq for e in resumed] == [e.seq for e in all_events if e.seq > 2]
    assert list(kernel.watch(job.id, after_seq=all_events[-1].seq)) == []
    with pytest.raises(NotFound):
        list(kernel.watch("missing"))


def test_the_job_yaml_artifact_resubmits_the_same_job(kernel: Kernel) -> None:
    from eigen.jobfile import load_job_file

    request = job_request(seed=5, labels={"team": "q"}, options={"max_iters": "3"}, parameter_bindings=[{}])
    job, _ = kernel.submit(request)
    finish(kernel, job.id)
    folder = kernel.pipeline.artifacts.folder(job.id)
    assert load_job_file(folder / "job.yaml") == request


def hold_compiles(kernel: Kernel, compiler: FakeCompiler) -> threading.Event:
    """Compiles of programs containing 'hold' wait until the returned event is set."""
    release = threading.Event()
    original = compiler.compile

    def compile(request: CompileRequest) -> CompiledProgram:
        if "hold" in request.program:
            release.wait(10)
        return original(request)

    compiler.compile = compile  # type: ignore[method-assign]
    return release


def test_jobs_that_arrive_together_move_together(kernel: Kernel, compiler: FakeCompiler) -> None:
    batches: list[int] = []
    transitions = kernel.store.transitions
    kernel.store.transitions = lambda batch: batches.append(len(batch)) or transitions(batch)  # type: ignore[method-assign]
    release = hold_compiles(kernel, compiler)
    first, _ = kernel.submit(job_request("OPENQASM 3.0; qubit[2] q; // hold"))
    deadline = time.monotonic() + 5  # the worker has taken it alone: the others queue behind it
    while kernel.get(first.id).state is not JobState.COMPILING and time.monotonic() < deadline:
        time.sleep(0.005)
    waiting = [kernel.submit(job_request(f"OPENQASM 3.0; qubit[2] q; // {i}"))[0] for i in range(10)]
    cancelled = kernel.cancel(waiting[3].id)
    release.set()
    for job in [first, *waiting]:
        finish(kernel, job.id)
    assert cancelled.state is JobState.CANCELLED
    assert kernel.get(waiting[3].id).state is JobState.CANCELLED
    assert [e.state for e in kernel.store.events(waiting[3].id)] == [JobState.PENDING, JobState.CANCELLED]
    for job in [first, *(j for i, j in enumerate(waiting) if i != 3)]:
        events = kernel.store.events(job.id)
        assert [e.seq for e in events] == [1, 2, 3, 4, 5] and events[-1].state is JobState.DONE
        assert kernel.results(job.id).counts == {"00": 100}
    assert max(batches) >= 9  # the nine still waiting moved to COMPILING in one transaction


def test_an_asyncio_watch_sees_what_a_thread_watch_sees(kernel: Kernel) -> None:
    async def states(job_id: str) -> list[JobState]:
        return [event.state async for event in kernel.watch_async(job_id) if event.kind == "state"]

    job, _ = kernel.submit(job_request())
    live = asyncio.run(states(job.id))
    assert live == [JobState.PENDING, JobState.COMPILING, JobState.QUEUED, JobState.RUNNING, JobState.DONE]
    assert asyncio.run(states(job.id)) == live  # again once it ended: the same, then the end
    with pytest.raises(NotFound):
        asyncio.run(states("no-such-job"))


def test_a_watch_reads_the_job_state_again_only_after_a_quiet_wait(
    kernel: Kernel, drivers: FakeDrivers
) -> None:
    job, gate = running_held(kernel, drivers)
    heads: list[str] = []
    head = kernel.store.head
    kernel.store.head = lambda job_id: heads.append(job_id) or head(job_id)  # type: ignore[method-assign]
    cursor = WatchCursor(
        kernel.bus, kernel.store, kernel.watching.state, job.id, after_seq=4
    )  # after RUNNING: nothing new yet
    assert cursor.next() == [] and not cursor.over
    cursor.waited(news=True)  # woken by an event: the next read of events finds it
    assert heads == []
    cursor.waited(news=False)  # a wait that timed out: the job may have ended unseen
    assert heads == [job.id]
    gate.set()
    assert [e.state for e in kernel.watch(job.id, after_seq=4)] == [JobState.DONE]


def test_an_asyncio_watch_ends_when_the_kernel_stops(kernel: Kernel, drivers: FakeDrivers) -> None:
    drivers.gate = threading.Event()  # the job runs until the test lets it go

    async def watch(job_id: str) -> list[JobState]:
        seen: list[JobState] = []
        async for event in kernel.watch_async(job_id):
            seen.append(event.state)
            if event.state is JobState.RUNNING:
                threading.Thread(target=kernel.stop, daemon=True).start()
        return seen

    job, _ = kernel.submit(job_request())
    seen = asyncio.run(asyncio.wait_for(watch(job.id), 10))
    assert seen[-1] is JobState.RUNNING
    drivers.gate.set()


def test_small_circuits_queued_together_run_in_one_driver_call(
    tmp_path: Path, compiler: FakeCompiler, drivers: FakeDrivers
) -> None:
    kernel = Kernel(
        MemoryJobStore(), ArtifactStore(tmp_path), compiler, drivers, KernelSettings(execute_workers=1)
    )
    kernel.start()
    try:
        drivers.gate = threading.Event()  # the first job holds the one execute worker
        first, _ = kernel.submit(job_request())
        assert drivers.started.wait(5)
        batch = [kernel.submit(job_request(f"OPENQASM 3.0; qubit[2] q; // {i}"))[0] for i in range(5)]
        failing, _ = kernel.submit(job_request("OPENQASM 3.0; qubit[2] q; // fail-run"))
        deadline = time.monotonic() + 5
        while any(kernel.get(j.id).state is not JobState.QUEUED for j in [*batch, failing]):
            assert time.monotonic() < deadline, "the jobs never queued"
            time.sleep(0.01)
        drivers.gate.set()
        for job in [first, *batch, failing]:
            finish(kernel, job.id)
        assert drivers.batches == [6]  # the queued six in one call
        for job in [first, *batch]:
            assert kernel.get(job.id).state is JobState.DONE and kernel.results(job.id).counts == {"00": 100}
        failed = kernel.get(failing.id)  # its error is its own: the others of its batch are DONE
        assert failed.state is JobState.ERROR and failed.error_code == "EIGEN_EXECUTION_FAILED"
    finally:
        kernel.stop()


class FailingArtifacts(ArtifactStore):
    """Refuses, as a full disk would, the files named in ``refused`` of jobs whose
    program contains 'doomed'."""

    def __init__(self, root: Path, refused: set[str]) -> None:
        super().__init__(root)
        self.refused = refused
        self.doomed: set[str] = set()
        self.batches: list[int] = []

    def put_many(self, artifacts: Sequence[Artifact]) -> list[str | None]:
        self.batches.append(len(artifacts))
        written = super().put_many([a for a in artifacts if not self._refuses(a)])
        errors = iter(written)
        return ["No space left on device" if self._refuses(a) else next(errors) for a in artifacts]

    def _refuses(self, artifact: Artifact) -> bool:
        if artifact.name == "program.qasm" and b"doomed" in artifact.data:
            self.doomed.add(artifact.job_id)
        return artifact.job_id in self.doomed and published_name(artifact.name) in self.refused


@pytest.mark.parametrize("refused", ["compiled.qasm", "results.json"])
def test_a_job_whose_artifacts_cannot_be_written_ends_in_error_alone(
    tmp_path: Path, compiler: FakeCompiler, drivers: FakeDrivers, refused: str
) -> None:
    artifacts = FailingArtifacts(tmp_path, {refused})
    settings = KernelSettings(execute_workers=1, supervise_interval_s=0.05)
    kernel = Kernel(MemoryJobStore(), artifacts, compiler, drivers, settings)
    kernel.data.probe_every_s = 0.05
    kernel.start()
    try:
        release = hold_compiles(kernel, compiler)
        first, _ = kernel.submit(job_request("OPENQASM 3.0; qubit[2] q; // hold"))
        doomed, _ = kernel.submit(job_request("OPENQASM 3.0; qubit[2] q; // doomed"))
        fine, _ = kernel.submit(job_request("OPENQASM 3.0; qubit[2] q; // fine"))
        release.set()
        states = {job.id: finish(kernel, job.id)[-1] for job in (first, doomed, fine)}
        assert states == {first.id: JobState.DONE, doomed.id: JobState.ERROR, fine.id: JobState.DONE}
        failed = kernel.get(doomed.id)  # retried when the folder could be written, then given up
        assert failed.error_code == "EIGEN_RESOURCE_EXHAUSTED" and "No space left on device" in (
            failed.error_summary or ""
        )
        assert kernel.store.result(doomed.id) is None  # never DONE, so no result either
        if refused == "compiled.qasm":  # it never reached the queue
            assert JobState.QUEUED not in [e.state for e in kernel.store.events(doomed.id)]
        assert "results.json" in artifacts.names(fine.id)
        assert max(artifacts.batches) > 5  # a batch's files went out together
    finally:
        kernel.stop()


def test_wait_async_returns_when_the_job_ends_or_the_wait_runs_out(
    kernel: Kernel, drivers: FakeDrivers
) -> None:
    job, gate = running_held(kernel, drivers)
    started = time.monotonic()
    assert asyncio.run(kernel.wait_async(job.id, 0.2)) is False  # still RUNNING
    assert 0.15 < time.monotonic() - started < 5

    async def wait_then_release() -> bool:
        waiting = asyncio.ensure_future(kernel.wait_async(job.id, 10))
        await asyncio.sleep(0.05)
        gate.set()
        return await waiting

    assert asyncio.run(wait_then_release()) is True
    assert kernel.get(job.id).state is JobState.DONE
    assert asyncio.run(kernel.wait_async(job.id, 10)) is True  # ended already: at once
    with pytest.raises(NotFound):
        asyncio.run(kernel.wait_async("no-such-job", 1))


def test_submissions_from_an_event_loop_are_stored_together(kernel: Kernel) -> None:
    batches: list[int] = []
    create_many = kernel.store.create_many
    kernel.store.create_many = lambda batch: batches.append(len(batch)) or create_many(batch)  # type: ignore[method-assign]

    async def submit_many() -> list[str]:
        jobs = await asyncio.gather(*(kernel.submit_async(job_request(), owner="me") for _ in range(20)))
        return [job.id for job, _ in jobs]

    ids = asyncio.run(submit_many())
    assert len(set(ids)) == 20 and sum(batches) == 20
    assert len(batches) < 20  # those that arrived together shared a transaction
    for job_id in ids:
        assert finish(kernel, job_id)[-1] is JobState.DONE
        assert kernel.get(job_id).owner == "me"
    with pytest.raises(InvalidArgument, match="cannot parse"):  # checked before the intake
        asyncio.run(kernel.submit_async(job_request("bad program")))
    kernel.stop()
    with pytest.raises(Unavailable, match="shutting down"):  # nothing is taken once stopped
        asyncio.run(kernel.submit_async(job_request()))


def test_a_batch_is_stored_in_one_transaction(kernel: Kernel) -> None:
    batches: list[int] = []
    create_many = kernel.store.create_many
    kernel.store.create_many = lambda batch: batches.append(len(batch)) or create_many(batch)  # type: ignore[method-assign]
    jobs, _ = kernel.submit_batch([job_request() for _ in range(5)])
    assert batches == [5] and [kernel.get(job.id).state for job in jobs]
