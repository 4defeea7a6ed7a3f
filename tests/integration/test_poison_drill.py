"""Poison drill (issue 14): the transpiler-panicking program among 1,000 good jobs, with a
crash (SIGKILL) and a restart in the middle. Every good job ends DONE, once.

Two ways in for the poison: through SubmitJob (refused at submit now: a repeated operand
is INVALID_ARGUMENT), and written straight into the store as a PENDING job, as a job
accepted by an older server would be, so that the restarted kernel resumes it first. That
job must end in ERROR with a reason while the workers go on.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import grpc
import pytest

from eigen.config.settings import Settings
from eigen.kernel.store.factory import open_store
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.state import JobState
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from tests.integration.helpers import BELL, details, job
from tests.integration.test_shutdown_drill import TERMINAL, free_port, serving

pytestmark = pytest.mark.integration

POISON = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\ncx q[0], q[0];\n'
GOOD = 1_000
BATCH = 100


def submit_good(stub: jobs_pb2_grpc.JobServiceStub, first: int, count: int) -> list[str]:
    ids: list[str] = []
    for start in range(first, first + count, BATCH):
        batch = [job(BELL, name=f"good-{i}", shots=20, seed=i) for i in range(start, start + BATCH)]
        ids += stub.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=batch), timeout=60).job_ids
    return ids


def inject_poison(data_dir: Path) -> str:
    """A PENDING job with the poison program, written to the store as an older server that
    did not refuse it would have."""
    store = open_store(Settings(data_dir=data_dir))
    try:
        now = time.time()
        poisoned = Job(
            id=uuid.uuid4().hex,
            request=JobRequest(
                name="poison",
                program=POISON,
                language=ProgramLanguage.QASM3,
                target="sim:statevector",
                shots=10,
            ),
            state=JobState.PENDING,
            created_at=now,
            updated_at=now,
            last_seq=1,
        )
        store.create_many([(poisoned, JobEvent(poisoned.id, 1, JobState.PENDING, "state", now, "submitted"))])
    finally:
        store.close()
    return poisoned.id


def final(stub: jobs_pb2_grpc.JobServiceStub, job_id: str, deadline: float) -> pb.Job:
    while True:
        current = stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id), timeout=10)
        if current.state in TERMINAL:
            return current
        left = deadline - time.monotonic()
        assert left > 0, f"{job_id} still {pb.JobState.Name(current.state)}"
        wait = jobs_pb2.GetJobResultsRequest(job_id=job_id, wait_seconds=min(left, 30.0))
        try:
            stub.GetJobResults(wait, timeout=left + 5)
        except grpc.RpcError as error:  # ended other than DONE: read its state again
            assert error.code() is grpc.StatusCode.FAILED_PRECONDITION, error


def test_poison_among_good_jobs_with_a_crash_and_restart(tmp_path: Path) -> None:
    data_dir, log, port = tmp_path / "data", tmp_path / "server.log", free_port()
    address = f"127.0.0.1:{port}"
    with serving(data_dir, port, log) as process, grpc.insecure_channel(address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        good = submit_good(stub, 0, GOOD // 2)
        with pytest.raises(grpc.RpcError) as refused:
            stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=job(POISON, name="poison")), timeout=30)
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert details(refused.value) == ("EIGEN_INVALID_ARGUMENT", ["program"])
        final(stub, good[GOOD // 4], time.monotonic() + 120)  # some done, the rest in flight
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    poisoned = inject_poison(data_dir)
    with serving(data_dir, port, log), grpc.insecure_channel(address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        good += submit_good(stub, GOOD // 2, GOOD // 2)
        deadline = time.monotonic() + 300
        ended = [final(stub, job_id, deadline) for job_id in good]
        bad = final(stub, poisoned, deadline)
    states = {pb.JobState.Name(j.state) for j in ended}
    assert len(ended) == GOOD and states == {"JOB_STATE_DONE"}, states
    assert bad.state == pb.JOB_STATE_ERROR, pb.JobState.Name(bad.state)
    assert "repeated" in bad.error_summary or "duplicate" in bad.error_summary, bad.error_summary
