"""Noise models by name: parsing, the submission check, aer's noise model, the drivers and
the driver-manager wire."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest
from qiskit import QuantumCircuit

from eigen.drivers.aer_tuning import SERIAL_BELOW_QUBITS
from eigen.drivers.emulator import ManilaEmulator
from eigen.drivers.noise import build_noise_model, gate_widths, noise_model_for
from eigen.drivers.registry import DriverRegistry
from eigen.drivers.stabilizer import StabilizerDriver
from eigen.drivers.statevector import BASIS_GATES, DENSITY_MATRIX_QUBITS, StatevectorDriver
from eigen.errors import InvalidArgument
from eigen.models.compiled import ExecutionRequest
from eigen.models.noise import (
    CHANNELS,
    NoiseChannel,
    applies_noise_models,
    check_noise,
    parse_noise_model,
)
from eigen.models.result import ExecutionResult, Experiment
from eigen.models.target import DeviceInfo
from eigen.server import wire

FIELD = "spec.metadata.noise_model"
STATEVECTOR_INFO = DeviceInfo("sim:statevector", 28, BASIS_GATES)
STABILIZER_INFO = DeviceInfo("sim:stabilizer", 10_000, ("h", "cx"), clifford_only=True)
EMULATOR_INFO = DeviceInfo("emu:manila", 5, ("rz", "sx", "x", "cx"), noisy=True)
HARDWARE_INFO = DeviceInfo("qpu:example", 5, ("rz", "sx", "x", "cx"), simulator=False)


def run(
    driver: StatevectorDriver, circuit: QuantumCircuit, noise: str | None, seed: int = 11, shots: int = 2000
) -> dict[str, int]:
    return driver.run(ExecutionRequest(driver.name, circuit, shots, seed, [], noise)).experiments[0].counts


# -- parsing ---------------------------------------------------------------------------


def test_one_channel_parses_to_its_name_and_parameter() -> None:
    spec = parse_noise_model("depolarizing:0.001", FIELD)
    assert spec.channels == (NoiseChannel("depolarizing", 0.001),)
    assert spec.text == "depolarizing:0.001"


def test_channels_combine_with_commas_in_the_order_given() -> None:
    spec = parse_noise_model(" Depolarizing:1e-3 , readout:0.01,amplitude_damping:0", FIELD)
    assert [c.name for c in spec.channels] == ["depolarizing", "readout", "amplitude_damping"]
    assert spec.text == "depolarizing:0.001,readout:0.01,amplitude_damping:0.0"
    assert spec.parameter("readout") == 0.01
    assert spec.parameter("bit_flip") is None


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_every_known_name_parses(name: str) -> None:
    assert parse_noise_model(f"{name}:0.5", FIELD).parameter(name) == 0.5


def test_an_unknown_name_is_refused_by_name_with_the_known_names() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_noise_model("thermal_relax:0.1", FIELD)
    message = str(caught.value)
    assert message.startswith(f"{FIELD}:")
    assert "'thermal_relax'" in message
    for name in CHANNELS:
        assert name in message
    assert caught.value.violations[0].field == FIELD


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("depolarizing", "needs a parameter"),
        ("depolarizing:", "needs a parameter"),
        ("depolarizing:lots", "must be a number"),
        ("depolarizing:1.5", "in [0, 1]"),
        ("depolarizing:-0.1", "in [0, 1]"),
        ("depolarizing:nan", "in [0, 1]"),
        ("depolarizing:inf", "in [0, 1]"),
        ("", "empty noise model"),
        ("depolarizing:0.1,,readout:0.1", "empty channel"),
        ("bit_flip:0.1,bit_flip:0.2", "twice"),
        ("readout:0.1," * 40, "longer than"),
    ],
)
def test_malformed_noise_models_are_refused_naming_the_field(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^spec\.metadata\.noise_model: ") as caught:
        parse_noise_model(text, FIELD)
    assert words in str(caught.value)


# -- the submission check --------------------------------------------------------------


def test_no_noise_model_passes_everywhere() -> None:
    for info in (STATEVECTOR_INFO, STABILIZER_INFO, EMULATOR_INFO, HARDWARE_INFO):
        assert check_noise(None, info, 0, FIELD) is None


def test_a_noiseless_general_simulator_with_shots_takes_a_noise_model() -> None:
    spec = check_noise("depolarizing:0.001", STATEVECTOR_INFO, 8192, FIELD)
    assert spec is not None and spec.text == "depolarizing:0.001"
    assert applies_noise_models(STATEVECTOR_INFO)


@pytest.mark.parametrize(
    ("info", "words"),
    [
        (STABILIZER_INFO, "sim:stabilizer (Clifford, stim) cannot apply"),
        (EMULATOR_INFO, "emu:manila is a noisy emulator"),
        (HARDWARE_INFO, "qpu:example is a real device"),
    ],
)
def test_devices_that_cannot_apply_a_noise_model_refuse_it(info: DeviceInfo, words: str) -> None:
    assert not applies_noise_models(info)
    with pytest.raises(InvalidArgument, match=f"^{FIELD}: ") as caught:
        check_noise("depolarizing:0.001", info, 1000, FIELD)
    assert words in str(caught.value)


def test_exact_estimation_with_a_noise_model_is_refused_and_says_to_set_shots() -> None:
    with pytest.raises(InvalidArgument, match="set shots"):
        check_noise("depolarizing:0.001", STATEVECTOR_INFO, 0, FIELD)


def test_the_submission_check_refuses_an_unknown_name_first() -> None:
    with pytest.raises(InvalidArgument, match="unknown noise model 'nope'"):
        check_noise("nope:0.1", STABILIZER_INFO, 0, FIELD)


# -- aer's noise model -----------------------------------------------------------------


def test_gate_noise_follows_every_gate_of_the_basis_and_readout_every_measurement() -> None:
    model = build_noise_model(parse_noise_model("depolarizing:0.01,readout:0.02", FIELD), BASIS_GATES)
    widths = gate_widths(BASIS_GATES)
    assert {"h", "rz", "u", "cx", "rzz", "ccx"} <= set(widths)
    assert not {"measure", "reset"} & set(widths)
    assert set(model.noise_instructions) == set(widths) | {"measure"}
    assert model.to_dict()["errors"][0]["type"] == "qerror"
    assert any(error["type"] == "roerror" for error in model.to_dict()["errors"])


def test_gate_errors_have_the_width_of_their_gate() -> None:
    model = build_noise_model(parse_noise_model("bit_flip:0.1,depolarizing:0.1", FIELD), ("x", "cx", "ccx"))
    widths = {
        error["operations"][0]: 1
        + max(q for ops in error["instructions"] for op in ops for q in op["qubits"])
        for error in model.to_dict()["errors"]
    }
    assert widths == {
        "x": 1,
        "cx": 2,
        "ccx": 3,
    }


def test_noise_models_are_built_once_per_name_and_basis() -> None:
    spec = parse_noise_model("phase_flip:0.2", FIELD)
    first = noise_model_for(spec, BASIS_GATES)
    assert noise_model_for(parse_noise_model("phase_flip:0.2", FIELD), BASIS_GATES) is first
    assert noise_model_for(spec, ("x", "cx")) is not first


# -- the drivers -----------------------------------------------------------------------


def test_each_channel_acts_as_its_name_says(statevector: StatevectorDriver) -> None:
    """At probability 1 the channels are deterministic: the counts show what each does."""
    x = QuantumCircuit(1, 1)
    x.x(0)
    x.measure(0, 0)
    zero = QuantumCircuit(1, 1)
    zero.measure(0, 0)
    hh = QuantumCircuit(1, 1)
    hh.h(0)
    hh.h(0)
    hh.measure(0, 0)
    assert run(statevector, x, None) == {"1": 2000}
    assert run(statevector, x, "bit_flip:1") == {"0": 2000}
    assert run(statevector, x, "amplitude_damping:1") == {"0": 2000}
    assert run(statevector, zero, "readout:1") == {"1": 2000}
    assert run(statevector, hh, None) == {"0": 2000}
    assert run(statevector, hh, "phase_flip:1") == {"1": 2000}  # H Z H Z = X up to a phase


def test_depolarizing_noise_breaks_bell_correlations(
    statevector: StatevectorDriver, bell: QuantumCircuit
) -> None:
    clean = run(statevector, bell, None)
    noisy = run(statevector, bell, "depolarizing:0.2")
    assert set(clean) == {"00", "11"}
    odd = noisy.get("01", 0) + noisy.get("10", 0)
    assert 50 < odd < 600  # about 2000 * (0.2 * 1/2 + 0.2 * 8/15): well away from 0 and 1000


def test_same_seed_and_noise_give_identical_counts(
    statevector: StatevectorDriver, bell: QuantumCircuit, ghz: Callable[[int], QuantumCircuit]
) -> None:
    noise = "depolarizing:0.05,readout:0.02"
    assert run(statevector, bell, noise, seed=5) == run(statevector, bell, noise, seed=5)
    assert run(statevector, bell, noise, seed=5) != run(statevector, bell, noise, seed=6)
    wide = ghz(SERIAL_BELOW_QUBITS)  # wide enough for aer to run shots on several threads
    assert run(statevector, wide, noise, 9, 40) == run(statevector, wide, noise, 9, 40)


def test_a_noise_model_leaves_the_simulator_noiseless_for_later_requests(
    statevector: StatevectorDriver, bell: QuantumCircuit
) -> None:
    run(statevector, bell, "depolarizing:0.3")
    assert set(run(statevector, bell, None)) == {"00", "11"}
    assert statevector.simulator().options.noise_model is None


def test_parameter_sweeps_run_with_the_noise_model(statevector: StatevectorDriver) -> None:
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.rx(theta, 0)
    qc.measure(0, 0)
    bindings = [{"theta": 0.0}, {"theta": 3.141592653589793}]
    result = statevector.run(ExecutionRequest(statevector.name, qc, 500, 3, bindings, "bit_flip:1"))
    assert [e.counts for e in result.experiments] == [{"1": 500}, {"0": 500}]


def test_the_driver_refuses_an_unknown_noise_model(
    statevector: StatevectorDriver, bell: QuantumCircuit
) -> None:
    with pytest.raises(InvalidArgument, match=r"^noise_model: unknown noise model 'nope'"):
        run(statevector, bell, "nope:0.1")


def test_stabilizer_and_emulator_refuse_a_noise_model(
    stabilizer: StabilizerDriver, manila: ManilaEmulator, bell: QuantumCircuit
) -> None:
    assert statevector_applies() and not stabilizer.applies_noise_models and not manila.applies_noise_models
    with pytest.raises(InvalidArgument, match="sim:stabilizer cannot apply noise model"):
        stabilizer.run(ExecutionRequest(stabilizer.name, bell, 100, 1, [], "depolarizing:0.01"))
    with pytest.raises(InvalidArgument, match="noisy emulator with its device's own noise"):
        manila.run(ExecutionRequest(manila.name, bell, 100, 1, [], "depolarizing:0.01"))


def statevector_applies() -> bool:
    return StatevectorDriver().applies_noise_models


class IgnoringDriver(StatevectorDriver):
    """A plugin whose run never looks at the request's checks (nor its noise model)."""

    name: ClassVar[str] = "test:ignoring"
    aliases: ClassVar[tuple[str, ...]] = ()

    @property
    def applies_noise_models(self) -> bool:
        return False

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        return ExecutionResult(self.name, [Experiment({"0": request.shots}, request.shots)], 1)


def test_the_registry_refuses_a_noise_model_a_driver_does_not_apply(bell: QuantumCircuit) -> None:
    registry = DriverRegistry([IgnoringDriver()], load_entry_points=False)
    assert registry.execute(ExecutionRequest("test:ignoring", bell, 10)).experiments[0].counts == {"0": 10}
    with pytest.raises(InvalidArgument, match="test:ignoring cannot apply noise model"):
        registry.execute(ExecutionRequest("test:ignoring", bell, 10, noise_model="depolarizing:0.01"))


# -- the driver-manager wire -----------------------------------------------------------


@pytest.mark.parametrize("noise", ["depolarizing:0.001,readout:0.01", None])
def test_execute_request_carries_the_noise_model_over_the_wire(
    bell: QuantumCircuit, noise: str | None
) -> None:
    request = ExecutionRequest("sim:statevector", bell, 100, 4, [{"a": 1.0}], noise)
    message = wire.execute_request_to_pb(request)
    assert message.noise_model == (noise or "")
    back = wire.execute_request_from_pb(type(message).FromString(message.SerializeToString()))
    assert back.noise_model == noise
    assert (back.device, back.shots, back.seed, back.parameter_bindings) == (
        "sim:statevector",
        100,
        4,
        [{"a": 1.0}],
    )


def test_small_noisy_circuits_run_on_the_density_matrix_method(
    statevector: StatevectorDriver, bell: QuantumCircuit, ghz: Callable[[int], QuantumCircuit]
) -> None:
    crx = QuantumCircuit(2, 2)
    crx.h(0)
    crx.crx(0.5, 0, 1)
    crx.measure([0, 1], [0, 1])

    def method(circuit: QuantumCircuit, noisy: bool) -> str:
        return str(statevector.simulator_for(circuit, noisy).options.method)

    assert method(bell, True) == "density_matrix"
    assert method(bell, False) == "statevector"
    assert method(ghz(DENSITY_MATRIX_QUBITS + 1), True) == "statevector"
    assert method(crx, True) == "statevector"  # a gate the density-matrix method lacks
    assert run(statevector, crx, "depolarizing:0.01", 3, 200) == run(
        statevector, crx, "depolarizing:0.01", 3, 200
    )
