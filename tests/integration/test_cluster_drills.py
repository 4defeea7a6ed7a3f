"""Drills with real processes on one PostgreSQL database (issue 18, section 3).

Each drill starts a cluster (:mod:`tests.integration.cluster`): kernel nodes with their
compiler and driver-manager in process, api nodes in front, every node with the
``test:counted`` device, whose count file says how often each job (one seed each) was
executed and by which process. What is checked is what a user is promised: every job
accepted ends once, DONE with one result; no job is executed twice except where the
process executing it (a killed node's driver process) was killed; a job orphaned by a
killed kernel runs again within a bound of its lease (printed: p50 and max).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from eigen.client.client import Client
from eigen.client.inputs import to_request
from eigen.models.job import JobRequest
from tests.integration.cluster import Cluster, Node
from tests.integration.counting import COUNTED, RUN_S, records
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration
BELL = Path(__file__).resolve().parents[2] / "examples" / "bell-qasm3" / "job.yaml"
LEASE_S = 3.0
ENDED = ("DONE", "ERROR", "CANCELLED", "TIMEOUT")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with fresh_database() as url:
        made = Cluster(tmp_path, url, settings={"EIGEN_LEASE_S": f"{LEASE_S:g}"})
        try:
            yield made
        finally:
            made.close()


def seeded(first: int, count: int) -> list[JobRequest]:
    """Bell jobs on ``test:counted``, seeds ``first`` .. ``first + count - 1``."""
    return [to_request(BELL, target=COUNTED, seed=seed, shots=16) for seed in range(first, first + count)]


class Database:
    """The cluster's database, read as the drill's referee."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=NullPool)

    def states(self) -> Counter[str]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT state, count(*) FROM jobs GROUP BY state"))
            return Counter({state: count for state, count in rows})

    def held_by(self, worker: str) -> set[str]:
        """Jobs a worker holds a lease on."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT id FROM jobs WHERE worker_id = :w AND state IN ('COMPILING', 'RUNNING')"),
                {"w": worker},
            )
            return {row[0] for row in rows}

    def moved_on(self, job_ids: set[str], worker: str) -> set[str]:
        """Those of ``job_ids`` no longer held by ``worker``: put back in the queue (what
        recovery does; when another node runs it depends on that node's backlog), claimed
        by another worker, or ended."""
        if not job_ids:
            return set()
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT id FROM jobs WHERE id = ANY(:ids) AND NOT "
                    "(state IN ('COMPILING', 'RUNNING') AND worker_id IS NOT DISTINCT FROM :w)"
                ),
                {"ids": list(job_ids), "w": worker},
            )
            return {row[0] for row in rows}

    def results(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM job_results")).scalar_one())

    def wait_all_ended(self, total: int, timeout_s: float) -> Counter[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = self.states()
            if sum(states[s] for s in ENDED) >= total:
                return states
            time.sleep(0.25)  # a referee reading the database: no event to wait on
        return self.states()

    def close(self) -> None:
        self.engine.dispose()


def submit_through(nodes: list[Node], requests: list[JobRequest], batch: int = 100) -> list[str]:
    """Submit ``requests`` in batches, alternating between ``nodes``; the job ids."""
    clients = [Client(node.address) for node in nodes]
    try:
        chunks = [requests[i : i + batch] for i in range(0, len(requests), batch)]
        with ThreadPoolExecutor(len(clients) * 2) as pool:
            futures = [
                pool.submit(clients[i % len(clients)].submit_batch, chunk) for i, chunk in enumerate(chunks)
            ]
            return [f.id for future in futures for f in future.result()]
    finally:
        for client in clients:
            client.close()


def executions(count_file: Path, killed: set[int]) -> tuple[Counter[int], list[str]]:
    """Finished runs per seed, and what breaks the promise: a seed finished more than once
    by processes that lived on (a killed process may have finished a run whose result it
    never stored: that run is done again), or a run a live process started and never
    finished."""
    finished: Counter[int] = Counter()
    by_live: Counter[int] = Counter()
    open_runs: Counter[tuple[int, int]] = Counter()
    for what, seed, pid in records(count_file):
        if what == "start":
            open_runs[seed, pid] += 1
        else:
            open_runs[seed, pid] -= 1
            finished[seed] += 1
            by_live[seed] += pid not in killed
    problems = [f"seed {s} finished {n} times by live processes" for s, n in by_live.items() if n > 1]
    problems += [
        f"seed {seed}: a run by live process {pid} never finished"
        for (seed, pid), n in open_runs.items()
        if n > 0 and pid not in killed
    ]
    return finished, problems


def test_two_api_nodes_two_kernels_run_2000_jobs_once_each(cluster: Cluster) -> None:
    kernels = [cluster.kernel("kernel-1"), cluster.kernel("kernel-2")]
    apis = [cluster.api("api-1", kernels), cluster.api("api-2", kernels)]
    database = Database(cluster.database_url)
    try:
        ids = submit_through(apis, seeded(1, 2000))
        assert len(set(ids)) == 2000
        states = database.wait_all_ended(2000, timeout_s=300)
        assert states == Counter({"DONE": 2000}), cluster.logs()
        assert database.results() == 2000
        finished, problems = executions(cluster.count_file, killed=set())
        assert not problems, problems[:10]
        assert set(finished) == set(range(1, 2001))
        by_node = Counter(pid for what, _, pid in records(cluster.count_file) if what == "end")
        assert len(by_node) == 2, f"one kernel did all the work: {by_node}"  # both kernels ran jobs
    finally:
        database.close()


def test_kill_9_of_a_kernel_mid_run_five_times_loses_nothing(cluster: Cluster) -> None:
    slow = {RUN_S: "0.2"}
    victim = cluster.kernel("kernel-1", **slow)
    survivor = cluster.kernel("kernel-2", **slow)
    api = cluster.api("api-1", [victim, survivor])
    database = Database(cluster.database_url)
    killed: set[int] = set()
    recoveries: list[float] = []
    total = 0
    try:
        for round_ in range(5):
            submit_through([api], seeded(1 + total, 60), batch=20)
            total += 60
            deadline = time.monotonic() + 30
            while not (held := database.held_by("kernel-1")) and time.monotonic() < deadline:
                time.sleep(0.05)  # until the victim holds work
            assert held, f"round {round_}: kernel-1 never held a job\n{cluster.logs()}"
            killed |= victim.kill()  # the node and its driver processes
            killed_at = time.monotonic()
            orphans = database.held_by("kernel-1")  # what the dead node held
            waiting = set(orphans)
            while waiting and time.monotonic() - killed_at < LEASE_S + 10:
                for job_id in database.moved_on(waiting, "kernel-1"):
                    recoveries.append(time.monotonic() - killed_at)
                    waiting.discard(job_id)
                time.sleep(0.05)
            assert not waiting, f"round {round_}: {len(waiting)} orphaned jobs never recovered"
            victim.start()  # the same node again, on the same port
        states = database.wait_all_ended(total, timeout_s=240)
        assert states == Counter({"DONE": total}), cluster.logs()
        assert database.results() == total
        _, problems = executions(cluster.count_file, killed)
        assert not problems, problems[:10]
        print(
            f"\nrecovery after kill -9: {len(recoveries)} orphaned jobs, p50 "
            f"{statistics.median(recoveries):.2f} s, max {max(recoveries):.2f} s (lease {LEASE_S:g} s)"
        )
        # issue 18's bound: the lease lapses, then the sweep's turn and (when the victim
        # held the duties) the takeover add at most half a second each
        assert max(recoveries) <= LEASE_S + 2.0
    finally:
        database.close()
