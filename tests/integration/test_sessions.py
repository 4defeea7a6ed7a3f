"""Sessions through a real server: a session's jobs go ahead of the device's queue and run
back to back; a job names an ACTIVE session of its tenant on its target or is refused with
the field; close takes no more jobs and lets those in it finish; cancel and max time cancel
its unfinished jobs; the idle timeout closes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from eigen.client import Client
from eigen.client.sessions import ClientSession
from eigen.config.settings import Settings
from eigen.errors import FailedPrecondition, InvalidArgument, NotFound
from eigen.models.job import Job
from eigen.models.session import SESSION_LABEL, SessionState
from eigen.models.state import JobState
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("sessions"), http_port=0, device_capacity={HELD: 1})
    with EmbeddedServer(settings) as running:
        yield running


@pytest.fixture
def client(one_slot: EmbeddedServer) -> Iterator[Client]:
    with Client(one_slot.address, timeout=60) as opened:
        yield opened


def queued(client: Client, job_id: str) -> Job:
    """The job once it waits on its device's queue (its watch, not a poll)."""
    for event in client.watch(job_id):
        if event.state in (JobState.QUEUED, *[s for s in JobState if s.terminal]):
            break
    return client.get(job_id)


def last_message(client: Client, job_id: str) -> str:
    """The message of the job's last event (why it ended)."""
    return list(client.watch(job_id))[-1].message


def test_a_sessions_jobs_run_in_their_lane_ahead_of_the_queue(
    client: Client, one_slot: EmbeddedServer
) -> None:
    """The device's one slot is held and three jobs wait for it; a session's jobs do not:
    the session lane runs them one after the other (the second waits only for the first)."""
    with holding(one_slot) as held:
        blocker = client.submit(BELL, target=HELD, shots=10)
        held.wait_held()
        backlog = [client.submit(BELL, target=HELD, shots=10, seed=i, priority=90) for i in range(3)]
        for job in backlog:
            queued(client, job.job_id)
        with client.session(HELD) as session:
            assert isinstance(session, ClientSession) and session.info.state is SessionState.ACTIVE
            first = session.submit(BELL, shots=10, seed=10)
            held.wait_held(2)  # running beside the blocker, in the session lane
            second = queued(client, session.submit(BELL, shots=10, seed=11).job_id)
            assert second.placement is not None and second.placement.position == 1
            assert "in the sessions' lane" in second.placement.reason
            assert f"in session {session.id}" in second.placement.reason
            assert client.get(first.job_id).state is JobState.RUNNING
            assert all(client.get(job.job_id).state is JobState.QUEUED for job in backlog)
            assert second.request.labels[SESSION_LABEL] == session.id
        assert session.info.state is SessionState.CLOSED  # the block closed it; its jobs still run
    mine = [first.job_id, second.id]
    ended = {job_id: client.wait(job_id) for job_id in [blocker.job_id, *[j.job_id for j in backlog], *mine]}
    assert all(job.state is JobState.DONE for job in ended.values()), ended
    last_backlog = max(ended[job.job_id].started_at or 0.0 for job in backlog)
    assert all((ended[job_id].started_at or 0.0) < last_backlog for job_id in mine)


def test_a_job_must_name_an_active_session_on_its_target(client: Client) -> None:
    session = client.session(HELD)
    with pytest.raises(InvalidArgument) as wrong_target:
        client.submit(BELL, target="sim:stabilizer", shots=10, session_id=session.id)
    assert wrong_target.value.violations[0].field.endswith("session_id")
    assert "is on test:held" in wrong_target.value.message
    with pytest.raises(NotFound):
        client.submit(BELL, target=HELD, shots=10, session_id="0" * 32)
    with pytest.raises(InvalidArgument):
        client.submit(BELL, target=HELD, shots=10, session_id="not-a-session")
    assert session.close().state is SessionState.CLOSED
    with pytest.raises(FailedPrecondition) as closed:
        session.submit(BELL, shots=10)
    assert "CLOSED (closed by request)" in closed.value.message
    with pytest.raises(NotFound):
        client.get_session("f" * 32)
    assert client.session(HELD, max_time=10, idle=20).info.idle_s == 10  # never idle past its end
    with pytest.raises(NotFound):
        client.session("sim:nowhere")


def test_cancel_cancels_the_sessions_unfinished_jobs(client: Client, one_slot: EmbeddedServer) -> None:
    with holding(one_slot) as held:
        blocker = client.submit(BELL, target=HELD, shots=10)
        held.wait_held()
        session = client.session(HELD)
        mine = [session.submit(BELL, shots=10, seed=i) for i in range(2)]
        for job in mine:
            queued(client, job.job_id)
        cancelled = session.cancel()
        assert cancelled.state is SessionState.CANCELLED and cancelled.ended_at is not None
        for job in mine:
            assert client.wait(job.job_id).state is JobState.CANCELLED
            assert "its session cancelled by request" in last_message(client, job.job_id)
    assert client.wait(blocker.job_id).state is JobState.DONE


def test_idle_closes_and_max_time_expires_with_its_jobs(client: Client, one_slot: EmbeddedServer) -> None:
    idle = client.session(HELD, max_time=60, idle=0.3)
    time.sleep(max(0.0, idle.info.idle_at - time.time()) + 0.05)  # its idle deadline, on the clock
    assert idle.status().state is SessionState.CLOSED and "idle for 0.3 s" in idle.info.reason
    with holding(one_slot) as held:
        blocker = client.submit(BELL, target=HELD, shots=10)
        held.wait_held()
        short = client.session(HELD, max_time=1.0, idle=1.0)
        job = short.submit(BELL, shots=10)
        queued(client, job.job_id)
        ended = client.wait(job.job_id)  # the expiry duty cancels it once the session's time is up
        assert ended.state is JobState.CANCELLED and "max time" in last_message(client, job.job_id)
        assert short.status().state is SessionState.EXPIRED
    assert client.wait(blocker.job_id).state is JobState.DONE


def test_sessions_over_grpc_status_codes(one_slot: EmbeddedServer) -> None:
    from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc

    with grpc.insecure_channel(one_slot.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        opened = stub.OpenSession(jobs_pb2.OpenSessionRequest(target=HELD))
        assert opened.state == "ACTIVE" and opened.expires_at.seconds > opened.created_at.seconds
        with pytest.raises(grpc.RpcError) as bad:
            stub.OpenSession(jobs_pb2.OpenSessionRequest(target=HELD, max_time_s=-1))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetSession(jobs_pb2.SessionRequest(session_id="a" * 32))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert stub.CancelSession(jobs_pb2.SessionRequest(session_id=opened.id)).state == "CANCELLED"
    assert httpx.get(f"{one_slot.http_address}/health/live", timeout=10).status_code == 200


def test_sessions_over_rest(one_slot: EmbeddedServer) -> None:
    with httpx.Client(base_url=one_slot.http_address, timeout=30) as rest:
        opened = rest.post("/v1/sessions", json={"target": HELD, "idle_s": 60})
        assert opened.status_code == 201, opened.text
        session = opened.json()
        assert session["state"] == "ACTIVE" and session["idle_s"] == 60
        body = {
            "program": {"source": BELL},
            "target": "sim:stabilizer",
            "shots": 10,
            "session_id": session["id"],
        }
        refused = rest.post("/v1/jobs", json={"job": body})
        assert refused.status_code == 400 and "session_id" in refused.text
        body["target"] = HELD
        accepted = rest.post("/v1/jobs", json={"job": body})
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["job"]["labels"][SESSION_LABEL] == session["id"]
        closed = rest.post(f"/v1/sessions/{session['id']}:close").json()
        assert closed["state"] == "CLOSED" and closed["ended_at"]
        assert rest.get(f"/v1/sessions/{session['id']}").json()["state"] == "CLOSED"
        assert rest.get(f"/v1/sessions/{'0' * 32}").status_code == 404
        assert rest.get("/v1/sessions/nope").status_code == 400
        assert rest.post("/v1/sessions", json={"target": HELD, "max_time_s": -1}).status_code in (400, 422)


def test_the_cli_opens_uses_and_closes_a_session(one_slot: EmbeddedServer, tmp_path: Path) -> None:
    env = {**os.environ, "EIGEN_ENDPOINT": one_slot.address, "COLUMNS": "80", "EIGEN_DATA_DIR": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "eigen-cli"), *args], env=env, capture_output=True, text=True, timeout=120
        )

    opened = cli("session", "open", "--target", "sim:stabilizer", "--idle", "60", "--json")
    assert opened.returncode == 0, opened.stderr
    session = json.loads(opened.stdout)
    assert session["state"] == "ACTIVE" and session["idle_s"] == 60
    job = Path(REPO / "examples/bell-qasm3/job.yaml")
    submitted = cli("submit", str(job), "--target", "sim:stabilizer", "--session", session["id"], "--json")
    assert submitted.returncode == 0, submitted.stderr
    accepted = json.loads(submitted.stdout)
    assert accepted["session_id"] == session["id"]
    assert json.loads(cli("status", accepted["id"], "--json").stdout)["session_id"] == session["id"]
    wrong = cli("submit", str(job), "--session", session["id"])  # its target is sim:statevector
    assert wrong.returncode == 2 and "session_id" in wrong.stderr and "is on sim:stabilizer" in wrong.stderr
    shown = cli("session", "status", session["id"])
    assert shown.returncode == 0 and "ACTIVE" in shown.stdout and "sim:stabilizer" in shown.stdout
    closed = cli("session", "close", session["id"])
    assert closed.returncode == 0 and "CLOSED" in closed.stdout and "closed by request" in closed.stdout
    late = cli("submit", str(job), "--target", "sim:stabilizer", "--session", session["id"])
    assert late.returncode == 2 and "CLOSED" in late.stderr
    assert cli("session", "cancel", "0" * 32).returncode == 2  # NOT_FOUND: a user error


HOLD_S = 2.0


@pytest.fixture(scope="module")
def holding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("session-holds"), http_port=0, session_hold_s=HOLD_S)
    with EmbeddedServer(settings) as running:
        yield running


def test_a_session_holds_its_device_between_its_jobs(holding_server: EmbeddedServer) -> None:
    """After a session's job ran, no job outside the session starts on its device until the
    session was quiet for ``session_hold_s``; another device's jobs run meanwhile."""
    with Client(holding_server.address, timeout=60) as client:
        session = client.session("sim:stabilizer")
        mine = client.wait(session.submit(BELL, shots=10, seed=1).job_id)
        assert mine.state is JobState.DONE and mine.finished_at is not None
        outside = client.submit(BELL, target="sim:stabilizer", shots=10, seed=2)
        elsewhere = client.wait(client.submit(BELL, target="sim:statevector", shots=10, seed=3).job_id)
        waiting = queued(client, outside.job_id)
        if waiting.state is JobState.QUEUED:  # as long as the hold lasts (the machine may be slow)
            assert waiting.placement is not None and "held for a session" in waiting.placement.reason
        ended = client.wait(outside.job_id)
        assert ended.state is JobState.DONE and ended.started_at is not None
        assert ended.started_at >= mine.finished_at + HOLD_S - 0.1  # not before the hold's end
        assert elsewhere.state is JobState.DONE and elsewhere.started_at is not None
        assert elsewhere.started_at < mine.finished_at + HOLD_S  # another device is not held
        session.close()
