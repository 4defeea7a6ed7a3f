"""The contract every device driver fulfils.

A driver wraps one backend (a simulator, an emulator, later a QPU SDK). It describes the
device (:attr:`Driver.info`), runs circuits that the compiler already lowered to the
device's basis gates and coupling map (:meth:`Driver.run`), and optionally hands out
calibration data and exact expectation values.

Drivers are found through the entry-point group ``eigen.drivers`` (see
:mod:`eigen.drivers.registry`): each entry point names a :class:`Driver` subclass that is
instantiated with no arguments. Constructors must be cheap; heavy state (simulators,
noise models) is built on first use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from eigen.errors import FailedPrecondition, FieldViolation, InvalidArgument, quote
from eigen.models.noise import NoiseSpec, parse_noise_model
from eigen.models.target import Calibration, DeviceInfo, DeviceStatus

if TYPE_CHECKING:
    from eigen.models.compiled import ExecutionRequest
    from eigen.models.result import ExecutionResult

#: One observable: weighted Pauli terms, labels in Qiskit order (qubit 0 rightmost).
Observable = list[tuple[str, float]]


def invalid_circuit(description: str) -> InvalidArgument:
    """An :class:`InvalidArgument` about the circuit, worded as a full sentence."""
    return InvalidArgument(description, [FieldViolation("circuit", description)])


class Driver(ABC):
    """A device Eigen can execute on.

    Subclasses set :attr:`name` (the canonical device name, equal to the entry-point name)
    and optionally :attr:`aliases`, both readable without instantiating the class.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this device cannot exist on this machine (e.g. no GPU), or None. Checked by the
        registry before the driver is built, so it must be cheap and import nothing heavy;
        a device with a reason is left out of the registry, with one log line saying why."""
        return None

    @property
    @abstractmethod
    def info(self) -> DeviceInfo:
        """What the device offers: width, basis gates, coupling map, limits."""

    def status(self) -> DeviceStatus:
        return DeviceStatus.ONLINE

    @abstractmethod
    def run(self, request: ExecutionRequest) -> ExecutionResult:
        """Execute ``request.circuit`` once per parameter binding (once if there are none)."""

    @property
    def applies_noise_models(self) -> bool:
        """Whether :meth:`run` applies a request's ``noise_model`` (a noise model by name,
        :mod:`eigen.models.noise`). Drivers that do not are refused such a request: running
        it without the noise asked for would be a wrong answer, not a degraded one."""
        return False

    def calibration(self) -> Calibration:
        raise FailedPrecondition(f"device {self.name} has no calibration data")

    def estimate(
        self,
        circuit: Any,
        observables: list[Observable],
        bindings: list[dict[str, float]],
    ) -> list[list[float]]:
        """Exact expectation values: one list per binding, one value per observable."""
        raise FailedPrecondition(
            f"device {self.name} cannot estimate: exact estimation needs a statevector "
            "simulator (use sim:statevector)"
        )

    # -- helpers for subclasses -------------------------------------------------------

    def check_request(self, request: ExecutionRequest) -> None:
        """Reject requests the device cannot take (width, shots, number of circuits, a noise
        model it does not apply)."""
        info = self.info
        self.check_noise_model(request)
        circuit = request.circuit
        width = int(getattr(circuit, "num_qubits", -1))
        if width < 0:
            raise InvalidArgument.for_field(
                "circuit", f"expected a qiskit QuantumCircuit, got {type(circuit).__name__}"
            )
        if width > info.num_qubits:
            raise invalid_circuit(f"circuit uses {width} qubits but {info.name} has {info.num_qubits}")
        if not 1 <= request.shots <= info.max_shots:
            raise InvalidArgument.for_field(
                "shots",
                f"must be between 1 and {info.max_shots} on {info.name}, got {request.shots}",
            )
        if len(request.parameter_bindings) > info.max_circuits:
            raise InvalidArgument.for_field(
                "parameter_bindings",
                f"{len(request.parameter_bindings)} bindings exceed the limit of "
                f"{info.max_circuits} circuits per execution on {info.name}",
            )

    def check_noise_model(self, request: ExecutionRequest) -> NoiseSpec | None:
        """The request's noise model, parsed; INVALID_ARGUMENT (field ``noise_model``) for
        an unknown one or on a device that does not apply noise models."""
        if request.noise_model is None:
            return None
        spec = parse_noise_model(request.noise_model, "noise_model")
        if not self.applies_noise_models:
            raise InvalidArgument.for_field(
                "noise_model",
                f"{self.name} cannot apply noise model {quote(request.noise_model)}"
                + ("; it is a noisy emulator with its device's own noise" if self.info.noisy else "")
                + "; use a noiseless aer simulator such as sim:statevector",
            )
        return spec

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
