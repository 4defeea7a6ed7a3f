"""One owner per data folder: an OS lock held by the process that runs the kernel on it.

A kernel recovers the jobs it finds RUNNING in its store at start (they were interrupted by a
crash or a stop), so a second kernel on the same SQLite store and artifacts would put the first
one's running jobs back in the queue and run them twice. The process that runs a kernel on a
data folder (``eigen-server serve`` with role ``all`` or ``kernel``, and the embedded stack)
therefore holds ``<data_dir>/eigen.lock`` with ``flock`` for its whole life, and records who it
is next to it in ``<data_dir>/eigen.owner.json`` (pid, hostname, start time, role, version and,
once its port is bound, the address of its public gRPC endpoint) so that a client finding the
folder taken can talk to that process instead.

The lock, not the record, is the truth: the OS releases it when the holder dies however it
dies (SIGKILL included), so a record left behind by a dead process is stale and the next
kernel takes the folder over. Whether a record's process is alive is tested with a
non-blocking lock attempt, never by its pid alone (pids are reused, and a pid says nothing
about another host). ``flock`` works between processes of one host; on a network file system
it may not, so give each host its own data folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eigen import __version__
from eigen.errors import FailedPrecondition

log = logging.getLogger(__name__)

LOCK_FILE = "eigen.lock"
OWNER_FILE = "eigen.owner.json"
# A read_holder() probe holds the free lock for an instant; an acquire() that loses that race
# tries again for this long before it believes the folder is taken.
_CONTENTION_S = 0.2
_RETRY_S = 0.01
EMBEDDED = "embedded"  # the role an EmbeddedServer records (serve records its --role)


@dataclass(frozen=True)
class Holder:
    """Who owns a data folder, as its record says; ``alive``: the lock is held right now."""

    pid: int
    address: str | None
    role: str
    started_at: str
    alive: bool
    hostname: str = ""
    version: str = ""


class DataFolderInUse(FailedPrecondition):
    """A live process runs a kernel on this data folder (``metadata``: its pid and address)."""


def _lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_FILE


def _owner_path(data_dir: Path) -> Path:
    return data_dir / OWNER_FILE


def _try_lock(fd: int, mode: int = fcntl.LOCK_EX) -> bool:
    """Take the lock on ``fd`` without waiting; False when another holds it."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _is_locked(data_dir: Path) -> bool:
    """Whether some open file (of this process or another) holds the folder's lock now."""
    try:
        fd = os.open(_lock_path(data_dir), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        # Shared: probes of several readers at once do not see each other as the holder.
        if _try_lock(fd, fcntl.LOCK_SH):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


def _read_record(data_dir: Path) -> dict[str, object] | None:
    try:
        record = json.loads(_owner_path(data_dir).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, OSError):
        return None
    return record if isinstance(record, dict) else None


def read_holder(data_dir: Path) -> Holder | None:
    """The folder's owner record, with ``alive`` telling whether its lock is really held.

    None when the folder has no record and no holder. A held lock without a record yet (its
    holder is between taking the lock and writing who it is) gives a Holder with pid 0.
    """
    data_dir = Path(data_dir)
    alive = _is_locked(data_dir)
    record = _read_record(data_dir)
    if record is None:
        return Holder(pid=0, address=None, role="", started_at="", alive=True) if alive else None
    pid = record.get("pid")
    address = record.get("address")
    return Holder(
        pid=pid if isinstance(pid, int) else 0,
        address=address if isinstance(address, str) and address else None,
        role=str(record.get("role", "")),
        started_at=str(record.get("started_at", "")),
        alive=alive,
        hostname=str(record.get("hostname", "")),
        version=str(record.get("version", "")),
    )


def in_use_message(data_dir: Path, holder: Holder) -> str:
    """What a second kernel on the folder says: who holds it and what to do instead."""
    owner = "an embedded Eigen stack" if holder.role == EMBEDDED else "eigen-server"
    who = f"pid {holder.pid}" if holder.pid else "pid unknown"
    if holder.hostname and holder.hostname != socket.gethostname():
        who += f" on {holder.hostname}"
    if holder.address:
        return (
            f"data folder {data_dir} is in use by {owner} ({who}, serving {holder.address}); "
            f"point the CLI at it with EIGEN_ENDPOINT={holder.address} or use another EIGEN_DATA_DIR"
        )
    if holder.role == "kernel":
        return (
            f"data folder {data_dir} is in use by eigen-server ({who}, role kernel); "
            "point the CLI at its api server with EIGEN_ENDPOINT or use another EIGEN_DATA_DIR"
        )
    return (
        f"data folder {data_dir} is in use by {owner} ({who}, not serving yet); "
        "wait for it to listen and point the CLI at it with EIGEN_ENDPOINT, or use another EIGEN_DATA_DIR"
    )


class DataLock:
    """The lock on one data folder, held from :meth:`acquire` to :meth:`release` (or exit).

    Not reentrant across instances: a second DataLock on the same folder, even in the same
    process, is refused while the first holds it (flock locks belong to an open file).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._fd: int | None = None
        self._record: dict[str, object] = {}

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, role: str) -> None:
        """Take the folder for a kernel of ``role`` and record this process as its holder.

        Raises :class:`DataFolderInUse` (a FailedPrecondition) naming the holder's pid and
        address when a live process holds it. A record left by a dead process is replaced.
        """
        if self._fd is not None:
            return
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(_lock_path(self.data_dir), os.O_RDWR | os.O_CREAT, 0o644)  # not inherited
        except OSError as exc:
            raise FailedPrecondition(
                f"data folder {self.data_dir}: cannot open {LOCK_FILE}: {exc.strerror or exc}"
            ) from None
        deadline = time.monotonic() + _CONTENTION_S
        try:
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    holder = read_holder(self.data_dir) or Holder(0, None, "", "", True)
                    raise DataFolderInUse(
                        in_use_message(self.data_dir, holder),
                        metadata={
                            "data_dir": str(self.data_dir),
                            "pid": str(holder.pid),
                            "address": holder.address or "",
                        },
                    )
                time.sleep(_RETRY_S)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._record = {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "address": None,
            "role": role,
            "version": __version__,
        }
        self._write_record()

    def set_address(self, address: str) -> None:
        """Record the address of this holder's public gRPC endpoint, once its port is bound."""
        if self._fd is None:
            raise RuntimeError("set_address() before acquire()")
        self._record["address"] = address
        self._write_record()

    def release(self) -> None:
        """Remove the record, then let the folder go. Safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:  # while the lock is held, the record is ours
            with contextlib.suppress(OSError):
                _owner_path(self.data_dir).unlink()
        finally:
            os.close(fd)  # closing the only descriptor of the open file drops the lock

    def _write_record(self) -> None:
        """Replace the record atomically: a reader sees the old one or the new one, whole.

        Best effort: the lock alone keeps the folder safe, so a record that cannot be written
        (a full disk, which the readiness check reports) only costs the address hint."""
        target = _owner_path(self.data_dir)
        partial = target.with_name(f".{OWNER_FILE}.{os.getpid()}.tmp")
        try:
            partial.write_text(json.dumps(self._record, indent=2) + "\n", encoding="utf-8")
            os.replace(partial, target)
        except OSError as exc:
            log.warning(
                "cannot write the data folder's owner record", extra={"path": str(target), "error": str(exc)}
            )
            for stale in (partial, target):  # no record rather than a wrong one
                with contextlib.suppress(OSError):
                    stale.unlink()
