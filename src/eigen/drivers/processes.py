"""Circuit execution in worker processes, off the server's interpreter lock.

qiskit-aer holds Python's GIL while it simulates, so in one process every simulation
stops the server's RPCs, store writes and compiles for its duration. With
``driver_processes`` > 0 the driver-manager hands ``Execute`` calls of the devices it
found through entry points to that many worker processes; each has its own registry,
built from the same entry points, so a device behaves as it does in process (same
drivers, same seeds, same counts). Devices registered at run time with
:meth:`DriverRegistry.register <eigen.drivers.registry.DriverRegistry.register>` exist
only in this process and keep running here, as do estimates and calibrations.

Workers are spawned (never forked: the server has gRPC's threads running) and started,
with their imports, before the first job. Each has a pipe of its own: a call takes an
idle worker, sends it the work and waits for the answer on that pipe, in the calling
thread (no executor threads: under load their hand-offs cost the server more than the
pickling). A worker that dies (a crash in native code) fails the call it was running
with EIGEN_EXECUTION_FAILED and is replaced; later calls run again.

Workers ignore SIGINT and SIGTERM (:mod:`eigen.observability.signals`): Ctrl-C or a
service manager signals the server's whole process group, and the server, not its
workers, decides when a circuit is abandoned. A stopping server lets running circuits
finish within its grace period, then kills the workers (:meth:`DriverProcesses.close`);
the jobs cut off stay RUNNING and run again at the next start.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, TypeVar

from eigen.errors import EigenError, ExecutionFailed, Unavailable
from eigen.observability.signals import leave_server_signals, server_signals_blocked

if TYPE_CHECKING:
    from eigen.drivers.registry import DriverRegistry
    from eigen.models.compiled import ExecutionRequest
    from eigen.models.result import ExecutionResult

log = logging.getLogger(__name__)

A = TypeVar("A")
R = TypeVar("R")

STOP_TIMEOUT_S = 5.0


# -- in a worker -------------------------------------------------------------------------
def _serve(conn: Connection, group: str, memory_limit: int | None = None) -> None:
    """A worker: load every driver (and what it imports: qiskit-aer, stim), say so with
    its pid, then answer calls until the pipe closes (the server stopped or died). The
    signals sent to the server's process group are the server's: a worker goes on with
    its circuit through the server's graceful drain."""
    leave_server_signals()
    from eigen.drivers.registry import DriverRegistry

    registry = DriverRegistry(group=group, memory_limit=memory_limit)  # its engines pick what fits
    registry.list_devices()
    try:
        conn.send(os.getpid())
        while True:
            function, argument = conn.recv()
            try:
                answer: tuple[bool, Any] = (True, function(registry, argument))
            except BaseException as exc:  # the caller re-raises it
                answer = (False, exc)
            try:
                conn.send(answer)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:  # e.g. an odd exception
                conn.send((False, ExecutionFailed(f"the driver's answer could not be sent back: {exc}")))
    except (EOFError, OSError):  # OSError: e.g. the server died before it read the answer
        return


def _execute(registry: DriverRegistry, request: ExecutionRequest) -> ExecutionResult:
    return registry.execute(request)


def _execute_many(
    registry: DriverRegistry, requests: Sequence[ExecutionRequest]
) -> list[ExecutionResult | EigenError]:
    from eigen.drivers.registry import execute_each

    return execute_each(registry.execute, requests)


# -- in the server -----------------------------------------------------------------------
@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    pid: int | None = None  # once it said it is ready
    _ready_lock: threading.Lock = field(default_factory=threading.Lock)

    def ready(self) -> int:
        """Wait until the worker has loaded its drivers; its pid."""
        with self._ready_lock:  # warm_up and a first call may ask at once
            if self.pid is None:
                self.pid = int(self.conn.recv())
            return self.pid


def _stopped(device: str) -> ExecutionFailed:
    return ExecutionFailed(f"{device}: driver processes stopped")


class DriverProcesses:
    """``workers`` processes that execute requests for entry-point drivers."""

    def __init__(self, workers: int, group: str, memory_limit: int | None = None) -> None:
        """``memory_limit``: the worker's memory budget, also each driver process's (its
        engine choice prefers the engine that fits; the server reserves every run too)."""
        if workers < 1:
            raise ValueError("driver processes need at least one worker")
        self.workers = workers
        self.group = group
        self.memory_limit = memory_limit
        self._context = multiprocessing.get_context("spawn")
        self._idle_changed = threading.Condition()
        self._closed = False
        # The workers start importing now, while the server does its own warm-up.
        self._all = [self._start() for _ in range(workers)]
        self._idle = list(self._all)

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs, self.group, self.memory_limit), name="eigen-driver", daemon=True
        )
        # Starting multiprocessing's resource tracker unblocks SIGINT and SIGTERM in this
        # thread, and process.start() starts it when it is not running: start it first.
        resource_tracker.ensure_running()
        with server_signals_blocked():  # born deaf to the group's SIGINT and SIGTERM
            process.start()
        theirs.close()
        return _Worker(process, ours)

    def warm_up(self) -> set[int]:
        """Wait until the workers, started with the pool, have loaded their drivers (so the
        first job does not pay for it); their pids."""
        try:
            pids = {worker.ready() for worker in list(self._all)}
        except (EOFError, OSError):
            raise Unavailable(
                "driver processes failed to start (see the log); a script of your own that runs "
                "Eigen with driver_processes > 0 must start it under `if __name__ == '__main__':` "
                "(workers are spawned and import the main module), or set driver_processes to 0"
            ) from None
        log.info("driver processes started", extra={"workers": self.workers, "pids": sorted(pids)})
        return pids

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        return self._call(_execute, request, request.device)

    def execute_many(self, requests: Sequence[ExecutionRequest]) -> list[ExecutionResult | EigenError]:
        """Every request in one hand-off to a worker, which runs them in turn."""
        return self._call(_execute_many, requests, ", ".join(sorted({r.device for r in requests})))

    def _call(self, function: Callable[[DriverRegistry, A], R], argument: A, device: str) -> R:
        worker = self._take(device)
        try:
            worker.ready()
            worker.conn.send((function, argument))
            ok, answer = worker.conn.recv()
        except (EOFError, OSError):
            self._replace(worker)
            if self._closed:
                raise _stopped(device) from None
            log.error("a driver process died; it was replaced", extra={"device": device})
            raise ExecutionFailed(
                f"{device}: the driver process running this circuit died; try again"
            ) from None
        self._give_back(worker)
        if not ok:
            raise answer
        result: R = answer
        return result

    def _take(self, device: str) -> _Worker:
        with self._idle_changed:
            while not self._idle and not self._closed:
                self._idle_changed.wait()
            if self._closed:
                raise _stopped(device)
            return self._idle.pop()

    def _give_back(self, worker: _Worker) -> None:
        with self._idle_changed:
            self._idle.append(worker)
            self._idle_changed.notify()

    def _replace(self, dead: _Worker) -> None:
        """A new worker in place of ``dead`` (none once closed)."""
        dead.conn.close()
        dead.process.join(STOP_TIMEOUT_S)
        with self._idle_changed:
            if dead in self._all:
                self._all.remove(dead)
            if not self._closed:
                fresh = self._start()
                self._all.append(fresh)
                self._idle.append(fresh)
            self._idle_changed.notify()

    def close(self) -> None:
        """Stop the workers now, abandoning what they run (as a stopping server abandons a
        simulation in process): a worker is never waited for, so a long circuit cannot hold
        up the exit. Calls in flight fail with EIGEN_EXECUTION_FAILED; the kernel, being
        stopped itself by then, leaves their jobs to the next start."""
        with self._idle_changed:
            self._closed = True
            workers = list(self._all)
            self._idle_changed.notify_all()
        for worker in workers:
            worker.process.kill()  # it ignores SIGTERM; a caller waiting on its pipe reads the end
        for worker in workers:
            worker.process.join(STOP_TIMEOUT_S)
            worker.conn.close()
