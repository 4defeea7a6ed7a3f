"""``spec.workload`` of a JobSpec 1.0 document: the family of work and its hints.

Checked for the keys JOBSPEC-1.0.md lists; other keys are kept. ``kind`` is required
within the map. What each kind means at submission is :func:`eigen.models.workload.
check_workload`'s; how the hints map onto the request is :mod:`eigen.models.jobspec_resolve`'s.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from eigen.models.jobspec_sections import Ref, Replay, Section, Seed
from eigen.models.limits import Target

KindName = Literal[
    "QuantumJob", "HybridWorkflow", "DistributedJob", "BenchmarkJob", "PipelineJob", "ReplayJob"
]


class Topology(Section):
    """DistributedJob hints."""

    cluster_id: Ref | None = None
    partition_count: int | None = Field(default=None, ge=1)
    partition_ids: list[Ref | int] | None = None
    preferred_workers: list[Ref] | None = None


class Pipeline(Section):
    """PipelineJob: one stage of a DAG (``handoff_ref`` must be one of ``output_refs``,
    checked with the other cross-field rules)."""

    stage_id: Ref | None = None
    input_refs: list[Ref] | None = None
    output_refs: list[Ref] | None = None
    handoff_ref: Ref | None = None
    source_ref: Ref | None = None
    depends_on: list[Ref] | None = None
    failure_semantics: Ref | None = None
    replay: Any = None  # a flag or a map: not typed by JobSpec 1.0


class ArtifactLineage(Section):
    root_ref: Ref | None = None
    parent_ref: Ref | None = None  # ReplayJob: the replayed job (an id or qfs://<id>)
    policy_snapshot_ref: Ref | None = None
    execution_ref: Ref | None = None


class WorkloadObservability(Section):
    traceparent: Ref | None = None
    trace_id: Ref | None = None
    trace_ref: Ref | None = None
    emit_metrics: bool | None = None


class WorkloadSecurity(Section):
    tenant_id: Ref | None = None
    project_id: Ref | None = None
    service_identity: Ref | None = None
    policy_snapshot_ref: Ref | None = None
    fail_closed: bool | None = None


class Workload(Section):
    kind: KindName
    execution_profile: Ref | None = None
    replayable: bool | None = None
    backend_target: Target | None = None
    seed: Seed | None = None
    topology: Topology | None = None
    pipeline: Pipeline | None = None
    replay: Replay | None = None
    artifact_lineage: ArtifactLineage | None = None
    observability: WorkloadObservability | None = None
    security: WorkloadSecurity | None = None
    replay_of: Ref | None = None  # Eigen addition: the job a ReplayJob re-runs
