"""Memory admission: a job whose run could not fit in the worker's memory is refused at
submission (RESOURCE_EXHAUSTED with the bytes it needs and the limit), before anything is
stored, instead of being accepted and taking the worker down when it runs.

What a job needs is :func:`eigen.models.state_memory.run_need` of its device's
``state_memory`` at the width it runs at (the program's qubits; a device with a coupling
map runs the compiled circuit on all of its qubits), with its shots, and its noise model
(aer's density matrix up to ten qubits). A sweep runs one binding at a time per engine
call: one state counts. On ``sim:statevector`` the engine needing least memory that can
run the job counts: qsim's complex64 state, unless the job has a noise model, asks for
exact expectation values or for its state vector (aer computes those). Whether qsim runs
every instruction of the circuit is the driver's to say when it runs: the driver-manager's budget
(:mod:`eigen.drivers.memory_budget`) refuses a run that does not fit then, so admission
never refuses what qsim could hold.
"""

from __future__ import annotations

from eigen.kernel.hybrid.settings import circuit_shots, loop_settings, sweep_shots
from eigen.models.compiled import CompiledProgram
from eigen.models.job import JobRequest
from eigen.models.noise import chosen_noise_model
from eigen.models.outputs import Output
from eigen.models.state_memory import StateNeed, over_limit, run_need
from eigen.models.target import DeviceInfo


def exact_estimation(request: JobRequest, checked: CompiledProgram) -> bool:
    """Whether the job asks for exact expectation values (computed by ``estimate``)."""
    if checked.hybrid is not None:
        return loop_settings(request, checked).shots == 0
    return bool(request.observables) and sweep_shots(request, checked.decorator) == 0


def submission_need(request: JobRequest, device: DeviceInfo, checked: CompiledProgram) -> StateNeed:
    """What one run of the job holds on ``device`` (module docstring)."""
    width = device.num_qubits if device.coupling_map is not None else checked.num_qubits
    exact = exact_estimation(request, checked)
    return run_need(
        device.state_memory,
        width,
        shots=0 if exact else circuit_shots(request, checked.decorator),
        noisy=chosen_noise_model(request.options, checked.decorator) is not None,
        complex64_runs=not exact and Output.STATEVECTOR not in request.outputs,  # aer's phase
    )


def check_memory(
    request: JobRequest, device: DeviceInfo, checked: CompiledProgram, limit: int | None
) -> None:
    """Refuse the job (RESOURCE_EXHAUSTED) when its run needs more than ``limit`` bytes
    (None: no limit)."""
    if limit is None or checked.empty:
        return
    need = submission_need(request, device, checked)
    if need.bytes > limit:
        raise over_limit(device.name, need, limit)
