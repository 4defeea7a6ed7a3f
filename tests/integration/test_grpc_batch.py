"""SubmitBatch, StreamResults, SubmitBatchStream and WatchJob resume, over real gRPC."""

from __future__ import annotations

import grpc
import pytest

from eigen.models.chunks import Chunk, merge
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from tests.integration.helpers import BELL, details, job, submit, wait

pytestmark = pytest.mark.integration

WIDE = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[10] q;\nbit[10] c;\n'
    + "".join(f"h q[{i}];\n" for i in range(10))
    + "c = measure q;\n"
)


def test_submit_batch_returns_ids_in_input_order(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    requests = [job(name=f"batch-{i}", shots=10 + i) for i in range(5)]
    ids = jobs.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=requests)).job_ids
    assert len(ids) == 5
    for index, job_id in enumerate(ids):
        wait(jobs, job_id)
        fetched = jobs.GetJob(jobs_pb2.GetJobRequest(job_id=job_id))
        assert fetched.name == f"batch-{index}" and fetched.state == pb.JOB_STATE_DONE


def test_submit_batch_is_all_or_nothing(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    before = len(jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=500)).jobs)
    requests = [job(name="fine-1"), job("OPENQASM 3.0; qubit[1] q; nonsense q[0];"), job(name="fine-2")]
    with pytest.raises(grpc.RpcError) as caught:
        jobs.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=requests))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    reason, fields = details(caught.value)
    assert reason == "EIGEN_INVALID_ARGUMENT" and fields == ["jobs[1].program"]
    with pytest.raises(grpc.RpcError) as caught:
        jobs.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=[job(), job(shots=0)]))
    assert details(caught.value)[1] == ["jobs[1].shots"]
    assert len(jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=500)).jobs) == before


def test_a_batch_idempotency_key_answers_the_batch_it_stored(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    requests = [job(name=f"keyed-{i}", shots=10 + i) for i in range(3)]
    first = jobs.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=requests, idempotency_key="grpc-batch-1"))
    again = jobs.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=requests, idempotency_key="grpc-batch-1"))
    assert not first.deduplicated and again.deduplicated and list(again.job_ids) == list(first.job_ids)
    changed = [*requests[:2], job(name="keyed-2", shots=99)]
    with pytest.raises(grpc.RpcError) as caught:
        jobs.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=changed, idempotency_key="grpc-batch-1"))
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert details(caught.value)[0] == "EIGEN_FAILED_PRECONDITION"
    assert "different batch" in (caught.value.details() or "")
    with pytest.raises(grpc.RpcError) as caught:
        jobs.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=requests, idempotency_key="has space"))
    assert details(caught.value) == ("EIGEN_INVALID_ARGUMENT", ["idempotency_key"])
    for job_id in first.job_ids:
        wait(jobs, job_id)


def test_stream_results_chunks_merge_into_get_job_results(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    accepted = submit(jobs, job(WIDE, shots=4000))
    wait(jobs, accepted.id)
    whole = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=accepted.id))
    assert len(whole.experiments[0].counts) > 500
    stream = list(jobs.StreamResults(jobs_pb2.StreamResultsRequest(job_id=accepted.id, chunk_size=100)))
    assert [c.index for c in stream] == list(range(len(stream))) and len(stream) > 5
    assert all(c.total == len(stream) for c in stream)
    assert [c.is_final for c in stream] == [False] * (len(stream) - 1) + [True]
    assert all(sum(len(e.counts) for e in c.partial.experiments) <= 100 for c in stream)
    chunks = [
        Chunk(c.index, c.total, convert.result_from_pb(c.partial), list(c.experiment_indices)) for c in stream
    ]
    assert merge(chunks) == convert.result_from_pb(whole)


def test_submit_batch_stream_reports_every_item(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    items = [
        jobs_pb2.BatchStreamRequest(client_request_id="a", job=job(shots=10)),
        jobs_pb2.BatchStreamRequest(client_request_id="b", job=job("")),
        jobs_pb2.BatchStreamRequest(client_request_id="c", job=job(BELL, target="sim:stabilizer")),
    ]
    responses = list(jobs.SubmitBatchStream(iter(items), timeout=60))
    by_item: dict[str, list[str]] = {}
    for response in responses:
        by_item.setdefault(response.client_request_id, []).append(response.WhichOneof("outcome") or "")
    assert by_item == {
        "a": ["submitted_job_id", "completed"],
        "b": ["error"],
        "c": ["submitted_job_id", "completed"],
    }
    error = next(r.error for r in responses if r.client_request_id == "b")
    assert error.reason == "EIGEN_INVALID_ARGUMENT"
    completed = next(
        r.completed
        for r in responses
        if r.client_request_id == "c" and r.WhichOneof("outcome") == "completed"
    )
    assert set(completed.experiments[0].counts) <= {"00", "11"}


def test_watch_of_a_terminal_job_yields_its_terminal_event_and_closes(
    jobs: jobs_pb2_grpc.JobServiceStub,
) -> None:
    accepted = submit(jobs, job(shots=10))
    events = wait(jobs, accepted.id)
    last = events[-1]
    again = list(jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=accepted.id, after_seq=last.event_seq - 1)))
    assert [e.event_seq for e in again] == [last.event_seq] and again[0].terminal
    assert list(jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=accepted.id, after_seq=last.event_seq))) == []
