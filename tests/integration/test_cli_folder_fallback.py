"""Embedded ``eigen-cli`` on a data folder with an unfinished job and no server: ``watch``
and ``results --wait`` cannot be answered from the folder alone, so they start the stack,
whose kernel resumes the job, and follow it to its end (what the folder read answers
for an ended job, ``tests/integration/test_cli_reads_fast.py``, it answers for this one
once it ended)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.job import Job, JobEvent
from eigen.models.state import JobState
from eigen.server.datalock import read_holder
from tests.integration.test_cli_reads_fast import EXAMPLES, HEAVY, cli, imported, without_debug

pytestmark = pytest.mark.integration


def unfinished_jobs(folder: Path, count: int) -> list[str]:
    """A folder whose store holds ``count`` PENDING jobs that no kernel works on (as a
    stack killed right after accepting them leaves them)."""
    done = cli(folder, "submit", str(EXAMPLES / "bell-qasm3" / "job.yaml"), "--json")
    assert done.returncode == 0, done.stderr
    store = SqlJobStore(sqlite_url(folder / "eigen.db"))
    try:
        finished = store.in_states((JobState.DONE,))
        assert len(finished) == 1
        ids = []
        for _ in range(count):
            now = time.time()
            job = Job(
                id=uuid.uuid4().hex,
                request=finished[0].request,
                state=JobState.PENDING,
                created_at=now,
                updated_at=now,
            )
            store.create(job, JobEvent(job.id, 1, JobState.PENDING, "state", now, "accepted"))
            ids.append(job.id)
        return ids
    finally:
        store.close()


def test_watch_and_results_wait_of_an_unfinished_job_start_the_stack_and_follow_it(tmp_path: Path) -> None:
    watched, waited = unfinished_jobs(tmp_path, 2)
    assert read_holder(tmp_path) is None  # nobody works on them

    followed = cli(tmp_path, "watch", watched)
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert f"job {watched}: DONE" in without_debug(followed.stdout).splitlines()
    assert HEAVY & imported(followed)  # the stack ran in the command's process

    results = cli(tmp_path, "results", waited, "--wait", "120", "--json")
    assert results.returncode == 0, results.stdout + results.stderr
    assert '"counts"' in results.stdout

    status = cli(tmp_path, "status", waited, "--json")  # ended now: read from the folder again
    assert status.returncode == 0 and '"DONE"' in status.stdout
    assert not HEAVY & imported(status)
