"""Execution in driver processes: the same results as in process, errors that cross the
process boundary, a worker that dies, and a server that runs jobs this way."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from qiskit import QuantumCircuit, transpile

from eigen.config.settings import Settings
from eigen.drivers.processes import DriverProcesses
from eigen.drivers.registry import GROUP, DriverRegistry
from eigen.errors import ExecutionFailed, InvalidArgument, NotFound
from eigen.models.compiled import ExecutionRequest
from eigen.models.result import ExecutionResult
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import SLOW, bell_circuit, job, submit
from tests.unit.drivers.test_driver_registry import EchoDriver

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def processes() -> Iterator[DriverProcesses]:
    pool = DriverProcesses(1, GROUP)
    pool.warm_up()
    yield pool
    pool.close()


class SpyProcesses(DriverProcesses):
    """The real pool, noting which devices it was asked to run."""

    def __init__(self, workers: int, group: str) -> None:
        super().__init__(workers, group)
        self.calls: list[str] = []

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        self.calls.append(request.device)
        return super().execute(request)


def test_a_worker_gives_the_counts_of_the_same_driver_in_process(processes: DriverProcesses) -> None:
    here = DriverRegistry()
    for device in ("sim:statevector", "emu:manila"):
        info = here.device(device)
        lowered = transpile(bell_circuit(), basis_gates=list(info.basis_gates), seed_transpiler=1)
        request = ExecutionRequest(device=device, circuit=lowered, shots=500, seed=7)
        remote, local = processes.execute(request), here.execute(request)
        assert remote.experiments[0].counts == local.experiments[0].counts
        assert remote.seed == local.seed == 7 and remote.backend == local.backend
        assert remote.timings["driver_s"] > 0


def test_errors_come_back_as_they_are_raised(processes: DriverProcesses) -> None:
    circuit = QuantumCircuit(1, 1)
    circuit.t(0)  # not a Clifford gate: the stabilizer device refuses it
    circuit.measure(0, 0)
    with pytest.raises(InvalidArgument) as remote:
        processes.execute(ExecutionRequest(device="sim:stabilizer", circuit=circuit, shots=10))
    with pytest.raises(InvalidArgument) as local:
        DriverRegistry().execute(ExecutionRequest(device="sim:stabilizer", circuit=circuit, shots=10))
    assert remote.value.message == local.value.message
    assert remote.value.violations == local.value.violations
    with pytest.raises(NotFound, match="unknown device"):
        processes.execute(ExecutionRequest(device="sim:nowhere", circuit=circuit, shots=10))


def test_a_batch_goes_to_a_worker_in_one_call_and_each_keeps_its_own_error(
    processes: DriverProcesses,
) -> None:
    t_gate = QuantumCircuit(1, 1)
    t_gate.t(0)
    t_gate.measure(0, 0)
    good = ExecutionRequest(device="sim:statevector", circuit=bell_circuit(), shots=100, seed=3)
    batch = [good, ExecutionRequest(device="sim:stabilizer", circuit=t_gate, shots=10), good]
    first, refused, last = processes.execute_many(batch)
    assert isinstance(refused, InvalidArgument) and "sim:stabilizer" in refused.message
    assert isinstance(first, ExecutionResult) and isinstance(last, ExecutionResult)
    alone = DriverRegistry().execute(good)
    assert first.experiments[0].counts == last.experiments[0].counts == alone.experiments[0].counts


def test_a_registry_sends_entry_point_drivers_to_its_workers_and_keeps_its_own() -> None:
    spy = SpyProcesses(1, GROUP)
    try:
        registry = DriverRegistry([EchoDriver()], processes=spy)
        registry.execute(ExecutionRequest(device="sim:local", circuit=bell_circuit(), shots=10, seed=1))
        echo = ExecutionRequest(device="test:echo", circuit=bell_circuit(), shots=10)
        echoed = registry.execute(echo)
        assert spy.calls == ["sim:local"]  # the alias resolves in the worker too
        assert echoed.experiments[0].counts == {"00": 10}
        # a batch with a device of its own runs here, each request on its own
        local, mixed = registry.execute_many(
            [echo, ExecutionRequest(device="sim:nowhere", circuit=None, shots=1)]
        )
        assert isinstance(local, ExecutionResult) and isinstance(mixed, NotFound)
        assert spy.calls == ["sim:local"]
    finally:
        spy.close()


def test_a_worker_that_dies_fails_its_call_and_the_next_call_runs() -> None:
    pool = DriverProcesses(1, GROUP)
    try:
        (pid,) = pool.warm_up()
        os.kill(pid, signal.SIGKILL)
        request = ExecutionRequest(device="sim:statevector", circuit=bell_circuit(), shots=10, seed=1)
        deadline = time.monotonic() + 30
        with pytest.raises(ExecutionFailed, match="driver process"):
            while time.monotonic() < deadline:  # until the pool has noticed the death
                pool.execute(request)
                time.sleep(0.05)
        assert sum(pool.execute(request).experiments[0].counts.values()) == 10
    finally:
        pool.close()


def test_a_server_with_driver_processes_runs_jobs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, driver_processes=1)
    with EmbeddedServer(settings) as server, grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        done = submit(stub, job())
        for event in stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=done.id), timeout=60):
            if event.terminal:
                assert event.state == pb.JOB_STATE_DONE
                break
        results = stub.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=done.id))
        counts = dict(results.experiments[0].counts)
        assert sum(counts.values()) == 1000 and set(counts) <= {"00", "11"}


def test_the_server_answers_while_a_worker_simulates(tmp_path: Path) -> None:
    # qiskit-aer holds the GIL while it simulates: in process, a GetJob waits for the
    # whole simulation (about one answer per run of ~1 s); from a worker, it does not.
    settings = Settings(data_dir=tmp_path, driver_processes=1)
    with EmbeddedServer(settings) as server, grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        slow = submit(stub, job(SLOW, shots=100))
        answered_while_running = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = stub.GetJob(jobs_pb2.GetJobRequest(job_id=slow.id), timeout=30).state
            if state == pb.JOB_STATE_RUNNING:
                answered_while_running += 1
            elif state == pb.JOB_STATE_DONE:
                break
            time.sleep(0.005)
        assert state == pb.JOB_STATE_DONE
        assert answered_while_running >= 10


def test_an_answer_that_cannot_be_pickled_comes_back_as_an_error(processes: DriverProcesses) -> None:
    with pytest.raises(ExecutionFailed, match="could not be sent back"):
        processes._call(_unpicklable, None, "sim:statevector")
    request = ExecutionRequest(device="sim:statevector", circuit=bell_circuit(), shots=10, seed=1)
    assert sum(processes.execute(request).experiments[0].counts.values()) == 10  # the worker goes on


def _unpicklable(registry: object, argument: object) -> object:
    return lambda: None  # a lambda cannot be pickled
