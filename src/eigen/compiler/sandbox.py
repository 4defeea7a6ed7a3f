"""Where program text is parsed: in process, or in the program sandbox's worker processes.

Parsing untrusted text is the one step of compiling whose cost the text decides: a
parser's work can grow exponentially with a few hundred bytes (gate definitions that call
each other), a native parser can panic or crash, and it prints its diagnostics to the
process's stdout. :class:`ProgramParser` is the port the
:class:`~eigen.compiler.service.CompilationService` parses through
(:func:`~eigen.compiler.parse.parse_and_check`: the parse, then the device-independent
checks of the parsed circuit); the device checks and the transpiler stay in the service.

* :class:`InProcessParser` (the service's default: unit tests, ``eigen-cli compile``)
  parses in the calling thread.
* :class:`ProgramSandbox` (every server, built by :func:`eigen.server.build.build`)
  parses in a pool of spawned worker processes (``pebble.ProcessPool``). Each worker
  points its stdout and stderr at ``/dev/null`` (the native parser's diagnostics and Rust
  panic messages never reach the server's output), leaves the server's process group
  (a signal to the group, Ctrl-C or a service manager's stop, is the server's to handle),
  imports the parsers and parses a warm-up program, then limits its address space to what
  it holds after that plus ``memory_limit_mib``. A parse has ``time_limit_s``. A parse
  that runs past its time (the worker is killed and replaced), runs out of memory, or
  whose worker dies (replaced too) is an ``InvalidArgument`` on ``program`` saying which
  limit it ran into; nothing of it reaches the server but that error. Workers start with
  the sandbox, so their imports overlap the server's own warm-up; :meth:`warm_up` waits
  for them. Where no worker can start (a script that starts a server without
  ``if __name__ == '__main__':``), it parses in process and logs a warning.

Results cross back pickled (a :class:`~eigen.compiler.parse.ParsedProgram`: the logical
circuit, defaults, hybrid settings); errors cross back as their type and fields, since an
:class:`~eigen.errors.EigenError` does not pickle with its field violations.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import resource
import threading
from dataclasses import dataclass, field
from typing import Protocol

from pebble import ProcessExpired, ProcessFuture, ProcessPool

from eigen.compiler.parse import ParsedProgram, parse_and_check
from eigen.compiler.source import program_error
from eigen.errors import EigenError, FieldViolation, InternalError, Unavailable
from eigen.models.panics import describe, must_escape
from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 1
DEFAULT_TIME_LIMIT_S = 8.0  # room for the largest programs (256 KiB) in the slow fallback parser
DEFAULT_MEMORY_LIMIT_MIB = 1024
START_TIMEOUT_S = 120.0  # for a worker's imports on a busy machine
STOP_TIMEOUT_S = 5.0
_STOPPED_EXIT_CODES = frozenset({15, -15, -2})  # SIGTERM (pebble's own exit, or default), SIGINT

WARM_UP_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
gate warm a, b { h a; cx a, b; }
qubit[2] q;
bit[2] c;
warm q[0], q[1];
rz(theta) q[1];
c = measure q;
"""
WARM_UP_NATIVE = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\ncx q[0], q[1];\n'
WARM_UP_LANG = "from eigen_lang import h, hybrid_program\n\n@hybrid_program\ndef main():\n    h(0)\n"


class ProgramParser(Protocol):
    """How the compilation service turns program text into a checked logical circuit."""

    def parse(
        self, source: str, language: ProgramLanguage | str, entrypoint: str, device: DeviceInfo | None = None
    ) -> ParsedProgram:
        """:func:`~eigen.compiler.parse.parse_and_check` (with the width check against
        ``device`` when given); raises an EigenError."""

    def warm_up(self) -> None:
        """Pay the parsers' one-time costs now (imports, the first fallback parse)."""

    def close(self) -> None:
        """Release what the parser holds (worker processes); later parses fail."""


class InProcessParser:
    """Parses in the calling thread (no limits beyond the checks' own)."""

    def parse(
        self, source: str, language: ProgramLanguage | str, entrypoint: str, device: DeviceInfo | None = None
    ) -> ParsedProgram:
        return parse_and_check(source, language, entrypoint, device)

    def warm_up(self) -> None:
        """Parse one program with each parser (the OpenQASM 3 fallback's first parse loads
        qiskit-qasm3-import; a sandbox worker does this before its memory is limited)."""
        for source, language in (
            (WARM_UP_QASM3, ProgramLanguage.QASM3),
            (WARM_UP_NATIVE, ProgramLanguage.QASM3),
            (WARM_UP_LANG, ProgramLanguage.EIGEN_LANG),
        ):
            try:
                parse_and_check(source, language)
            except EigenError as exc:  # pragma: no cover - only if a parser breaks
                log.warning("%s parser warm-up failed: %s", language.value, exc)

    def close(self) -> None:
        return None


# -- in a worker -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Failure:
    """An error of a parse in a worker, as data (see the module docs)."""

    error_type: type[EigenError]
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    out_of_memory: bool = False

    def error(self) -> EigenError:
        return self.error_type(self.message, list(self.violations), dict(self.metadata))


def _start_worker(memory_limit_bytes: int) -> None:
    """A worker's initializer (see the module docs)."""
    with contextlib.suppress(OSError):  # already a group leader: nothing to leave
        os.setsid()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    InProcessParser().warm_up()
    if memory_limit_bytes > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _address_space() + memory_limit_bytes
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _address_space() -> int:
    """This process's virtual memory size in bytes (``VmSize``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover - Linux always reports it


def _parse_in_worker(
    source: str, language: str, entrypoint: str, device: DeviceInfo | None
) -> ParsedProgram | _Failure:
    try:
        return parse_and_check(source, language, entrypoint, device)
    except EigenError as exc:
        return _failure(exc)
    except MemoryError:
        return _Failure(InternalError, "out of memory", out_of_memory=True)
    except RecursionError:
        return _failure(program_error("is nested too deeply to check; simplify it"))
    except BaseException as exc:
        if must_escape(exc):
            raise
        return _Failure(InternalError, f"program: checking it failed: {describe(exc)}")


def _failure(exc: EigenError) -> _Failure:
    return _Failure(type(exc), exc.message, list(exc.violations), dict(exc.metadata))


def _ready() -> int:
    return os.getpid()


# -- in the server -----------------------------------------------------------------------
class ProgramSandbox:
    """Parses in ``workers`` spawned processes with per-parse time and memory limits."""

    def __init__(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        time_limit_s: float = DEFAULT_TIME_LIMIT_S,
        memory_limit_mib: int = DEFAULT_MEMORY_LIMIT_MIB,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        if workers < 1:
            raise ValueError("the program sandbox needs at least one worker")
        self.workers = workers
        self.time_limit_s = time_limit_s
        self.memory_limit_mib = memory_limit_mib
        self.start_timeout_s = start_timeout_s
        self._pool = ProcessPool(
            max_workers=workers,
            initializer=_start_worker,
            initargs=(memory_limit_mib * 1024 * 1024,),
            context=multiprocessing.get_context("spawn"),
        )
        # The workers start importing now, while the server does its own warm-up.
        self._started: ProcessFuture[int] = self._pool.schedule(_ready)
        self._lock = threading.Lock()
        self._running = False
        self._fallback: InProcessParser | None = None

    def parse(
        self, source: str, language: ProgramLanguage | str, entrypoint: str, device: DeviceInfo | None = None
    ) -> ParsedProgram:
        """Parse in a worker. With ``device``, a circuit wider than it is refused there,
        before its (possibly large) pickle is sent back."""
        fallback = self._start()
        if fallback is not None:
            return fallback.parse(source, language, entrypoint, device)
        name = language.value if isinstance(language, ProgramLanguage) else str(language)
        try:
            future = self._pool.schedule(
                _parse_in_worker, args=(source, name, entrypoint, device), timeout=self.time_limit_s
            )
        except RuntimeError:  # the pool is closed
            raise Unavailable("the program checker is stopped") from None
        try:
            outcome = future.result()
        except concurrent.futures.TimeoutError:
            raise program_error(f"checking it took more than {self.time_limit_s:g} s; simplify it") from None
        except ProcessExpired as exc:
            if exc.exitcode in _STOPPED_EXIT_CODES:
                raise Unavailable("the program checker was stopped while checking it; try again") from None
            log.warning("a program checker process died; it was replaced", extra={"exitcode": exc.exitcode})
            raise program_error(
                f"checking it crashed the parser (or needed more than {self.memory_limit_mib} MiB); "
                "simplify it"
            ) from None
        except concurrent.futures.CancelledError:
            raise Unavailable("the program checker is stopped") from None
        except Exception as exc:  # e.g. a result that did not pickle: the checker's fault
            raise InternalError(f"program: the checker failed: {describe(exc)}") from None
        if isinstance(outcome, _Failure):
            if outcome.out_of_memory:
                raise program_error(f"checking it needed more than {self.memory_limit_mib} MiB; simplify it")
            raise outcome.error()
        return outcome

    def warm_up(self) -> None:
        """Wait until the workers, started with the sandbox, have imported the parsers."""
        self._start()

    def _start(self) -> InProcessParser | None:
        """Wait for the first worker; None once it runs, else the parser to use instead.

        A worker that cannot start is almost always a script that starts an Eigen server
        without ``if __name__ == '__main__':`` (a spawned worker imports the main module,
        which starts a server again and fails). Such a script keeps working, parsing in
        process without the sandbox's limits, and a warning says so."""
        if self._fallback is not None or self._running:
            return self._fallback
        try:
            pid = self._started.result(timeout=self.start_timeout_s)
        except Exception as exc:
            with self._lock:
                if self._fallback is None:
                    log.warning(
                        "the program sandbox's workers failed to start (%s); programs are parsed in "
                        "process, without its time and memory limits. A script of your own that "
                        "starts an Eigen server must start it under `if __name__ == '__main__':` "
                        "(workers are spawned and import the main module)",
                        describe(exc),
                    )
                    self._pool.stop()
                    self._fallback = InProcessParser()
            return self._fallback
        with self._lock:
            if not self._running:
                self._running = True
                log.info("program sandbox started", extra={"workers": self.workers, "pid": pid})
        return None

    def close(self) -> None:
        """Stop the workers now (a parse in flight answers UNAVAILABLE)."""
        self._pool.stop()
        self._pool.join(STOP_TIMEOUT_S)
