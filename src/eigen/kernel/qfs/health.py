"""Whether the kernel can write its data folder (artifacts, and the SQLite store kept there).

A full or unwritable data folder is a condition of the service, not an error of a job:
every write fails until an operator makes room or fixes permissions. The kernel records
the first such failure here (:meth:`DataHealth.failed`): submissions are then refused at
once with the reason (``RESOURCE_EXHAUSTED`` for a full disk, ``UNAVAILABLE`` for a
folder that cannot be written), readiness reports it, and jobs whose files or state could
not be written wait in memory instead of failing. :meth:`DataHealth.check` writes a small
probe file (at most once per ``probe_every_s``) to find out when the folder can be
written again; then the condition clears and the waiting jobs go back to the queue.

:func:`storage_error` recognises such failures wherever they come from: an ``OSError``
(``ENOSPC``, ``EDQUOT``, ``EROFS``, ``EACCES``, ``EPERM``), SQLite's own messages through
SQLAlchemy (``database or disk is full``, ``attempt to write a readonly database``), or
the error text the artifact writer returns for a file (it crosses a process boundary as
text).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from eigen.errors import EigenError, ResourceExhausted, Unavailable

log = logging.getLogger(__name__)

#: errno values meaning "no room left": the condition clears once space returns
FULL = (errno.ENOSPC, errno.EDQUOT)
#: errno values meaning "not writable": permissions or a read-only file system
UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
#: SQLite's messages for the same conditions (sqlite3.OperationalError's text)
_SQLITE_FULL = ("database or disk is full",)
_SQLITE_UNWRITABLE = ("attempt to write a readonly database", "unable to open database file")
#: how many bytes the probe writes: a folder that cannot take this much is still full
PROBE_BYTES = 64 * 1024
PROBE_NAME = ".eigen-write-probe"
RETRY_AFTER_S = 5.0

_FULL_TEXT = tuple(os.strerror(code) for code in FULL)
_UNWRITABLE_TEXT = tuple(os.strerror(code) for code in UNWRITABLE)


def disk_full(detail: str) -> ResourceExhausted:
    return ResourceExhausted(
        f"the data folder is full (disk full: {detail}): try again once space is freed",
        metadata={"retry_after_s": f"{RETRY_AFTER_S:g}"},
    )


def unwritable(detail: str) -> Unavailable:
    return Unavailable(
        f"the data folder cannot be written ({detail}): try again once it is writable",
        metadata={"retry_after_s": f"{RETRY_AFTER_S:g}"},
    )


def storage_error(failure: BaseException | str) -> EigenError | None:
    """The service error for ``failure`` when it says the data folder is full or cannot
    be written (None for any other failure). Walks the exception's causes and SQLAlchemy's
    ``orig``, so a store error is recognised as well as a file system one."""
    if isinstance(failure, str):
        return _from_text(failure)
    seen: set[int] = set()
    current: BaseException | None = failure
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            detail = current.strerror or os.strerror(current.errno)
            if current.errno in FULL:
                return disk_full(detail)
            if current.errno in UNWRITABLE:
                return unwritable(detail)
        found = _from_text(str(current)) if type(current).__name__ == "OperationalError" else None
        if found is not None:
            return found
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return None


def _from_text(text: str) -> EigenError | None:
    lowered = text.lower()
    for marker in _SQLITE_FULL + _FULL_TEXT:
        if marker.lower() in lowered:
            return disk_full(marker)
    for marker in _SQLITE_UNWRITABLE + _UNWRITABLE_TEXT:
        if marker.lower() in lowered:
            return unwritable(marker)
    return None


class DataHealth:
    """The last storage condition of a data folder (see the module's docstring)."""

    def __init__(
        self, root: Path, probe_every_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.root = root
        self.probe_every_s = probe_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._problem: EigenError | None = None
        self._probed_at = 0.0

    @property
    def problem(self) -> EigenError | None:
        """What is wrong with the folder now, as last seen (None: nothing known)."""
        with self._lock:
            return self._problem

    def failed(self, problem: EigenError) -> None:
        """Record that a write failed for want of space or permission."""
        with self._lock:
            first = self._problem is None
            self._problem = problem
            self._probed_at = self._clock()
        if first:
            extra = {"folder": str(self.root), "error": problem.message}
            log.error("the data folder cannot be written", extra=extra)

    def check(self) -> None:
        """Raise the recorded problem unless a probe (at most one per ``probe_every_s``)
        finds the folder writable again, which clears it."""
        with self._lock:
            problem = self._problem
            due = problem is not None and self._clock() - self._probed_at >= self.probe_every_s
            if due:
                self._probed_at = self._clock()
        if problem is None:
            return
        if due:
            found = self.probe()
            with self._lock:
                if found is None:
                    self._problem = None
                    return
                self._problem = found
            raise found
        raise problem

    def probe(self) -> EigenError | None:
        """Write and remove a small file in the folder; the problem it meets, if any."""
        path = self.root / PROBE_NAME
        try:
            with open(path, "wb") as handle:
                handle.write(b"\0" * PROBE_BYTES)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            return storage_error(exc) or unwritable(exc.strerror or str(exc))
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        return None
