"""``EigenSampler``: a qiskit ``BaseSamplerV2`` whose PUBs run as Eigen parameter sweeps.

Each PUB is one Eigen job: the circuit with its free parameters as OpenQASM 3 inputs and
the PUB's parameter values, flattened in C order, as bindings. Eigen returns one counts
table per binding, in order; they become one ``BitArray`` per classical register,
reshaped to the PUB's shape, as qiskit's ``StatevectorSampler`` returns them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from qiskit.primitives import BaseSamplerV2, DataBin, PrimitiveResult, SamplerPubResult
from qiskit.primitives.containers.sampler_pub import SamplerPub, SamplerPubLike
from qiskit.primitives.primitive_job import PrimitiveJob

from eigen.client.channel import TlsSetting
from eigen.client.client import Client
from eigen.client.qiskit import convert
from eigen.client.qiskit.job import collect, connect, submit_all
from eigen.models.job import DEFAULT_SHOTS, DEFAULT_TARGET, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import JobResult


@dataclass(frozen=True)
class _Registers:
    """Where each classical register of a PUB's circuit sits in Eigen's flat bitstrings."""

    num_clbits: int
    bits: dict[str, list[int]]  # register name -> clbit indices, register bit 0 first


class EigenSampler(BaseSamplerV2):
    """Samples PUBs on an Eigen backend (``sim:statevector`` by default).

    ``default_shots`` applies to PUBs without their own shots; ``seed`` makes runs
    reproducible (it is the seed of every job, and of the shuffle of the shots rebuilt
    from counts). ``optimization_level`` is that of Eigen's compilation (``None``: the
    server's default). The circuits need final measurements; dynamic circuits (control
    flow) and loose or aliased classical bits are not supported.

    ``client`` is a :class:`~eigen.client.Client` or an endpoint; with an endpoint,
    ``api_key``, ``token`` and ``tls`` are those of the client opened for it.
    """

    def __init__(
        self,
        client: Client | str,
        backend: str = DEFAULT_TARGET,
        *,
        default_shots: int = DEFAULT_SHOTS,
        seed: int | None = None,
        optimization_level: int | None = None,
        api_key: str | None = None,
        token: str | None = None,
        tls: TlsSetting = None,
    ) -> None:
        self.client, self._owns_client = connect(client, api_key=api_key, token=token, tls=tls)
        self.backend = backend
        self.default_shots = default_shots
        self.seed = seed
        self.optimization_level = optimization_level

    def run(
        self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None
    ) -> PrimitiveJob[PrimitiveResult[SamplerPubResult]]:
        coerced = [SamplerPub.coerce(pub, self.default_shots if shots is None else shots) for pub in pubs]
        if any(not pub.circuit.cregs for pub in coerced):
            warnings.warn(
                "One of your circuits has no output classical registers and so the result "
                "will be empty. Did you mean to add measurement instructions?",
                UserWarning,
                stacklevel=2,
            )
        # Requests are built here, so that a circuit Eigen cannot take fails the call itself.
        requests = [self._request(pub) if pub.circuit.cregs else None for pub in coerced]
        job: PrimitiveJob[PrimitiveResult[SamplerPubResult]] = PrimitiveJob(self._run, coerced, requests)
        job._submit()
        return job

    def _run(
        self, pubs: list[SamplerPub], requests: list[JobRequest | None]
    ) -> PrimitiveResult[SamplerPubResult]:
        submitted = [request for request in requests if request is not None]
        results = iter(collect(self.client, submit_all(self.client, submitted)))
        outcomes = [
            self._pub_result(pub, None if request is None else next(results))
            for pub, request in zip(pubs, requests, strict=True)
        ]
        return PrimitiveResult(outcomes, metadata={"version": 2})

    def _request(self, pub: SamplerPub) -> JobRequest:
        convert.check_classical_bits(pub.circuit)
        program = convert.to_qasm3(pub.circuit)
        return JobRequest(
            name=convert.job_name(pub.circuit.name, "sampler-pub"),
            program=program.source,
            language=ProgramLanguage.QASM3,
            target=self.backend,
            shots=pub.shots,
            seed=self.seed,
            optimization_level=self.optimization_level,
            parameter_bindings=convert.bindings(pub.parameter_values, pub.circuit, program),
            labels={"client": "qiskit-sampler"},
        )

    def _pub_result(self, pub: SamplerPub, result: JobResult | None) -> SamplerPubResult:
        metadata = {"shots": pub.shots, "circuit_metadata": pub.circuit.metadata}
        if result is None:
            return SamplerPubResult(DataBin(shape=pub.shape), metadata=metadata)
        registers = _registers(pub)
        size = int(np.prod(pub.shape, dtype=int))
        if len(result.experiments) != size:
            raise RuntimeError(
                f"Eigen job {result.job_id} returned {len(result.experiments)} experiments "
                f"for a PUB of {size} parameter sets"
            )
        rng = np.random.default_rng(self.seed)
        joint = convert.bit_array(
            [e.counts for e in result.experiments], registers.num_clbits, pub.shape, rng
        )
        data = {name: joint.slice_bits(bits) for name, bits in registers.bits.items()}
        return SamplerPubResult(
            DataBin(**data, shape=pub.shape), metadata={**metadata, "eigen_job_id": result.job_id}
        )

    def close(self) -> None:
        """Close the client if this sampler opened it (from an endpoint string)."""
        if self._owns_client:
            self.client.close()


def _registers(pub: SamplerPub) -> _Registers:
    circuit = pub.circuit
    bits = {register.name: [circuit.find_bit(bit).index for bit in register] for register in circuit.cregs}
    return _Registers(circuit.num_clbits, bits)
