"""What Ctrl-C means for a job, and the jobs an embedded stack resumes when it starts.

An embedded ``eigen-cli`` runs the whole stack in its own process, so a job it submitted
runs there too. Ctrl-C stops the stack; the job is not lost: it stays in the data folder's
store (QUEUED, or RUNNING with its hybrid checkpoint) and the next kernel that starts on the
folder (``eigen-cli submit``, ``watch`` or ``cancel`` without an endpoint, or
``eigen-server serve``) resumes it. :func:`report` says so on stderr, with the commands to
follow or cancel it; with an endpoint it says the job keeps running on the server.

So that such a resumption is never unseen, :func:`announce_resumed` prints one line when an
embedded stack is about to start on a folder that holds unfinished jobs.

Both read the store file with the standard library's ``sqlite3``, read-only: they run before
the stack starts or after it stopped, and must not import it or write anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape

from eigen.models.state import JobState

STORE_FILE = "eigen.db"  # Settings.sqlite_path: the store of a folder without database_url
DATA_DIR_ENV = "EIGEN_DATA_DIR"
UNFINISHED = tuple(state.value for state in JobState if not state.terminal)
EXIT_CODE = 130  # 128 + SIGINT, what shells report for a Ctrl-C
MAX_LISTED = 5  # ids named in the resumption line; the rest are counted


class FolderSettings(Protocol):
    """What is needed of the stack's settings to find its store file."""

    data_dir: Path
    database_url: str


@dataclass(frozen=True)
class StoredJob:
    id: str
    state: JobState


def submission_key(given: str) -> str:
    """The idempotency key of one CLI submission: the user's, else a new one. The CLI
    makes it (rather than letting the SDK do so) to find the job after an interrupted
    submit call, when it does not know whether the job was accepted."""
    return given or uuid.uuid4().hex


def store_file(settings: FolderSettings) -> Path | None:
    """The SQLite file of the settings' store; None for one not read here (PostgreSQL,
    in-memory SQLite): then nothing is announced and the report names no state."""
    if not settings.database_url:
        return Path(settings.data_dir) / STORE_FILE
    prefix = "sqlite:///"
    url = settings.database_url
    if url.startswith(prefix) and url[len(prefix) :].partition("?")[0] not in ("", ":memory:"):
        return Path(url[len(prefix) :].partition("?")[0])
    return None


@contextlib.contextmanager
def _read_only(path: Path | None) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection to the store file; None when there is none to read."""
    if path is None or not path.is_file():
        yield None
        return
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        yield None
        return
    try:
        connection.execute("PRAGMA busy_timeout=5000")
        yield connection
    finally:
        connection.close()


def _query(path: Path | None, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with _read_only(path) as connection:
        if connection is None:
            return []
        try:
            return list(connection.execute(sql, params).fetchall())
        except sqlite3.Error:  # not a store, or one of another layout: nothing to say
            return []


def unfinished_jobs(settings: FolderSettings) -> list[StoredJob]:
    """The jobs a kernel starting on the folder would resume, oldest first."""
    marks = ", ".join("?" for _ in UNFINISHED)
    rows = _query(
        store_file(settings),
        f"SELECT id, state FROM jobs WHERE state IN ({marks}) ORDER BY created_at, id",
        UNFINISHED,
    )
    return [StoredJob(str(job_id), JobState(state)) for job_id, state in rows]


def stored_job(settings: FolderSettings, job_id: str = "", key: str = "") -> StoredJob | None:
    """The job ``job_id`` in the folder's store, or the one submitted with idempotency key ``key``."""
    if job_id:
        rows = _query(store_file(settings), "SELECT id, state FROM jobs WHERE id = ?", (job_id,))
    elif key:
        rows = _query(store_file(settings), "SELECT id, state FROM jobs WHERE idempotency_key = ?", (key,))
    else:
        return None
    return StoredJob(str(rows[0][0]), JobState(rows[0][1])) if rows else None


def resumption_line(jobs: list[StoredJob]) -> str:
    """``resuming 1 job left from an earlier command: ID (eigen-cli watch ID)``."""
    if len(jobs) == 1:
        job_id = jobs[0].id
        return f"resuming 1 job left from an earlier command: {job_id} (eigen-cli watch {job_id})"
    named = ", ".join(job.id for job in jobs[:MAX_LISTED])
    more = f" and {len(jobs) - MAX_LISTED} more" if len(jobs) > MAX_LISTED else ""
    return f"resuming {len(jobs)} jobs left from earlier commands: {named}{more} (eigen-cli watch ID)"


def announce_resumed(console: Console, settings: FolderSettings) -> list[StoredJob]:
    """Call just before an embedded stack starts: one line on ``console`` (stderr) naming
    the unfinished jobs its kernel is about to resume, so they do not run unseen."""
    jobs = unfinished_jobs(settings)
    if jobs:
        console.print(escape(resumption_line(jobs)), highlight=False, soft_wrap=True)
    return jobs


@dataclass(frozen=True)
class Where:
    """Where the job of an interrupted submit was sent: the embedded stack's folder
    (``settings``), or a server (``endpoint``; ``option`` is what the follow-up commands
    need to reach it, e.g. `` -e host:port`` when it was given as a flag)."""

    settings: FolderSettings | None
    endpoint: str = ""
    option: str = ""

    @classmethod
    def of(cls, session: Any, endpoint_flag: str | None) -> Where:
        """Read off a :class:`eigen.cli.session.Session` while it is still open."""
        holder = getattr(session, "holder", None)
        if holder is not None:  # the folder's own server: the CLI finds it again by itself
            return cls(None, str(getattr(holder, "address", "") or "the server of the data folder"))
        if session.endpoint:
            return cls(None, session.endpoint, f" -e {session.endpoint}" if endpoint_flag else "")
        return cls(_stack_settings(session))


def _stack_settings(session: Any) -> FolderSettings:
    """The settings of the session's embedded stack, or the ones it would have started with."""
    settings = getattr(getattr(session, "_server", None), "settings", None)
    if settings is not None:
        return settings  # type: ignore[no-any-return]
    from eigen.cli.local_stack import local_stack

    data_dir = os.environ.get(DATA_DIR_ENV)
    return local_stack().embedded(Path(data_dir) if data_dir else None).settings  # never started


class Guard:
    """Around an ``eigen-cli submit`` (outside its session): a Ctrl-C ends the command with
    exit code :data:`EXIT_CODE` and a :func:`report` of the job, once the session closed
    (an embedded stack stopped, so the store says where the job was left).

    The first Ctrl-C says at once that the stack is stopping; a second one, during that
    stop, is reported the same way (the job is in the store either way).
    Set ``session`` when the session is open and ``job_id`` once the job is accepted.
    """

    def __init__(self, console: Console, key: str, endpoint_flag: str | None) -> None:
        self.console = console
        self.key = key
        self.endpoint_flag = endpoint_flag
        self.session: Any = None
        self.job_id = ""
        self.where: Where | None = None
        self._previous: Any = None

    def __enter__(self) -> Guard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.where is None and self.session is not None:
            self.where = Where.of(self.session, self.endpoint_flag)  # while the session is open
            if getattr(self.session, "stack_started", False):
                self.console.print(
                    "interrupted: stopping the embedded Eigen stack...",
                    highlight=False,
                )
        raise KeyboardInterrupt

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if not isinstance(exc, KeyboardInterrupt):
            return False
        if self.session is not None:  # before it opened, nothing was submitted
            where = self.where or Where.of(self.session, self.endpoint_flag)
            report(self.console, where, job_id=self.job_id, key=self.key)
        return True


def report(console: Console, where: Where, *, job_id: str, key: str) -> None:
    """Say on stderr what became of the job of an interrupted ``submit``.

    ``job_id`` is empty when the interrupt came before the submit call answered; the job
    is then looked up by its idempotency key ``key`` (embedded), or the key is named so
    that submitting again with it cannot make a second job (a server).
    """
    lines: list[str] = []
    if where.settings is not None:
        found = stored_job(where.settings, job_id, key)
        if found is None:
            lines.append("interrupted before the job was stored: nothing was submitted")
        else:
            lines += _embedded_lines(found, escape(str(where.settings.data_dir)))
    elif job_id:
        lines.append(f"interrupted: job {job_id} keeps running on the server at {escape(where.endpoint)}")
        lines += _commands(job_id, escape(where.option))
    else:
        lines.append(
            f"interrupted before the server at {escape(where.endpoint)} answered: the job may or may "
            f"not have been accepted; submitting again with --idempotency-key {escape(key)} returns "
            "it instead of making a second one"
        )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _embedded_lines(job: StoredJob, folder: str) -> list[str]:
    if job.state.terminal:
        done = f"eigen-cli results {job.id}" if job.state is JobState.DONE else f"eigen-cli status {job.id}"
        return [f"interrupted: job {job.id} had already ended ({job.state.value}): {done}"]
    how = "from its checkpoint" if job.state is JobState.RUNNING else "from the queue"
    return [
        f"interrupted: job {job.id} stays in the queue of the data folder {folder} (state {job.state.value})",
        f"  it resumes ({how}) the next time a kernel starts on that folder: eigen-cli "
        "submit, watch or cancel without an endpoint, or eigen-server serve",
        *_commands(job.id, ""),
    ]


def _commands(job_id: str, option: str) -> list[str]:
    return [
        f"  follow it: eigen-cli watch{option} {job_id}",
        f"  cancel it: eigen-cli cancel{option} {job_id}",
    ]
