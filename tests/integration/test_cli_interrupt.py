"""Issue 16 (safety): Ctrl-C during ``eigen-cli submit --watch``, with a real SIGINT.

A real ``eigen-cli`` process, embedded (no endpoint) on a tmp data folder, runs a long hybrid
job; once its stderr progress shows the job RUNNING, the process group gets SIGINT, as a
terminal's Ctrl-C sends it. It must exit 130 and say what became of the job (it stays in the
folder's queue, and how to follow or cancel it); the job is not lost: ``status`` shows it
unfinished, a later ``eigen-cli watch`` resumes it (saying so on stderr) and it ends DONE
exactly once. With an endpoint, the job keeps running on the server and the CLI says so.

stderr is a pseudo-terminal (the progress display is drawn for terminals), stdout a pipe.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eigen.cli import interrupt
from eigen.client.client import Client
from eigen.models.state import JobState
from eigen.server.embedded import EmbeddedServer

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).with_name("eigen-cli"))
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
JOB_YAML = """apiVersion: eigen.os/v1
kind: QuantumJob
metadata:
  name: long-vqe
spec:
  target: sim:statevector
  entrypoint: main
  program:
    path: program.eigen.py
  metadata:
    shots: 2000
    seed: 7
    optimizer: SPSA
    max_iters: {iterations}
"""
WAIT_S = 120.0  # an upper bound on each wait for the CLI, never a pause


def job_folder(folder: Path, iterations: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "vqe-h2" / "program.eigen.py", folder / "program.eigen.py")
    (folder / "job.yaml").write_text(JOB_YAML.format(iterations=iterations))
    return folder


def environment(data_dir: Path | None, endpoint: str = "") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EIGEN_ENDPOINT", "EIGEN_DATA_DIR")}
    env.update(COLUMNS="80", TERM="xterm")
    if data_dir is not None:
        env["EIGEN_DATA_DIR"] = str(data_dir)
    if endpoint:
        env["EIGEN_ENDPOINT"] = endpoint
    return env


@dataclass
class Interrupted:
    returncode: int
    stdout: str
    stderr: str  # as read from the terminal, escape sequences removed

    @property
    def job_id(self) -> str:
        found = re.search(r"submitted job (\w+)", self.stdout)
        assert found, self.stdout + self.stderr
        return found.group(1)


def ctrl_c_once_running(
    args: list[str], cwd: Path, env: dict[str, str], when: tuple[str, bytes] = ("stderr", b"RUNNING")
) -> Interrupted:
    """Run ``eigen-cli args`` with stderr on a pseudo-terminal and stdout on a pipe; SIGINT
    its process group as soon as ``when`` shows on that stream (by default: stderr's
    progress shows the job RUNNING); read both until it exits."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [CLI, *args],
        cwd=cwd,
        env=env,
        stdin=slave,
        stderr=slave,
        stdout=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a shell's foreground job
    )
    os.close(slave)
    assert process.stdout is not None
    pipe = process.stdout.fileno()
    seen = {master: b"", pipe: b""}
    watched = master if when[0] == "stderr" else pipe
    sent = False
    deadline = time.monotonic() + WAIT_S
    try:
        open_fds = [master, pipe]
        while open_fds and time.monotonic() < deadline:
            ready, _, _ = select.select(open_fds, [], [], deadline - time.monotonic())
            if not ready:
                break
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # the terminal closed: the process is gone
                    chunk = b""
                if not chunk:
                    open_fds.remove(fd)
                seen[fd] += chunk
            if not sent and when[1] in seen[watched]:
                os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
                sent = True
        returncode = process.wait(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        os.close(master)
    stderr = seen[master].decode(errors="replace")
    assert sent, f"{when} never showed: {stderr[-2000:]}"
    return Interrupted(returncode, seen[pipe].decode(), ANSI.sub("", stderr).replace("\r", ""))


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=WAIT_S, check=False
    )


@dataclass
class Embedded:
    run: Interrupted
    data_dir: Path
    cwd: Path
    status: subprocess.CompletedProcess[str]
    left: list[interrupt.StoredJob]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Embedded:
    """One embedded ``submit --watch`` interrupted while its job runs, and what was left."""
    cwd = job_folder(tmp_path_factory.mktemp("interrupt"), iterations=60)
    data_dir = cwd / "data"
    env = environment(data_dir)
    run = ctrl_c_once_running(["submit", "--watch", "--job", "job.yaml"], cwd, env)
    status = run_cli("status", "--json", run.job_id, cwd=cwd, env=env)
    left = interrupt.unfinished_jobs(EmbeddedServer(data_dir=data_dir).settings)
    return Embedded(run, data_dir, cwd, status, left)


@pytest.fixture(scope="module")
def resumed(embedded: Embedded) -> subprocess.CompletedProcess[str]:
    """The next command on the folder: ``eigen-cli watch`` of the interrupted job."""
    return run_cli("watch", embedded.run.job_id, cwd=embedded.cwd, env=environment(embedded.data_dir))


def test_ctrl_c_exits_130_and_says_what_happens_to_the_job(embedded: Embedded) -> None:
    run = embedded.run
    job_id = run.job_id
    assert run.returncode == 130, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    message = run.stderr[run.stderr.index("interrupted") :]
    assert f"job {job_id} stays in the queue of the data folder {embedded.data_dir}" in message
    assert re.search(r"\(state (RUNNING|QUEUED)\)", message), message
    assert "the next time a kernel starts on that folder" in message
    assert f"eigen-cli cancel {job_id}" in message
    assert f"eigen-cli watch {job_id}" in message


def test_the_interrupted_job_is_left_unfinished_in_the_folder(embedded: Embedded) -> None:
    assert embedded.status.returncode == 0, embedded.status.stderr
    shown = json.loads(embedded.status.stdout)
    assert JobState(shown["state"]) in (JobState.QUEUED, JobState.RUNNING), shown
    assert [job.id for job in embedded.left] == [embedded.run.job_id]
    assert interrupt.resumption_line(embedded.left) == (
        f"resuming 1 job left from an earlier command: {embedded.run.job_id} "
        f"(eigen-cli watch {embedded.run.job_id})"
    )


def test_the_next_command_resumes_it_and_it_ends_exactly_once(
    embedded: Embedded, resumed: subprocess.CompletedProcess[str]
) -> None:
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1].endswith(": DONE"), resumed.stdout
    terminal = tuple(state.value for state in JobState if state.terminal)
    marks = ", ".join("?" * len(terminal))
    with sqlite3.connect(embedded.data_dir / "eigen.db") as db:
        ((state, attempt),) = db.execute("SELECT state, attempt FROM jobs").fetchall()
        ends = db.execute(
            f"SELECT count(*) FROM job_events WHERE job_id = ? AND state IN ({marks})",
            (embedded.run.job_id, *terminal),
        ).fetchone()[0]
    assert state == "DONE" and ends == 1
    assert attempt == 2  # the first run, cut short, and the resumed one


def test_the_resumption_is_announced_on_stderr(
    embedded: Embedded, resumed: subprocess.CompletedProcess[str]
) -> None:
    job_id = embedded.run.job_id
    line = f"resuming 1 job left from an earlier command: {job_id} (eigen-cli watch {job_id})"
    assert line in " ".join(resumed.stderr.split()), resumed.stderr


def test_ctrl_c_during_a_plain_embedded_submit_says_the_same(tmp_path: Path) -> None:
    """Embedded, plain ``submit`` follows the job too (quietly): Ctrl-C once it is accepted."""
    cwd = job_folder(tmp_path / "work", iterations=60)
    env = environment(tmp_path / "data")
    run = ctrl_c_once_running(["submit", "--job", "job.yaml"], cwd, env, when=("stdout", b"submitted job"))
    assert run.returncode == 130, run.stderr
    message = " ".join(run.stderr[run.stderr.index("interrupted") :].split())
    assert re.search(rf"job {run.job_id} stays in the queue of the data folder \S+ \(state [A-Z]+\)", message)
    assert f"eigen-cli cancel {run.job_id}" in message and f"eigen-cli watch {run.job_id}" in message
    left = interrupt.unfinished_jobs(EmbeddedServer(data_dir=tmp_path / "data").settings)
    assert [job.id for job in left] == [run.job_id]


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(data_dir=tmp_path / "server-data") as server:
        yield server


def test_with_an_endpoint_the_job_keeps_running_on_the_server(remote: EmbeddedServer, tmp_path: Path) -> None:
    cwd = job_folder(tmp_path / "work", iterations=5000)
    env = environment(None, endpoint=remote.address)
    run = ctrl_c_once_running(["submit", "--watch", "--job", "job.yaml"], cwd, env)
    assert run.returncode == 130, run.stderr
    message = " ".join(run.stderr[run.stderr.index("interrupted") :].split())
    assert f"job {run.job_id} keeps running on the server at {remote.address}" in message
    assert f"eigen-cli cancel {run.job_id}" in message
    with Client(remote.address) as client:
        assert client.get(run.job_id).state is JobState.RUNNING
        assert client.cancel(run.job_id).state is JobState.CANCELLED
