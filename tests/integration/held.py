"""A test double device whose runs wait until the test lets them go.

``test:held`` is the stabilizer simulator behind a gate: a job sent to it reaches RUNNING
and stays there, using no CPU, until :meth:`HeldDriver.release`. Tests that cancel a
running job or look at one before it ends use it instead of a circuit that is merely slow,
so a loaded machine cannot finish the job before the test acts.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from eigen.drivers.registry import DriverRegistry
from eigen.drivers.stabilizer import StabilizerDriver
from eigen.models.compiled import ExecutionRequest
from eigen.models.result import ExecutionResult
from eigen.server.embedded import EmbeddedServer

HELD = "test:held"
# Longest a run waits for its gate: a test that forgets to release cannot hang the suite.
MAX_HOLD_S = 60.0


class HeldDriver(StabilizerDriver):
    name: ClassVar[str] = HELD

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self._runs = threading.Condition()  # guards the two counters
        self.runs_started = 0
        self.runs_finished = 0

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        with self._runs:
            self.runs_started += 1
            self._runs.notify_all()
        try:
            self.gate.wait(MAX_HOLD_S)
            return super().run(request)
        finally:
            with self._runs:
                self.runs_finished += 1
                self._runs.notify_all()

    def wait_held(self, count: int = 1, timeout: float = 30.0) -> None:
        """Block until ``count`` runs wait at the gate (their jobs are RUNNING)."""
        with self._runs:
            held = self._runs.wait_for(lambda: self.runs_started - self.runs_finished >= count, timeout)
            assert held, f"{count} run(s) did not start within {timeout}s"

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every started run has returned."""
        with self._runs:
            assert self._runs.wait_for(lambda: self.runs_finished >= self.runs_started, timeout)

    def release(self) -> None:
        self.gate.set()


_INSTALLED: weakref.WeakKeyDictionary[EmbeddedServer, HeldDriver] = weakref.WeakKeyDictionary()


def install(server: EmbeddedServer) -> HeldDriver:
    """The server's ``test:held`` device, registered on first use."""
    assert server.stack is not None and isinstance(server.stack.drivers, DriverRegistry)
    if server not in _INSTALLED:
        _INSTALLED[server] = HeldDriver()
        server.stack.drivers.register(_INSTALLED[server])
        if server.stack.kernel is not None:
            server.stack.kernel.refresh_backends()  # as its periodic refresh would
    return _INSTALLED[server]


@contextmanager
def holding(server: EmbeddedServer) -> Iterator[HeldDriver]:
    """Runs on ``test:held`` wait inside the block and go on when it ends; returns once
    every run it held has returned."""
    driver = install(server)
    driver.gate.clear()
    try:
        yield driver
    finally:
        driver.release()
        driver.wait_idle()
