"""Fair scheduling (issue 20): fairness between tenants and head-of-line blocking between
devices, on the real dispatches (memory, and PostgreSQL with two nodes).

Workers here are threads that claim execute entries from the dispatch, run a real
qiskit-aer circuit for each (the job's device time), and ack, as the kernel's execute
workers do (one entry at a time).

- **fairness**: tenant A queues ``--jobs`` jobs, then tenant B submits one; B's wait (its
  enqueue to its claim) over ``--repeats`` repeats, p50 and max, against one job's run
  time, with ``--slots`` workers; under ``fair_share`` and, once, under ``priority`` (the
  baseline: B waits behind A's whole backlog).
- **head-of-line**: a slow device (capacity 1, a bigger circuit) has a backlog of
  ``--backlog`` jobs ranked ahead; then one job for a fast device: its wait, with the
  slow device's capacity set and without it (the baseline: the workers all hold slow jobs).
- **sessions** (through a real embedded server, two execute workers, two driver
  processes): a client-driven loop of ``--iterations`` jobs on sim:aer (each submitted
  once the previous one's result is read, as a VQE driver does) alone, then behind a
  backlog of ``--busy`` other jobs on the same device, without and with a session.

The PostgreSQL runs need the local server (``EIGEN_BENCH_POSTGRES``, default
postgresql://postgres@127.0.0.1:5432/postgres) and make a database of their own, dropped
at the end. Figures: printed and written to benchmarks/results/scheduling.json.

    .venv/bin/python benchmarks/scheduling.py                     # ~1-2 min
    .venv/bin/python benchmarks/scheduling.py --dispatches memory --repeats 3
    .venv/bin/python benchmarks/scheduling.py --dispatches --sessions   # the session figure only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from qiskit import transpile
from qiskit.circuit.random import random_circuit
from qiskit_aer import AerSimulator
from sqlalchemy.pool import NullPool

from eigen.config.settings import Settings
from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Dispatch, Entry, Stage
from eigen.kernel.fair_order import FairOrder

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_DSN = os.environ.get("EIGEN_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SLOW, FAST = "qpu:slow", "sim:fast"


_CIRCUITS: dict[tuple[int, int], Any] = {}


def _simulate(qubits: int, depth: int) -> float:
    """In a worker process: one run of the random circuit of ``qubits`` x ``depth``."""
    backend = AerSimulator(method="statevector", max_parallel_threads=1)
    circuit = _CIRCUITS.get((qubits, depth))
    if circuit is None:
        circuit = _CIRCUITS[(qubits, depth)] = transpile(
            random_circuit(qubits, depth, measure=True, seed=7), backend
        )
    started = time.perf_counter()
    backend.run(circuit, shots=100, seed_simulator=1).result()
    return time.perf_counter() - started


class Device:
    """A real simulator run per job: a random circuit of ``qubits`` on qiskit-aer, in a
    process of the worker's own (Aer holds the GIL while it runs: in a thread it would
    stall every other thread, the dispatch's included; the kernel runs drivers in worker
    processes too)."""

    def __init__(self, qubits: int, depth: int) -> None:
        self.qubits, self.depth = qubits, depth

    def run(self, pool: ProcessPoolExecutor) -> float:
        return pool.submit(_simulate, self.qubits, self.depth).result()


class Workers:
    """A thread per process of ``pools`` (a device slot each), each on one of ``dispatches``
    in turn (nodes), claiming execute entries, running them there and acking, until stopped."""

    def __init__(
        self, dispatches: list[Dispatch], devices: dict[str, Device], pools: list[ProcessPoolExecutor]
    ) -> None:
        self.devices = devices
        self.claimed_at: dict[str, float] = {}
        self.run_s: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._ready = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(dispatches[k % len(dispatches)], pool), daemon=True)
            for k, pool in enumerate(pools)
        ]

    def _loop(self, dispatch: Dispatch, pool: ProcessPoolExecutor) -> None:
        for device in self.devices.values():
            device.run(pool)  # warm: the circuit built in that process
        self._ready.release()
        while not self._stop.is_set():
            claimed = dispatch.claim(Stage.EXECUTE, 1, 0.2)
            for item in claimed:
                with self._lock:
                    self.claimed_at[item.job_id] = time.perf_counter()
                took = self.devices[item.entry.target].run(pool)
                with self._lock:
                    self.run_s.setdefault(item.entry.target, []).append(took)
            dispatch.ack(claimed)

    def start(self) -> None:
        """Start the workers once each has its process ready (their claims begin then)."""
        for thread in self._threads:
            thread.start()
        for _ in self._threads:
            self._ready.acquire()

    def wait_for(self, job_id: str, timeout_s: float) -> float | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if job_id in self.claimed_at:
                    return self.claimed_at[job_id]
            time.sleep(0.002)
        return None

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)


Opener = Callable[[Settings], list[Dispatch]]


def memory_nodes(settings: Settings) -> list[Dispatch]:
    return [MemoryDispatch.of(settings)]


@contextlib.contextmanager
def postgres_nodes() -> Iterator[Opener]:
    """Two PostgresDispatch nodes per open, each on a fresh database (dropped at the end)."""
    from eigen.kernel.dispatch.postgres import PostgresDispatch
    from eigen.kernel.store import migrate
    from eigen.kernel.store.engine import make_engine

    admin = sa.create_engine(ADMIN_DSN, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    made: list[tuple[str, sa.Engine]] = []

    def open_two(settings: Settings) -> list[Dispatch]:
        name = f"eigen_bench_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine = make_engine(sa.make_url(ADMIN_DSN).set(database=name).render_as_string(hide_password=False))
        made.append((name, engine))
        migrate.upgrade(engine)
        return [
            PostgresDispatch(engine, settings.model_copy(update={"node_id": f"bench-{k}"})) for k in range(2)
        ]

    try:
        yield open_two
    finally:
        for name, engine in made:
            engine.dispose()
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def fairness_once(
    open_nodes: Opener, policy: str, jobs: int, slots: list[ProcessPoolExecutor], device: Device
) -> dict[str, float]:
    settings = Settings(scheduling_policy=policy, lease_s=30.0)
    nodes = open_nodes(settings)
    try:
        nodes[0].enqueue(Stage.EXECUTE, [Entry(f"a-{n}", 50, FAST, "A") for n in range(jobs)])
        workers = Workers(nodes, {FAST: device}, slots)
        workers.start()
        time.sleep(0.05)  # A's first jobs are running
        sent = time.perf_counter()
        nodes[-1].enqueue(Stage.EXECUTE, [Entry("b", 50, FAST, "B")])
        committed = time.perf_counter()
        claimed = workers.wait_for("b", 600)
        workers.stop()
        run = workers.run_s.get(FAST, [0.0])
        between = sum(
            1 for at in workers.claimed_at.values() if claimed is not None and committed < at < claimed
        )
        return {
            "b_wait_s": (claimed - sent) if claimed is not None else float("nan"),
            "job_run_s": statistics.median(run),
            "a_jobs_between": between,
        }
    finally:
        for node in nodes:
            node.close()


def head_of_line_once(
    open_nodes: Opener,
    capacity: bool,
    backlog: int,
    slots: list[ProcessPoolExecutor],
    slow: Device,
    fast: Device,
) -> dict[str, float]:
    settings = Settings(device_capacity={SLOW: 1} if capacity else {}, lease_s=30.0)
    nodes = open_nodes(settings)
    try:
        nodes[0].enqueue(Stage.EXECUTE, [Entry(f"slow-{n}", 90, SLOW) for n in range(backlog)])
        workers = Workers(nodes, {SLOW: slow, FAST: fast}, slots)
        workers.start()
        time.sleep(0.3)  # every worker that may is on a slow job
        sent = time.perf_counter()
        nodes[-1].enqueue(Stage.EXECUTE, [Entry("fast", 10, FAST)])
        claimed = workers.wait_for("fast", 600)
        workers.stop()
        return {
            "fast_wait_s": (claimed - sent) if claimed is not None else float("nan"),
            "slow_run_s": statistics.median(workers.run_s.get(SLOW, [0.0])),
        }
    finally:
        for node in nodes:
            node.close()


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "max": max(values), "n": len(values)}


def measure(
    name: str,
    open_nodes: Opener,
    args: argparse.Namespace,
    devices: dict[str, Device],
    slots: list[ProcessPoolExecutor],
) -> dict[str, Any]:
    fair = [
        fairness_once(open_nodes, "fair_share", args.jobs, slots, devices[FAST]) for _ in range(args.repeats)
    ]
    base = fairness_once(open_nodes, "priority", args.jobs, slots, devices[FAST])
    run_s = statistics.median(r["job_run_s"] for r in fair)
    hol = [
        head_of_line_once(open_nodes, True, args.backlog, slots, devices[SLOW], devices[FAST])
        for _ in range(args.repeats)
    ]
    hol_base = head_of_line_once(open_nodes, False, args.backlog, slots, devices[SLOW], devices[FAST])
    fairness: dict[str, Any] = {
        "b_wait_s": summary([r["b_wait_s"] for r in fair]),
        "a_jobs_started_after_b_came_before_b": summary([r["a_jobs_between"] for r in fair]),
        "job_run_s_median": run_s,
        "bound_s_one_job_per_slot": run_s,
        "baseline_priority_b_wait_s": base["b_wait_s"],
        "baseline_priority_a_jobs_between": base["a_jobs_between"],
    }
    head: dict[str, Any] = {
        "fast_wait_s": summary([r["fast_wait_s"] for r in hol]),
        "slow_run_s_median": statistics.median(r["slow_run_s"] for r in hol),
        "baseline_no_capacity_fast_wait_s": hol_base["fast_wait_s"],
    }
    wait = fairness["b_wait_s"]
    print(
        f"[{name}] fairness: B waits p50 {wait['p50'] * 1e3:.1f} ms, max {wait['max'] * 1e3:.1f} ms, "
        f"one job {run_s * 1e3:.1f} ms; A jobs started between B's enqueue and its start: "
        f"max {fairness['a_jobs_started_after_b_came_before_b']['max']:.0f}; "
        f"priority only: B waits {base['b_wait_s']:.2f} s ({base['a_jobs_between']:.0f} A jobs)"
    )
    fast = head["fast_wait_s"]
    print(
        f"[{name}] head-of-line: fast job waits p50 {fast['p50'] * 1e3:.1f} ms, "
        f"max {fast['max'] * 1e3:.1f} ms "
        f"(slow job {head['slow_run_s_median'] * 1e3:.0f} ms, backlog {args.backlog}); "
        f"without capacity: {hol_base['fast_wait_s']:.2f} s"
    )
    figures = {"fairness": fairness, "head_of_line": head}
    return figures


ITERATION = """OPENQASM 3.0;
include "stdgates.inc";
qubit[4] q;
bit[4] c;
ry({theta}) q[0];
cx q[0], q[1];
cx q[1], q[2];
cx q[2], q[3];
c = measure q;
"""


def session_loop(client: Any, iterations: int, session: Any | None) -> float:
    """Seconds for ``iterations`` jobs, each submitted once the previous result was read."""
    started = time.perf_counter()
    for k in range(iterations):
        source = ITERATION.format(theta=0.1 * k)
        if session is None:
            future = client.submit(source, target="sim:aer", shots=200, seed=k)
        else:
            future = session.submit(source, shots=200, seed=k)
        future.result(timeout=600)
    return time.perf_counter() - started


def compiled(client: Any, job_id: str) -> None:
    """Return once the job has been compiled (queued for its device, or further)."""
    from eigen.models.state import JobState

    for event in client.watch(job_id):
        if event.state not in (JobState.PENDING, JobState.COMPILING):
            return


def session_figures(iterations: int, busy: int, busy_qubits: int, driver_processes: int) -> dict[str, Any]:
    """The loop alone, behind a backlog without a session, and behind one in a session."""
    import tempfile

    from eigen.client import Client, FailedPrecondition
    from eigen.server.embedded import EmbeddedServer

    backlog_circuit = random_circuit(busy_qubits, 20, measure=True, seed=7)
    from qiskit import qasm3

    heavy = qasm3.dumps(backlog_circuit)
    figures: dict[str, Any] = {
        "iterations": iterations,
        "busy_jobs": busy,
        "driver_processes": driver_processes,
    }
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(data_dir=Path(data), execute_workers=2, driver_processes=driver_processes)
        with EmbeddedServer(settings) as server, Client(server.address, timeout=600) as client:
            session_loop(client, 3, None)  # warm: compile caches, driver processes
            figures["alone_s"] = session_loop(client, iterations, None)
            for mode in ("without_session_s", "with_session_s"):
                queued = [client.submit(heavy, target="sim:aer", shots=100, seed=n) for n in range(busy)]
                compiled(client, queued[-1].job_id)  # a busy device queue, not a compile batch in flight
                if mode == "with_session_s":
                    with client.session("sim:aer") as session:
                        figures[mode] = session_loop(client, iterations, session)
                else:
                    figures[mode] = session_loop(client, iterations, None)
                left = sum(1 for job in queued if not client.get(job.job_id).terminal)
                figures[mode.removesuffix("_s") + "_backlog_left_at_end"] = left
                for job in queued:  # the next run starts with an empty queue
                    if not client.get(job.job_id).terminal:
                        with contextlib.suppress(FailedPrecondition):  # it ended meanwhile
                            client.cancel(job.job_id)
                    client.wait(job.job_id)
            one = client.submit(heavy, target="sim:aer", shots=100, seed=1).result(timeout=600)
            figures["busy_job_execute_s"] = one.timings.get("execute_s", float("nan"))
    alone = figures["alone_s"]
    print(
        f"[sessions] {iterations} iterations alone {alone:.2f} s; behind {busy} jobs "
        f"(each ~{figures['busy_job_execute_s'] * 1e3:.0f} ms): without a session "
        f"{figures['without_session_s']:.2f} s ({figures['without_session_s'] / alone:.1f}x), "
        f"with one {figures['with_session_s']:.2f} s ({figures['with_session_s'] / alone:.1f}x)"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000, help="tenant A's backlog")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slots", type=int, default=2, help="workers (device slots of the fast device)")
    parser.add_argument("--backlog", type=int, default=20, help="the slow device's backlog")
    parser.add_argument(
        "--dispatches", nargs="*", default=["memory", "postgres"], choices=["memory", "postgres"]
    )
    parser.add_argument("--sessions", action="store_true", help="also the session figure (a real server)")
    parser.add_argument("--iterations", type=int, default=20, help="the session figure's loop")
    parser.add_argument("--busy", type=int, default=60, help="the session figure's backlog")
    parser.add_argument("--busy-qubits", type=int, default=17, help="the width of the backlog's circuits")
    parser.add_argument(
        "--driver-processes",
        type=int,
        default=3,
        help="the server's driver processes (2 workers + the lane: 3)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "scheduling.json")
    args = parser.parse_args()
    devices = {FAST: Device(10, 8), SLOW: Device(18, 10)}
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "order": {"aging_step_s": FairOrder().aging_step_s, "cost_s": FairOrder().cost_s},
    }
    spawn = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        slots = [stack.enter_context(ProcessPoolExecutor(1, mp_context=spawn)) for _ in range(args.slots)]
        for name in args.dispatches:
            if name == "memory":
                results[name] = measure(name, memory_nodes, args, devices, slots)
            else:
                with postgres_nodes() as opener:
                    results[name] = measure(f"{name}, 2 nodes", opener, args, devices, slots)
    if args.sessions:
        results["sessions"] = session_figures(
            args.iterations, args.busy, args.busy_qubits, args.driver_processes
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
