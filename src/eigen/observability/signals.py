"""The signals a server handles, kept away from the child processes it starts.

Ctrl-C in a terminal and a service manager's stop (systemd's default ``KillMode``) send
SIGINT or SIGTERM to the server's whole process group, children included. The server
turns them into a graceful stop (``server/serve.py``): its children must go on working
through the drain, and end when the server closes their pipes or kills them. A driver
process that died of the signal failed the job it ran ("the driver process running this
circuit died"); an artifact writer that died could not write the drain's artifacts.

One mechanism for every child (the driver processes of :mod:`eigen.drivers.processes`,
the artifact writer of :mod:`eigen.kernel.qfs.writer`): the parent starts it inside
:func:`server_signals_blocked`, so the child is born with those signals blocked (a
signal mask survives fork and exec), and the child's first act is
:func:`leave_server_signals`: it ignores them, then unblocks them. A group signal that
arrives while the child still imports waits, blocked, and is then discarded; none can
kill it. This module imports only the standard library (the writer stays light).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

#: The signals the server handles itself (graceful stop).
SERVER_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


@contextmanager
def server_signals_blocked() -> Iterator[None]:
    """Around starting a child process: the calling thread blocks the server's signals,
    so the child starts with them blocked. The server still gets them: a process-wide
    signal goes to another thread meanwhile, or waits until this block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SERVER_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def leave_server_signals() -> None:
    """In a child process, first thing (its main thread): ignore the server's signals,
    then unblock them (a pending one is discarded). The child ends when its parent
    closes its pipe, or by SIGKILL."""
    for signum in SERVER_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SERVER_SIGNALS)
