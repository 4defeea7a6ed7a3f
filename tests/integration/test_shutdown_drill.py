"""Shutdown drill: SIGTERM (and SIGINT) on ``eigen-server serve`` under load, then a restart
on the same data folder. Every job reaches a terminal state exactly once; none is lost.

The server runs as a real subprocess on a free loopback port with a temporary data
folder. In-flight RPCs end, running jobs finish within the grace period, and what did
not run yet (or was cut off) is resumed by the restarted server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from tests.integration.helpers import job

pytestmark = pytest.mark.integration

JOBS = 30
GRACE_S = 10
TERMINAL = {pb.JOB_STATE_DONE, pb.JOB_STATE_ERROR, pb.JOB_STATE_CANCELLED, pb.JOB_STATE_TIMEOUT}
# Wide and shallow: quick to compile, ~0.1 s to simulate, so at the signal some jobs are
# done, one or two running and the rest queued or not compiled yet.
WIDTH = 19
BUSY = (
    f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[{WIDTH}] q;\nbit[{WIDTH}] c;\n'
    + "".join(f"h q[{i}];\ncx q[{i}], q[{(i + 1) % WIDTH}];\n" for i in range(WIDTH))
    + "c = measure q;\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_serving(address: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, f"server exited with {process.returncode}"
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                time.sleep(0.1)
    raise TimeoutError(f"server at {address} did not become healthy")


@contextmanager
def serving(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "EIGEN_DATA_DIR": str(data_dir),
        "EIGEN_SHUTDOWN_GRACE_S": str(GRACE_S),
        "EIGEN_EXECUTE_WORKERS": "2",
    }
    command = [sys.executable, "-m", "eigen.server", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("a") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_serving(f"127.0.0.1:{port}", process)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def stop(process: subprocess.Popen[bytes], signum: int) -> float:
    """Send ``signum``; the server must exit cleanly within the grace period (+ margin)."""
    started = time.monotonic()
    process.send_signal(signum)
    assert process.wait(GRACE_S + 30) == 0
    return time.monotonic() - started


def states(stub: jobs_pb2_grpc.JobServiceStub) -> dict[str, int]:
    listed = stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=500), timeout=10)
    return {j.id: j.state for j in listed.jobs}


def history(stub: jobs_pb2_grpc.JobServiceStub, job_id: str) -> list[pb.JobEvent]:
    events = list(stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id), timeout=120))
    assert events, f"{job_id}: no events"
    after = list(stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id, after_seq=events[-1].event_seq)))
    return events + after


@pytest.mark.parametrize(
    ("signum", "count"), [(signal.SIGTERM, JOBS), (signal.SIGINT, JOBS // 2)], ids=["SIGTERM", "SIGINT"]
)
def test_shutdown_under_load_then_restart_loses_nothing(tmp_path: Path, signum: int, count: int) -> None:
    data_dir, log, port = tmp_path / "data", tmp_path / "server.log", free_port()
    address = f"127.0.0.1:{port}"
    submitted: list[str] = []
    with serving(data_dir, port, log) as process, grpc.insecure_channel(address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        for index in range(count):
            request = jobs_pb2.SubmitJobRequest(job=job(BUSY, name=f"drill-{index}", shots=100, seed=index))
            submitted.append(stub.SubmitJob(request, timeout=30).job.id)
        deadline = time.monotonic() + 60
        while sum(s in TERMINAL for s in states(stub).values()) < 3:
            assert time.monotonic() < deadline, "no job finished"
            time.sleep(0.05)
        # an open stream is an in-flight RPC: it must end, not hold the server up
        watched: list[pb.JobEvent] = []
        watcher = threading.Thread(
            target=lambda: _collect(stub, submitted[-1], watched), name="drill-watch", daemon=True
        )
        watcher.start()
        before = states(stub)
        stop(process, signum)
        watcher.join(GRACE_S + 5)
        assert not watcher.is_alive()
    finished_before = sum(s in TERMINAL for s in before.values())
    assert finished_before < count, "the load ended before the signal: the drill proved nothing"

    with serving(data_dir, port, log) as process, grpc.insecure_channel(address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        for job_id in submitted:
            events = history(stub, job_id)
            terminal = [e for e in events if e.state in TERMINAL and e.kind == "state"]
            assert len(terminal) == 1, f"{job_id}: terminal events {[e.state for e in terminal]}"
            assert events[-1] is terminal[0], f"{job_id}: events after its terminal event"
            assert [e.event_seq for e in events] == list(range(1, len(events) + 1))
            assert terminal[0].state == pb.JOB_STATE_DONE, f"{job_id}: {events[-1].message}"
        assert set(states(stub)) == set(submitted)  # nothing lost, nothing made up
        stop(process, signal.SIGTERM)
    lines = log.read_text()
    assert "Traceback" not in lines, lines[-4000:]
    assert lines.count("heap settled") == 2  # each start froze its warm heap (server/heap.py)


def _collect(stub: jobs_pb2_grpc.JobServiceStub, job_id: str, into: list[pb.JobEvent]) -> None:
    with contextlib.suppress(grpc.RpcError):  # the server went away: that is an end too
        into.extend(stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id), timeout=GRACE_S + 30))
