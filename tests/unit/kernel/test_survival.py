"""Issue 14, kernel side: no exception stops a worker (a foreign panic included), a worker
that dies anyway is replaced and named by readiness until then, queue capacity holds
under concurrent submissions, a failed group commit fails only its bad job, and
validation of a program the compiler has not checked before runs off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from eigen.errors import EigenError, ResourceExhausted
from eigen.kernel.events import EventBus
from eigen.kernel.lifecycle import Lifecycle
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.kernel.submission import new_job
from eigen.models.compiled import CompiledProgram, CompileRequest, ExecutionRequest
from eigen.models.job import Job, JobRequest
from eigen.models.result import ExecutionResult
from eigen.models.state import JobState
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, foreign_panic, job_request


def finish(kernel: Kernel, job_id: str) -> JobState:
    events = [e for e in kernel.watch(job_id) if e.kind == "state"]
    return events[-1].state


class PanickingCompiler(FakeCompiler):
    """Compiles like FakeCompiler, but panics (a foreign BaseException) on 'panic'."""

    def compile(self, request: CompileRequest) -> CompiledProgram:
        if "panic" in request.program:
            raise foreign_panic().with_traceback(None)
        return super().compile(request)


class PanickingDrivers(FakeDrivers):
    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        if "panic-run" in request.circuit.name:
            raise foreign_panic().with_traceback(None)
        return super().execute(request)


@pytest.fixture
def panicking(tmp_path: Path) -> Iterator[Kernel]:
    kernel = Kernel(
        MemoryJobStore(),
        ArtifactStore(tmp_path / "artifacts"),
        PanickingCompiler(),
        PanickingDrivers(),
        KernelSettings(watchdog_interval_s=0.02, compile_timeout_s=30),
    )
    kernel.start()
    yield kernel
    kernel.stop()


@pytest.mark.parametrize("marker", ["panic", "panic-run"])
def test_a_foreign_panic_ends_its_job_in_error_and_the_worker_goes_on(panicking: Kernel, marker: str) -> None:
    assert not isinstance(foreign_panic(), Exception)  # what `except Exception` lets through
    bad, _ = panicking.submit(job_request(f"OPENQASM 3.0; qubit[2] q; // {marker}"))
    assert finish(panicking, bad.id) is JobState.ERROR
    failed = panicking.get(bad.id)
    assert failed.error_code in ("EIGEN_INTERNAL", "EIGEN_EXECUTION_FAILED")
    assert type(foreign_panic()).__name__ in (failed.error_summary or "")
    good, _ = panicking.submit(job_request())
    assert finish(panicking, good.id) is JobState.DONE  # the same workers still serve
    assert panicking.problems() == []


def test_a_poison_job_resumed_after_a_restart_ends_in_error_and_the_rest_run(
    sqlite_store: SqlJobStore, tmp_path: Path
) -> None:
    lifecycle = Lifecycle(sqlite_store, EventBus())  # what a previous run left PENDING
    poison = lifecycle.create(new_job(job_request("qubit[2] q; // panic"), "a", None, ""))
    after = lifecycle.create(new_job(job_request(), "b", None, ""))
    settings = KernelSettings(compile_timeout_s=30)
    artifacts = ArtifactStore(tmp_path / "a")
    kernel = Kernel(sqlite_store, artifacts, PanickingCompiler(), PanickingDrivers(), settings)
    kernel.start()  # resumes the poison job first
    try:
        assert finish(kernel, poison.id) is JobState.ERROR
        assert finish(kernel, after.id) is JobState.DONE
    finally:
        kernel.stop()


def test_a_dead_worker_is_named_until_replaced_and_its_job_ends_in_error(tmp_path: Path) -> None:
    compiler, drivers = FakeCompiler(), FakeDrivers()
    settings = KernelSettings(watchdog_interval_s=0.02, supervise_interval_s=3600)  # supervised by hand
    kernel = Kernel(MemoryJobStore(), ArtifactStore(tmp_path), compiler, drivers, settings)
    kernel.start()
    try:
        compile_batch = kernel.pipeline.compile
        died = threading.Event()

        def exit_once(jobs: Sequence[Job]) -> None:
            kernel.pipeline.compile = compile_batch  # type: ignore[method-assign]
            died.set()
            raise SystemExit("a worker that ends anyway")  # the one kind a loop lets through

        kernel.pipeline.compile = exit_once  # type: ignore[method-assign]
        held, _ = kernel.submit(job_request())
        assert died.wait(5)
        deadline = time.monotonic() + 5
        while not kernel.problems() and time.monotonic() < deadline:
            time.sleep(0.01)  # the thread records its death as it ends
        assert [p for p in kernel.problems() if "eigen-compile-0" in p and "SystemExit" in p]
        kernel.supervise()
        assert kernel.problems() == []
        assert finish(kernel, held.id) is JobState.ERROR
        assert "worker running this job died" in (kernel.get(held.id).error_summary or "")
        good, _ = kernel.submit(job_request())
        assert finish(kernel, good.id) is JobState.DONE  # the replacement compiles
    finally:
        kernel.stop()


async def submitted(kernel: Kernel, request: JobRequest | None = None) -> Job:
    """The job ``kernel.submit_async`` stored (no idempotency key: never deduplicated)."""
    job, deduplicated = await kernel.submit_async(request or job_request())
    assert not deduplicated
    return job


def hold_compiles(compiler: FakeCompiler) -> threading.Event:
    gate = threading.Event()
    compile_job = compiler.compile

    def held(request: CompileRequest) -> CompiledProgram:
        gate.wait(10)
        return compile_job(request)

    compiler.compile = held  # type: ignore[method-assign]
    return gate


def test_queue_capacity_is_exact_under_concurrent_submissions(tmp_path: Path) -> None:
    compiler, drivers = FakeCompiler(), FakeDrivers()
    settings = KernelSettings(queue_capacity=3, queue_full_retry_s=2)
    kernel = Kernel(MemoryJobStore(), ArtifactStore(tmp_path), compiler, drivers, settings)
    kernel.start()
    gate = hold_compiles(compiler)
    try:

        async def submit_all() -> list[Job | BaseException]:
            calls = [submitted(kernel) for _ in range(12)]
            return await asyncio.gather(*calls, return_exceptions=True)

        outcomes = asyncio.run(submit_all())
        accepted = [o for o in outcomes if isinstance(o, Job)]
        refused = [o for o in outcomes if isinstance(o, ResourceExhausted)]
        assert len(accepted) == 3 and len(refused) == 9, outcomes
        assert refused[0].metadata["retry_after_s"] == "2"
        gate.set()
        assert {finish(kernel, job.id) for job in accepted} == {JobState.DONE}
        more, _ = kernel.submit(job_request())  # the slots were given back
        assert finish(kernel, more.id) is JobState.DONE
    finally:
        gate.set()
        kernel.stop()


def test_validation_not_cached_by_the_compiler_runs_off_the_event_loop(
    kernel: Kernel, compiler: FakeCompiler
) -> None:
    entered, gate = threading.Event(), threading.Event()
    validate = compiler.validate

    def slow(request: CompileRequest) -> CompiledProgram:
        if "slow" in request.program:
            entered.set()
            gate.wait(10)
        return validate(request)

    compiler.validate = slow  # type: ignore[method-assign]
    kernel.device(job_request().target)  # known device: only the validation could block

    async def meanwhile() -> float:
        slow_job = asyncio.ensure_future(submitted(kernel, job_request("qubit[2] q; // slow")))
        started = time.monotonic()
        assert await asyncio.to_thread(entered.wait, 10)
        quick = await submitted(kernel)  # the loop serves others meanwhile
        took = time.monotonic() - started
        gate.set()
        assert (await slow_job).state is JobState.PENDING and quick.state is JobState.PENDING
        return took

    try:
        assert asyncio.run(asyncio.wait_for(meanwhile(), 20)) < 5
    finally:
        gate.set()


class CachingCompiler(FakeCompiler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def validated(self, request: CompileRequest) -> CompiledProgram | None:
        self.seen.append(threading.current_thread().name)
        return self._program(request)


def test_validation_the_compiler_has_at_hand_stays_on_the_loop(tmp_path: Path) -> None:
    compiler = CachingCompiler()
    kernel = Kernel(MemoryJobStore(), ArtifactStore(tmp_path), compiler, FakeDrivers(), KernelSettings())
    kernel.start()
    try:
        kernel.device(job_request().target)

        async def submit() -> tuple[Job, str]:
            return await submitted(kernel), threading.current_thread().name

        job, loop_thread = asyncio.run(submit())
        assert compiler.seen == [loop_thread] and finish(kernel, job.id) is JobState.DONE
    finally:
        kernel.stop()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlJobStore]:
    store = SqlJobStore(sqlite_url(tmp_path / "eigen.db"))
    yield store
    store.close()


def grouped_submissions(kernel: Kernel, bad: Job, good: int) -> tuple[list[Job | BaseException], list[int]]:
    """Submit ``bad`` among ``good`` good jobs so that the intake stores them in one group
    (a first submission holds the intake until they have all arrived); the outcomes of
    the bad one and the good ones, in that order, and the sizes of the groups stored."""
    store = kernel.lifecycle.store
    create_many = store.create_many
    sizes: list[int] = []
    gate = threading.Event()

    def held(batch: Sequence[tuple[Job, object]]) -> None:
        sizes.append(len(batch))
        if len(sizes) == 1:
            gate.wait(10)
        create_many(batch)  # type: ignore[arg-type]

    store.create_many = held  # type: ignore[method-assign]

    async def run() -> list[Job | BaseException]:
        first = asyncio.ensure_future(submitted(kernel))
        while not sizes:
            await asyncio.sleep(0.001)
        rest = [kernel._intake.submit(bad), *[submitted(kernel) for _ in range(good)]]
        tasks = [asyncio.ensure_future(call) for call in rest]
        await asyncio.sleep(0.05)  # let every submission reach the intake's queue
        gate.set()
        await first
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        return asyncio.run(run()), sizes
    finally:
        store.create_many = create_many  # type: ignore[method-assign]


def test_a_failed_group_commit_fails_only_its_bad_job_on_sqlite(
    sqlite_store: SqlJobStore, tmp_path: Path
) -> None:
    kernel = Kernel(
        sqlite_store, ArtifactStore(tmp_path / "a"), FakeCompiler(), FakeDrivers(), KernelSettings()
    )
    kernel.start()
    try:
        existing, _ = kernel.submit(job_request())
        duplicate = replace(new_job(job_request(), "mallory", None, ""), id=existing.id)
        outcomes, sizes = grouped_submissions(kernel, duplicate, good=4)
        assert max(sizes) >= 5  # they were stored as one group first
        assert isinstance(outcomes[0], EigenError) and outcomes[0].code == "EIGEN_ALREADY_EXISTS"
        good = [o for o in outcomes[1:] if isinstance(o, Job)]
        assert len(good) == 4, outcomes
        assert {finish(kernel, job.id) for job in good} == {JobState.DONE}
    finally:
        kernel.stop()
