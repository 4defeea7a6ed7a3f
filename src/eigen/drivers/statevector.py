"""``sim:statevector``: exact, noiseless state-vector simulation with qiskit-aer.

Width: 28 qubits. A 28-qubit state vector in complex128 takes 4 GiB (each extra qubit
doubles it), which is as far as the standard 2-vCPU / 23 GiB machine goes with room for
aer's work buffers and several jobs; runtime at that width is minutes per circuit anyway.

The basis is a broad set of standard gates that aer runs natively, so a circuit compiled
for this device stays readable. ``run`` never transpiles: one ``AerSimulator`` is built
once and reused, and each request is a single ``run()`` call.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any, ClassVar

from qiskit.quantum_info import SparsePauliOp
from qiskit_aer import AerSimulator
from qiskit_aer.library import SaveExpectationValue

from eigen.drivers.aer_driver import DIRECTIVES, AerDriver
from eigen.drivers.base import Observable, invalid_circuit
from eigen.drivers.binding import sweep_table
from eigen.errors import ExecutionFailed, InvalidArgument
from eigen.models.target import DeviceInfo

NUM_QUBITS = 28
PREPARED_CACHE = 32  # estimation circuits kept ready, by (circuit, observables)

#: Standard gates aer runs natively. ``barrier`` runs too but is not listed: it is a
#: directive, and qiskit's ``transpile(basis_gates=...)`` refuses it as a basis gate.
BASIS_GATES: tuple[str, ...] = (
    "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg",
    "rx", "ry", "rz", "p", "u",
    "cx", "cy", "cz", "cp", "crx", "cry", "crz", "swap", "rxx", "ryy", "rzz",
    "ccx", "cswap",
    "measure", "reset",
)  # fmt: skip

_PAULI_CHARS = frozenset("IXYZ")


def pauli_operator(observable: Observable, num_qubits: int, index: int) -> SparsePauliOp:
    """A :class:`SparsePauliOp` from weighted Pauli labels (Qiskit order, qubit 0 rightmost)."""
    field_path = f"observables[{index}]"
    if not observable:
        raise InvalidArgument.for_field(field_path, "an observable needs at least one term")
    terms: list[tuple[str, float]] = []
    for label, coeff in observable:
        if len(label) != num_qubits or not set(label) <= _PAULI_CHARS:
            raise InvalidArgument.for_field(
                field_path,
                f"Pauli label {label!r} must be {num_qubits} characters of I, X, Y, Z (the circuit width)",
            )
        try:
            weight = float(coeff)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument.for_field(
                field_path, f"weight of {label!r} must be a real number, got {coeff!r}"
            ) from exc
        if not math.isfinite(weight):
            raise InvalidArgument.for_field(field_path, f"weight of {label!r} must be finite")
        terms.append((label, weight))
    return SparsePauliOp.from_list(terms)


class StatevectorDriver(AerDriver):
    name: ClassVar[str] = "sim:statevector"
    aliases: ClassVar[tuple[str, ...]] = ("sim:local",)

    def __init__(self) -> None:
        self._simulator = AerSimulator(method="statevector")
        self._lock = threading.Lock()
        self._prepared: OrderedDict[tuple[Any, ...], tuple[Any, Any, list[str]]] = OrderedDict()
        self._accepted = frozenset(self._simulator.target.operation_names) | DIRECTIVES
        self._info = DeviceInfo(
            name=self.name,
            num_qubits=NUM_QUBITS,
            basis_gates=BASIS_GATES,
            coupling_map=None,
            simulator=True,
            noisy=False,
            description="Exact state-vector simulator (qiskit-aer), all-to-all, noiseless",
            aliases=self.aliases,
        )

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def simulator(self) -> AerSimulator:
        return self._simulator

    def accepted_operations(self) -> frozenset[str]:
        return self._accepted

    def estimate(
        self,
        circuit: Any,
        observables: list[Observable],
        bindings: list[dict[str, float]],
    ) -> list[list[float]]:
        """Exact expectation values of ``circuit`` without its final measurements.

        All bindings run in one aer call; the observables are saved with
        ``save_expectation_value`` on the final state (no sampling, no shot noise).
        """
        runs = max(1, len(bindings))
        if not observables:
            return [[] for _ in range(runs)]
        key = (id(circuit), tuple(tuple(obs) for obs in observables))
        with self._lock:
            cached = self._prepared.get(key)
            if cached is not None and cached[0] is circuit:
                self._prepared.move_to_end(key)
        if cached is not None and cached[0] is circuit:
            unitary, labels = cached[1], cached[2]
        else:
            unitary, labels = self._prepare_estimation(circuit, observables)
            with self._lock:
                self._prepared[key] = (circuit, unitary, labels)
                while len(self._prepared) > PREPARED_CACHE:
                    self._prepared.popitem(last=False)
        table = sweep_table(unitary, bindings)
        options: dict[str, Any] = {"shots": 1}
        if table:
            options["parameter_binds"] = [table]
        try:
            result = self._simulator.run([unitary], **options).result()
        except Exception as exc:
            raise ExecutionFailed(f"{self.name}: estimation failed: {exc}") from exc
        if not result.success:
            raise ExecutionFailed(f"{self.name}: estimation failed: {result.status}")
        values = [[float(result.data(i)[label].real) for label in labels] for i in range(len(result.results))]
        return values if table else values * runs

    def _prepare_estimation(self, circuit: Any, observables: list[Observable]) -> tuple[Any, list[str]]:
        """The circuit without final measurements, saving each observable's expectation.

        Built once per (circuit, observables) and reused: a variational loop estimates the
        same circuit with new bindings hundreds of times.
        """
        unitary = circuit.remove_final_measurements(inplace=False)
        if unitary.num_qubits > NUM_QUBITS:
            raise invalid_circuit(
                f"circuit uses {unitary.num_qubits} qubits but {self.name} has {NUM_QUBITS}"
            )
        leftover = sorted({"measure", "reset"} & set(unitary.count_ops()))
        if leftover:
            raise InvalidArgument.for_field(
                "circuit",
                f"exact estimation needs a circuit without mid-circuit {' or '.join(leftover)}",
            )
        self.check_circuit(unitary)
        operators = [pauli_operator(obs, unitary.num_qubits, k) for k, obs in enumerate(observables)]
        labels = [f"eigen_obs_{k}" for k in range(len(operators))]
        for label, op in zip(labels, operators, strict=True):
            unitary.append(SaveExpectationValue(op, label=label), unitary.qubits)
        return unitary, labels
