"""The driver-manager's memory budget: runs reserve what they hold, concurrent runs wait
for memory in arrival order, a run larger than the whole budget fails with
RESOURCE_EXHAUSTED before its driver runs, and sim:statevector picks qsim where only
qsim's state fits."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import ClassVar

import pytest
from qiskit import QuantumCircuit

from eigen.drivers.base import Driver
from eigen.drivers.engine_choice import AER, QSIM
from eigen.drivers.memory_budget import MemoryBudget, parallel_states
from eigen.drivers.registry import DriverRegistry
from eigen.drivers.statevector import AerStatevectorDriver, StatevectorDriver
from eigen.errors import EigenError, ResourceExhausted
from eigen.models.compiled import EstimationRequest, ExecutionRequest
from eigen.models.result import ExecutionResult, Experiment
from eigen.models.state_memory import StateMemory, StateNeed, run_need
from eigen.models.target import DeviceInfo

MIB = 1 << 20
GIB = 1 << 30
WAIT_S = 10.0


def need(size: int) -> StateNeed:
    return StateNeed(StateMemory.COMPLEX128, 1, size, 0)


def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds (bounded), re-checking as threads make progress."""
    done = threading.Event()
    for _ in range(int(WAIT_S / 0.005)):
        if condition():
            return
        done.wait(0.005)
    raise AssertionError("condition not reached")


def measured(width: int) -> QuantumCircuit:
    qc = QuantumCircuit(width, width)
    qc.measure(range(width), range(width))
    return qc


# -- the budget ------------------------------------------------------------------------------
def test_a_reservation_is_held_for_its_body_only() -> None:
    budget = MemoryBudget(100)
    with budget.reserved(need(60), "dev"):
        assert budget.in_use == 60
    assert budget.in_use == 0


def test_a_run_larger_than_the_budget_fails_at_once() -> None:
    budget = MemoryBudget(100)
    with pytest.raises(ResourceExhausted, match="this run needs"), budget.reserved(need(101), "dev"):
        pytest.fail("the body must not run")
    assert budget.in_use == 0


def test_a_run_that_does_not_fit_waits_for_the_memory_of_the_others() -> None:
    budget = MemoryBudget(100)
    release = threading.Event()
    entered: list[str] = []

    def hold(name: str, size: int) -> None:
        with budget.reserved(need(size), "dev"):
            entered.append(name)
            release.wait(WAIT_S)

    first = threading.Thread(target=hold, args=("first", 70))
    first.start()
    eventually(lambda: entered == ["first"])
    second = threading.Thread(target=hold, args=("second", 50))
    second.start()
    eventually(lambda: budget.waiting == 1)
    assert entered == ["first"] and budget.in_use == 70  # 70 + 50 > 100: it waits
    release.set()
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert entered == ["first", "second"]
    assert budget.in_use == 0


def test_runs_that_fit_together_run_together() -> None:
    budget = MemoryBudget(100)
    release = threading.Event()
    inside = threading.Semaphore(0)

    def hold() -> None:
        with budget.reserved(need(40), "dev"):
            inside.release()
            release.wait(WAIT_S)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert inside.acquire(timeout=WAIT_S) and inside.acquire(timeout=WAIT_S)
    assert budget.in_use == 80
    release.set()
    for thread in threads:
        thread.join(WAIT_S)


def test_a_large_run_is_not_overtaken_by_later_small_ones() -> None:
    budget = MemoryBudget(100)
    order: list[str] = []
    release_first = threading.Event()

    def hold(name: str, size: int, until: threading.Event | None = None) -> None:
        with budget.reserved(need(size), "dev"):
            order.append(name)
            if until is not None:
                until.wait(WAIT_S)

    first = threading.Thread(target=hold, args=("small-1", 30, release_first))
    first.start()
    eventually(lambda: order == ["small-1"])
    large = threading.Thread(target=hold, args=("large", 90))
    large.start()
    eventually(lambda: budget.waiting == 1)
    late = threading.Thread(target=hold, args=("small-2", 30))
    late.start()
    eventually(lambda: budget.waiting == 2)
    assert order == ["small-1"]  # small-2 would fit beside small-1, but large came first
    release_first.set()
    for thread in (first, large, late):
        thread.join(WAIT_S)
    assert order == ["small-1", "large", "small-2"]


def test_parallel_states_are_one_unless_aer_is_told() -> None:
    assert parallel_states({}, 10) == 1
    assert parallel_states({"max_parallel_threads": 1}, 10) == 1
    assert parallel_states({"max_parallel_experiments": 4}, 10) == 4
    assert parallel_states({"max_parallel_experiments": 4}, 2) == 2
    assert parallel_states({"max_parallel_experiments": 0}, 6) == 6  # 0: as many as it may


# -- the registry ----------------------------------------------------------------------------
class HeldDriver(Driver):
    """A complex128 device whose runs wait for ``release``."""

    name: ClassVar[str] = "test:held"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: list[int] = []

    @property
    def info(self) -> DeviceInfo:
        return DeviceInfo(
            name=self.name, num_qubits=30, basis_gates=("x",), state_memory=StateMemory.COMPLEX128
        )

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        self.started.append(request.circuit.num_qubits)
        self.release.wait(WAIT_S)
        return ExecutionResult(self.name, [Experiment({"0": request.shots}, request.shots)], 1)


def test_concurrent_runs_together_stay_within_the_limit() -> None:
    driver = HeldDriver()
    limit = run_need(StateMemory.COMPLEX128, 20, shots=10).bytes + MIB  # one 20-qubit run
    registry = DriverRegistry([driver], load_entry_points=False, memory_limit=limit)
    assert registry.memory is not None
    outcomes: list[ExecutionResult] = []

    def execute() -> None:
        outcomes.append(registry.execute(ExecutionRequest(driver.name, measured(20), 10)))

    runs = [threading.Thread(target=execute) for _ in range(2)]
    for run in runs:
        run.start()
    budget = registry.memory
    eventually(lambda: len(driver.started) == 1 and budget.waiting == 1)
    assert budget.in_use == run_need(StateMemory.COMPLEX128, 20, shots=10).bytes
    driver.release.set()
    for run in runs:
        run.join(WAIT_S)
    assert len(outcomes) == 2 and driver.started == [20, 20]
    assert budget.in_use == 0


def test_a_run_over_the_whole_limit_fails_before_its_driver_runs() -> None:
    driver = HeldDriver()
    registry = DriverRegistry([driver], load_entry_points=False, memory_limit=GIB)
    with pytest.raises(ResourceExhausted, match="28-qubit complex128 state vector") as caught:
        registry.execute(ExecutionRequest(driver.name, measured(28), 10))
    assert caught.value.metadata["limit"] == "worker_memory_bytes"
    assert driver.started == []


def test_without_a_limit_nothing_is_counted() -> None:
    driver = HeldDriver()
    driver.release.set()
    registry = DriverRegistry([driver], load_entry_points=False)
    assert registry.memory is None
    registry.execute(ExecutionRequest(driver.name, measured(28), 10))
    assert driver.started == [28]


class FakeProcesses:
    """Stands for the driver processes: records what it was handed, and the budget then."""

    def __init__(self, registry: Callable[[], DriverRegistry]) -> None:
        self.registry = registry
        self.handed: list[list[int]] = []
        self.in_use: list[int] = []

    def execute_many(self, requests: Sequence[ExecutionRequest]) -> list[ExecutionResult | EigenError]:
        budget = self.registry().memory
        assert budget is not None
        self.handed.append([r.circuit.num_qubits for r in requests])
        self.in_use.append(budget.in_use)
        return [ExecutionResult(r.device, [Experiment({"0": r.shots}, r.shots)], 1) for r in requests]


def test_a_hand_off_to_the_driver_processes_holds_its_largest_run() -> None:
    holder: list[DriverRegistry] = []
    processes = FakeProcesses(lambda: holder[0])
    registry = DriverRegistry(processes=processes, memory_limit=GIB)  # type: ignore[arg-type]
    holder.append(registry)
    requests = [ExecutionRequest("sim:aer", measured(width), 10) for width in (28, 12, 20)]
    outcomes = registry.execute_many(requests)
    assert isinstance(outcomes[0], ResourceExhausted)  # 4 GiB: failed alone, in its place
    assert all(isinstance(o, ExecutionResult) for o in outcomes[1:])
    assert processes.handed == [[12, 20]]
    assert processes.in_use == [run_need(StateMemory.COMPLEX128, 20, shots=10).bytes]
    assert registry.memory is not None and registry.memory.in_use == 0


def test_an_exact_estimate_counts_a_complex128_state() -> None:
    registry = DriverRegistry([StatevectorDriver()], load_entry_points=False, memory_limit=40 * MIB)
    circuit = QuantumCircuit(21)  # 32 MiB in complex128, 16 MiB in complex64
    with pytest.raises(ResourceExhausted, match="21-qubit complex128"):
        registry.estimate(EstimationRequest("sim:statevector", circuit, [[("Z" * 21, 1.0)]]))


# -- sim:statevector picks what fits -----------------------------------------------------------
def test_the_registry_tells_memory_aware_drivers_the_limit() -> None:
    driver = StatevectorDriver()
    DriverRegistry([driver], load_entry_points=False, memory_limit=GIB)
    assert driver.memory_limit == GIB
    assert driver.info.state_memory is StateMemory.LEAST
    assert AerStatevectorDriver().info.state_memory is StateMemory.COMPLEX128


def test_statevector_runs_on_qsim_when_only_qsims_state_fits() -> None:
    driver = StatevectorDriver()
    request = ExecutionRequest("sim:statevector", measured(20), 100)  # no gates: aer by cost
    assert driver._choice(request, None).engine == AER
    aer = run_need(StateMemory.COMPLEX128, 20, shots=100).bytes
    qsim = run_need(StateMemory.COMPLEX64, 20, shots=100).bytes
    driver.memory_limit = (aer + qsim) // 2
    choice = driver._choice(request, driver.memory_limit)
    assert choice.engine == QSIM and "above the limit" in choice.reason
    assert driver.memory_need(request, driver.memory_limit).kind is StateMemory.COMPLEX64
    assert driver.memory_need(request, None).kind is StateMemory.COMPLEX128  # a driver process's
    result = driver.run(request)
    assert "qsim_s" in result.timings and result.experiments[0].counts == {"0" * 20: 100}


def test_statevector_keeps_aer_for_what_qsim_cannot_run() -> None:
    driver = StatevectorDriver()
    circuit = measured(20)
    circuit.reset(0)  # qsim runs no reset
    request = ExecutionRequest("sim:statevector", circuit, 100)
    driver.memory_limit = run_need(StateMemory.COMPLEX64, 20, shots=100).bytes
    assert driver._choice(request, driver.memory_limit).engine == AER
    assert driver.memory_need(request, driver.memory_limit).kind is StateMemory.COMPLEX128
    registry = DriverRegistry([driver], load_entry_points=False, memory_limit=driver.memory_limit)
    with pytest.raises(ResourceExhausted, match="complex128"):
        registry.execute(request)


def test_a_run_for_a_driver_process_is_sized_for_its_engine_there() -> None:
    """The driver in a worker process knows no limit: it picks by cost, and that is counted."""
    holder: list[DriverRegistry] = []
    processes = FakeProcesses(lambda: holder[0])
    aer = run_need(StateMemory.COMPLEX128, 20, shots=100).bytes
    qsim = run_need(StateMemory.COMPLEX64, 20, shots=100).bytes
    registry = DriverRegistry(processes=processes, memory_limit=(aer + qsim) // 2)  # type: ignore[arg-type]
    holder.append(registry)
    outcomes = registry.execute_many([ExecutionRequest("sim:statevector", measured(20), 100)])
    assert isinstance(outcomes[0], ResourceExhausted)  # aer there, by cost: it would not fit
    assert processes.handed == []
