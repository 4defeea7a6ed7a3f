"""PipelineJob with two kernel nodes on one PostgreSQL database and one shared artifact
folder (docs/cluster.md): the stages of one pipeline, accepted by different nodes, hand
their artifacts along whichever node runs them, and a stage cancelled on one node fails the
later stage the other node accepted, with the reason.

Without a reachable server these tests skip, except under EIGEN_CI=1, where they fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from eigen.config.settings import Settings
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, submit, wait
from tests.integration.pipeline_stages import EXACT, energy_check, sampling, stage, vqe
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration

Nodes = tuple[EmbeddedServer, EmbeddedServer, jobs_pb2_grpc.JobServiceStub, jobs_pb2_grpc.JobServiceStub]


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[Nodes]:
    shared = tmp_path / "shared"  # one artifact folder, as a cluster's nodes have
    with fresh_database() as url, ExitStack() as stack:
        servers = [
            stack.enter_context(
                EmbeddedServer(Settings(database_url=url, node_id=name, lease_s=1.0), data_dir=shared)
            )
            for name in ("node-a", "node-b")
        ]
        stubs = [
            jobs_pb2_grpc.JobServiceStub(stack.enter_context(grpc.insecure_channel(s.address)))
            for s in servers
        ]
        yield servers[0], servers[1], stubs[0], stubs[1]


def ended(stub: jobs_pb2_grpc.JobServiceStub, job_id: str) -> pb.Job:
    wait(stub, job_id)
    return stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id))


def test_stages_accepted_by_two_nodes_hand_artifacts_along(two_nodes: Nodes) -> None:
    _, _, a, b = two_nodes
    first = submit(a, vqe())
    second = submit(b, energy_check(first.id))
    third = submit(a, sampling(second.id))
    final = [ended(b, job.id) for job in (first, second, third)]
    assert [job.state for job in final] == [pb.JOB_STATE_DONE] * 3, [j.error_summary for j in final]
    optimum = json.loads(a.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=first.id)).summary_json)[
        "optimal_parameters"
    ]
    check = b.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=second.id))
    assert dict(check.experiments[0].bindings) == optimum
    assert check.experiments[0].expectation_values[0] == pytest.approx(EXACT, abs=1e-6)
    sampled = a.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=third.id))
    assert dict(sampled.experiments[0].bindings) == optimum
    assert sum(sampled.experiments[0].counts.values()) == 4000


def test_a_stage_cancelled_on_one_node_fails_the_later_stage_of_the_other(two_nodes: Nodes) -> None:
    server_a, server_b, a, b = two_nodes
    with holding(server_a), holding(server_b):
        blocker = submit(a, pb.JobRequest(program=pb.Program(source=BELL), target=HELD, shots=10))
        first = submit(a, stage(BELL, {"depends_on": [blocker.id], "output_refs": ["counts"]}, shots=100))
        second = submit(b, stage(BELL, {"input_refs": [f"job:{first.id}/counts"]}, shots=100))
        a.CancelJob(jobs_pb2.CancelJobRequest(job_id=first.id))
        failed = ended(b, second.id)
        assert (failed.state, failed.error_code) == (pb.JOB_STATE_ERROR, "EIGEN_DEPENDENCY_FAILED")
        assert failed.error_summary == f"dependency {first.id} ended in CANCELLED"
