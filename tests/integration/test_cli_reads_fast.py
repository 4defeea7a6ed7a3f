"""Embedded ``eigen-cli`` reads come from the data folder, without qiskit or the stack.

With no endpoint and no server on the folder, ``status``, ``jobs``, ``results``, ``watch`` of
an ended job and ``backends`` (once a stack recorded the device list) read the store
read-only (:mod:`eigen.server.folder_view`): the real CLI process imports neither qiskit nor
SQLAlchemy (``EIGEN_CLI_DEBUG_MODULES`` prints what it imported), takes no lock on the folder
and answers as a server on the same folder does. Commands that need a kernel (``submit``)
still start the stack. No timings here: ``benchmarks/cli_latency.py`` measures them.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from eigen.kernel.store.migrate import head_revision as alembic_head
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.datalock import OWNER_FILE, read_holder
from eigen.server.embedded import EmbeddedServer
from eigen.server.folder_view import DEVICES_FILE, head_revision, open_view
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, job, submit

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEBUG = "EIGEN_CLI_DEBUG_MODULES: "
HEAVY = {"qiskit", "qiskit_aer", "sqlalchemy", "alembic", "stim", "numpy", "scipy"}
# Nor does a read import gRPC or protobuf (the stack's client brings them, when started)...
GRPC = {"grpc", "google"}
# ... nor these modules of eigen (sys.modules, seen with MODULES_SCRIPT).
GRPC_MODULES = ("eigen.proto", "eigen.client.channel", "eigen.client.client")
# What a read that prints once has no use for: the spinner of a terminal's follow and the
# Ctrl-C guard of a submission (each a few ms of import on every command otherwise).
NOT_FOR_READS = ("rich.progress", "eigen.cli.interrupt")
# Nor the authenticator's libraries: a read of the folder checks no credential (~100 ms).
AUTHENTICATION = {"jwt", "cryptography", "pydantic_settings"}
MODULES = "eigen modules: "
MODULES_SCRIPT = f"""
import atexit, sys
atexit.register(lambda: print({MODULES!r} + " ".join(sorted(sys.modules)), file=sys.stderr))
from eigen.cli.main import run
sys.argv[0] = "eigen-cli"
run()
"""


def cli(
    data_dir: Path, *args: str, endpoint: str = "", modules: bool = False
) -> subprocess.CompletedProcess[str]:
    """The real ``eigen-cli`` at 80 columns on ``data_dir``, reporting its imports (and
    every module it imported, with ``modules``)."""
    env = {k: v for k, v in os.environ.items() if k != "EIGEN_ENDPOINT"}
    env.update(EIGEN_DATA_DIR=str(data_dir), COLUMNS="80", NO_COLOR="1", EIGEN_CLI_DEBUG_MODULES="1")
    if endpoint:
        env["EIGEN_ENDPOINT"] = endpoint
    command = [sys.executable, *(["-c", MODULES_SCRIPT] if modules else ["-m", "eigen.cli"]), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def imported(done: subprocess.CompletedProcess[str]) -> set[str]:
    lines = [line for line in done.stderr.splitlines() if line.startswith(DEBUG)]
    assert len(lines) == 1, done.stderr
    return set(lines[0].removeprefix(DEBUG).split())


def modules_of(done: subprocess.CompletedProcess[str]) -> set[str]:
    lines = [line for line in done.stderr.splitlines() if line.startswith(MODULES)]
    assert len(lines) == 1, done.stderr
    return set(lines[0].removeprefix(MODULES).split())


def without_debug(text: str) -> str:
    return "\n".join(
        line for line in text.splitlines() if not line.startswith(DEBUG) and not line.startswith(MODULES)
    )


@dataclass
class Folder:
    path: Path
    done: str  # a DONE job
    failed: str  # a job that ended other than DONE (CANCELLED while it ran)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Folder]:
    """A data folder with a DONE job submitted by the embedded CLI itself and a job
    cancelled while it ran."""
    path = tmp_path_factory.mktemp("folder")
    done = cli(path, "submit", str(EXAMPLES / "bell-qasm3" / "job.yaml"), "--json")
    assert done.returncode == 0, done.stderr
    assert HEAVY & imported(done)  # submitting needs the stack
    with (
        EmbeddedServer(data_dir=path) as server,
        holding(server) as held,
        grpc.insecure_channel(server.address) as channel,
    ):
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        running = submit(stub, job(BELL, target=HELD, shots=10))
        held.wait_held()
        stub.CancelJob(jobs_pb2.CancelJobRequest(job_id=running.id))
    assert read_holder(path) is None  # the stacks let the folder go
    yield Folder(path, json.loads(done.stdout)["id"], running.id)


def assert_read_from_folder(done: subprocess.CompletedProcess[str], folder: Folder) -> None:
    heavy = (HEAVY | GRPC | AUTHENTICATION) & imported(done)
    assert not heavy, f"a read imported {sorted(heavy)}"
    if any(line.startswith(MODULES) for line in done.stderr.splitlines()):
        grpc_modules = sorted(
            m
            for m in modules_of(done)
            if m in GRPC_MODULES or m.startswith(tuple(f"{g}." for g in GRPC_MODULES))
        )
        assert not grpc_modules, f"a read imported {grpc_modules}"
        unneeded = sorted(set(NOT_FOR_READS) & modules_of(done))
        assert not unneeded, f"a read imported {unneeded}"
    assert not (folder.path / OWNER_FILE).exists()


@pytest.mark.parametrize(
    ("command", "shows"),
    [
        (["status", "{done}"], "{done}"),
        (["status", "{done}", "--json"], "{done}"),
        (["status", "{short}"], "{done}"),
        (["jobs"], "{short}"),
        (["jobs", "--json", "--state", "DONE"], "{done}"),
        (["results", "{done}"], "experiment 0"),
        (["results", "{done}", "--json"], '"counts"'),
        (["watch", "{done}"], "{done}: DONE"),
        (["watch", "{failed}"], "{failed}: CANCELLED"),
    ],
)
def test_reads_import_neither_qiskit_nor_the_stack(folder: Folder, command: list[str], shows: str) -> None:
    names = {"done": folder.done, "failed": folder.failed, "short": folder.done[:8]}
    shown = cli(folder.path, *[a.format(**names) for a in command], modules=True)
    assert shown.returncode in (0, 4), shown.stdout + shown.stderr  # 4: watch of the cancelled job
    assert shows.format(**names) in shown.stdout
    assert_read_from_folder(shown, folder)


def test_backends_are_read_from_the_record_of_the_last_listing(folder: Folder) -> None:
    (folder.path / DEVICES_FILE).unlink(missing_ok=True)
    first = cli(folder.path, "backends", "--json")  # no record: the stack lists and records them
    assert first.returncode == 0, first.stderr
    assert HEAVY & imported(first)
    assert (folder.path / DEVICES_FILE).is_file()
    second = cli(folder.path, "backends", "--json", modules=True)
    assert second.returncode == 0, second.stderr
    assert_read_from_folder(second, folder)
    assert json.loads(second.stdout) == json.loads(first.stdout)


def test_a_job_the_folder_does_not_have_is_not_found_as_today(folder: Folder) -> None:
    missing = "0123456789abcdef0123456789abcdef"
    for command in (["status", missing], ["results", missing], ["watch", missing]):
        shown = cli(folder.path, *command, modules=True)
        assert shown.returncode == 2, shown.stdout + shown.stderr
        assert without_debug(shown.stderr) == f"error EIGEN_NOT_FOUND: job {missing} not found"
        assert_read_from_folder(shown, folder)


def test_the_folder_answers_as_a_server_on_it_does(folder: Folder) -> None:
    commands = [
        ["status", folder.done, "--json"],
        ["status", folder.failed],
        ["jobs", "--json"],
        ["jobs", "--limit", "1", "--json"],
        ["results", folder.done, "--json"],
        ["results", folder.failed],
        ["watch", folder.done],
        ["backends"],
        ["status", "zz"],
    ]
    local = [cli(folder.path, *command) for command in commands]
    with EmbeddedServer(data_dir=folder.path) as server:
        remote = [cli(folder.path, *command, endpoint=server.address) for command in commands]
    for command, mine, theirs in zip(commands, local, remote, strict=True):
        if "--json" in command:  # the same JSON; key order aside (a protobuf Struct keeps none)
            assert json.loads(mine.stdout) == json.loads(theirs.stdout), command
            mine.stdout = theirs.stdout
        folder_said = [
            str(mine.returncode),
            *mine.stdout.splitlines(),
            *without_debug(mine.stderr).splitlines(),
        ]
        server_said = [
            str(theirs.returncode),
            *theirs.stdout.splitlines(),
            *without_debug(theirs.stderr).splitlines(),
        ]
        difference = "\n".join(
            difflib.unified_diff(server_said, folder_said, "server", "folder", lineterm="")
        )
        assert folder_said == server_said, f"{command}:\n{difference}"


def test_the_view_reads_jobs_as_the_store_does(folder: Folder) -> None:
    assert head_revision() == alembic_head()
    view = open_view(folder.path / "eigen.db", folder.path)
    assert view is not None
    store = SqlJobStore(sqlite_url(folder.path / "eigen.db"), migrate=False)
    try:
        for job_id in (folder.done, folder.failed):
            assert view.get(job_id) == store.get(job_id)
            assert view.events(job_id) == store.events(job_id)
            assert view.result(job_id) == store.result(job_id)
    finally:
        store.close()
        view.close()
