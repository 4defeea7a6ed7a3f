"""procrastinate and pgqueuer, measured on Eigen's queue workload (issue 18): which one the
PostgreSQL dispatch is built on.

Each library gets a fresh database of its own on the local PostgreSQL server and the same
four measurements:

a. an entry enqueued inside an application transaction that also inserts a row of ours
   (the job): both are there after COMMIT, neither after ROLLBACK;
b. 5,000 small entries enqueued in batches of 100 (each batch one call of the library),
   then drained by 2 consumer processes running the library's own worker (10 entries in
   flight each): enqueue p50/p99 per batch, drain rate, client CPU seconds per 1,000
   entries (producer and consumers, ``time.process_time``) and SQL statements per entry
   (counted in psycopg's cursors in every process: pg_stat_statements is not loaded on
   our server);
c. claim latency: one entry at a time, every 20 ms, the time from just before the enqueue
   to the handler starting in a consumer, woken by the library's LISTEN/NOTIFY (fallback
   polling set to 5 s so a poll cannot pass for a wake-up);
d. a long entry (30 s) held by one consumer while the other keeps fetching: is it handed
   out twice while the holder heartbeats? And a consumer killed with SIGKILL while it holds
   an entry: the time until another consumer gets the entry (stale threshold 5 s for both;
   the rescuer looks every 1 s).

    .venv/bin/python benchmarks/queue_libraries.py                  # both libraries, ~2 min
    .venv/bin/python benchmarks/queue_libraries.py --libraries pgqueuer --entries 2000

Figures go to ``benchmarks/results/queue_libraries.json``; the choice made from them is in
``docs/decisions/queue-library.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import psycopg

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_DSN = os.environ.get("EIGEN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 100
IN_FLIGHT = 10
STALE_S = 5.0
LONG_S = float(os.environ.get("EIGEN_BENCH_LONG_S", "30"))
LATENCY_ENTRIES = 200
# pgqueuer-pull: pgqueuer's queries (batch dequeue, heartbeat, log) called by a pull loop with
# LISTEN on a connection of its own, the shape the Dispatch port needs (psycopg locks a
# connection while it waits for notifications, so pgqueuer's worker, which listens and
# queries on one connection, reaches a query only when its 1 s wait ends)
LIBRARIES = ("procrastinate", "pgqueuer", "pgqueuer-pull")
MP = multiprocessing.get_context("spawn")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def count_statements() -> Callable[[], int]:
    """Count every statement psycopg sends from this process (sync and async cursors)."""
    sent = [0]
    for cls in (psycopg.Cursor, psycopg.AsyncCursor):
        original = cls.execute

        if cls is psycopg.AsyncCursor:

            async def execute_async(self: Any, *args: Any, _o: Any = original, **kwargs: Any) -> Any:
                sent[0] += 1
                return await _o(self, *args, **kwargs)

            cls.execute = execute_async  # type: ignore[method-assign,assignment]
        else:

            def execute(self: Any, *args: Any, _o: Any = original, **kwargs: Any) -> Any:
                sent[0] += 1
                return _o(self, *args, **kwargs)

            cls.execute = execute  # type: ignore[method-assign]
    return lambda: sent[0]


@contextlib.contextmanager
def fresh_database(library: str) -> Iterator[str]:
    name = f"eigen_queue_bench_{library.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the two libraries, behind the same few calls -------------------------------------------


class Procrastinate:
    name = "procrastinate"

    def __init__(self, dsn: str) -> None:
        import procrastinate

        self.app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=dsn))
        self.app.open()

    def install(self) -> None:
        self.app.schema_manager.apply_schema()

    def enqueue(
        self, queue: str, payloads: list[dict[str, Any]], connection: psycopg.Connection | None = None
    ) -> None:
        deferrer = self.app.configure_task("entry", queue=queue, priority=50)
        if connection is not None:
            deferrer.connection = connection
        deferrer.batch_defer(*payloads)

    def depth(self, connection: psycopg.Connection) -> int:
        row = connection.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.app.close()


class PgQueuer:
    name = "pgqueuer"

    def __init__(self, dsn: str) -> None:
        from pgqueuer.db import SyncPsycopgDriver
        from pgqueuer.queries import SyncQueries

        self.dsn = dsn
        self.connection = psycopg.connect(dsn, autocommit=True)  # the driver requires autocommit
        self.queries = SyncQueries(SyncPsycopgDriver(self.connection))

    def install(self) -> None:
        from pgqueuer.db import PsycopgDriver
        from pgqueuer.queries import Queries

        async def install() -> None:
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as connection:
                await Queries(PsycopgDriver(connection)).install()

        asyncio.run(install())

    def enqueue(
        self, queue: str, payloads: list[dict[str, Any]], connection: psycopg.Connection | None = None
    ) -> None:
        from pgqueuer.db import SyncPsycopgDriver
        from pgqueuer.queries import SyncQueries

        queries = self.queries if connection is None else SyncQueries(SyncPsycopgDriver(connection))
        n = len(payloads)
        queries.enqueue([queue] * n, [json.dumps(p).encode() for p in payloads], [50] * n)

    def depth(self, connection: psycopg.Connection) -> int:
        row = connection.execute("SELECT count(*) FROM pgqueuer WHERE status = 'queued'").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.connection.close()


# --- consumers: one process each, running the library's own worker ------------------------


class Shared:
    """What the consumer processes share with the producer."""

    def __init__(self, slots: int) -> None:
        self.ready = [MP.Event() for _ in range(slots)]
        self.go = [MP.Event() for _ in range(slots)]
        self.drained = MP.Value("i", 0)
        self.cpu = MP.Array("d", slots)
        self.statements = MP.Array("q", slots)
        self.events: Any = MP.Queue()


def consumer(library: str, dsn: str, slot: int, queues: list[str], poll_s: float, shared: Shared) -> None:
    statements = count_statements()

    def seen(payload: dict[str, Any]) -> None:
        now = time.time()
        if payload["kind"] == "small":
            with shared.drained.get_lock():
                shared.drained.value += 1
        else:
            shared.events.put((payload["kind"], slot, payload["sent"], now, os.getpid()))
        shared.cpu[slot] = time.process_time()
        shared.statements[slot] = statements()

    async def handle(payload: dict[str, Any]) -> None:
        seen(payload)
        if payload["kind"] in ("long", "victim"):
            await asyncio.sleep(LONG_S)
            shared.events.put(("long-done", slot, payload["sent"], time.time(), os.getpid()))

    async def started() -> None:
        shared.cpu[slot] = time.process_time()
        shared.statements[slot] = statements()
        shared.ready[slot].set()
        await asyncio.get_running_loop().run_in_executor(None, shared.go[slot].wait)

    run = {"procrastinate": run_procrastinate, "pgqueuer": run_pgqueuer, "pgqueuer-pull": run_pgqueuer_pull}
    asyncio.run(run[library](dsn, queues, poll_s, handle, started))


async def run_procrastinate(dsn: str, queues: list[str], poll_s: float, handle: Any, started: Any) -> None:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name="entry")
    async def entry(**payload: Any) -> None:
        await handle(payload)

    async def recover_stalled() -> None:
        # procrastinate's stalled-job recovery is the application's periodic call of these two
        while True:
            for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALE_S):
                with contextlib.suppress(Exception):
                    await app.job_manager.retry_job(job)
            await asyncio.sleep(1.0)

    async with app.open_async():
        await started()
        recovery = asyncio.create_task(recover_stalled())
        await app.run_worker_async(
            queues=queues,
            concurrency=IN_FLIGHT,
            wait=True,
            listen_notify=True,
            fetch_job_polling_interval=poll_s,
            update_heartbeat_interval=1.0,
            stalled_worker_timeout=STALE_S,
            delete_jobs="always",
            install_signal_handlers=False,
        )
        recovery.cancel()


async def run_pgqueuer(dsn: str, queues: list[str], poll_s: float, handle: Any, started: Any) -> None:
    from pgqueuer import QueueManager
    from pgqueuer.db import PsycopgDriver
    from pgqueuer.models import Job
    from pgqueuer.queries import Queries

    connection = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    manager = QueueManager(Queries(PsycopgDriver(connection)))
    for queue in queues:

        @manager.entrypoint(queue)
        async def entry(job: Job) -> None:
            await handle(json.loads(job.payload or b"{}"))

    await started()
    await manager.run(
        dequeue_timeout=timedelta(seconds=poll_s),
        batch_size=IN_FLIGHT,
        heartbeat_timeout=timedelta(seconds=STALE_S),
    )


async def run_pgqueuer_pull(dsn: str, queues: list[str], poll_s: float, handle: Any, started: Any) -> None:
    from pgqueuer.db import PsycopgDriver
    from pgqueuer.domain.settings import db_settings
    from pgqueuer.models import Job
    from pgqueuer.ports.repository import EntrypointExecutionParameter
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueEntrypoint, QueueManagerId

    work = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    listen = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    queries = Queries(PsycopgDriver(work))
    woken = asyncio.Event()
    listener = PsycopgDriver(listen)
    await listener.add_listener(db_settings().channel, lambda _payload: woken.set())
    me = QueueManagerId(uuid.uuid4())
    entrypoints = {QueueEntrypoint(q): EntrypointExecutionParameter(concurrency_limit=0) for q in queues}
    held: set[int] = set()
    room = asyncio.Event()

    async def beat() -> None:
        while True:
            await asyncio.sleep(1.0)
            if held:
                await queries.update_heartbeat(list(held))  # type: ignore[arg-type]

    async def run_one(job: Job) -> None:
        try:
            await handle(json.loads(job.payload or b"{}"))
            await queries.log_jobs([(job, "successful", None)])
        finally:
            held.discard(job.id)
            room.set()

    await started()
    beating = asyncio.create_task(beat())
    tasks: set[asyncio.Task[None]] = set()
    while True:
        while len(held) >= IN_FLIGHT:
            room.clear()
            await room.wait()
        woken.clear()
        jobs = await queries.dequeue(IN_FLIGHT - len(held), entrypoints, me, None, timedelta(seconds=STALE_S))
        for job in jobs:
            held.add(job.id)
            task = asyncio.create_task(run_one(job))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if not jobs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), poll_s)
    beating.cancel()


# --- the measurements ---------------------------------------------------------------------


def transactional_enqueue(lib: Any, dsn: str) -> dict[str, Any]:
    """(a): a row of ours and an entry in one transaction, committed and rolled back."""
    with psycopg.connect(dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS bench_jobs (id text PRIMARY KEY)")
    outcome: dict[str, Any] = {}
    # pgqueuer's drivers insist on autocommit; the transaction is then psycopg's explicit one
    with psycopg.connect(dsn, autocommit=lib.name.startswith("pgqueuer")) as connection:
        for verb in ("commit", "rollback"):
            before = lib.depth(connection)
            if not connection.autocommit:
                connection.commit()
            try:
                with connection.transaction():
                    connection.execute("INSERT INTO bench_jobs VALUES (%s)", (verb,))
                    lib.enqueue("tx", [{"kind": "tx", "sent": 0.0}], connection=connection)
                    if verb == "rollback":
                        raise RuntimeError("roll back")
            except RuntimeError:
                pass
            if not connection.autocommit:
                connection.commit()
            row = connection.execute("SELECT count(*) FROM bench_jobs WHERE id = %s", (verb,)).fetchone()
            outcome[verb] = {"job_row": bool(row and row[0]), "entry": lib.depth(connection) - before == 1}
    outcome["together"] = outcome["commit"] == {"job_row": True, "entry": True} and outcome["rollback"] == {
        "job_row": False,
        "entry": False,
    }
    return outcome


def wait_for(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


class Events:
    """The consumers' reports, kept by kind: (kind, slot, sent, seen, pid)."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.by_kind: dict[str, list[tuple[Any, ...]]] = {}

    def wait(self, kind: str, count: int, timeout_s: float) -> list[tuple[Any, ...]]:
        """The first ``count`` reports of ``kind`` (fewer if the time ran out)."""
        deadline = time.monotonic() + timeout_s
        while len(self.by_kind.get(kind, [])) < count and (left := deadline - time.monotonic()) > 0:
            try:
                event = self.shared.events.get(timeout=left)
            except Exception:
                break
            self.by_kind.setdefault(event[0], []).append(tuple(event))
        return self.by_kind.get(kind, [])[:count]


def measure(library: str, entries: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    statements = count_statements_once()
    with fresh_database(library) as dsn:
        lib: Any = (Procrastinate if library == "procrastinate" else PgQueuer)(dsn)
        lib.name = library
        lib.install()
        figures["a_transaction"] = transactional_enqueue(lib, dsn)

        # slots: 0, 1 the two consumers; 2 the victim; 3 the rescuer
        shared = Shared(4)
        plan = [(["small", "long"], 5.0), (["small", "long"], 5.0), (["victim"], 5.0), (["victim"], 1.0)]
        processes: list[SpawnProcess] = []
        for slot, (queues, poll_s) in enumerate(plan):
            process = MP.Process(
                target=consumer, args=(library, dsn, slot, queues, poll_s, shared), daemon=True
            )
            process.start()
            processes.append(process)
        try:
            for slot in range(4):
                if not shared.ready[slot].wait(60):
                    raise RuntimeError(f"{library} consumer {slot} did not start")

            events = Events(shared)
            # (b) batches, then the drain
            timings: list[float] = []
            cpu0, sent0 = time.process_time(), statements()
            for start in range(0, entries, BATCH):
                payloads = [
                    {"kind": "small", "sent": 0.0, "n": n} for n in range(start, min(entries, start + BATCH))
                ]
                t0 = time.perf_counter()
                lib.enqueue("small", payloads)
                timings.append(time.perf_counter() - t0)
            producer_cpu, producer_statements = time.process_time() - cpu0, statements() - sent0
            consumer_cpu0 = [shared.cpu[s] for s in (0, 1)]
            consumer_sent0 = [shared.statements[s] for s in (0, 1)]
            t0 = time.perf_counter()
            shared.go[0].set()
            shared.go[1].set()
            # (d) runs beside (b) and (c): the long entry is held while the others drain
            long_sent = time.time()
            lib.enqueue("long", [{"kind": "long", "sent": long_sent}])
            shared.go[2].set()
            lib.enqueue("victim", [{"kind": "victim", "sent": time.time()}])
            drained = wait_for(lambda: shared.drained.value >= entries, 150)
            drain_s = time.perf_counter() - t0
            consumer_cpu = sum(shared.cpu[s] - consumer_cpu0[i] for i, s in enumerate((0, 1)))
            consumer_statements = sum(shared.statements[s] - consumer_sent0[i] for i, s in enumerate((0, 1)))
            figures["b_batches"] = {
                "entries": entries,
                "batch": BATCH,
                "drained": drained,
                "enqueue_batch_p50_ms": round(percentile(timings, 50) * 1e3, 3),
                "enqueue_batch_p99_ms": round(percentile(timings, 99) * 1e3, 3),
                "enqueue_per_entry_us": round(sum(timings) / entries * 1e6, 1),
                "drain_s": round(drain_s, 3),
                "drain_per_s": round(shared.drained.value / drain_s, 1),
                "cpu_s_per_1000": {
                    "producer": round(producer_cpu / entries * 1000, 4),
                    "consumers": round(consumer_cpu / entries * 1000, 4),
                },
                "statements_per_entry": {
                    "producer": round(producer_statements / entries, 3),
                    "consumers": round(consumer_statements / entries, 3),
                },
            }

            # (d) the victim holds its entry, is killed; the rescuer, listening, takes it over
            held = events.wait("victim", 1, 20)
            shared.go[3].set()
            time.sleep(0.5)  # the rescuer's worker registers and listens
            killed_at = time.time()
            os.kill(processes[2].pid or 0, signal.SIGKILL)

            # (c) enqueue -> a consumer's handler, at a steady cadence
            for n in range(LATENCY_ENTRIES):
                lib.enqueue("small", [{"kind": "lat", "sent": time.time(), "n": n}])
                time.sleep(0.02)
            latencies = [e[3] - e[2] for e in events.wait("lat", LATENCY_ENTRIES, 20)]
            figures["c_claim_latency"] = {
                "entries": LATENCY_ENTRIES,
                "seen": len(latencies),
                "p50_ms": round(percentile(latencies, 50) * 1e3, 2) if latencies else None,
                "p99_ms": round(percentile(latencies, 99) * 1e3, 2) if latencies else None,
                "max_ms": round(max(latencies) * 1e3, 2) if latencies else None,
            }

            victims = events.wait("victim", 2, max(1.0, killed_at + 30 - time.time()))
            rescued = victims[1] if len(victims) > 1 else None
            done = events.wait("long-done", 1, max(1.0, long_sent + LONG_S + 15 - time.time()))
            long_starts = len(events.by_kind.get("long", []))
            figures["d_long_and_kill"] = {
                "long_entry_s": LONG_S,
                "stale_threshold_s": STALE_S,
                "long_started": long_starts,
                "long_finished": bool(done),
                "long_handed_out_once": long_starts == 1 and bool(done),
                "victim_held_by_victim": bool(held and held[0][1] == 2),
                "redelivered": bool(rescued and rescued[1] == 3),
                "redelivery_s": round(rescued[3] - killed_at, 2) if rescued else None,
            }
        finally:
            for process in processes:
                if process.is_alive():
                    process.kill()
                process.join(5)
            lib.close()
    return figures


_COUNTER: Callable[[], int] | None = None


def count_statements_once() -> Callable[[], int]:
    global _COUNTER
    if _COUNTER is None:
        _COUNTER = count_statements()
    return _COUNTER


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=RESULTS / "queue_libraries.json")
    args = parser.parse_args()
    if args.entries < BATCH:
        parser.error(f"--entries must be at least {BATCH}")
    versions = {}
    for name in {n.split("-")[0] for n in args.libraries}:
        module = __import__(name)
        versions[name] = getattr(module, "__version__", "?")
    report: dict[str, Any] = {
        "benchmark": "queue_libraries",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }
    started = time.perf_counter()
    for name in args.libraries:
        report[name] = measure(name, args.entries)
        print(f"{name} done in {time.perf_counter() - started:.0f} s", flush=True)
    report["wall_s"] = round(time.perf_counter() - started, 1)

    rows = [
        ("a: job row and entry commit/roll back together", lambda f: f["a_transaction"]["together"]),
        ("b: enqueue batch of 100 p50 ms", lambda f: f["b_batches"]["enqueue_batch_p50_ms"]),
        ("b: enqueue batch of 100 p99 ms", lambda f: f["b_batches"]["enqueue_batch_p99_ms"]),
        ("b: drain, entries/s (2 consumers)", lambda f: f["b_batches"]["drain_per_s"]),
        ("b: producer CPU s / 1000", lambda f: f["b_batches"]["cpu_s_per_1000"]["producer"]),
        ("b: consumers CPU s / 1000", lambda f: f["b_batches"]["cpu_s_per_1000"]["consumers"]),
        ("b: producer statements / entry", lambda f: f["b_batches"]["statements_per_entry"]["producer"]),
        ("b: consumer statements / entry", lambda f: f["b_batches"]["statements_per_entry"]["consumers"]),
        ("c: claim latency p50 ms", lambda f: f["c_claim_latency"]["p50_ms"]),
        ("c: claim latency p99 ms", lambda f: f["c_claim_latency"]["p99_ms"]),
        ("d: 30 s entry handed out once", lambda f: f["d_long_and_kill"]["long_handed_out_once"]),
        ("d: re-delivery after SIGKILL, s", lambda f: f["d_long_and_kill"]["redelivery_s"]),
    ]
    print(f"\n{'':50}" + "".join(f"{n:>16}" for n in args.libraries))
    for label, pick in rows:
        print(f"{label:50}" + "".join(f"{pick(report[n])!s:>16}" for n in args.libraries))
    print(f"versions: {versions}; wall {report['wall_s']} s; load {report['load_average']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
