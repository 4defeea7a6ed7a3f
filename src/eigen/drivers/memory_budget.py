"""The worker's memory as a budget that runs reserve, so that concurrent jobs cannot
together hold more than ``worker_memory_bytes``.

The kernel refuses at submission a job that alone needs more than the limit
(:mod:`eigen.kernel.memory_admission`); several admitted jobs may still need more than it
together (two 27-qubit jobs on a machine that holds one). The driver-manager therefore
reserves what each run needs (:func:`request_need`, from :mod:`eigen.models.state_memory`)
before its driver call and releases it after (:meth:`MemoryBudget.reserved`): a run that
does not fit beside the ones holding memory waits for them, in arrival order (a large run
is not overtaken forever by small ones), on a condition variable. A run that needs more
than the whole budget (one that slipped past admission: a device whose limits changed, a
circuit qsim turned out not to run) fails at once with RESOURCE_EXHAUSTED instead of
growing until the OOM killer ends the server.

A driver whose memory depends on more than its device's :class:`StateMemory` (``sim:
statevector`` picks its engine per circuit) answers :meth:`MemoryAware.memory_need` itself;
the registry tells it the limit (``memory_limit``) so that it picks an engine that fits.
A run handed to the driver processes (:mod:`eigen.drivers.processes`) is sized for the
driver there, whose registry is built without a limit: for the engine it picks unbounded.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from eigen.models.state_memory import StateMemory, StateNeed, over_limit, run_need

if TYPE_CHECKING:
    from eigen.drivers.base import Driver
    from eigen.models.compiled import EstimationRequest, ExecutionRequest


@runtime_checkable
class MemoryAware(Protocol):
    """A driver that sizes its runs itself, knowing the worker's memory limit."""

    memory_limit: int | None  # set by the registry; None: unbounded

    def memory_need(self, request: ExecutionRequest, memory_limit: int | None) -> StateNeed:
        """What running ``request`` holds on the engine a driver whose limit is
        ``memory_limit`` picks for it."""
        ...


def parallel_states(options: dict[str, Any], runs: int) -> int:
    """States aer holds at once for ``runs`` experiments run with ``options``: one, unless
    the options ask for experiments in parallel (``max_parallel_experiments``; 0: all)."""
    parallel = int(options.get("max_parallel_experiments", 1) or runs)
    return max(1, min(parallel, runs))


def total_shots(request: ExecutionRequest) -> int:
    """The shots ``request`` samples over all its experiments."""
    return request.shots * max(1, len(request.parameter_bindings))


def request_need(driver: Driver, request: ExecutionRequest, *, here: bool = True) -> StateNeed:
    """What ``request`` holds on ``driver``: the driver's own answer where it has one (for
    this driver, ``here``, else for its copy in a driver process, which knows no limit),
    else its device's state kind at the circuit's width. Nothing for a request without a
    circuit (the driver refuses it)."""
    width = getattr(request.circuit, "num_qubits", None)
    if not isinstance(width, int):
        return run_need(StateMemory.NONE, 0)
    if isinstance(driver, MemoryAware):
        return driver.memory_need(request, driver.memory_limit if here else None)
    return run_need(
        driver.info.state_memory, width, shots=total_shots(request), noisy=request.noise_model is not None
    )


def estimate_need(driver: Driver, request: EstimationRequest) -> StateNeed:
    """What an exact estimation holds: a complex128 state (aer, or qiskit's Statevector) on
    a device that estimates; nothing on a device that does not (it refuses)."""
    width = getattr(request.circuit, "num_qubits", None)
    if not isinstance(width, int):
        return run_need(StateMemory.NONE, 0)
    return run_need(driver.info.state_memory, width, complex64_runs=False)


class MemoryBudget:
    """``limit`` bytes that runs reserve while they hold their state."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a memory budget needs at least one byte")
        self.limit = limit
        self._in_use = 0
        self._changed = threading.Condition()
        self._queue: deque[object] = deque()  # waiting runs, in arrival order

    @property
    def in_use(self) -> int:
        """Bytes reserved now."""
        with self._changed:
            return self._in_use

    @property
    def waiting(self) -> int:
        """Runs waiting for memory now."""
        with self._changed:
            return len(self._queue)

    @contextmanager
    def reserved(self, need: StateNeed, device: str) -> Iterator[None]:
        """Hold ``need`` for the body: at once when it fits and nobody waits before it,
        else once the runs before it released enough. RESOURCE_EXHAUSTED when it could
        never fit."""
        size = need.bytes
        if size > self.limit:
            raise over_limit(device, need, self.limit, "this run needs")
        if size == 0:
            yield
            return
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or self._in_use + size > self.limit:
                    self._changed.wait()
            finally:
                self._queue.remove(ticket)
                self._changed.notify_all()  # the next in line may fit beside this one
            self._in_use += size
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= size
                self._changed.notify_all()
