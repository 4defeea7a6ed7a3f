"""The submission check of what a job asks its experiments to return (``outputs``,
:mod:`eigen.models.outputs`): only a circuit job returns more than counts, the final state
(probabilities, statevector) only from a noiseless state-vector simulator, and every
output within its size limit. Called by :func:`eigen.kernel.admission.check_submission`."""

from __future__ import annotations

from eigen.errors import InvalidArgument
from eigen.kernel.hybrid.settings import circuit_shots
from eigen.models.compiled import CompiledProgram
from eigen.models.job import JobRequest
from eigen.models.noise import chosen_noise_model
from eigen.models.outputs import DEFAULT_OUTPUTS, Output, check_outputs
from eigen.models.target import DeviceInfo


def check_result_outputs(request: JobRequest, device: DeviceInfo, checked: CompiledProgram) -> None:
    """INVALID_ARGUMENT (field ``outputs``) for outputs this job cannot return."""
    outputs = request.outputs
    if outputs == DEFAULT_OUTPUTS:
        return
    if checked.hybrid is not None or request.observables:
        raise InvalidArgument.for_field(
            "outputs",
            "a job with observables or a hybrid program returns counts and expectation values; "
            "outputs beyond counts are for circuit jobs",
        )
    dense = [o.value for o in outputs if o in (Output.PROBABILITIES, Output.STATEVECTOR)]
    if dense and (device.noisy or device.clifford_only or not device.simulator):
        raise InvalidArgument.for_field(
            "outputs",
            f"{' and '.join(dense)} need a noiseless state-vector simulator, and {device.name} is not "
            "one; use sim:statevector",
        )
    if dense and chosen_noise_model(request.options, checked.decorator) is not None:
        raise InvalidArgument.for_field(
            "outputs", f"{' and '.join(dense)} are of the noiseless state: not with a noise model"
        )
    check_outputs(
        outputs,
        width=checked.num_qubits,
        shots=circuit_shots(request, checked.decorator),
        runs=len(request.parameter_bindings),
    )
