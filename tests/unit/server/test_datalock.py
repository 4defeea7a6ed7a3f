"""The data folder lock: one holder at a time, a record of who, stale records taken over."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from eigen import __version__
from eigen.errors import EigenError, FailedPrecondition
from eigen.server.datalock import EMBEDDED, LOCK_FILE, OWNER_FILE, DataFolderInUse, DataLock, read_holder

# A process of its own that takes the folder, says so on stdout and holds it until killed.
_HOLDER = """
import sys
from pathlib import Path
from eigen.server.datalock import DataLock
lock = DataLock(Path(sys.argv[1]))
lock.acquire("all")
lock.set_address("127.0.0.1:50999")
print("held", flush=True)
sys.stdin.read()
"""


@contextmanager
def holder_process(folder: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``folder``'s lock (its record says 127.0.0.1:50999)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "held\n"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def test_acquire_records_the_holder(tmp_path: Path) -> None:
    lock = DataLock(tmp_path / "data")
    lock.acquire("all")
    try:
        holder = read_holder(tmp_path / "data")
        assert holder is not None and holder.alive
        assert (holder.pid, holder.role, holder.address) == (os.getpid(), "all", None)
        assert holder.hostname == socket.gethostname() and holder.version == __version__
        assert holder.started_at.endswith("+00:00")
        lock.set_address("127.0.0.1:50051")
        assert read_holder(tmp_path / "data") == holder.__class__(
            **{**holder.__dict__, "address": "127.0.0.1:50051"}
        )
    finally:
        lock.release()


def test_a_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = DataLock(tmp_path)
    first.acquire("all")
    first.set_address("127.0.0.1:50051")
    try:
        with pytest.raises(DataFolderInUse) as refused:
            DataLock(tmp_path).acquire(EMBEDDED)
        assert isinstance(refused.value, FailedPrecondition) and isinstance(refused.value, EigenError)
        assert str(refused.value) == (
            f"data folder {tmp_path} is in use by eigen-server (pid {os.getpid()}, serving 127.0.0.1:50051); "
            "point the CLI at it with EIGEN_ENDPOINT=127.0.0.1:50051 or use another EIGEN_DATA_DIR"
        )
        assert refused.value.metadata == {
            "data_dir": str(tmp_path),
            "pid": str(os.getpid()),
            "address": "127.0.0.1:50051",
        }
        holder = read_holder(tmp_path)  # the refused attempt changed nothing
        assert holder is not None and holder.alive and holder.role == "all"
    finally:
        first.release()


def test_release_removes_the_record_and_frees_the_folder(tmp_path: Path) -> None:
    lock = DataLock(tmp_path)
    lock.acquire("all")
    lock.release()
    lock.release()  # twice is harmless
    assert not (tmp_path / OWNER_FILE).exists()
    assert read_holder(tmp_path) is None
    again = DataLock(tmp_path)
    again.acquire("kernel")
    try:
        holder = read_holder(tmp_path)
        assert holder is not None and holder.alive and holder.role == "kernel"
    finally:
        again.release()


def test_read_holder_of_a_folder_nobody_used(tmp_path: Path) -> None:
    assert read_holder(tmp_path) is None
    assert read_holder(tmp_path / "missing") is None


def test_another_process_holds_the_folder_until_it_is_killed(tmp_path: Path) -> None:
    with holder_process(tmp_path) as process:
        holder = read_holder(tmp_path)
        assert holder is not None and holder.alive
        assert (holder.pid, holder.address) == (process.pid, "127.0.0.1:50999")
        with pytest.raises(DataFolderInUse, match=f"pid {process.pid}, serving 127.0.0.1:50999"):
            DataLock(tmp_path).acquire("all")
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    stale = read_holder(tmp_path)  # the record outlives the process; the lock does not
    assert stale is not None and not stale.alive and stale.pid == process.pid
    lock = DataLock(tmp_path)
    lock.acquire("all")  # a dead holder's folder is taken over
    try:
        taken = read_holder(tmp_path)
        assert taken is not None and taken.alive and (taken.pid, taken.address) == (os.getpid(), None)
    finally:
        lock.release()


def test_a_stale_record_of_a_live_pid_is_still_stale(tmp_path: Path) -> None:
    """Liveness is the lock, not the pid: a record naming a running process (pid reuse)
    does not keep the folder when nobody holds the lock."""
    record = {"pid": os.getppid(), "hostname": socket.gethostname(), "address": "127.0.0.1:1", "role": "all"}
    (tmp_path / OWNER_FILE).write_text(json.dumps(record))
    (tmp_path / LOCK_FILE).touch()
    holder = read_holder(tmp_path)
    assert holder is not None and not holder.alive and holder.pid == os.getppid()
    lock = DataLock(tmp_path)
    lock.acquire("all")
    try:
        taken = read_holder(tmp_path)
        assert taken is not None and taken.alive and taken.pid == os.getpid()
    finally:
        lock.release()


def test_reading_the_holder_does_not_free_the_folder(tmp_path: Path) -> None:
    lock = DataLock(tmp_path)
    lock.acquire("all")
    try:
        for _ in range(3):
            holder = read_holder(tmp_path)
            assert holder is not None and holder.alive
        with pytest.raises(DataFolderInUse):
            DataLock(tmp_path).acquire("all")
    finally:
        lock.release()


def test_a_held_lock_without_a_record_reads_as_alive(tmp_path: Path) -> None:
    lock = DataLock(tmp_path)
    lock.acquire("all")
    try:
        (tmp_path / OWNER_FILE).unlink()  # as between taking the lock and writing the record
        holder = read_holder(tmp_path)
        assert holder is not None and holder.alive and holder.pid == 0
        with pytest.raises(DataFolderInUse, match="pid unknown, not serving yet"):
            DataLock(tmp_path).acquire("all")
    finally:
        lock.release()


@pytest.mark.parametrize(
    ("role", "says"),
    [
        (EMBEDDED, "in use by an embedded Eigen stack (pid {pid}, not serving yet); wait for it"),
        ("kernel", "in use by eigen-server (pid {pid}, role kernel); point the CLI at its api server"),
    ],
)
def test_the_refusal_says_what_holds_the_folder(tmp_path: Path, role: str, says: str) -> None:
    lock = DataLock(tmp_path)
    lock.acquire(role)
    try:
        with pytest.raises(DataFolderInUse) as refused:
            DataLock(tmp_path).acquire("all")
        assert says.format(pid=os.getpid()) in str(refused.value)
    finally:
        lock.release()


def test_the_lock_is_not_inherited_by_child_processes(tmp_path: Path) -> None:
    """Driver and writer processes the kernel starts must not keep the folder locked once the
    kernel is gone: the lock's descriptor is closed on exec."""
    lock = DataLock(tmp_path)
    lock.acquire("all")
    try:
        assert lock.held and lock._fd is not None
        assert not os.get_inheritable(lock._fd)
    finally:
        lock.release()
    assert not lock.held


def test_a_folder_that_cannot_hold_a_lock_is_a_failed_precondition(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(FailedPrecondition, match=r"data folder .*file.*: cannot open eigen\.lock"):
        DataLock(tmp_path / "file").acquire("all")


def test_an_unwritable_record_still_keeps_the_folder(tmp_path: Path) -> None:
    """The record is a hint; the lock is the guarantee, and it holds without one."""
    (tmp_path / OWNER_FILE).mkdir()  # the record cannot be replaced
    lock = DataLock(tmp_path)
    lock.acquire("all")
    try:
        lock.set_address("127.0.0.1:50051")
        holder = read_holder(tmp_path)
        assert holder is not None and holder.alive and holder.pid == 0
        with pytest.raises(DataFolderInUse, match="pid unknown"):
            DataLock(tmp_path).acquire("all")
    finally:
        lock.release()


def test_a_probe_in_progress_is_not_taken_for_a_holder(tmp_path: Path) -> None:
    """Two readers probing a free folder at the same instant both see it free."""
    (tmp_path / LOCK_FILE).touch()
    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # as another reader's probe holds it
        assert read_holder(tmp_path) is None
    finally:
        os.close(fd)
