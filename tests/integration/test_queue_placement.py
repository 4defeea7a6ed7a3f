"""A waiting job's place in the queue through a real server: GetJob (gRPC and REST) and
``eigen-cli status`` show its position on its device's queue, an estimated start and why;
a higher class goes ahead; a job a worker holds, or one that ended, has none."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from eigen.config.settings import Settings
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import job, submit, wait

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server whose ``test:held`` device runs one job at a time."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("placement"), http_port=0, device_capacity={HELD: 1})
    with EmbeddedServer(settings) as running:
        yield running


def reached(stub: jobs_pb2_grpc.JobServiceStub, job_id: str, state: pb.JobState.ValueType) -> pb.Job:
    """The job once one of its events is ``state`` (its watch, not a poll)."""
    for event in stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id), timeout=60):
        if event.state == state:
            return stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id))
    raise AssertionError(f"job {job_id} never reached {pb.JobState.Name(state)}")


def test_queued_jobs_show_position_estimated_start_and_why(one_slot: EmbeddedServer) -> None:
    with grpc.insecure_channel(one_slot.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        with holding(one_slot) as held:
            running = submit(stub, job(target=HELD, shots=10))
            held.wait_held()
            normal = [submit(stub, job(target=HELD, shots=10, seed=i)) for i in range(2)]
            for queued in normal:
                reached(stub, queued.id, pb.JOB_STATE_QUEUED)
            before = time.time()
            second = stub.GetJob(jobs_pb2.GetJobRequest(job_id=normal[1].id))
            assert second.HasField("placement")
            place = second.placement
            assert (place.stage, place.device, place.position, place.slots) == ("execute", HELD, 2, 1)
            assert "priority 50 (normal)" in place.reason
            assert f"1 ahead on {HELD} (capacity 1)" in place.reason
            assert place.estimated_start.ToNanoseconds() / 1e9 >= before - 1

            urgent = submit(stub, job(target=HELD, shots=10, priority=80))
            reached(stub, urgent.id, pb.JOB_STATE_QUEUED)
            first = stub.GetJob(jobs_pb2.GetJobRequest(job_id=urgent.id)).placement
            assert first.position == 1 and "priority 80 (high)" in first.reason
            assert stub.GetJob(jobs_pb2.GetJobRequest(job_id=normal[1].id)).placement.position == 3
            assert not stub.GetJob(jobs_pb2.GetJobRequest(job_id=running.id)).HasField("placement")

            rest = httpx.get(f"{one_slot.http_address}/v1/jobs/{normal[0].id}", timeout=30).json()
            assert rest["placement"]["position"] == 2 and rest["placement"]["device"] == HELD
            assert rest["placement"]["estimated_start"] and rest["placement"]["stage"] == "execute"
        for ended in (running, *normal, urgent):
            wait(stub, ended.id)
            done = stub.GetJob(jobs_pb2.GetJobRequest(job_id=ended.id))
            assert done.state == pb.JOB_STATE_DONE and not done.HasField("placement")


def test_status_shows_the_queue_line(one_slot: EmbeddedServer, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from eigen.cli.main import app

    with grpc.insecure_channel(one_slot.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        with holding(one_slot) as held:
            submit(stub, job(target=HELD, shots=10))
            held.wait_held()
            queued = submit(stub, job(target=HELD, shots=10, seed=3))
            reached(stub, queued.id, pb.JOB_STATE_QUEUED)
            runner = CliRunner()
            env = {"EIGEN_ENDPOINT": one_slot.address, "COLUMNS": "80", "EIGEN_DATA_DIR": str(tmp_path)}
            shown = runner.invoke(app, ["status", queued.id], env=env)
            as_json = runner.invoke(app, ["status", queued.id, "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "#1 on test:held, starts about" in " ".join(shown.output.split())
    assert '"position": 1' in as_json.output and '"queue"' in as_json.output
