"""A PostgreSQL server and a Redis server of a test's own, that the test can stop and start
again (an outage drill) without touching the shared ones.

:class:`PrivatePostgres` runs the distribution's PostgreSQL binaries as the ``postgres``
OS user (``initdb`` refuses root) on a data folder of the test, with trust authentication,
listening on 127.0.0.1 and a free port, its unix socket in the same folder.
:class:`PrivateRedis` runs ``redis-server`` on 127.0.0.1 and a free port, without
persistence (a restart is an empty Redis). Both wait, within a bound, until the server
answers; ``stop`` and ``start`` keep the port (and PostgreSQL its data); the context
managers always stop the server, whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.integration.test_four_processes import free_port

POSTGRES_BIN = Path(os.environ.get("EIGEN_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
START_TIMEOUT_S = 30.0


class PrivatePostgres:
    """A PostgreSQL cluster in a folder of its own under the system's temporary folder (a
    test's ``tmp_path`` is root's alone: the ``postgres`` user cannot reach it), database
    ``eigen``; :meth:`init` creates and starts it, :meth:`remove` deletes the folder."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="eigen-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/eigen"
        self.running = False

    def _as_postgres(self, *command: str, timeout_s: float = START_TIMEOUT_S) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
        )

    def init(self) -> None:
        """initdb (trust authentication), start, and create the database ``eigen``."""
        if not (POSTGRES_BIN / "initdb").exists() or shutil.which("runuser") is None:
            pytest.skip(f"no PostgreSQL binaries in {POSTGRES_BIN} (or no runuser)")
        shutil.chown(self.folder, "postgres", "postgres")
        self._as_postgres(
            str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        self.start()
        admin = sa.create_engine(self.url.rsplit("/", 1)[0] + "/postgres", poolclass=NullPool)
        try:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("CREATE DATABASE eigen"))
        finally:
            admin.dispose()

    def start(self) -> None:
        """Start the server on the same port and data; returns once it accepts connections."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._as_postgres(
            str(POSTGRES_BIN / "pg_ctl"), "start", "-D", str(self.data), "-w",
            "-t", str(int(START_TIMEOUT_S)), "-l", str(self.folder / "server.log"), "-o", options,
        )  # fmt: skip
        self.running = True

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: every session is ended, as when the server restarts."""
        if not self.running:
            return
        self._as_postgres(str(POSTGRES_BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w")
        self.running = False

    def log(self, limit: int = 3000) -> str:
        """The end of the server's log (for a failing drill's message)."""
        with contextlib.suppress(OSError):
            return (self.folder / "server.log").read_text(errors="replace")[-limit:]
        return ""


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started :class:`PrivatePostgres`; stopped and its folder removed on exit."""
    server = PrivatePostgres()
    try:
        server.init()
        yield server
    finally:
        try:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                server.stop()
        finally:
            shutil.rmtree(server.folder, ignore_errors=True)


class PrivateRedis:
    """``redis-server`` on 127.0.0.1:``port`` (a free one unless given), no persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it answers PING."""
        server = shutil.which("redis-server")
        if server is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    alive = self.process.poll() is None
                    assert alive and time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.05)  # polling the server's port: it has no event to wait on
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@contextlib.contextmanager
def private_redis(port: int | None = None) -> Iterator[PrivateRedis]:
    """A started :class:`PrivateRedis`, stopped on exit."""
    server = PrivateRedis(port)
    try:
        server.start()
        yield server
    finally:
        server.stop()
