"""What the compiler hands the kernel, and what the kernel asks a driver to run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eigen.models.outputs import DEFAULT_OUTPUTS, Output
from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo


@dataclass(frozen=True)
class CompileRequest:
    program: str
    language: ProgramLanguage
    device: DeviceInfo
    entrypoint: str = "main"
    optimization_level: int | None = None  # None: the compiler's default (1)
    seed: int | None = None
    # Hybrid estimation: also compile the circuit measured in each of these Pauli bases
    # (labels in Qiskit order, one letter X/Y/Z per logical qubit, rightmost = qubit 0).
    measurement_bases: tuple[str, ...] = ()


@dataclass
class HybridSpec:
    """The classical part of an Eigen-Lang hybrid program (filled by eigen.lang)."""

    observables: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    objective: str | None = None  # label of the ExpectationValue that minimize() optimises
    method: str = "COBYLA"
    max_iters: int = 100
    initial_params: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    # the flat form of the program's return dict, key -> path of ReturnRef (only the keys whose
    # value is one reference): what the internal compiler wire carries; see ProgramReturns
    returns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReturnRef:
    """A value of a program's return known only once the job has run.

    ``path``: ``fun``, ``x``, ``method``, ``objective``, ``metadata`` (fields of the
    ``minimize`` result), ``expectation:<label>`` (an ``ExpectationValue``) or
    ``param:<name>`` (a ``Param``'s final value)."""

    path: str


EXPECTATION_REF = "expectation:"  # ReturnRef.path prefixes
PARAM_REF = "param:"


RETURNS_KEY = "returns"  # the summary key of a returned dict
RETURNED_KEY = "returned"  # the summary key of any other returned value


@dataclass(frozen=True)
class ProgramReturns:
    """What an Eigen-Lang program's ``return`` names: JSON data (str-keyed dicts, lists,
    strings, numbers, booleans, None) with a :class:`ReturnRef` wherever a value is known
    only at run time. A dict goes to ``summary["returns"]``, anything else to
    ``summary["returned"]`` (docs/eigen-lang.md)."""

    value: Any

    @property
    def key(self) -> str:
        """The summary key the resolved value goes under."""
        return RETURNS_KEY if isinstance(self.value, dict) else RETURNED_KEY

    def resolve(self, lookup: Callable[[str], Any]) -> Any:
        """The value with each reference replaced by ``lookup(path)``."""
        return _resolve(self.value, lookup)

    def to_json(self) -> str:
        """Tagged JSON text (a reference cannot be mistaken for data): for a wire."""
        return json.dumps(_encode(self.value), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ProgramReturns:
        return cls(_decode(json.loads(text)))


def _resolve(value: Any, lookup: Callable[[str], Any]) -> Any:
    if isinstance(value, ReturnRef):
        return lookup(value.path)
    if isinstance(value, dict):
        return {key: _resolve(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, lookup) for item in value]
    return value


def _encode(value: Any) -> Any:
    if isinstance(value, ReturnRef):
        return {"ref": value.path}
    if isinstance(value, dict):
        return {"dict": [[key, _encode(item)] for key, item in value.items()]}
    if isinstance(value, list):
        return {"list": [_encode(item) for item in value]}
    return {"value": value}


def _decode(data: Any) -> Any:
    if "ref" in data:
        return ReturnRef(str(data["ref"]))
    if "dict" in data:
        return {str(key): _decode(item) for key, item in data["dict"]}
    if "list" in data:
        return [_decode(item) for item in data["list"]]
    return data["value"]


@dataclass
class CompiledProgram:
    """A program compiled for one device.

    ``circuit`` is a qiskit ``QuantumCircuit`` (transpiled, possibly with free parameters);
    it crosses process boundaries as QPY. ``qasm3`` and ``aqo_json`` are the artifact forms.
    """

    circuit: Any
    device: str
    num_qubits: int
    num_clbits: int
    parameters: list[str]
    report: dict[str, Any]
    qasm3: str = ""  # artifact form of the compiled circuit (OpenQASM 3)
    aqo_json: str = ""  # canonical AQO JSON of the compiled circuit
    source_circuit: Any = None  # the logical circuit before transpiling
    defaults: dict[str, float] = field(default_factory=dict)  # Param defaults (Eigen-Lang)
    hybrid: HybridSpec | None = None
    decorator: dict[str, Any] = field(default_factory=dict)  # @hybrid_program(...) settings
    returns: ProgramReturns | None = None  # an Eigen-Lang program's return value (None: none)
    empty: bool = False  # an Eigen-Lang program without gates, resets or measurements: nothing runs
    # basis label -> compiled circuit measuring every logical qubit i into clbit i in it
    basis_circuits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EstimationRequest:
    """Exact expectation values: one list per binding, one value per observable."""

    device: str
    circuit: Any  # logical circuit without measurements
    observables: list[list[tuple[str, float]]]
    parameter_bindings: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class ExecutionRequest:
    device: str
    circuit: Any  # qiskit QuantumCircuit, measured, on the device's basis
    shots: int
    seed: int | None = None
    parameter_bindings: list[dict[str, float]] = field(default_factory=list)
    noise_model: str | None = None  # a noise model by name (models/noise.py), None: the device's own
    outputs: tuple[Output, ...] = DEFAULT_OUTPUTS  # what each experiment returns (models/outputs.py)
