"""Small-job throughput on one process and on a cluster of one and two kernels, in one run.

Issue 18, section 4. Three topologies, each measured with the same load (the ``watch``
flow of ``small_jobs.py``: SubmitJob, WatchJob to the end, GetJobResults; Bell, 1000
shots; ``--clients`` concurrent clients for ``--rounds`` rounds of ``--duration`` s after
a warm-up):

- ``single``: today's ``eigen-server serve`` (every role in one process, SQLite, the
  in-memory dispatch) — the baseline;
- ``cluster-1``: one api node and one kernel node (``--role kernel,compiler,driver-manager``)
  on a fresh PostgreSQL database with ``dispatch: postgres``;
- ``cluster-2``: the same with two kernel nodes behind the api node (``kernel_addresses``).

For each: jobs/s, latency p50/p99, CPU per job of each node process (with its children)
and of PostgreSQL's server processes, and PostgreSQL's transactions and rows written per
job (``pg_stat_database``; statement counts need ``pg_stat_statements`` preloaded, which
this machine's server does not). From the CPU per job it derives a model of 3 nodes of N
cores: ``3 N / (CPU seconds per job, every process)`` jobs/s if the work spreads evenly
over the nodes (PostgreSQL's share reported apart, as it usually runs on its own host).
The roadmap's target is 1,000 jobs/s on 3 nodes.

    .venv/bin/python benchmarks/cluster_scale.py                       # ~4-6 min
    .venv/bin/python benchmarks/cluster_scale.py --topologies single cluster-1 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import sqlalchemy as sa
from small_jobs import (
    BELL_JOB,
    RESULTS,
    ROOT,
    child_pids,
    eigen_server,
    git_state,
    percentile,
    process_cpu_s,
    run_round,
    versions,
)

from eigen.jobfile import load_job_file
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc

sys.path.insert(0, str(ROOT))  # the cluster harness of the drills
from tests.integration.cluster import Cluster
from tests.unit.store.postgres import fresh_database

TOPOLOGIES = ("single", "cluster-1", "cluster-2")
TARGET_JOBS_PER_S = 1000.0
MODEL_CORES = (2, 8, 16, 32)


@dataclass
class Topology:
    name: str
    address: str
    processes: dict[str, int]  # node name -> pid
    database_url: str | None = None


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (Linux /proc)."""
    return sum(process_cpu_s(p) or 0.0 for p in (pid, *child_pids(pid)))


def postgres_cpu_s() -> float:
    """CPU seconds of every PostgreSQL server process on this machine."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += process_cpu_s(int(entry.name)) or 0.0
    return total


def database_counters(url: str | None) -> dict[str, int]:
    if url is None:
        return {}
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.text(
                    "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted,"
                    " tup_fetched FROM pg_stat_database WHERE datname = current_database()"
                )
            ).one()
        return dict(row._mapping)
    finally:
        engine.dispose()


@contextlib.contextmanager
def topology(name: str, args: argparse.Namespace) -> Iterator[Topology]:
    if name == "single":
        with eigen_server("warning", args.start_timeout) as (address, pid, _):
            yield Topology(name, address, {"all": pid})
        return
    kernels = int(name.split("-")[1])
    folder = Path(tempfile.mkdtemp(prefix="eigen-cluster-"))
    try:
        with fresh_database() as url:
            cluster = Cluster(folder, url)
            try:
                nodes = [cluster.kernel(f"kernel-{i + 1}") for i in range(kernels)]
                api = cluster.api("api-1", nodes)
                processes = {node.name: node.pid for node in [*nodes, api]}
                yield Topology(name, api.address, processes, url)
            finally:
                cluster.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def measure(place: Topology, args: argparse.Namespace) -> dict[str, Any]:
    request = jobs_pb2.SubmitJobRequest(job=convert.request_to_pb(load_job_file(BELL_JOB)))
    rounds = []
    async with grpc.aio.insecure_channel(place.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        await run_round(stub, request, "watch", args.clients, args.warmup, args.max_jobs, False)
        for _ in range(args.rounds):
            cpu = {node: tree_cpu_s(pid) for node, pid in place.processes.items()}
            pg_cpu = postgres_cpu_s()
            counters = database_counters(place.database_url)
            done = await run_round(stub, request, "watch", args.clients, args.duration, args.max_jobs, True)
            after = database_counters(place.database_url)
            rounds.append(
                {
                    "jobs": done.jobs,
                    "errors": done.errors,
                    "first_error": done.first_error,
                    "seconds": done.seconds,
                    "latencies_s": done.latencies_s,
                    "cpu_s": {node: tree_cpu_s(pid) - cpu[node] for node, pid in place.processes.items()},
                    "postgres_cpu_s": postgres_cpu_s() - pg_cpu,
                    "database": {key: after[key] - counters[key] for key in after},
                }
            )
            print(
                f"  {place.name}: {done.jobs} jobs in {done.seconds:.1f} s, {done.errors} errors", flush=True
            )
    return summarise(place, rounds)


def summarise(place: Topology, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    jobs = sum(r["jobs"] for r in rounds)
    latencies = [x for r in rounds for x in r["latencies_s"]]
    per_job = (lambda value: value / jobs) if jobs else (lambda value: float("nan"))
    node_cpu = {node: per_job(sum(r["cpu_s"][node] for r in rounds)) * 1000 for node in place.processes}
    postgres_ms = per_job(sum(r["postgres_cpu_s"] for r in rounds)) * 1000 if place.database_url else 0.0
    figures: dict[str, Any] = {
        "topology": place.name,
        "jobs": jobs,
        "errors": sum(r["errors"] for r in rounds),
        "first_error": next((r["first_error"] for r in rounds if r["first_error"]), ""),
        "jobs_per_s_each": [round(r["jobs"] / r["seconds"], 1) for r in rounds],
        "jobs_per_s_median": statistics.median(r["jobs"] / r["seconds"] for r in rounds),
        "latency_ms": {
            "p50": 1000 * percentile(latencies, 50),
            "p99": 1000 * percentile(latencies, 99),
        }
        if latencies
        else None,
        "cpu_ms_per_job": {
            **{k: round(v, 2) for k, v in node_cpu.items()},
            "postgres": round(postgres_ms, 2),
        },
    }
    if place.database_url and jobs:
        keys = rounds[0]["database"].keys()
        figures["database_per_job"] = {
            k: round(sum(r["database"][k] for r in rounds) / jobs, 2) for k in keys
        }
    nodes_ms = sum(node_cpu.values())
    figures["model_3_nodes_jobs_per_s"] = {
        f"{cores} cores": round(3 * cores * 1000 / nodes_ms, 0) if nodes_ms else None for cores in MODEL_CORES
    }
    figures["model_note"] = (
        "3 nodes x N cores / CPU per job of the api and kernel processes; PostgreSQL "
        f"({postgres_ms:.2f} ms per job) on its own host"
    )
    return figures


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{'topology':10} {'jobs/s':>8} {'p50 ms':>8} {'p99 ms':>8}  CPU ms per job (node: ms)")
    baseline = None
    for row in report["topologies"]:
        rate = row["jobs_per_s_median"]
        baseline = baseline or rate
        latency = row["latency_ms"] or {}
        cpu = ", ".join(f"{k}: {v}" for k, v in row["cpu_ms_per_job"].items())
        print(
            f"{row['topology']:10} {rate:>8.1f} {latency.get('p50', 0):>8.1f} {latency.get('p99', 0):>8.1f}"
            f"  {cpu}  ({rate / baseline:.2f}x single)"
        )
        if "database_per_job" in row:
            print(f"{'':10} database per job: {row['database_per_job']}")
        print(
            f"{'':10} model, 3 nodes: {row['model_3_nodes_jobs_per_s']} jobs/s (target {TARGET_JOBS_PER_S:g})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--topologies", nargs="+", choices=TOPOLOGIES, default=list(TOPOLOGIES))
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-jobs", type=int, default=20_000)
    parser.add_argument("--start-timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "cluster_scale.json")
    args = parser.parse_args()
    found = []
    for name in args.topologies:
        print(f"{name}:", flush=True)
        with topology(name, args) as place:
            found.append(asyncio.run(measure(place, args)))
    report = {
        "benchmark": "cluster_scale",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "clients": args.clients,
        "topologies": found,
        "git": git_state(),
        "versions": versions(),
    }
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
