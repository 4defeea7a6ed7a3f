"""``eigen-cli`` with no endpoint, beside a server on its data folder (real processes).

The bug this prevents: ``eigen-cli status ID`` without EIGEN_ENDPOINT started a second kernel
on the folder of a running ``eigen-server serve``, which put the server's RUNNING job back in
the queue. Now the CLI finds the folder's live holder and talks to it (one dim line says so),
or, when it cannot (no address recorded yet, nothing answering there), exits 3 saying what to
do; a record left by a dead process is ignored and the folder is read directly.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.datalock import OWNER_FILE, DataLock, read_holder
from tests.fuzzing import served
from tests.integration.helpers import BELL, SLOW, job, submit, wait

pytestmark = pytest.mark.integration


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``eigen-cli`` at 80 columns on ``data_dir``, with no endpoint configured."""
    env = {k: v for k, v in os.environ.items() if k != "EIGEN_ENDPOINT"}
    env.update(EIGEN_DATA_DIR=str(data_dir), COLUMNS="80", NO_COLOR="1")
    command = [sys.executable, "-m", "eigen.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_read_without_endpoint_goes_to_the_folders_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with served(tmp_path) as server, grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        done = submit(stub, job(BELL, shots=100))
        wait(stub, done.id)
        running = submit(stub, job(SLOW, shots=10))  # likely still running while the CLI looks

        line = f"using the eigen-server on this data folder (pid {server.process.pid}, {server.address})"
        status = cli(data_dir, "status", running.id, "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["id"] == running.id
        assert status.stderr.strip() == line
        listed = cli(data_dir, "jobs", "--json")
        assert listed.returncode == 0, listed.stderr
        assert {j["id"] for j in json.loads(listed.stdout)["jobs"]} == {done.id, running.id}
        results = cli(data_dir, "results", done.id, "--json")
        assert results.returncode == 0, results.stderr
        assert sum(json.loads(results.stdout)["experiments"][0]["counts"].values()) == 100

        # the folder is still the server's, and its jobs ran once, by it
        holder = read_holder(data_dir)
        assert holder is not None and holder.alive and holder.pid == server.process.pid
        events = wait(stub, running.id)
        states = [e.state for e in events if e.kind == "state"]
        assert states.count(pb.JOB_STATE_RUNNING) == 1 and states[-1] == pb.JOB_STATE_DONE
        final = stub.GetJob(jobs_pb2.GetJobRequest(job_id=running.id))
        assert (final.state, final.attempt) == (pb.JOB_STATE_DONE, 1)
        assert server.process.poll() is None


def test_a_holder_with_no_address_yet_is_exit_3_and_no_second_kernel(tmp_path: Path) -> None:
    lock = DataLock(tmp_path)
    lock.acquire("all")  # this test process holds the folder, as a server before it listens
    try:
        shown = cli(tmp_path, "status", "0123456789abcdef0123456789abcdef")
        assert shown.returncode == 3, shown.stdout + shown.stderr
        assert f"(pid {os.getpid()}) is not serving yet" in shown.stderr
        assert "EIGEN_ENDPOINT" in shown.stderr
        holder = read_holder(tmp_path)
        assert holder is not None and holder.pid == os.getpid() and holder.alive
        assert not (tmp_path / "eigen.db").exists()  # nobody opened a store on the folder
    finally:
        lock.release()


def test_a_holder_that_does_not_answer_is_exit_3(tmp_path: Path) -> None:
    lock = DataLock(tmp_path)
    lock.acquire("all")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    lock.set_address(address)
    try:
        shown = cli(tmp_path, "jobs")
        assert shown.returncode == 3, shown.stdout + shown.stderr
        assert f"(pid {os.getpid()}) does not answer at {address}" in shown.stderr
        assert not (tmp_path / "eigen.db").exists()
    finally:
        lock.release()


def test_a_record_left_by_a_dead_process_is_ignored(tmp_path: Path) -> None:
    """No live lock: the record is stale and the folder is read directly (NOT_FOUND as a
    server says it), with no line about a server."""
    record = {"pid": 999_999, "address": f"127.0.0.1:{free_port()}", "role": "all", "started_at": ""}
    (tmp_path / OWNER_FILE).write_text(json.dumps(record))
    job_id = "0123456789abcdef0123456789abcdef"
    shown = cli(tmp_path, "status", job_id)
    assert shown.returncode == 2, shown.stdout + shown.stderr
    assert shown.stderr.strip() == f"error EIGEN_NOT_FOUND: job {job_id} not found"
