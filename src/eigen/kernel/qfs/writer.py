"""Artifact files written in batches, in this process or in a writer process.

Each atomic artifact write is four system calls (create a temporary file, write, close,
rename), and each call lets go of Python's GIL and takes it back. A pipeline batch of 32
jobs writes some 200 files; under load the kernel's worker threads then spend more time
handing the GIL to and from the gRPC event loop than writing. A :class:`WriterProcess`
takes a whole batch of files in one message and answers once, so the server's threads
make two calls per batch instead of four per file, and the file system work runs on the
other core. YAML artifacts (job.yaml) are encoded there too (:class:`Yaml`): PyYAML's
representer is pure Python. The writer imports nothing but the standard library, PyYAML,
this module and :mod:`eigen.observability.signals` (it is started with ``python -m``, not
through ``multiprocessing``, which would import the server's main module, qiskit
included, into it). It is born with the server's signals blocked and ignores them
(:mod:`eigen.observability.signals`).

The writer is stopped by closing its pipe; if the server dies, the writer reads the end
of its pipe and exits too. A writer that dies is replaced, and the batch it was writing
is written again (writes are idempotent: the same bytes under the same names).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from eigen.observability.signals import leave_server_signals, server_signals_blocked

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Yaml:
    """A YAML document to write, encoded by whoever writes it (block style, keys in the
    document's order)."""

    document: Any

    def encode(self) -> bytes:
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter when available
        return yaml.dump(self.document, Dumper=dumper, sort_keys=False, allow_unicode=True).encode()


#: One file to write: its job folder, its name in that folder, its content.
File = tuple[str, str, "bytes | Yaml"]

STOP_TIMEOUT_S = 5.0


def write_files(files: Sequence[File]) -> list[str | None]:
    """Write each file atomically (a temporary name private to this process and thread,
    then a rename), creating its folder on the first write there; the error of each file
    that could not be written, in order (None for a file written)."""
    errors: list[str | None] = []
    private = f"{os.getpid()}.{threading.get_ident()}.tmp"
    for folder, name, content in files:
        temp = os.path.join(folder, f".{name}.{private}")
        try:
            payload = content if isinstance(content, bytes) else content.encode()
        except Exception as exc:  # a document YAML cannot represent
            errors.append(f"cannot encode artifact {name!r}: {exc}")
            continue
        try:
            _write(temp, payload)
            os.replace(temp, os.path.join(folder, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            errors.append(f"cannot write artifact {name!r}: {exc.strerror or exc}")
        else:
            errors.append(None)
    return errors


def _write(path: str, payload: bytes) -> None:
    try:
        handle = open(path, "wb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = open(path, "wb")  # noqa: SIM115
    with handle:
        handle.write(payload)


class WriterError(OSError):
    """The writer process is gone and could not be replaced, or has been stopped."""


class WriterProcess:
    """A child process that writes batches of files (see the module's docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._process, self._conn = self._start()

    @staticmethod
    def _start() -> tuple[subprocess.Popen[bytes], Connection]:
        ours, theirs = socket.socketpair()
        try:
            with server_signals_blocked():  # the writer is born deaf to the group's signals
                process = subprocess.Popen(
                    [sys.executable, "-m", __name__, str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return process, Connection(ours.detach())

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def write(self, files: Sequence[File]) -> list[str | None]:
        """:func:`write_files` in the writer process. A writer found dead is replaced and
        the batch sent again, once."""
        batch = list(files)
        with self._lock:
            for attempt in (1, 2):
                if self._closed:
                    raise WriterError("the artifact writer is stopped")
                try:
                    self._conn.send(batch)
                    errors: list[str | None] = self._conn.recv()
                    return errors
                except (EOFError, OSError) as exc:
                    log.error(
                        "the artifact writer died; starting another",
                        extra={"pid": self._process.pid, "error": str(exc), "attempt": attempt},
                    )
                    self._replace()
            raise WriterError("the artifact writer died twice writing one batch")

    def _replace(self) -> None:
        self._stop_child()
        self._process, self._conn = self._start()

    def close(self) -> None:
        """Stop the writer once it has finished the batch it is writing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop_child()

    def _stop_child(self) -> None:
        self._conn.close()  # the writer reads the end of its pipe and exits
        try:
            self._process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _serve(conn: Connection) -> None:
    """The writer's loop: a batch in, its errors out, until the pipe closes."""
    while True:
        try:
            files = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(write_files(files))


if __name__ == "__main__":  # the writer process
    # Signals sent to the server's whole process group (Ctrl-C, a service manager's
    # SIGTERM) are the server's to handle: the writer goes on until the server closes
    # its pipe, so that the server's graceful drain can still write artifacts.
    leave_server_signals()
    from eigen.kernel.qfs import writer  # the module by its name, as the server pickles it

    writer._serve(Connection(int(sys.argv[1])))
