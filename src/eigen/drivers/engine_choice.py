"""Which engine runs a circuit on ``sim:statevector``: qsim or aer, by a cost model.

Both engines simulate the full state vector, so both costs grow with gates x 2^width; they
differ in the constant (qsim: float32, gate fusion for wide states, all cores; aer:
complex128) and in what a run costs besides (qsim: the conversion through OpenQASM 2,
which grows with the gate count, and the set-up of a cirq run; aer: almost nothing). The
model estimates each engine's seconds as

    fixed + per_gate x gates + per_gate_amplitude x gates x 2^width

per circuit run (a sweep of bindings pays qsim's per-gate and fixed terms per binding, aer's
fixed term once), and takes the cheaper. The constants are fitted on the machine the server
runs on by ``benchmarks/wide_circuits.py --crossover`` (the figures and the fit are in
benchmarks/README.md); a small circuit therefore stays on aer, a wide one goes to qsim.

Before any cost, features decide: a noise model, mid-circuit measurement, reset, control
flow or any instruction qsim does not run (:func:`eigen.drivers.qsim_engine.qsim_refusal`)
go to aer, whatever the width. Then memory: where the worker's memory limit is known and
aer's complex128 state would not fit in it but qsim's complex64 one would, qsim runs the
circuit whatever the costs (:mod:`eigen.models.state_memory`), so that the device runs
every circuit its cheapest engine in memory can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eigen.drivers.qsim_engine import qsim_refusal
from eigen.models.state_memory import StateMemory, format_bytes, run_need

AER = "aer"
QSIM = "qsim"


@dataclass(frozen=True)
class EngineCost:
    """Seconds per run of one engine: ``fixed + per_gate*g + per_gate_amplitude*g*2**n``."""

    fixed_s: float
    per_gate_s: float
    per_gate_amplitude_s: float
    fixed_per_call_s: float = 0.0  # paid once per request whatever the number of bindings

    def seconds(self, width: int, gates: int, runs: int) -> float:
        per_run = self.fixed_s + self.per_gate_s * gates + self.per_gate_amplitude_s * gates * 2.0**width
        return self.fixed_per_call_s + runs * per_run


#: Fitted by ``benchmarks/wide_circuits.py --crossover`` on the 2-vCPU machine kind
#: (benchmarks/README.md, "wide_circuits.py"). aer: one call for a whole sweep.
AER_COST = EngineCost(fixed_s=0.0, per_gate_s=2.4e-5, per_gate_amplitude_s=7.1e-10, fixed_per_call_s=1.0e-3)
#: qsim with every core of that machine: the QASM 2 round trip and the cirq run's set-up
#: per run, then float32 gates.
QSIM_COST = EngineCost(fixed_s=1.7e-2, per_gate_s=9.3e-5, per_gate_amplitude_s=6.7e-11)


@dataclass(frozen=True)
class Choice:
    """The engine picked for a request and why (logged, and kept for the tests)."""

    engine: str
    reason: str
    aer_s: float | None = None  # the model's estimates, when the costs decided
    qsim_s: float | None = None


def choose_engine(
    circuit: Any,
    *,
    runs: int = 1,
    noisy: bool = False,
    qsim_available: bool = True,
    aer_cost: EngineCost = AER_COST,
    qsim_cost: EngineCost = QSIM_COST,
    memory_limit: int | None = None,
    shots: int = 0,
    aer_states: int = 1,
    exact_phase: bool = False,
) -> Choice:
    """The engine for ``runs`` bound copies of ``circuit`` (features first, then memory,
    then the costs). ``memory_limit``: the bytes a run may hold (None: unbounded);
    ``shots``: sampled over all runs; ``aer_states``: states aer would hold at once;
    ``exact_phase``: the request returns its state vector, whose global phase qsim does not
    keep (eigen.drivers.outputs)."""
    if not qsim_available:
        return Choice(AER, "qsim is not installed")
    if exact_phase:
        return Choice(AER, "a state vector is asked for (aer keeps Qiskit's global phase)")
    if noisy:
        return Choice(AER, "a noise model (qsim runs noiseless circuits only)")
    refusal = qsim_refusal(circuit)
    if refusal is not None:
        return Choice(AER, refusal)
    width = int(circuit.num_qubits)
    if memory_limit is not None:
        aer_need = run_need(StateMemory.COMPLEX128, width, shots=shots, states=aer_states)
        qsim_need = run_need(StateMemory.COMPLEX64, width, shots=shots)
        if qsim_need.bytes <= memory_limit < aer_need.bytes:
            return Choice(
                QSIM, f"aer would need {aer_need.describe()}, above the limit of {format_bytes(memory_limit)}"
            )
    gates = sum(count for name, count in circuit.count_ops().items() if name not in ("barrier", "measure"))
    aer_s = aer_cost.seconds(width, gates, runs)
    qsim_s = qsim_cost.seconds(width, gates, runs)
    if qsim_s < aer_s:
        return Choice(QSIM, "cheaper by the cost model", aer_s, qsim_s)
    return Choice(AER, "cheaper by the cost model", aer_s, qsim_s)
