"""One kernel per data folder, between real processes: a second ``eigen-server serve`` or
EmbeddedServer on a folder in use refuses to start, naming the holder and its address, so a
job RUNNING on the first is never put back in the queue by the second; once the holder is
killed (SIGKILL: nothing cleaned up) the folder is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from eigen.errors import EigenError
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.datalock import DataFolderInUse, read_holder
from eigen.server.embedded import EmbeddedServer
from tests.fuzzing import served
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, job, submit, wait

pytestmark = pytest.mark.integration


def serve_on(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """A second ``eigen-server serve`` on ``data_dir`` (a free port), run to its end."""
    command = [sys.executable, "-m", "eigen.server", "serve", "--host", "127.0.0.1", "--port", "0"]
    command += ["--data-dir", str(data_dir), "--log-level", "WARNING"]
    environment = {**os.environ, "EIGEN_DATA_DIR": str(data_dir), "COLUMNS": "80"}
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)


def in_use(data_dir: Path, owner: str, pid: int, address: str) -> str:
    return (
        f"error: data folder {data_dir} is in use by {owner} (pid {pid}, serving {address}); "
        f"point the CLI at it with EIGEN_ENDPOINT={address} or use another EIGEN_DATA_DIR\n"
    )


def test_a_second_kernel_refuses_a_served_folder_until_its_server_is_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with served(tmp_path) as first:
        holder = read_holder(data_dir)
        assert holder is not None and holder.alive
        assert (holder.pid, holder.address, holder.role) == (first.process.pid, first.address, "all")

        second = serve_on(data_dir)
        assert second.returncode == 2, second.stderr
        assert second.stderr == in_use(data_dir, "eigen-server", first.process.pid, first.address)
        assert "listening" not in second.stdout

        with pytest.raises(DataFolderInUse) as refused:
            EmbeddedServer(data_dir=data_dir).start()
        assert isinstance(refused.value, EigenError)
        assert f"pid {first.process.pid}, serving {first.address}" in str(refused.value)

        first.process.send_signal(signal.SIGKILL)
        first.process.wait(30)
        stale = read_holder(data_dir)  # its record stays behind; its lock went with it
        assert stale is not None and stale.pid == first.process.pid and not stale.alive

        with EmbeddedServer(data_dir=data_dir) as taken_over:
            now = read_holder(data_dir)
            assert now is not None and now.alive
            assert (now.pid, now.address, now.role) == (os.getpid(), taken_over.address, "embedded")
        assert read_holder(data_dir) is None  # a clean stop leaves no record


def test_a_running_job_is_not_run_again_by_a_second_kernel(tmp_path: Path) -> None:
    """The bug this prevents: a second kernel on the store resumed the first one's RUNNING
    job, which then ran twice. Here both attempts are refused while the job is held RUNNING."""
    with (
        EmbeddedServer(data_dir=tmp_path) as server,
        holding(server) as held,
        grpc.insecure_channel(server.address) as channel,
    ):
        jobs = jobs_pb2_grpc.JobServiceStub(channel)
        accepted = submit(jobs, job(BELL, target=HELD, shots=10))
        held.wait_held()
        assert jobs.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id)).state == pb.JOB_STATE_RUNNING

        second = serve_on(tmp_path)
        assert second.returncode == 2, second.stderr
        assert second.stderr == in_use(tmp_path, "an embedded Eigen stack", os.getpid(), server.address)
        with pytest.raises(DataFolderInUse, match=f"pid {os.getpid()}, serving {server.address}"):
            EmbeddedServer(data_dir=tmp_path).start()

        assert jobs.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id)).state == pb.JOB_STATE_RUNNING
        held.release()
        events = wait(jobs, accepted.id)
        states = [event.state for event in events if event.kind == "state"]
        assert states.count(pb.JOB_STATE_RUNNING) == 1 and states[-1] == pb.JOB_STATE_DONE
        done = jobs.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id))
        assert (done.state, done.attempt) == (pb.JOB_STATE_DONE, 1)
        assert held.runs_started == 1
