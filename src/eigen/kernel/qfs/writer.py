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
import json
import logging
import math
import os
import socket
import subprocess
import sys
import threading
import uuid
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

        document, tables = _without_number_tables(self.document)
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter when available
        text = yaml.dump(document, Dumper=dumper, sort_keys=False, allow_unicode=True)
        for placeholder, table in tables.items():
            text = text.replace(placeholder, table, 1)
        return text.encode()


#: Lists of at least this many maps of numbers (a sweep's bindings) take the fast path.
NUMBER_TABLE_ROWS = 64


def _without_number_tables(document: Any) -> tuple[Any, dict[str, str]]:
    """``document`` with each long list of flat ``{name: number}`` maps one level below its
    top-level keys (``spec.parameters``) replaced by a placeholder, and the flow-style YAML
    of each. PyYAML's representer is pure Python, about 15 us a node: a 1,000-binding sweep of
    120 parameters took 1.9 s to write as block YAML and takes milliseconds this way."""
    if not isinstance(document, dict):
        return document, {}
    tables: dict[str, str] = {}
    token = uuid.uuid4().hex  # no text of the document can hold it
    outer = dict(document)
    for key, section in document.items():
        if not isinstance(section, dict):
            continue
        inner = dict(section)
        for name, value in section.items():
            text = _number_table(value)
            if text is not None:
                placeholder = f"eigen-number-table-{token}-{len(tables)}"
                tables[placeholder] = text
                inner[name] = placeholder
        outer[key] = inner
    return outer, tables


def _number_table(value: Any) -> str | None:
    """The flow-style YAML of a long list of flat maps of floats and ints, or None (anything
    else is left to PyYAML). Keys are double-quoted (a name such as ``on`` or ``null`` stays a
    string), floats keep a dot before any exponent (YAML 1.1, PyYAML's, reads ``1e-05`` as a
    string, ``1.0e-05`` as a float); non-finite numbers are left to PyYAML."""
    if not isinstance(value, list) or len(value) < NUMBER_TABLE_ROWS:
        return None
    rows = []
    for row in value:
        if not isinstance(row, dict):
            return None
        cells = []
        for name, number in row.items():
            if not isinstance(name, str) or isinstance(number, bool) or not isinstance(number, int | float):
                return None
            if not math.isfinite(number):
                return None
            cells.append(f"{_quoted(name)}: {_number(number)}")
        rows.append("{" + ", ".join(cells) + "}")
    return "[" + ", ".join(rows) + "]"


def _quoted(name: str) -> str:
    return json.dumps(name)  # a JSON string is a YAML double-quoted scalar


def _number(number: int | float) -> str:
    if isinstance(number, int):
        return str(number)
    text = repr(number)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


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
