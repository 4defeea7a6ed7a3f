from __future__ import annotations

import logging
import subprocess
import sys
from importlib.metadata import EntryPoint
from typing import ClassVar

import pytest
from qiskit import QuantumCircuit

from eigen.drivers import registry as registry_module
from eigen.drivers.base import Driver
from eigen.drivers.registry import GROUP, DriverRegistry
from eigen.drivers.statevector import StatevectorDriver
from eigen.errors import AlreadyExists, ExecutionFailed, FailedPrecondition, NotFound
from eigen.kernel.ports import DriverPort
from eigen.models.compiled import ExecutionRequest
from eigen.models.result import ExecutionResult, Experiment
from eigen.models.target import DeviceInfo, DeviceStatus

BUILT_INS = {"sim:statevector", "sim:stabilizer", "emu:manila"}


class EchoDriver(Driver):
    """A test device that returns one fixed outcome."""

    name: ClassVar[str] = "test:echo"
    aliases: ClassVar[tuple[str, ...]] = ("test:alias",)

    @property
    def info(self) -> DeviceInfo:
        return DeviceInfo(name=self.name, num_qubits=2, basis_gates=("x",), aliases=self.aliases)

    def status(self) -> DeviceStatus:
        return DeviceStatus.MAINTENANCE

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        return ExecutionResult(self.name, [Experiment({"00": request.shots}, request.shots)], 1)


class BrokenDriver(EchoDriver):
    name: ClassVar[str] = "test:broken"
    aliases: ClassVar[tuple[str, ...]] = ()

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        raise RuntimeError("backend exploded")


class NoInfoDriver(EchoDriver):
    name: ClassVar[str] = "test:noinfo"
    aliases: ClassVar[tuple[str, ...]] = ()

    @property
    def info(self) -> DeviceInfo:
        raise RuntimeError("cannot describe")


@pytest.fixture(scope="module")
def registry() -> DriverRegistry:
    return DriverRegistry()


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def test_built_ins_are_found_through_entry_points(registry: DriverRegistry) -> None:
    assert set(registry.names()) >= BUILT_INS
    names = [info.name for info in registry.list_devices()]
    assert set(names) >= BUILT_INS
    assert names == sorted(names)


def test_registry_is_a_driver_port(registry: DriverRegistry) -> None:
    port: DriverPort = registry  # checked by mypy
    assert port.device("sim:statevector").num_qubits == 28


def test_alias_resolves(registry: DriverRegistry) -> None:
    assert isinstance(registry.driver("sim:local"), StatevectorDriver)
    assert registry.device("sim:local").name == "sim:statevector"
    assert "sim:local" in registry


def test_unknown_device_lists_known_names(registry: DriverRegistry) -> None:
    with pytest.raises(NotFound) as err:
        registry.device("sim:nope")
    message = str(err.value)
    assert "sim:nope" in message
    for name in BUILT_INS:
        assert name in message
    assert err.value.violations[0].field == "device"


def test_execute_dispatches_by_device_and_times_it(registry: DriverRegistry) -> None:
    result = registry.execute(ExecutionRequest("sim:local", bell(), 100, seed=1))
    assert result.backend == "sim:statevector"
    assert set(result.experiments[0].counts) <= {"00", "11"}
    assert result.timings["driver_s"] >= result.timings["execute_s"] > 0


def test_status_and_calibration(registry: DriverRegistry) -> None:
    assert registry.device_status("sim:statevector") is DeviceStatus.ONLINE
    with pytest.raises(FailedPrecondition, match="no calibration data"):
        registry.calibrate("sim:statevector")
    assert len(registry.calibrate("emu:manila").qubits) == 5


def test_register_and_lookup_without_entry_points() -> None:
    reg = DriverRegistry([EchoDriver()], load_entry_points=False)
    assert reg.names() == ["test:echo"]
    assert reg.device("test:alias").name == "test:echo"
    assert reg.device_status("test:echo") is DeviceStatus.MAINTENANCE
    result = reg.execute(ExecutionRequest("test:alias", bell(), 7))
    assert result.experiments[0].counts == {"00": 7}


def test_duplicate_registration_needs_replace() -> None:
    reg = DriverRegistry([EchoDriver()], load_entry_points=False)
    replacement = EchoDriver()
    with pytest.raises(AlreadyExists):
        reg.register(replacement)
    reg.register(replacement, replace=True)
    assert reg.driver("test:echo") is replacement


def test_unexpected_driver_error_becomes_execution_failed() -> None:
    reg = DriverRegistry([BrokenDriver()], load_entry_points=False)
    with pytest.raises(ExecutionFailed, match="backend exploded"):
        reg.execute(ExecutionRequest("test:broken", bell(), 1))


def test_device_that_cannot_describe_itself_is_left_out_of_listing() -> None:
    reg = DriverRegistry([EchoDriver(), NoInfoDriver()], load_entry_points=False)
    assert [info.name for info in reg.list_devices()] == ["test:echo"]


def test_failing_plugin_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = [
        EntryPoint("test:missing", "no_such_module_xyz:Driver", GROUP),
        EntryPoint("test:notadriver", "builtins:dict", GROUP),
        EntryPoint("test:echo", f"{__name__}:EchoDriver", GROUP),
    ]
    monkeypatch.setattr(registry_module, "entry_points", lambda group: plugins)
    with caplog.at_level(logging.WARNING, logger=registry_module.__name__):
        reg = DriverRegistry()
        assert [info.name for info in reg.list_devices()] == ["test:echo"]
    failed = {record.device for record in caplog.records}  # type: ignore[attr-defined]
    assert failed == {"test:missing", "test:notadriver"}
    with pytest.raises(NotFound, match="failed to load"):
        reg.driver("test:missing")


def test_entry_points_load_lazily() -> None:
    """Looking up a simulator neither builds the emulator nor imports qiskit-ibm-runtime."""
    code = (
        "import sys\n"
        "from eigen.drivers import DriverRegistry\n"
        "reg = DriverRegistry()\n"
        "assert 'qiskit' not in sys.modules, 'registry imported qiskit'\n"
        "reg.driver('sim:statevector')\n"
        "assert 'qiskit_ibm_runtime' not in sys.modules, 'emulator loaded eagerly'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
