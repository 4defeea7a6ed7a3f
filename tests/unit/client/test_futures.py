"""JobFuture mechanics and the as_completed / wait helpers (completed by hand here; the
integration tests drive them with real WatchJob streams)."""

from __future__ import annotations

import threading
import time

import pytest

from eigen.client import (
    FIRST_COMPLETED,
    Cancelled,
    CompilationFailed,
    DeadlineExceeded,
    ExecutionFailed,
    JobFuture,
    as_completed,
    wait,
)
from eigen.client.futures import job_error
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import Experiment, JobResult
from eigen.models.state import JobState

REQUEST = JobRequest(program="OPENQASM 3.0;", language=ProgramLanguage.QASM3, name="unit")


def job(job_id: str, state: JobState = JobState.PENDING, **fields: object) -> Job:
    return Job(id=job_id, request=REQUEST, state=state, created_at=1.0, updated_at=1.0, **fields)  # type: ignore[arg-type]


def future(job_id: str) -> JobFuture:
    def refuse(_: str) -> Job:
        raise AssertionError("not expected")

    return JobFuture(job(job_id), refuse)


def result(job_id: str) -> JobResult:
    return JobResult(job_id, "sim", [Experiment({"0": 1}, 1)])


def test_a_future_is_the_live_job_record() -> None:
    f = future("a")
    assert isinstance(f, Job) and f.id == f.job_id == "a" and f.request.name == "unit"
    f._apply_event(JobEvent("a", 2, JobState.RUNNING, "state", 5.0))
    f._apply_event(JobEvent("a", 1, JobState.QUEUED, "state", 4.0))  # stale: ignored
    assert f.status is JobState.RUNNING and f.last_seq == 2 and f.updated_at == 5.0
    f._apply_event(JobEvent("a", 3, JobState.RUNNING, "progress", 6.0, data={"iteration": 1}))
    assert f.progress == {"iteration": 1} and f.status is JobState.RUNNING
    snapshot = f.job
    assert type(snapshot) is Job and snapshot.state is JobState.RUNNING
    assert f != future("a") and len({f, f}) == 1  # compared by identity
    assert "RUNNING" in repr(f)


def test_result_timeout_callbacks_and_completion() -> None:
    f = future("a")
    seen: list[JobFuture] = []
    f.add_done_callback(seen.append)
    assert not f.done() and f.running()
    with pytest.raises(TimeoutError):
        f.result(timeout=0.05)
    threading.Timer(0.05, lambda: f._set_result(result("a"))).start()
    assert f.result(timeout=5).job_id == "a"
    assert seen == [f] and f.done() and f.exception() is None
    assert f._set_result(result("again")) is False  # the first outcome stays
    late: list[JobFuture] = []
    f.add_done_callback(late.append)  # already done: called at once
    assert late == [f]
    assert f.cancel() is False  # nothing to cancel


def test_job_errors_are_typed() -> None:
    assert isinstance(job_error(job("a", JobState.CANCELLED)), Cancelled)
    assert isinstance(job_error(job("a", JobState.TIMEOUT)), DeadlineExceeded)
    failed = job_error(
        job("a", JobState.ERROR, error_code="EIGEN_COMPILATION_FAILED", error_summary="bad gate")
    )
    assert isinstance(failed, CompilationFailed) and "bad gate" in str(failed)
    assert failed.metadata == {"job_id": "a", "state": "ERROR"}
    assert isinstance(job_error(job("a", JobState.ERROR)), ExecutionFailed)


def test_failed_future_raises_its_error() -> None:
    f = future("a")
    f._set_exception(Cancelled("job a was cancelled"))
    with pytest.raises(Cancelled):
        f.result()
    assert isinstance(f.exception(), Cancelled)


def test_as_completed_yields_in_completion_order_and_times_out() -> None:
    fs = [future(str(i)) for i in range(3)]
    for delay, index in ((0.15, 0), (0.05, 2), (0.1, 1)):
        threading.Timer(delay, lambda i=index: fs[i]._set_result(result(str(i)))).start()
    assert [f.id for f in as_completed(fs, timeout=5)] == ["2", "1", "0"]
    pending = [future("x")]
    with pytest.raises(TimeoutError):
        list(as_completed(pending, timeout=0.05))


def test_wait_first_completed_and_all() -> None:
    fs = [future(str(i)) for i in range(2)]
    fs[1]._set_result(result("1"))
    done, not_done = wait(fs, timeout=1, return_when=FIRST_COMPLETED)
    assert done == {fs[1]} and not_done == {fs[0]}
    started = time.monotonic()
    done, not_done = wait(fs, timeout=0.05)
    assert not_done == {fs[0]} and time.monotonic() - started < 2
    fs[0]._set_exception(Cancelled("x"))
    assert wait(fs).not_done == set()
