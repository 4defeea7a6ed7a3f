"""``EigenBackend``: an Eigen backend as a qiskit ``BackendV2``.

``transpile(circuit, backend)`` uses the target built from GetBackend, and qiskit's
``BackendSamplerV2`` / ``BackendEstimatorV2`` run through :meth:`EigenBackend.run`
unchanged. Each circuit of a run is one Eigen job (OpenQASM 3); all are submitted before
any is waited for.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from qiskit.circuit import QuantumCircuit
from qiskit.providers import BackendV2, Options
from qiskit.transpiler import Target

from eigen.client.channel import TlsSetting
from eigen.client.client import Client
from eigen.client.qiskit import convert
from eigen.client.qiskit.job import CircuitRun, EigenJob, connect, submit_all
from eigen.client.qiskit.target import build_target
from eigen.models.job import DEFAULT_SHOTS, DEFAULT_TARGET, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo


class EigenBackend(BackendV2):
    """An Eigen backend (``sim:statevector`` by default) for qiskit.

    Run options: ``shots`` (default 1024), ``seed_simulator`` (circuit ``i`` of a run gets
    ``seed_simulator + i``), ``memory`` (per-shot outcomes rebuilt from Eigen's counts in a
    random order; Eigen does not keep the shot sequence) and ``optimization_level`` (of
    Eigen's own compilation; ``None`` is the server's default). Circuits must have all
    parameters bound, as for every qiskit backend.

    ``client`` is a :class:`~eigen.client.Client` or an endpoint; with an endpoint,
    ``api_key``, ``token`` and ``tls`` are those of the client opened for it.
    """

    def __init__(
        self,
        client: Client | str,
        backend: str = DEFAULT_TARGET,
        *,
        api_key: str | None = None,
        token: str | None = None,
        tls: TlsSetting = None,
    ) -> None:
        self.client, self._owns_client = connect(client, api_key=api_key, token=token, tls=tls)
        self.device: DeviceInfo = self.client.backend(backend)
        super().__init__(
            name=self.device.name,
            description=self.device.description or f"Eigen backend {self.device.name}",
            backend_version="eigen-v1",
        )
        self._target = build_target(self.device)

    @property
    def target(self) -> Target:
        return self._target

    @property
    def max_circuits(self) -> int | None:
        return self.device.max_circuits or None

    @classmethod
    def _default_options(cls) -> Options:
        return Options(shots=DEFAULT_SHOTS, seed_simulator=None, memory=False, optimization_level=None)

    def run(self, run_input: QuantumCircuit | Sequence[QuantumCircuit], **options: Any) -> EigenJob:
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        settings = self._settings(options)
        shots = DEFAULT_SHOTS if settings["shots"] is None else int(settings["shots"])
        seed = settings["seed_simulator"]
        requests, runs = [], []
        for index, circuit in enumerate(circuits):
            if not isinstance(circuit, QuantumCircuit):
                raise TypeError(f"EigenBackend.run takes QuantumCircuits, not {type(circuit).__name__}")
            if circuit.parameters:
                names = ", ".join(p.name for p in circuit.parameters)
                raise ValueError(
                    f"circuit {circuit.name!r} has unbound parameters ({names}); "
                    "bind them with assign_parameters before run"
                )
            convert.check_classical_bits(circuit)
            circuit_seed = None if seed is None else int(seed) + index
            requests.append(
                JobRequest(
                    name=convert.job_name(circuit.name, "circuit"),
                    program=convert.to_qasm3(circuit).source,
                    language=ProgramLanguage.QASM3,
                    target=self.name,
                    shots=shots,
                    seed=circuit_seed,
                    optimization_level=settings["optimization_level"],
                    labels={"client": "qiskit-backend"},
                )
            )
            runs.append(
                CircuitRun(
                    header=_header(circuit),
                    num_clbits=circuit.num_clbits,
                    shots=shots,
                    seed=circuit_seed,
                    memory=bool(settings["memory"]),
                )
            )
        return EigenJob(self, submit_all(self.client, requests), runs)

    def _settings(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = dict(self.options.items())
        for key, value in options.items():
            if key in settings:
                settings[key] = value
            else:
                warnings.warn(f"option {key!r} is not used by EigenBackend", UserWarning, stacklevel=3)
        return settings

    def close(self) -> None:
        """Close the client if this backend opened it (from an endpoint string)."""
        if self._owns_client:
            self.client.close()

    def __repr__(self) -> str:
        return f"<EigenBackend {self.name!r} at {self.client.endpoint}>"


def _header(circuit: QuantumCircuit) -> dict[str, Any]:
    """The experiment header qiskit's ``Result`` reads to format counts (as BasicSimulator's)."""
    return {
        "name": circuit.name,
        "n_qubits": circuit.num_qubits,
        "qreg_sizes": [[register.name, register.size] for register in circuit.qregs],
        "creg_sizes": [[register.name, register.size] for register in circuit.cregs],
        "memory_slots": circuit.num_clbits,
        "metadata": dict(circuit.metadata or {}),
    }
