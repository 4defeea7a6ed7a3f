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
with their imports, before the first job. A worker that dies (a crash in native code)
fails the call it was running with EIGEN_EXECUTION_FAILED; the pool is replaced and
later calls run again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, TypeVar

from eigen.errors import EigenError, ExecutionFailed, Unavailable

if TYPE_CHECKING:
    from eigen.drivers.registry import DriverRegistry
    from eigen.models.compiled import ExecutionRequest
    from eigen.models.result import ExecutionResult

log = logging.getLogger(__name__)

A = TypeVar("A")
R = TypeVar("R")

_registry: DriverRegistry | None = None  # in a worker: its own registry


def _start_worker(group: str) -> None:
    global _registry
    from eigen.drivers.registry import DriverRegistry

    _registry = DriverRegistry(group=group)


def _ready() -> int:
    """Load every driver (and what it imports: qiskit-aer, stim) before the first job."""
    assert _registry is not None, "worker started without its registry"
    _registry.list_devices()
    return os.getpid()


def _execute(request: ExecutionRequest) -> ExecutionResult:
    assert _registry is not None, "worker started without its registry"
    return _registry.execute(request)


def _execute_many(requests: Sequence[ExecutionRequest]) -> list[ExecutionResult | EigenError]:
    from eigen.drivers.registry import execute_each

    assert _registry is not None, "worker started without its registry"
    return execute_each(_registry.execute, requests)


def _stopped(device: str) -> ExecutionFailed:
    return ExecutionFailed(f"{device}: driver processes stopped")


class DriverProcesses:
    """A pool of ``workers`` processes that execute requests for entry-point drivers."""

    def __init__(self, workers: int, group: str) -> None:
        if workers < 1:
            raise ValueError("driver processes need at least one worker")
        self.workers = workers
        self.group = group
        self._lock = threading.Lock()
        self._closed = False
        self._pool = self._new_pool()
        # The workers start importing now, while the server does its own warm-up.
        self._starting = [self._pool.submit(_ready) for _ in range(workers)]

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.group,),
        )

    def warm_up(self) -> set[int]:
        """Wait until the workers, started with the pool, have loaded their drivers (so the
        first job does not pay for it); their pids."""
        try:
            pids = {future.result() for future in self._starting}
        except BrokenProcessPool:
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

    def _call(self, function: Callable[[A], R], argument: A, device: str) -> R:
        with self._lock:
            if self._closed:
                raise _stopped(device)
            pool = self._pool
        try:
            return pool.submit(function, argument).result()
        except BrokenProcessPool:
            with self._lock:
                if self._closed:
                    raise _stopped(device) from None
                if self._pool is pool:  # the first caller to notice replaces it
                    self._pool = self._new_pool()
            log.error("a driver process died; its pool was replaced", extra={"device": device})
            raise ExecutionFailed(
                f"{device}: the driver process running this circuit died; try again"
            ) from None
        except RuntimeError:  # "cannot schedule new futures after shutdown": close() won a race
            if self._closed:
                raise _stopped(device) from None
            raise

    def close(self) -> None:
        """Stop the workers now, abandoning what they run (as a stopping server abandons a
        simulation in process): a worker is never waited for, so a long circuit cannot hold
        up the exit. Calls in flight fail with EIGEN_EXECUTION_FAILED; the kernel, being
        stopped itself by then, leaves their jobs to the next start."""
        with self._lock:
            self._closed = True
            pool = self._pool
        # The executor has no public way to stop a busy worker; its process table does.
        # Workers first, then a waiting shutdown: that joins the executor's manager thread
        # once it has cleaned up after them (a shutdown without waiting would leave it
        # running into the interpreter's exit, where it races the exit hook of
        # concurrent.futures and prints "Bad file descriptor").
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
