"""Outage drills with real processes (issue 18): PostgreSQL restarted mid-run, Redis
stopped mid-run.

Each drill runs a cluster (:mod:`tests.integration.cluster`: two kernels, one api node,
every node with an HTTP port for ``/health/ready``) on servers of its own
(:mod:`tests.integration.private_services`), stops one of them while jobs run, and checks
what the nodes promise: readiness names what is missing while it is missing (PostgreSQL:
not ready; Redis: ready but ``degraded``), clients get a retryable answer, and once the
server is back every job has ended once, DONE with one result (the ``test:counted``
device's count file: one finished run per seed), and the nodes are ready again without a
restart. Times to ready are printed. A job is executed once, even when its run ends while
PostgreSQL is down for longer than a lease.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eigen.client.client import Client
from eigen.errors import EigenError
from eigen.models.job import JobEvent
from tests.integration.cluster import Cluster, Node
from tests.integration.counting import RUN_S
from tests.integration.private_services import PrivatePostgres, PrivateRedis, private_postgres, private_redis
from tests.integration.test_cluster_drills import BELL, Database, executions, seeded, submit_through
from tests.integration.test_four_processes import free_port
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration
LEASE_S = 3.0
JOBS = 300


def http_node(cluster: Cluster, name: str, kernels: list[Node] | None = None) -> Node:
    """A kernel (``kernels`` None) or an api node of ``cluster``, with an HTTP port."""
    settings = {"EIGEN_HTTP_PORT": str(free_port()), RUN_S: "0.05"}
    if kernels is None:
        return cluster.kernel(name, **settings)
    return cluster.api(name, kernels, **settings)


def ready(node: Node) -> tuple[int, dict[str, Any]]:
    """``/health/ready`` of ``node``: the status code and the body."""
    port = node.env["EIGEN_HTTP_PORT"]
    answer = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5)
    return answer.status_code, answer.json()


def grpc_serving(node: Node) -> bool:
    with grpc.insecure_channel(node.address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status
    return bool(status == health_pb2.HealthCheckResponse.SERVING)


def not_serving(node: Node) -> bool:
    return not grpc_serving(node)


def is_ready(node: Node) -> bool:
    return ready(node)[0] == 200


def until(what: str, condition: Callable[[], Any], timeout_s: float, cluster: Cluster) -> float:
    """Poll ``condition`` (a node's health: no event to wait on) until it is true; the
    seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if condition():
                return time.monotonic() - started
        except (httpx.HTTPError, grpc.RpcError):
            pass  # the node is busy or not answering yet: ask again
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout_s} s\n{cluster.logs()}")


def wait_done(database: Database, count: int, timeout_s: float) -> None:
    """Until ``count`` jobs are DONE (the referee reading the database)."""
    deadline = time.monotonic() + timeout_s
    while database.states()["DONE"] < count and time.monotonic() < deadline:
        time.sleep(0.1)


def check_ended_once(cluster: Cluster, database: Database, total: int) -> list[str]:
    """Every job DONE with one result, every seed run to its end, no run of a live
    process left unfinished; the seeds finished more than once (said, not asserted)."""
    states = database.wait_all_ended(total, timeout_s=120)
    assert states == Counter({"DONE": total}), f"{states}\n{cluster.logs()}"
    assert database.results() == total
    finished, problems = executions(cluster.count_file, killed=set())
    assert set(finished) >= set(range(1, total + 1))
    unfinished = [p for p in problems if "never finished" in p]
    assert not unfinished, unfinished[:10]
    return [p for p in problems if p not in unfinished]


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


def test_postgres_restarted_mid_run_loses_nothing_and_nodes_recover(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    cluster = Cluster(tmp_path, postgres.url, settings={"EIGEN_LEASE_S": f"{LEASE_S:g}"})
    database = Database(postgres.url)
    try:
        kernels = [http_node(cluster, "kernel-1"), http_node(cluster, "kernel-2")]
        api = http_node(cluster, "api-1", kernels)
        nodes = [*kernels, api]
        submit_through([api], seeded(1, JOBS), batch=50)
        wait_done(database, JOBS // 4, timeout_s=60)
        assert database.states()["DONE"] < JOBS, "every job ended before the outage"

        postgres.stop()
        stopped = time.monotonic()
        where = f"127.0.0.1:{postgres.port}"

        def not_ready_naming_the_database(node: Node) -> bool:
            status, body = ready(node)
            return status == 503 and where in body.get("detail", "")

        for node in nodes:
            until(f"{node.name} not ready", partial(not_ready_naming_the_database, node), 15, cluster)
        for kernel in kernels:
            until(f"{kernel.name} gRPC NOT_SERVING", partial(not_serving, kernel), 10, cluster)
        with Client(api.address, timeout=10) as client, pytest.raises(EigenError) as refused:
            client.submit(BELL, target="test:counted", seed=JOBS + 1, shots=16)
        assert refused.value.code == "EIGEN_UNAVAILABLE", refused.value
        down_s = time.monotonic() - stopped

        postgres.start()
        restarted = time.monotonic()
        back: dict[str, float] = {}  # seconds from the server's start to each node's ready
        for node in nodes:
            until(f"{node.name} ready again", partial(is_ready, node), 30, cluster)
            back[node.name] = time.monotonic() - restarted
        for kernel in kernels:  # gRPC health follows within its interval (1 s)
            until(f"{kernel.name} SERVING again", partial(grpc_serving, kernel), 10, cluster)
            back[f"{kernel.name} gRPC"] = time.monotonic() - restarted
        assert all(node.process is not None and node.process.poll() is None for node in nodes)
        twice = check_ended_once(cluster, database, JOBS)
        shown = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in back.items())
        print(f"\nPostgreSQL down {down_s:.1f} s; ready again after it started: {shown}")
        print(f"jobs executed twice: {len(twice)} of {JOBS}")
        # A run that ends while the store is down holds its outcome and stores it once the
        # database answers; the holders renew the leases that lapsed meanwhile, and the
        # sweep waits a lease after the outage for them: no job runs a second time.
        assert not twice, f"{len(twice)} jobs executed twice across the outage: {twice[:10]}"
    finally:
        cluster.close()
        database.close()


def test_redis_stopped_mid_run_degrades_and_recovers(tmp_path: Path, redis_server: PrivateRedis) -> None:
    with fresh_database() as url:
        settings = {
            "EIGEN_LEASE_S": f"{LEASE_S:g}",
            "EIGEN_REDIS_URL": redis_server.url,
            "EIGEN_RATE_LIMIT_PER_S": "10000",  # the shared limiter, never the limit here
        }
        cluster = Cluster(tmp_path, url, settings=settings)
        database = Database(url)
        try:
            run_redis_drill(cluster, database, redis_server)
        finally:
            cluster.close()
            database.close()


def watched_end(client: Client, job_id: str) -> tuple[threading.Thread, list[JobEvent | BaseException]]:
    """A WatchJob of ``job_id`` on a thread: what it saw (its events, or its error)."""
    seen: list[JobEvent | BaseException] = []

    def watch() -> None:
        try:
            seen.extend(client.watch(job_id))
        except BaseException as exc:  # the drill reads it
            seen.append(exc)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, seen


def fanout_ok(node: Node) -> bool:
    status, body = ready(node)
    return status == 200 and body["checks"]["fanout"] == "ok"


def run_redis_drill(cluster: Cluster, database: Database, redis_server: PrivateRedis) -> None:
    kernels = [http_node(cluster, "kernel-1"), http_node(cluster, "kernel-2")]
    api = http_node(cluster, "api-1", kernels)
    for kernel in kernels:
        until(f"{kernel.name} fan-out ok", partial(fanout_ok, kernel), 20, cluster)
    client = Client(api.address, timeout=20)
    try:
        ids = submit_through([api], seeded(1, JOBS), batch=50)
        last, seen = watched_end(client, ids[-1])
        wait_done(database, JOBS // 4, timeout_s=60)
        assert database.states()["DONE"] < JOBS, "every job ended before the outage"

        redis_server.stop()
        stopped = time.monotonic()
        where = f"127.0.0.1:{redis_server.port}"

        def degraded(node: Node, check: str) -> bool:
            status, body = ready(node)
            found = body.get("checks", {}).get(check, "")
            return status == 200 and found.startswith("degraded:") and where in found

        for kernel in kernels:
            until(f"{kernel.name} fan-out degraded", partial(degraded, kernel, "fanout"), 15, cluster)
        more = submit_through([api], seeded(JOBS + 1, 20), batch=10)  # taken from the limiter
        until("api-1 rate limits degraded", lambda: degraded(api, "rate_limits"), 10, cluster)
        assert all(grpc_serving(node) for node in [*kernels, api])  # degraded is still serving
        twice = check_ended_once(cluster, database, JOBS + 20)  # the jobs ran on without Redis
        assert not twice, twice[:10]
        last.join(30)
        assert not last.is_alive(), "WatchJob on the api node never saw its job end"
        assert isinstance(seen[-1], JobEvent) and seen[-1].state.value == "DONE", seen[-3:]
        down_s = time.monotonic() - stopped

        redis_server.start()  # the same port: an empty Redis
        restarted = time.monotonic()
        back: dict[str, float] = {}  # seconds from Redis's start to each kernel's fan-out ok
        for kernel in kernels:
            until(f"{kernel.name} fan-out ok again", partial(fanout_ok, kernel), 30, cluster)
            back[kernel.name] = time.monotonic() - restarted

        def shared_again() -> bool:
            client.submit(BELL, target="test:counted", seed=JOBS + 21 + int(time.monotonic()), shots=16)
            return ready(api)[1]["checks"]["rate_limits"] == "ok"

        until("api-1 rate limits shared again", shared_again, 15, cluster)
        # events flow again: a job run by either kernel, watched on the api node, ends
        job = client.submit(BELL, target="test:counted", seed=10**6, shots=16)
        final, events = watched_end(client, job.id)
        final.join(30)
        assert isinstance(events[-1], JobEvent) and events[-1].state.value == "DONE", events[-3:]
        assert len(set(ids + more)) == JOBS + 20
        shown = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in back.items())
        print(f"\nRedis down {down_s:.1f} s; fan-out ok again after it started: {shown}")
    finally:
        client.close()
