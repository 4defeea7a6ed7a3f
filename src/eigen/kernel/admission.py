"""What a submission is checked for once the compiler has validated its program: against
its target device (shots, estimation, observables, bindings, the workload kind's checks of
:mod:`eigen.kernel.workloads`), against the worker's memory
(:mod:`eigen.kernel.memory_admission`) and against its tenant's per-job quota
(:mod:`eigen.kernel.quotas`). Every refusal comes before anything is stored."""

from __future__ import annotations

from eigen.errors import InvalidArgument
from eigen.kernel.hybrid.observables import check_observable
from eigen.kernel.hybrid.settings import check_estimation, circuit_shots, loop_settings, sweep_shots
from eigen.kernel.memory_admission import check_memory
from eigen.kernel.quotas import check_job
from eigen.kernel.result_outputs import check_result_outputs
from eigen.kernel.workloads import check_kind, job_shots
from eigen.models.compiled import CompiledProgram, CompileRequest
from eigen.models.job import JobRequest
from eigen.models.quota import NO_QUOTA, Quota
from eigen.models.target import DeviceInfo


def compile_request(request: JobRequest, device: DeviceInfo) -> CompileRequest:
    """What the compiler validates (and compiles) a request for ``device`` with."""
    return CompileRequest(
        program=request.program,
        language=request.language,
        device=device,
        entrypoint=request.entrypoint,
    )


def check_submission(
    request: JobRequest,
    device: DeviceInfo,
    checked: CompiledProgram,
    quota: Quota = NO_QUOTA,
    memory_limit: int | None = None,
) -> None:
    """Refuse ``request`` (validated as ``checked``) if ``device`` cannot run it as asked
    (INVALID_ARGUMENT naming the field), its run needs more than ``memory_limit`` bytes
    (None: unchecked) or it is over ``quota`` (both RESOURCE_EXHAUSTED)."""
    shots = circuit_shots(request, checked.decorator)
    if shots > device.max_shots:
        raise InvalidArgument.for_field(
            "shots", f"{shots} is above the maximum of {device.max_shots} for {device.name}"
        )
    if checked.hybrid is not None:
        check_estimation(loop_settings(request, checked).shots, device)
    elif request.observables:
        for index, observable in enumerate(request.observables):
            check_observable(list(observable.items()), checked.num_qubits, f"observables[{index}]")
        check_estimation(sweep_shots(request, checked.decorator), device)
    elif shots < 1:
        raise InvalidArgument.for_field(
            "shots",
            "must be at least 1 (0 means exact estimation, for observables on simulators)",
        )
    if len(request.parameter_bindings) > device.max_circuits:
        raise InvalidArgument.for_field(
            "parameter_bindings", f"at most {device.max_circuits} bindings on {device.name}"
        )
    check_kind(request, device, checked)
    check_memory(request, device, checked, memory_limit)
    check_result_outputs(request, device, checked)
    if not quota.empty:
        check_job(quota, shots=job_shots(request, checked), qubits=checked.num_qubits)
