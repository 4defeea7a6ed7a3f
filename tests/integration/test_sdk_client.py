"""The Python SDK against a real embedded server: submit anything, futures driven by
WatchJob, callbacks, cancel, as_completed / wait, typed errors, export round trips."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from eigen.client import (
    FIRST_COMPLETED,
    Cancelled,
    Client,
    FailedPrecondition,
    InvalidArgument,
    JobFuture,
    JobState,
    NotFound,
    ResultCache,
    as_completed,
    export,
    wait,
)
from eigen.client.inputs import SubmitOptions
from eigen.models.jobspec import parse_jobspec
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, SLOW

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST: SubmitOptions = {"target": "sim:stabilizer", "shots": 64}


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[Client]:
    with Client(server.address, caller="sdk-tests") as opened:
        yield opened


def bell_circuit() -> QuantumCircuit:
    circuit = QuantumCircuit(2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def test_submit_program_text_resolves_through_watch(client: Client) -> None:
    future = client.submit(BELL, name="sdk-bell", seed=5, target="sim:stabilizer", shots=64)
    assert isinstance(future, JobFuture) and future.request.name == "sdk-bell"
    result = future.result(timeout=60)
    assert future.done() and future.status is JobState.DONE and future.state is JobState.DONE
    assert result.job_id == future.id and set(result.counts) <= {"00", "11"}
    assert sum(result.counts.values()) == 64
    assert future.last_seq >= 4  # the events of PENDING .. DONE came over the stream
    assert client.results(future.id) == result


def test_results_with_a_wait_need_no_watch(server: EmbeddedServer) -> None:
    with Client(server.address, timeout=5) as client:  # the wait is longer than the deadline
        job_id = client.submit(BELL, **FAST).id
        result = client.results(job_id, wait=30)
        assert result.job_id == job_id and sum(result.counts.values()) == 64
        with holding(server) as held:
            running = client.submit(BELL, target=HELD, shots=8)
            held.wait_held()
            with pytest.raises(FailedPrecondition, match="RUNNING"):
                client.results(running.id, wait=0.2)


def test_submit_job_yaml_and_keyword_overrides(client: Client) -> None:
    future = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=32)
    result = future.result(timeout=60)
    assert future.request.name == "bell-pair" and future.request.seed == 42
    assert result.experiments[0].shots == 32


def test_submit_a_jobspec_object(client: Client) -> None:
    spec = parse_jobspec(
        {
            "apiVersion": "eigen.os/v1",
            "kind": "QuantumJob",
            "metadata": {"name": "spec-bell"},
            "spec": {"target": "sim:stabilizer", "program": {"source": BELL}, "metadata": {"shots": 48}},
        }
    )
    future = client.submit(spec, seed=3)
    counts = future.result(timeout=60).counts
    assert future.request.name == "spec-bell" and set(counts) <= {"00", "11"} and sum(counts.values()) == 48


def test_submit_quantum_circuit(client: Client) -> None:
    future = client.submit(bell_circuit(), **FAST)
    counts = future.result(timeout=60).counts
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 64
    assert future.request.name == "bell" and future.request.program.startswith("OPENQASM 3.0;")


def test_done_callback_fires_once_with_the_future(client: Client) -> None:
    fired = threading.Event()
    calls: list[JobFuture] = []

    def on_done(done: JobFuture) -> None:
        calls.append(done)
        fired.set()

    future = client.submit(BELL, **FAST)
    future.add_done_callback(on_done)
    assert fired.wait(60)
    assert calls == [future] and future.result().job_id == future.id


def test_cancel_ends_the_future_with_cancelled(client: Client, server: EmbeddedServer) -> None:
    with holding(server) as held:
        future = client.submit(BELL, target=HELD, shots=10)
        held.wait_held()
        assert future.cancel() is True
    assert future.done() and future.cancelled() and future.state is JobState.CANCELLED
    with pytest.raises(Cancelled) as caught:
        future.result(timeout=5)
    assert caught.value.metadata["job_id"] == future.id
    assert client.get(future.id).state is JobState.CANCELLED  # the run returned: still cancelled
    assert future.cancel() is False  # already over


def test_result_timeout_raises_timeout_error(client: Client, server: EmbeddedServer) -> None:
    with holding(server):
        slow = client.submit(BELL, target=HELD, shots=10)
        with pytest.raises(TimeoutError):
            slow.result(timeout=0.01)
        assert not slow.done()
        assert slow.cancel() is True


def test_as_completed_and_wait(client: Client) -> None:
    futures = [client.submit(BELL, seed=i, target="sim:stabilizer", shots=64) for i in range(6)]
    finished = list(as_completed(futures, timeout=60))
    assert sorted(f.id for f in finished) == sorted(f.id for f in futures)
    assert all(f.done() for f in finished)
    more = [client.submit(SLOW, shots=10), client.submit(BELL, **FAST)]
    done, _ = wait(more, timeout=60, return_when=FIRST_COMPLETED)
    assert done
    assert wait(more, timeout=60).not_done == set()


def test_submit_batch_all_or_nothing(client: Client) -> None:
    futures = client.submit_batch([BELL, bell_circuit(), BELL], **FAST)
    assert len(futures) == 3
    assert all(set(f.result(timeout=60).counts) <= {"00", "11"} for f in futures)
    with pytest.raises(InvalidArgument) as caught:
        client.submit_batch([BELL, "OPENQASM 3.0;\nqubit[1] q;\nnot_a_gate q[0];\n"], **FAST)
    if client._batch_rpc is False:  # the one-by-one fallback names items itself
        assert str(caught.value).startswith("jobs[1]: ")
        assert caught.value.violations[0].field.startswith("jobs[1].")


def test_future_attaches_to_an_existing_job(client: Client) -> None:
    submitted = client.submit(BELL, **FAST)
    again = client.future(submitted.id)
    assert again.result(timeout=60).counts == submitted.result(timeout=60).counts


def test_unchanged_methods_and_typed_errors(client: Client) -> None:
    accepted = client.submit(BELL, **FAST)
    final = client.wait(accepted.id)
    assert final.state is JobState.DONE
    assert [e.state for e in client.watch(accepted.id)][-1] is JobState.DONE
    jobs, _ = client.list_jobs(states=[JobState.DONE], page_size=5)
    assert jobs and all(j.state is JobState.DONE for j in jobs)
    names = {device.name for device, _ in client.backends()}
    assert "sim:stabilizer" in names
    assert client.backend("sim:stabilizer").clifford_only
    assert client.calibration("emu:manila").device == "emu:manila"
    with pytest.raises(NotFound):
        client.get("doesnotexist")
    with pytest.raises(InvalidArgument) as caught:
        client.submit(BELL, target="sim:stabilizer", shots=-5)
    assert caught.value.violations[0].field == "shots"


def test_results_cache_and_invalidation(server: EmbeddedServer, tmp_path: Path) -> None:
    cache = ResultCache(max_entries=4, directory=tmp_path)
    with Client(server.address, cache=cache) as client:
        result = client.submit(BELL, **FAST).result(timeout=60)
        assert result.job_id in cache and (tmp_path / f"{result.job_id}.json").exists()
        hits = cache.stats.hits
        assert client.results(result.job_id) == result
        assert cache.stats.hits == hits + 1
        assert cache.invalidate(result.job_id)
        assert client.results(result.job_id) == result  # fetched again
        assert result.job_id in cache


def test_closing_fails_unfinished_futures(server: EmbeddedServer) -> None:
    client = Client(server.address)
    future = client.submit(SLOW, shots=10)
    client.close()
    with pytest.raises(FailedPrecondition, match="closed"):
        future.result(timeout=10)
    with Client(server.address) as other, contextlib.suppress(FailedPrecondition):
        other.cancel(future.id)  # tidy up; the job may have finished meanwhile


def test_dataframe_and_parquet_round_trips(client: Client, tmp_path: Path) -> None:
    futures = client.submit_batch([BELL, bell_circuit()], **FAST)
    results = [f.result(timeout=60) for f in futures]
    frame = export.to_pandas(results)
    assert len(frame) == sum(len(r.counts) for r in results)
    assert set(frame["outcome"]) <= {"00", "11"}
    assert frame.groupby("job_id")["count"].sum().tolist() == [64, 64]
    assert [r.experiments[0].counts for r in export.from_table(frame)] == [r.counts for r in results]
    polars_frame = export.to_polars(results)
    assert polars_frame.height == len(frame)
    path = export.write_parquet(results, tmp_path / "results.parquet")
    back = export.read_parquet(path)
    assert [(r.job_id, r.backend, r.counts) for r in back] == [
        (r.job_id, r.backend, r.counts) for r in results
    ]
    csv_back = export.read_csv(export.write_csv(results, tmp_path / "results.csv"))
    assert [r.counts for r in csv_back] == [r.counts for r in results]
