"""Scheduling through a real embedded server: with ``device_capacity`` a device's backlog
holds at most its slots, so another device's job runs at once beside it (no head-of-line
blocking); without it, both execute workers take the backlog."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from eigen.client import Client
from eigen.config.settings import Settings
from eigen.models.job import Job
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import BELL, SLOW

pytestmark = pytest.mark.integration

BACKLOG = 3


def run_backlog_then_other(data_dir: Path, capacity: dict[str, int]) -> tuple[list[Job], Job]:
    """``BACKLOG`` slow jobs on sim:aer, then a Bell pair on sim:stabilizer, two execute
    workers and two driver processes (aer holds the GIL while it runs: in process, one run
    would stall the other worker too); every job once it ended."""
    settings = Settings(data_dir=data_dir, execute_workers=2, driver_processes=2, device_capacity=capacity)
    with EmbeddedServer(settings) as server, Client(server.address, timeout=120) as client:
        slow = [client.submit(SLOW, target="sim:aer", shots=10, seed=i) for i in range(BACKLOG)]
        client.wait(slow[0].job_id)  # the backlog is being worked on
        other = client.submit(BELL, target="sim:stabilizer", shots=10, seed=1)
        ended = client.wait(other.job_id)
        backlog = [client.wait(job.job_id) for job in slow]
    return backlog, ended


def finished(job: Job) -> float:
    assert job.finished_at is not None, job
    return job.finished_at


def overlapped(jobs: list[Job]) -> bool:
    """Whether two of ``jobs`` ran at the same time."""
    spans = sorted((job.started_at or 0.0, finished(job)) for job in jobs)
    return any(later[0] < earlier[1] - 1e-3 for earlier, later in pairwise(spans))


def test_a_device_at_capacity_leaves_the_other_workers_to_other_devices(tmp_path: Path) -> None:
    backlog, other = run_backlog_then_other(tmp_path / "capacity", {"sim:aer": 1})
    assert other.state.value == "DONE" and all(job.state.value == "DONE" for job in backlog)
    assert not overlapped(backlog)  # one slow job at a time
    assert finished(other) < finished(backlog[-1])  # the other device's job ran beside the backlog
    unlimited, _ = run_backlog_then_other(tmp_path / "unlimited", {})
    assert overlapped(unlimited)  # without a capacity both workers take the backlog
