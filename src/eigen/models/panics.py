"""Which exceptions a worker may catch, in one place for every layer.

Rust extensions (qiskit's transpiler and its native OpenQASM 3 parser, through pyo3)
turn a Rust panic into ``pyo3_runtime.PanicException``, which derives from
``BaseException``, not ``Exception``: an ``except Exception`` lets it through and it
ends the thread that made the call. Code that must survive any failure of the work it
runs (the kernel's workers and stages, the compiler's parse and transpile calls) catches
``BaseException`` and lets only :func:`must_escape` ones go on: those are the
interpreter's own signals (Ctrl-C, ``sys.exit``, a generator being closed, a cancelled
task), never a failure of the work itself.
"""

from __future__ import annotations

import asyncio

#: exceptions that stop the interpreter, a generator or a task: never caught as a failure
#: of work (a cancelled asyncio task must stay cancelled)
FATAL: tuple[type[BaseException], ...] = (
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
    asyncio.CancelledError,
)

_MAX_MESSAGE = 200


def must_escape(exc: BaseException) -> bool:
    """Whether ``exc`` must be re-raised rather than handled as a failure of the work."""
    return isinstance(exc, FATAL)


def is_foreign_panic(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``BaseException`` raised by foreign code that is neither an
    ``Exception`` nor one of :data:`FATAL` (e.g. ``pyo3_runtime.PanicException``)."""
    return not isinstance(exc, Exception) and not must_escape(exc)


def describe(exc: BaseException) -> str:
    """``"<type>: <message>"`` with the message cut to a bounded length: a panic's message
    may quote the program it was given."""
    message = " ".join(str(exc).split())
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
