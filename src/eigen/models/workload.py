"""Workload kinds (JobSpec 1.0 ``spec.workload.kind``) and the rules every edge applies.

A job states what family of work it is, or nothing (then the program decides: a circuit,
or a hybrid loop when it has ``ExpectationValue``/``minimize``). A PipelineJob is one
stage of a DAG of jobs (:mod:`eigen.models.pipeline`). The kind that needs machinery Eigen
does not have yet (partitions over cluster workers) is refused at submission as
UNIMPLEMENTED, never run as something else.
"""

from __future__ import annotations

from enum import StrEnum

from eigen.errors import InvalidArgument, Unimplemented


class WorkloadKind(StrEnum):
    QUANTUM_JOB = "QuantumJob"  # a plain circuit program; no hybrid loop
    HYBRID_WORKFLOW = "HybridWorkflow"  # ExpectationValue / minimize: the kernel runs the loop
    BENCHMARK_JOB = "BenchmarkJob"  # reproducible: fixed seed, explicit target, context recorded
    REPLAY_JOB = "ReplayJob"  # re-runs a stored job with its recorded seed, compares bit for bit
    PIPELINE_JOB = "PipelineJob"  # one stage of a DAG of jobs handing artifacts along
    DISTRIBUTED_JOB = "DistributedJob"  # partitioned over cluster workers (not yet)


WORKLOAD_KINDS = tuple(kind.value for kind in WorkloadKind)
NOT_YET = (WorkloadKind.DISTRIBUTED_JOB,)

REPLAY_OF = "replay_of"
"""The option (``spec.metadata.replay_of``) naming the job a ReplayJob re-runs; the job
file may also name it as ``spec.workload.replay_of`` or ``spec.workload.artifact_lineage.
parent_ref`` (a job id or ``qfs://<job id>``), which the JobSpec reader moves here."""


def workload_from_name(name: str, field: str) -> WorkloadKind:
    """The kind called ``name``, or InvalidArgument naming ``field`` and the allowed kinds."""
    try:
        return WorkloadKind(name)
    except ValueError:
        raise InvalidArgument.for_field(field, f"must be one of {', '.join(WORKLOAD_KINDS)}") from None


def check_workload(
    kind: WorkloadKind | None,
    *,
    seed: int | None,
    target_given: bool,
    options: dict[str, str],
    fields: dict[str, str],
) -> None:
    """The submission rules of a workload kind, with errors naming the caller's fields
    (``fields`` maps ``workload``, ``seed``, ``target`` and ``options`` to their paths).

    DistributedJob is UNIMPLEMENTED; a BenchmarkJob needs a fixed seed and
    an explicit target; a ReplayJob names the job it replays."""
    where = fields.get("workload", "workload")
    if kind in NOT_YET:
        assert kind is not None
        raise Unimplemented.for_field(
            where,
            f"{kind.value} is not implemented yet: it needs the cluster work; submit its "
            "partitions as separate jobs",
        )
    if kind is WorkloadKind.BENCHMARK_JOB:
        if seed is None:
            raise InvalidArgument.for_field(
                fields.get("seed", "seed"), "a BenchmarkJob needs a fixed seed (none was given)"
            )
        if not target_given:
            raise InvalidArgument.for_field(
                fields.get("target", "target"), "a BenchmarkJob needs an explicit target (none was given)"
            )
    if kind is WorkloadKind.REPLAY_JOB and not options.get(REPLAY_OF):
        raise InvalidArgument.for_field(
            where, "a ReplayJob names the job it replays (spec.metadata.replay_of: <job id>)"
        )
