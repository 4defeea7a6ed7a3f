"""The batch manager against a real server: 1,000 circuits with bounded concurrency and a
progress bar; failures are collected with their index without losing the other results."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from eigen.client import BatchManager, Client, InvalidArgument, JobFuture, JobState
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import BELL, SLOW

pytestmark = pytest.mark.integration


class CountingClient(Client):
    """A client that records how many of its jobs were unfinished at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.unfinished = 0
        self.peak = 0

    def submit(self, job: Any, idempotency_key: str = "", **options: Any) -> JobFuture:
        future = super().submit(job, idempotency_key, **options)
        with self.lock:
            self.unfinished += 1
            self.peak = max(self.peak, self.unfinished)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: JobFuture) -> None:
        with self.lock:
            self.unfinished -= 1


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[CountingClient]:
    with CountingClient(server.address) as opened:
        yield opened


def test_a_thousand_bell_circuits_with_progress(client: CountingClient) -> None:
    bar = io.StringIO()
    seen: list[tuple[int, int | None]] = []
    manager = BatchManager(
        client,
        max_in_flight=16,
        on_progress=lambda finished, total: seen.append((finished, total)),
        progress_options={"file": bar, "mininterval": 0, "desc": "bell"},
    )
    outcome = manager.run([BELL] * 1000, target="sim:stabilizer", shots=16, seed=1)
    assert outcome.ok and len(outcome) == 1000
    assert all(r is not None for r in outcome.results)
    for result in outcome.succeeded:
        assert set(result.counts) <= {"00", "11"} and sum(result.counts.values()) == 16
    assert len(set(outcome.job_ids)) == 1000
    assert [r.job_id for r in outcome.succeeded] == outcome.job_ids  # input order
    assert client.peak <= 16
    assert seen[-1] == (1000, 1000) and len(seen) == 1000
    assert "1000/1000" in bar.getvalue()


def test_failures_keep_their_index_and_the_rest_succeeds(client: CountingClient) -> None:
    items = [BELL] * 12
    items[3] = "OPENQASM 3.0;\nqubit[1] q;\nnot_a_gate q[0];\n"
    items[9] = "OPENQASM 3.0;\nqubit[20000] q;\n"  # more qubits than the backend has
    outcome = client.run_batch(iter(items), max_in_flight=4, progress=False, target="sim:stabilizer", shots=8)
    assert not outcome.ok and len(outcome) == 12
    assert [f.index for f in outcome.failures] == [3, 9]
    assert all(isinstance(f.error, InvalidArgument) and f.job_id is None for f in outcome.failures)
    assert [i for i, r in enumerate(outcome.results) if r is None] == [3, 9]
    assert len(outcome.succeeded) == 10
    with pytest.raises(InvalidArgument):
        outcome.raise_for_failures()


def test_timeout_fails_and_cancels_what_is_left(client: CountingClient) -> None:
    outcome = client.run_batch([SLOW] * 3, max_in_flight=3, progress=False, timeout=0.05, shots=10)
    assert len(outcome.failures) == 3
    assert all(isinstance(f.error, TimeoutError) and f.job_id for f in outcome.failures)
    for failure in outcome.failures:
        assert failure.job_id is not None
        assert client.get(failure.job_id).state in (JobState.CANCELLED, JobState.DONE)
