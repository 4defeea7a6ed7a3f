"""Rolling restart under load (issue 18): SIGTERM one node at a time, loses nothing and
fails no client call.

Two api nodes and two kernels on one PostgreSQL database (:mod:`tests.integration.cluster`).
A few client threads keep submitting (SubmitBatch, SubmitJob), reading (GetJob) and
watching (every future follows its job over WatchJob) through the SDK for the whole drill,
while api-1, kernel-1, api-2 and kernel-2 in turn get SIGTERM, exit 0 within their grace,
start again and answer SERVING before the next one goes.

Each client knows both api nodes the way the SDK takes several: one gRPC target naming them
all (``ipv4:a:p,b:p``, or a DNS name with one record per node); gRPC's channel moves to the
other node the moment the stopping one sends GOAWAY. Checked: every client call succeeded
(after the SDK's own retries; any error is recorded with its code and fails the drill),
every job accepted ends DONE once with one result and one finished run in the count file,
none lost. Printed: calls made, retries the SDK logged, each node's drain time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from eigen.client.channel import JOB_SERVICE
from eigen.client.client import Client
from eigen.client.futures import JobFuture
from eigen.errors import EigenError
from eigen.server.grpc_server import InFlight
from tests.integration.cluster import Cluster, Node
from tests.integration.counting import RUN_S
from tests.integration.test_cluster_drills import Database, executions, seeded
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration
GRACE_S = 15.0
CLIENTS = 3
BATCH = 3
PACE_S = 0.3  # between one client's rounds: a steady load, not a flood of the shared machine
SETTLE_CALLS = 20  # rounds of load to see through a node restarted before the next one goes


@dataclass
class Load:
    """What the client threads did: calls made, errors met, jobs accepted (futures)."""

    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seeds: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    calls: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    futures: list[JobFuture] = field(default_factory=list)
    rounds: int = 0

    def next_seeds(self, count: int) -> int:
        with self.lock:
            first = next(self.seeds)
            for _ in range(count - 1):
                next(self.seeds)
            return first

    def run(self, client: Client) -> None:
        while not self.stop.is_set():
            self._round(client)
            self.stop.wait(PACE_S)  # pacing the load (not a wait for an event)

    def _round(self, client: Client) -> None:
        first = self.next_seeds(BATCH + 1)
        calls = {
            "SubmitBatch": lambda: client.submit_batch(seeded(first, BATCH)),
            "SubmitJob": lambda: [client.submit(seeded(first + BATCH, 1)[0])],
        }
        for name, call in calls.items():
            try:
                accepted = call()
            except EigenError as exc:
                self._failed(name, exc)
            else:
                with self.lock:
                    self.futures.extend(accepted)
                    self.calls[name] += 1
        with self.lock:
            known = random.choice(self.futures).id if self.futures else None
        if known is not None:
            try:
                client.get(known)
            except EigenError as exc:
                self._failed("GetJob", exc)
            else:
                with self.lock:
                    self.calls["GetJob"] += 1
        with self.lock:
            self.rounds += 1

    def _failed(self, call: str, error: EigenError) -> None:
        with self.lock:
            self.calls[call] += 1
            self.errors.append(f"{call}: {error.code}: {error}")


class Retries(logging.Handler):
    """Counts the retries the SDK logs (a keyed SubmitJob sent again, a watch resumed);
    gRPC's own retries of the idempotent calls are not visible to the caller."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "sending it again" in message:
            self.seen["SubmitJob resent"] += 1
        elif "interrupted" in message and "watch of job" in message:
            self.seen["watch resumed"] += 1


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with fresh_database() as url:
        settings = {"EIGEN_LEASE_S": "3", "EIGEN_SHUTDOWN_GRACE_S": f"{GRACE_S:g}", RUN_S: "0.05"}
        made = Cluster(tmp_path, url, settings=settings)
        try:
            yield made
        finally:
            made.close()


def wait_rounds(load: Load, count: int, timeout_s: float) -> None:
    """Until the clients did ``count`` more rounds (the cluster serves again)."""
    target = load.rounds + count
    deadline = time.monotonic() + timeout_s
    while load.rounds < target and time.monotonic() < deadline:
        load.stop.wait(0.1)  # a referee reading a counter
    assert load.rounds >= target, f"the load stalled at {load.rounds} rounds"


def test_rolling_restart_under_load_loses_nothing_and_fails_no_call(cluster: Cluster) -> None:
    kernels = [cluster.kernel("kernel-1"), cluster.kernel("kernel-2")]
    apis = [cluster.api("api-1", kernels), cluster.api("api-2", kernels)]
    target = "ipv4:" + ",".join(api.address for api in apis)  # every api node, one target
    database = Database(cluster.database_url)
    retries = Retries()
    sdk_log = logging.getLogger("eigen.client")
    sdk_log.addHandler(retries)
    previous_level = sdk_log.level
    sdk_log.setLevel(logging.INFO)
    load = Load()
    clients = [Client(target, caller="rolling-drill") for _ in range(CLIENTS)]  # open till the end
    threads = [threading.Thread(target=load.run, args=(client,), daemon=True) for client in clients]
    drains: dict[str, float] = {}
    try:
        for thread in threads:
            thread.start()
        wait_rounds(load, SETTLE_CALLS, timeout_s=60)
        order: list[Node] = [apis[0], kernels[0], apis[1], kernels[1]]
        for node in order:
            began = time.monotonic()
            code = node.terminate(timeout_s=GRACE_S + 20)
            drains[node.name] = time.monotonic() - began
            assert code == 0, f"{node.name} exited {code}\n{cluster.logs()}"
            node.start()  # same port; returns once its health check says SERVING
            wait_rounds(load, SETTLE_CALLS, timeout_s=60)
        load.stop.set()
        for thread in threads:
            thread.join(60)
        assert not load.errors, f"{len(load.errors)} failed calls: {load.errors[:10]}\n{cluster.logs()}"
        futures = list(load.futures)
        total = len(futures)
        assert len({f.id for f in futures}) == total, "a job id came back twice"
        states = database.wait_all_ended(total, timeout_s=120)
        assert states == Counter({"DONE": total}), f"{states}\n{cluster.logs()}"
        assert database.results() == total
        unresolved = []
        for future in futures:  # each followed over WatchJob through the restarts
            try:
                future.result(timeout=60)
            except (EigenError, TimeoutError) as exc:
                unresolved.append(f"{future.id}: {exc}")
        assert not unresolved, unresolved[:10]
        finished, problems = executions(cluster.count_file, killed=set())
        assert not problems, problems[:10]  # no run started twice, none left unfinished
        seeds = {f.request.seed for f in futures}
        assert set(finished) == seeds and set(finished.values()) == {1}, "a job ran other than once"
        print(
            f"\nrolling restart: {sum(load.calls.values())} calls ({dict(load.calls)}), "
            f"{total} jobs, 0 failed; SDK retries seen: {dict(retries.seen) or 'none'}; "
            "drain (SIGTERM to exit): "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in drains.items())
        )
    finally:
        load.stop.set()
        for client in clients:
            client.close()
        sdk_log.removeHandler(retries)
        sdk_log.setLevel(previous_level)
        database.close()


def test_a_stopping_server_counts_the_submissions_it_accepted() -> None:
    """What the stop waits for before the kernel drains: a submission accepted before the
    stop is in flight until it answers; a read is not counted."""
    counter = InFlight()
    release = threading.Event()
    entered = threading.Event()

    def submit(request: bytes, context: object) -> bytes:
        entered.set()
        release.wait(10)
        return request

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(handler)
        for name, handler in (("SubmitBatch", submit), ("GetJob", lambda request, context: request))
    }
    loop = asyncio.new_event_loop()

    async def serving() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server(interceptors=[counter], migration_thread_pool=None)
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(JOB_SERVICE, handlers)])
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    server, port = asyncio.run_coroutine_threadsafe(serving(), loop).result(10)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert channel.unary_unary(f"/{JOB_SERVICE}/GetJob")(b"x", timeout=10) == b"x"
            assert counter.wait_idle(0)  # a read is not counted
            pending = channel.unary_unary(f"/{JOB_SERVICE}/SubmitBatch").future(b"y", timeout=10)
            assert entered.wait(10)
            stopping = asyncio.run_coroutine_threadsafe(server.stop(10), loop)
            assert not counter.wait_idle(0.2)  # accepted before the stop: still in flight
            release.set()
            assert counter.wait_idle(10)
            assert pending.result(10) == b"y"  # ... and answered
            stopping.result(10)
    finally:
        release.set()
        loop.call_soon_threadsafe(loop.stop)
        runner.join(10)
