"""qiskit-aer noise models built from a job's noise model by name.

:func:`noise_model_for` turns a parsed :class:`~eigen.models.noise.NoiseSpec` into a
``qiskit_aer.noise.NoiseModel`` for a device's basis gates: the gate channels
(depolarizing, bit_flip, phase_flip, amplitude_damping) follow every gate of the basis, an
n-qubit channel (depolarizing) or the channel on each of its n qubits (the others), composed
in the order the model names them; ``readout`` flips each measured bit. Circuits arrive
compiled to the device's basis, so these are the gates a circuit has.

Models are built once per (noise model, basis) and reused: a variational loop runs the same
noise model hundreds of times, and aer only reads the model during a run, so one instance
serves every thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import reduce

from qiskit.circuit import Gate
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit_aer.noise import (
    NoiseModel,
    QuantumError,
    ReadoutError,
    amplitude_damping_error,
    depolarizing_error,
    pauli_error,
)

from eigen.models.noise import NoiseChannel, NoiseSpec

#: Noise models kept built, by (canonical text, basis gates).
CACHE_SIZE = 32

_cache: OrderedDict[tuple[str, tuple[str, ...]], NoiseModel] = OrderedDict()
_lock = threading.Lock()


def gate_widths(basis_gates: tuple[str, ...]) -> dict[str, int]:
    """The standard gates among ``basis_gates`` with their number of qubits (measure, reset
    and directives are not gates and get no gate noise)."""
    standard = get_standard_gate_name_mapping()
    widths: dict[str, int] = {}
    for name in basis_gates:
        operation = standard.get(name)
        if isinstance(operation, Gate):
            widths[name] = operation.num_qubits
    return widths


def _on_each_qubit(error: QuantumError, width: int) -> QuantumError:
    return reduce(lambda total, _: total.tensor(error), range(width - 1), error)


def _channel_error(channel: NoiseChannel, width: int) -> QuantumError | None:
    """The error ``channel`` puts after a gate on ``width`` qubits (None: not a gate channel)."""
    p = channel.parameter
    if channel.name == "depolarizing":
        return depolarizing_error(p, width)
    if channel.name == "bit_flip":
        return _on_each_qubit(pauli_error([("X", p), ("I", 1 - p)]), width)
    if channel.name == "phase_flip":
        return _on_each_qubit(pauli_error([("Z", p), ("I", 1 - p)]), width)
    if channel.name == "amplitude_damping":
        return _on_each_qubit(amplitude_damping_error(p), width)
    return None


def build_noise_model(spec: NoiseSpec, basis_gates: tuple[str, ...]) -> NoiseModel:
    """A new aer ``NoiseModel`` of ``spec`` on the gates of ``basis_gates``."""
    widths = gate_widths(basis_gates)
    model = NoiseModel(basis_gates=list(widths))
    for width in sorted(set(widths.values())):
        errors = [e for c in spec.channels if (e := _channel_error(c, width)) is not None]
        if errors:
            gates = [name for name, w in widths.items() if w == width]
            model.add_all_qubit_quantum_error(reduce(lambda a, b: a.compose(b), errors), gates)
    readout = spec.parameter("readout")
    if readout is not None:
        model.add_all_qubit_readout_error(ReadoutError([[1 - readout, readout], [readout, 1 - readout]]))
    return model


def noise_model_for(spec: NoiseSpec, basis_gates: tuple[str, ...]) -> NoiseModel:
    """The aer ``NoiseModel`` of ``spec`` on ``basis_gates``, built on first use and reused
    (the least recently used of more than :data:`CACHE_SIZE` is dropped)."""
    key = (spec.text, tuple(basis_gates))
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    model = build_noise_model(spec, basis_gates)
    with _lock:
        model = _cache.setdefault(key, model)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return model
