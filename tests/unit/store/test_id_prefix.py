"""ListJobs' id prefix filter in every store: memory, a real SQLite file and a real
PostgreSQL database (skipped when 127.0.0.1:5432 is unreachable, failed under EIGEN_CI=1).

The ids are chosen to catch the classic mistakes: ``_`` is a LIKE wildcard (``a_`` must not
match ``axb1``), SQLite's LIKE ignores case (``ab`` must not match ``AB55``), and a prefix
filter must page with the same keyset cursor as any other listing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eigen.kernel.store.base import JobFilter, JobStore
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.state import JobState
from tests.unit.store.contract import new_job
from tests.unit.store.postgres import fresh_database

IDS = ["ab12", "ab98", "AB55", "a_b1", "axb1", "ab", "cd00", "abz-9"]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "postgresql":
        with fresh_database() as url:
            made: JobStore = SqlJobStore(url)
            yield made
            made.close()
        return
    made = MemoryJobStore() if request.param == "memory" else SqlJobStore(sqlite_url(tmp_path / "j.db"))
    yield made
    made.close()


def ids(store: JobStore, prefix: str, **fields: Any) -> list[str]:
    return [job.id for job in store.list_jobs(JobFilter(id_prefix=prefix, **fields))]


@pytest.fixture
def filled(store: JobStore) -> JobStore:
    for index, job_id in enumerate(IDS):
        new_job(store, job_id, 100.0 + index)
    return store


def test_a_prefix_keeps_the_jobs_whose_id_starts_with_it_newest_first(filled: JobStore) -> None:
    assert ids(filled, "ab") == ["abz-9", "ab", "ab98", "ab12"]
    assert ids(filled, "ab9") == ["ab98"]
    assert ids(filled, "c") == ["cd00"]


def test_the_prefix_is_case_sensitive(filled: JobStore) -> None:
    assert ids(filled, "AB") == ["AB55"]
    assert ids(filled, "Ab") == []


def test_underscore_and_dash_are_literal_characters(filled: JobStore) -> None:
    assert ids(filled, "a_") == ["a_b1"]
    assert ids(filled, "abz-") == ["abz-9"]


def test_a_whole_id_matches_itself_and_longer_ids(filled: JobStore) -> None:
    assert ids(filled, "ab12") == ["ab12"]
    assert ids(filled, "ab") == ["abz-9", "ab", "ab98", "ab12"]
    assert ids(filled, "ab123") == []


def test_no_prefix_lists_everything(filled: JobStore) -> None:
    assert len(filled.list_jobs(JobFilter(id_prefix=None))) == len(IDS)
    assert len(filled.list_jobs(JobFilter(id_prefix=""))) == len(IDS)


def test_the_prefix_combines_with_the_other_filters(filled: JobStore) -> None:
    assert ids(filled, "ab", states=(JobState.PENDING,), target="sim:test") == ["abz-9", "ab", "ab98", "ab12"]
    assert ids(filled, "ab", states=(JobState.DONE,)) == []
    assert ids(filled, "ab", created_after=102.0) == ["abz-9", "ab"]


def test_keyset_pages_of_a_prefix_listing(store: JobStore) -> None:
    for index in range(7):
        new_job(store, f"pf{index:02d}", 200.0 + index // 2)  # equal times: the id breaks ties
        new_job(store, f"qq{index:02d}", 200.0 + index // 2)
    seen: list[str] = []
    before: tuple[float, str] | None = None
    while True:
        page = store.list_jobs(JobFilter(id_prefix="pf", limit=3, before=before))
        seen += [job.id for job in page]
        if len(page) < 3:
            break
        before = (page[-1].created_at, page[-1].id)
    assert seen == [f"pf{index:02d}" for index in reversed(range(7))]
