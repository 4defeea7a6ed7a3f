"""Kernel limits and shutdown on in-memory ports: compile timeout, queue capacity, drain,
and the metrics and spans the kernel feeds while jobs run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eigen.errors import ResourceExhausted, Unavailable
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.memory import MemoryJobStore
from eigen.models.compiled import CompiledProgram, CompileRequest, EstimationRequest
from eigen.models.state import JobState
from eigen.observability import metrics
from tests.unit.kernel.conftest import DEVICE, FakeCompiler, FakeDrivers, job_request
from tests.unit.observability.support import assert_linked, recorded_spans, role_of, trace_of

BACKEND = {"backend": DEVICE.name}


class SlowCompiler(FakeCompiler):
    """Compiles a program containing 'slow' only after ``release`` is set (or 10 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def compile(self, request: CompileRequest) -> CompiledProgram:
        if "slow" in request.program:
            self.release.wait(10)
        return super().compile(request)


class Drivers(FakeDrivers):
    """The kernel tests' fake driver-manager, complete as a DriverPort."""

    def estimate(self, request: EstimationRequest) -> list[list[float]]:
        raise NotImplementedError


def make_kernel(tmp_path: Path, compiler: FakeCompiler, drivers: Drivers, **settings: object) -> Kernel:
    values: dict[str, object] = {"watchdog_interval_s": 0.02, "backend_refresh_s": 0.05, **settings}
    return Kernel(
        MemoryJobStore(),
        ArtifactStore(tmp_path / "artifacts"),
        compiler,
        drivers,
        KernelSettings(**values),  # type: ignore[arg-type]
    )


@pytest.fixture
def drivers() -> Drivers:
    return Drivers()


@pytest.fixture
def compiler() -> SlowCompiler:
    return SlowCompiler()


@pytest.fixture
def kernel(tmp_path: Path, compiler: SlowCompiler, drivers: Drivers) -> Iterator[Kernel]:
    started = make_kernel(tmp_path, compiler, drivers, compile_timeout_s=0.3)
    started.start()
    yield started
    compiler.release.set()
    if drivers.gate is not None:
        drivers.gate.set()
    started.stop()


def states(kernel: Kernel, job_id: str) -> list[JobState]:
    return [e.state for e in kernel.watch(job_id) if e.kind == "state"]


def test_a_compile_past_its_timeout_ends_the_job_in_timeout(kernel: Kernel) -> None:
    failed = {**BACKEND, "code": "EIGEN_DEADLINE_EXCEEDED"}
    before = metrics.value("eigen_jobs_failed_total", failed)
    job, _ = kernel.submit(job_request("OPENQASM 3.0; // slow"))
    assert states(kernel, job.id)[-1] is JobState.TIMEOUT
    final = kernel.get(job.id)
    assert final.error_code == "EIGEN_DEADLINE_EXCEEDED"
    assert final.error_summary == "compilation exceeded its timeout of 0.3 s"
    assert metrics.value("eigen_jobs_failed_total", failed) == before + 1
    # the worker is free again: the next job runs while the slow compile is still going
    other, _ = kernel.submit(job_request())
    assert states(kernel, other.id)[-1] is JobState.DONE


def test_queue_capacity_refuses_with_resource_exhausted(tmp_path: Path, drivers: Drivers) -> None:
    compiler = SlowCompiler()
    small = make_kernel(tmp_path, compiler, drivers, queue_capacity=2, compile_timeout_s=0)
    small.start()
    try:
        small.submit(job_request("OPENQASM 3.0; // slow"))  # holds the only compile worker
        deadline = time.monotonic() + 5
        while small.queue_depth() and time.monotonic() < deadline:
            time.sleep(0.01)
        small.submit(job_request())  # the job compiling holds the other slot until it runs
        with pytest.raises(ResourceExhausted, match="queue full"):
            small.submit(job_request())
        with pytest.raises(ResourceExhausted, match="queue full"):
            small.submit_batch([job_request(), job_request(), job_request()])
    finally:
        compiler.release.set()
        small.stop()


def test_metrics_move_as_jobs_run_and_are_cancelled(kernel: Kernel, drivers: Drivers) -> None:
    names = ("eigen_jobs_submitted_total", "eigen_jobs_completed_total", "eigen_jobs_cancelled_total")
    before = {name: metrics.value(name, BACKEND) for name in names}
    stage_counts = {
        stage: metrics.value("eigen_job_stage_seconds_count", {"stage": stage}) for stage in metrics.STAGES
    }
    executions = metrics.value("eigen_job_execution_seconds_count", BACKEND)
    done, _ = kernel.submit(job_request())
    assert states(kernel, done.id)[-1] is JobState.DONE
    drivers.gate = threading.Event()
    drivers.started.clear()
    cancelled, _ = kernel.submit(job_request())
    assert drivers.started.wait(5)
    assert metrics.value("eigen_jobs_running") >= 1
    kernel.cancel(cancelled.id)
    drivers.gate.set()
    assert metrics.value("eigen_jobs_submitted_total", BACKEND) == before[names[0]] + 2
    assert metrics.value("eigen_jobs_completed_total", BACKEND) == before[names[1]] + 1
    assert metrics.value("eigen_jobs_cancelled_total", BACKEND) == before[names[2]] + 1
    assert metrics.value("eigen_job_execution_seconds_count", BACKEND) == executions + 1
    for stage in metrics.STAGES:
        assert metrics.value("eigen_job_stage_seconds_count", {"stage": stage}) > stage_counts[stage]
    moved = {"from_state": "RUNNING", "to_state": "CANCELLED"}
    assert metrics.value("eigen_job_state_transitions_total", moved) >= 1
    assert metrics.value("eigen_queue_capacity") >= 10_000
    deadline = time.monotonic() + 5
    while metrics.value("eigen_backend_available", BACKEND) != 1.0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert metrics.value("eigen_backend_available", BACKEND) == 1.0


def test_pipeline_stages_are_spans_of_the_job_trace(kernel: Kernel) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with recorded_spans() as exporter:
        job, _ = kernel.submit(job_request(), traceparent=traceparent)
        assert states(kernel, job.id)[-1] is JobState.DONE
        time.sleep(0.05)
        spans = trace_of(exporter.get_finished_spans(), int("4bf92f3577b34da6a3ce929d0e0e4736", 16))
    names = {s.name for s in spans}
    assert {"kernel.compile", "kernel.queue_wait", "kernel.execute"} <= names
    assert {"compiler.compile", "driver-manager.execute"} <= names
    assert {role_of(s) for s in spans} == {"kernel", "compiler", "driver-manager"}
    assert_linked(spans)  # one remote parent: the submitter's span


def test_drain_lets_running_jobs_finish_and_leaves_the_rest_queued(kernel: Kernel, drivers: Drivers) -> None:
    drivers.gate = threading.Event()
    jobs = [kernel.submit(job_request())[0] for _ in range(5)]
    assert drivers.started.wait(5)
    threading.Timer(0.3, drivers.gate.set).start()
    assert kernel.drain(grace_s=5.0)
    with pytest.raises(Unavailable, match="shutting down"):
        kernel.submit(job_request())
    kernel.stop()
    kernel.stop()  # idempotent
    final = [kernel.get(j.id).state for j in jobs]
    assert final.count(JobState.DONE) >= 1
    assert all(s in (JobState.DONE, JobState.QUEUED, JobState.PENDING, JobState.COMPILING) for s in final)
    assert all(s is not JobState.RUNNING for s in final)


def test_drain_past_its_grace_leaves_the_job_running_for_the_next_start(
    tmp_path: Path, kernel: Kernel, drivers: Drivers
) -> None:
    drivers.gate = threading.Event()
    job, _ = kernel.submit(job_request())
    assert drivers.started.wait(5)
    assert not kernel.drain(grace_s=0.2)
    kernel.stop(timeout=0.2)
    assert kernel.get(job.id).state is JobState.RUNNING
    drivers.gate.set()
    # a new kernel on the same store re-queues and finishes it
    drivers.gate = None
    restarted = Kernel(kernel.store, kernel.pipeline.artifacts, FakeCompiler(), drivers)
    restarted.start()
    try:
        assert states(restarted, job.id)[-1] is JobState.DONE
        history = restarted.store.events(job.id)
        assert sum(1 for e in history if e.state.terminal) == 1
    finally:
        restarted.stop()
