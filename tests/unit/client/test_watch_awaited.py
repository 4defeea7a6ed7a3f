"""The watcher's pool bound is for futures nobody waits on: a future a caller waits on is
followed at once, even while every pool thread follows another job that has not ended."""

from __future__ import annotations

import threading
from collections.abc import Generator

from eigen.client.futures import JobFuture
from eigen.client.watch import Watcher
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import Experiment, JobResult
from eigen.models.state import JobState

REQUEST = JobRequest(program="OPENQASM 3.0;", language=ProgramLanguage.QASM3, name="unit")


def job(job_id: str, state: JobState = JobState.QUEUED) -> Job:
    return Job(id=job_id, request=REQUEST, state=state, created_at=1.0, updated_at=1.0)


class Source:
    """Job ``slow`` streams nothing until released; every other job is DONE at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.streams: list[str] = []

    def watch(self, job_id: str, after_seq: int = 0) -> Generator[JobEvent, None, None]:
        self.streams.append(job_id)
        if job_id == "slow":
            self.release.wait(30)
        yield JobEvent(job_id, after_seq + 1, JobState.DONE, "state", 2.0)

    def get(self, job_id: str) -> Job:
        return job(job_id, JobState.DONE)

    def results(self, job_id: str) -> JobResult:
        return JobResult(job_id, "sim", [Experiment({"0": 1}, 1)])


def refuse(_: str) -> Job:
    raise AssertionError("not expected")


def test_a_future_waited_on_does_not_queue_behind_the_pool() -> None:
    source = Source()
    watcher = Watcher(source, max_streams=1)
    try:
        slow = watcher.follow(JobFuture(job("slow"), refuse))
        queued = [watcher.follow(JobFuture(job(f"queued-{n}"), refuse)) for n in range(3)]
        assert not queued[-1].done()  # behind the slow stream, the pool's one thread
        assert queued[-1].result(timeout=10).job_id == "queued-2"  # followed at once, on its own
        assert source.streams.count("queued-2") == 1
        source.release.set()
        assert slow.result(timeout=10).job_id == "slow"
        for future in queued:
            assert future.result(timeout=10).job_id == future.id
        assert sorted(source.streams) == ["queued-0", "queued-1", "queued-2", "slow"]  # one stream each
    finally:
        source.release.set()
        watcher.close()
