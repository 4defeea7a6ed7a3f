"""The shell commands of docs/deployment.md run as written.

Every block fenced ```` ```sh test:<scenario> ```` belongs to a scenario; the blocks of one
scenario, in page order, make one ``bash -euo pipefail`` script. It runs in an empty
temporary folder that links the repository's ``examples/`` and ``deploy/``, with this
interpreter's ``bin/`` first on PATH, on loopback only: every port variable the page
documents is a free port on 127.0.0.1, ``EIGEN_DATA_DIR`` a temporary folder, and
``DB_NAME`` a fresh ``eigen_docs_<random>`` on the PostgreSQL server at 127.0.0.1:5432
(user postgres, trust authentication). The script runs in a process group of its own,
which is killed when it ends, passes, fails or runs past its time limit; the database is
dropped whatever happened.

Scenarios that need PostgreSQL skip when it is unreachable, except under ``EIGEN_CI=1``,
where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deployment.md"
LINKED = ("examples", "deploy")  # what the commands read, relative to the repository root
FENCE = re.compile(r"^```sh test:(?P<scenario>[a-z0-9-]+)[ \t]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)

PORT_VARIABLES = (
    "API_PORT",
    "KERNEL_PORT",
    "COMPILER_PORT",
    "DRIVERS_PORT",
    "API_HTTP_PORT",
    "KERNEL_HTTP_PORT",
    "COMPILER_HTTP_PORT",
    "DRIVERS_HTTP_PORT",
)
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_ADMIN_URL = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"
NEEDS_POSTGRES = {"postgres"}
TIME_LIMIT_S = 60.0  # per scenario; the page's own waits give up after 40 s
STOP_TIMEOUT_S = 10.0


def scenarios(text: str | None = None) -> dict[str, str]:
    """Scenario name -> its script (the blocks, in page order)."""
    found: dict[str, list[str]] = {}
    for match in FENCE.finditer(DOC.read_text(encoding="utf-8") if text is None else text):
        found.setdefault(match["scenario"], []).append(match["body"])
    return {name: "\n".join(blocks) for name, blocks in found.items()}


def free_ports(count: int) -> list[int]:
    """Distinct free ports on 127.0.0.1 (held open together, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def postgres_problem() -> str | None:
    """Why the PostgreSQL server the page uses cannot be reached, or None."""
    engine = sa.create_engine(PG_ADMIN_URL, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    reason = f"PostgreSQL at {PG_HOST}:{PG_PORT} (user {PG_USER}) is unreachable: {problem}"
    if os.environ.get("EIGEN_CI") == "1":
        pytest.fail(f"{reason}. EIGEN_CI=1: the documented PostgreSQL commands must run", pytrace=False)
    pytest.skip(reason)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A database name for the page to create; dropped on exit if it exists."""
    name = f"eigen_docs_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        engine = sa.create_engine(PG_ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            engine.dispose()


@contextmanager
def database_for(scenario: str) -> Iterator[str | None]:
    """A throwaway database name for a scenario that needs PostgreSQL, else None."""
    if scenario not in NEEDS_POSTGRES:
        yield None
        return
    with throwaway_database() as name:
        yield name


def require_tools(scenario: str) -> None:
    """The programs the page calls besides Eigen's own."""
    tools = ["bash", "curl"] + (["createdb", "dropdb", "psql"] if scenario in NEEDS_POSTGRES else [])
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"the documented commands need {', '.join(missing)} on PATH"
    if os.environ.get("EIGEN_CI") == "1":
        pytest.fail(f"{reason} (EIGEN_CI=1)", pytrace=False)
    pytest.skip(reason)


def clean_environment(work: Path) -> dict[str, str]:
    """The environment of the script: no outside EIGEN_* or PG* settings, the venv first."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not (key.startswith(("EIGEN_", "PG")) and key != "EIGEN_CI") and key not in PORT_VARIABLES
    }
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["EIGEN_DATA_DIR"] = str(work / "data")
    env["COLUMNS"] = "120"  # rich tables on a pipe
    env.update(zip(PORT_VARIABLES, map(str, free_ports(len(PORT_VARIABLES))), strict=True))
    return env


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies do not count: once bash
    has gone, its children are reaped by init, maybe later)."""
    proc = Path("/proc")
    if proc.is_dir():
        for stat in proc.glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # it ended while we looked
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_group(pgid: int) -> None:
    """SIGTERM the script's process group, then SIGKILL what is left after a while."""
    for signum, patience in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        if not group_alive(pgid):
            return
        try:
            os.killpg(pgid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + patience
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


def run_scenario(script: str, work: Path, env: dict[str, str]) -> tuple[int, str, bool]:
    """Run ``script``; (exit code, output, whether processes outlived the script)."""
    for name in LINKED:
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    (work / "scenario.sh").write_text("set -euo pipefail\n" + script, encoding="utf-8")
    log = work / "scenario.log"
    with log.open("wb") as out:
        # A file, not a pipe, for the output: background servers inherit it, and a pipe
        # would stay open as long as any of them lives.
        process = subprocess.Popen(
            ["bash", "scenario.sh"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        pgid = process.pid
        leftover = False
        try:
            try:
                code = process.wait(timeout=TIME_LIMIT_S)
            except subprocess.TimeoutExpired:
                code = -1
            if code != -1:
                deadline = time.monotonic() + 3.0  # what the page started, it stops
                while group_alive(pgid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                leftover = group_alive(pgid)
        finally:
            stop_group(pgid)
            if process.poll() is None:
                process.kill()
                process.wait()
    return code, log.read_text(encoding="utf-8", errors="replace"), leftover


def tail(output: str, lines: int = 60) -> str:
    return "\n".join(output.splitlines()[-lines:])


# -- the page ------------------------------------------------------------------------------
def test_the_page_has_the_tested_scenarios() -> None:
    found = scenarios()
    assert {"four-roles", "postgres", "example-config"} <= set(found), sorted(found)
    for name in ("four-roles", "postgres"):
        script = found[name]
        assert "eigen-cli submit --endpoint 127.0.0.1:$API_PORT" in script
        assert "examples/bell-qasm3/job.yaml --watch" in script
        assert "0.0.0.0" not in script.replace("0.0.0.0 serves", "")  # loopback only
    assert all(f"--role {role}" in found["four-roles"] for role in ("api", "kernel", "compiler"))
    assert "--role driver-manager" in found["four-roles"]
    for command in ("createdb", "eigen-server migrate --database-url", "dropdb"):
        assert command in found["postgres"]


def test_fences_are_read_in_page_order() -> None:
    text = (
        "```sh test:a\necho 1\n```\n\n```sh\nnot run\n```\n"
        "```sh test:b\necho 2\n```\n```sh test:a\necho 3\n```\n"
    )
    assert scenarios(text) == {"a": "echo 1\n\necho 3\n", "b": "echo 2\n"}


@pytest.mark.parametrize("scenario", sorted(scenarios()))
def test_documented_commands_run(scenario: str, tmp_path: Path) -> None:
    script = scenarios()[scenario]
    require_tools(scenario)
    env = clean_environment(tmp_path)
    if scenario in NEEDS_POSTGRES:
        require_postgres()
        env.update(PGHOST=PG_HOST, PGPORT=str(PG_PORT), PGUSER=PG_USER)
    started = time.monotonic()
    with database_for(scenario) as database:
        if database is not None:
            env["DB_NAME"] = database
        code, output, leftover = run_scenario(script, tmp_path, env)
    elapsed = time.monotonic() - started
    assert code != -1, f"scenario {scenario} ran past {TIME_LIMIT_S:.0f} s:\n{tail(output)}"
    assert code == 0, f"scenario {scenario} exited with {code} after {elapsed:.1f} s:\n{tail(output)}"
    assert not leftover, f"scenario {scenario} left processes running:\n{tail(output)}"
    if "eigen-cli submit" in script:
        assert re.search(r"job [0-9a-f]{32}: DONE", output), tail(output)
