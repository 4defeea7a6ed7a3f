"""Recent results: small ones kept for a while, bounded in count."""

from __future__ import annotations

import time

from eigen.kernel.store.recent import MAX_OUTCOMES, RecentResults
from eigen.models.result import Experiment, JobResult


def result(job_id: str, outcomes: int = 2) -> JobResult:
    counts = {format(i, "b"): 1 for i in range(outcomes)}
    return JobResult(
        job_id=job_id, backend="sim:test", experiments=[Experiment(counts=counts, shots=outcomes)]
    )


def test_a_kept_result_is_served_as_recorded() -> None:
    recent = RecentResults()
    kept = result("j1")
    recent.put(kept)
    assert recent.get("j1") is kept
    assert recent.get("other") is None


def test_only_so_many_are_kept_oldest_out_first() -> None:
    recent = RecentResults(size=2)
    for job_id in ("a", "b", "c"):
        recent.put(result(job_id))
    assert recent.get("a") is None
    assert recent.get("b") is not None and recent.get("c") is not None


def test_an_old_result_comes_from_the_store_again() -> None:
    recent = RecentResults(max_age_s=0.01)
    recent.put(result("j1"))
    time.sleep(0.03)
    assert recent.get("j1") is None


def test_a_large_result_is_not_kept() -> None:
    recent = RecentResults()
    recent.put(result("big", MAX_OUTCOMES + 1))
    assert recent.get("big") is None
