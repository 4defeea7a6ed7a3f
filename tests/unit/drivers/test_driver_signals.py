"""Driver processes leave the server's signals to the server (issue 14, item 10)."""

from __future__ import annotations

import os
import signal
import time

from eigen.drivers.processes import DriverProcesses
from eigen.drivers.registry import GROUP
from eigen.kernel.qfs.writer import WriterProcess
from eigen.observability.signals import SERVER_SIGNALS


def test_children_survive_the_group_signals_even_while_they_start() -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    pool = DriverProcesses(1, GROUP)
    writer = WriterProcess()
    try:
        worker = pool._all[0].process
        assert worker.pid is not None
        for signum in SERVER_SIGNALS:  # while the worker still imports its drivers
            os.kill(worker.pid, signum)
            os.kill(writer.pid, signum)
        assert pool.warm_up() == {worker.pid}
        pid = writer.pid
        for signum in SERVER_SIGNALS:  # and once it serves
            os.kill(worker.pid, signum)
            os.kill(pid, signum)
        worker.join(1.0)  # a worker that the signal kills ends within this
        assert worker.is_alive()
        assert writer.write([]) == [] and writer.pid == pid  # the same writer answered
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before  # the parent's mask is back
    finally:
        started = time.monotonic()
        pool.close()  # kills: the workers would ignore SIGTERM
        writer.close()
    assert time.monotonic() - started < 3
    assert not worker.is_alive()
