"""``EigenEstimator``: a qiskit ``BaseEstimatorV2`` whose PUBs run as Eigen parameter sweeps.

Each PUB is one Eigen job: the circuit (free parameters as OpenQASM 3 inputs), the PUB's
parameter values flattened in C order as bindings, and the PUB's observables flattened
as Pauli ``label -> coefficient`` dicts. Eigen evaluates every observable for every
binding; the PUB's broadcast (qiskit's rules, any shapes) then picks, for each element,
the value of its binding and its observable, so ``evs`` and ``stds`` have ``pub.shape``.

Precision: ``0`` asks for exact expectation values (noiseless simulators only; ``stds``
are 0); otherwise each measurement basis gets ``ceil(1 / precision**2)`` shots and
``stds`` are the standard errors Eigen computes from the counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from qiskit.primitives import BaseEstimatorV2, DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike
from qiskit.primitives.primitive_job import PrimitiveJob

from eigen.client.channel import TlsSetting
from eigen.client.client import Client
from eigen.client.qiskit import convert
from eigen.client.qiskit.job import collect, connect, submit_all
from eigen.models.job import DEFAULT_TARGET, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import JobResult
from eigen.models.target import DeviceInfo

#: Default precision where exact estimation is impossible (as qiskit's BackendEstimatorV2).
SHOT_PRECISION = 0.015625


class EigenEstimator(BaseEstimatorV2):
    """Estimates expectation values of PUBs on an Eigen backend (``sim:statevector`` by default).

    ``default_precision`` applies to PUBs without their own precision; ``None`` means exact
    (0) on a noiseless simulator and ``0.015625`` (4096 shots per basis) elsewhere. ``seed``
    makes shot-based runs reproducible. ``optimization_level`` is that of Eigen's
    compilation (``None``: the server's default). Observables are Pauli sums with real
    coefficients (projectors are expanded into Paulis); at most ``max_circuits`` parameter
    sets per PUB; dynamic circuits (control flow) are not supported.

    ``client`` is a :class:`~eigen.client.Client` or an endpoint; with an endpoint,
    ``api_key``, ``token`` and ``tls`` are those of the client opened for it.
    """

    def __init__(
        self,
        client: Client | str,
        backend: str = DEFAULT_TARGET,
        *,
        default_precision: float | None = None,
        seed: int | None = None,
        optimization_level: int | None = None,
        api_key: str | None = None,
        token: str | None = None,
        tls: TlsSetting = None,
    ) -> None:
        self.client, self._owns_client = connect(client, api_key=api_key, token=token, tls=tls)
        self.device: DeviceInfo = self.client.backend(backend)
        self.backend = self.device.name
        exact_ok = self.device.simulator and not self.device.noisy
        if default_precision is None:
            default_precision = 0.0 if exact_ok else SHOT_PRECISION
        self.default_precision = default_precision
        self.seed = seed
        self.optimization_level = optimization_level

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        chosen = self.default_precision if precision is None else precision
        coerced = [EstimatorPub.coerce(pub, chosen) for pub in pubs]
        requests = [self._request(pub) for pub in coerced]  # errors surface here, not in the job
        job: PrimitiveJob[PrimitiveResult[PubResult]] = PrimitiveJob(self._run, coerced, requests)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub], requests: list[JobRequest]) -> PrimitiveResult[PubResult]:
        results = collect(self.client, submit_all(self.client, requests))
        outcomes = [self._pub_result(pub, result) for pub, result in zip(pubs, results, strict=True)]
        return PrimitiveResult(outcomes, metadata={"version": 2})

    def shots_for(self, precision: float) -> int:
        """Shots per measurement basis for a target precision (0: exact)."""
        if precision == 0:
            if not self.device.simulator or self.device.noisy:
                raise ValueError(
                    f"precision 0 (exact) needs a noiseless simulator; {self.backend} needs precision > 0"
                )
            return 0
        shots = math.ceil(1.0 / precision**2)
        if self.device.max_shots and shots > self.device.max_shots:
            raise ValueError(
                f"precision {precision} needs {shots} shots per basis; "
                f"{self.backend} allows at most {self.device.max_shots}"
            )
        return shots

    def _request(self, pub: EstimatorPub) -> JobRequest:
        circuit = pub.circuit.remove_final_measurements(inplace=False)
        program = convert.to_qasm3(circuit)
        bindings = convert.bindings(pub.parameter_values, circuit, program)
        if self.device.max_circuits and len(bindings) > self.device.max_circuits:
            raise ValueError(
                f"a PUB of {len(bindings)} parameter sets is more than {self.backend} "
                f"takes in one job ({self.device.max_circuits})"
            )
        observables = pub.observables.sparse_observables_array().reshape(-1)
        shots = self.shots_for(pub.precision)
        return JobRequest(
            name=convert.job_name(pub.circuit.name, "estimator-pub"),
            program=program.source,
            language=ProgramLanguage.QASM3,
            target=self.backend,
            shots=shots,
            seed=self.seed,
            optimization_level=self.optimization_level,
            options={"estimator": "exact" if shots == 0 else "shots"},
            parameter_bindings=bindings,
            observables=[convert.pauli_terms(observable) for observable in observables],
            labels={"client": "qiskit-estimator"},
        )

    def _pub_result(self, pub: EstimatorPub, result: JobResult) -> PubResult:
        binding_shape = pub.parameter_values.shape
        observable_shape = pub.observables.shape
        num_bindings = int(np.prod(binding_shape, dtype=int))
        num_observables = int(np.prod(observable_shape, dtype=int))
        rows = result.experiments
        if len(rows) != num_bindings or any(len(r.expectation_values) != num_observables for r in rows):
            raise RuntimeError(
                f"Eigen job {result.job_id} returned {len(rows)} experiments for a PUB of "
                f"{num_bindings} parameter sets and {num_observables} observables"
            )
        values = np.array([r.expectation_values for r in rows], dtype=float)
        errors = np.array([r.standard_errors for r in rows], dtype=float)
        # qiskit's broadcasting of the bindings array against the observables array
        binding_index = np.broadcast_to(np.arange(num_bindings).reshape(binding_shape), pub.shape)
        observable_index = np.broadcast_to(np.arange(num_observables).reshape(observable_shape), pub.shape)
        evs = values[binding_index, observable_index]
        stds = errors[binding_index, observable_index]
        return PubResult(
            DataBin(evs=evs, stds=stds, shape=pub.shape),
            metadata={
                "target_precision": pub.precision,
                "shots": rows[0].shots if rows else 0,
                "circuit_metadata": pub.circuit.metadata,
                "eigen_job_id": result.job_id,
            },
        )

    def close(self) -> None:
        """Close the client if this estimator opened it (from an endpoint string)."""
        if self._owns_client:
            self.client.close()
