"""A deep queue: 100,000 jobs queued by SubmitBatch, then the API's latency while it drains.

Issue 18, section 4: enqueue p99, GetJob and ListJobs p99 at that depth, the server's
memory (it must stay bounded), and the drain rate. The goal is p99 under 20 ms for GetJob
and SubmitJob while the queue drains.

The server is a real ``eigen-server serve`` process (``small_jobs.eigen_server``: free
loopback port, temporary data folder, stopped at the end) with a queue large enough for
the whole backlog. Jobs are the Bell pair of ``examples/bell-qasm3`` with ``--shots``
shots. The run has two phases:

1. **fill**: ``--jobs`` jobs in SubmitBatch calls of ``--batch`` jobs, one call at a
   time; each call's latency is recorded (its p99 is the enqueue p99) and, meanwhile, the
   probe below runs too (the queue already drains while it fills);
2. **drain**: for ``--drain-s`` seconds (or until the queue is empty), a probe calls, in
   turn, GetJob of a random queued job, ListJobs (first page of 50, newest first) and
   SubmitJob of one more Bell job, every ``--probe-interval-ms`` (the probe runs in both
   phases). How much of the backlog is left is the server's queue depth (GetBackend), read
   every second.

The server's resident memory (main process and its children, ``/proc/<pid>/status``
VmRSS) is sampled every second in both phases. The baseline, in the same run, is the same
probe against the same server before any job is queued (an empty queue): the report
gives each p99 at depth beside the empty-queue p99 and their ratio.

    .venv/bin/python benchmarks/queue_depth.py                  # 100,000 jobs, ~5-10 min
    .venv/bin/python benchmarks/queue_depth.py --jobs 20000 --drain-s 60
    .venv/bin/python benchmarks/queue_depth.py --store postgres    # the cluster's queue
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from small_jobs import (
    BELL_JOB,
    RESULTS,
    ROOT,
    child_pids,
    eigen_server,
    git_state,
    percentile,
    server_cpu_s,
    versions,
)

from eigen.jobfile import load_job_file
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc

sys.path.insert(0, str(ROOT))  # the tests' fresh PostgreSQL database
from tests.unit.store.postgres import fresh_database

GOAL_P99_MS = 20.0


@dataclass
class Series:
    """Latencies of one call (ms), with the phase each was taken in."""

    ms: dict[str, list[float]] = field(default_factory=dict)

    def add(self, phase: str, ms: float) -> None:
        self.ms.setdefault(phase, []).append(ms)

    def summary(self) -> dict[str, Any]:
        return {
            phase: {
                "count": len(values),
                "p50_ms": round(percentile(values, 50), 2),
                "p99_ms": round(percentile(values, 99), 2),
                "max_ms": round(max(values), 2),
            }
            for phase, values in self.ms.items()
            if values
        }


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children (MiB), from /proc."""
    total_kib = 0
    for each in (pid, *child_pids(pid)):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def bell_request(shots: int) -> jobs_pb2.JobRequest:
    request = convert.request_to_pb(load_job_file(BELL_JOB))
    request.shots = shots
    return request


class Probe:
    """GetJob, ListJobs and SubmitJob in turn, each latency recorded under the phase."""

    def __init__(self, stub: jobs_pb2_grpc.JobServiceStub, job: jobs_pb2.JobRequest) -> None:
        self.stub = stub
        self.job = job
        self.known: list[str] = []  # job ids to GetJob
        self.calls = {"GetJob": Series(), "ListJobs": Series(), "SubmitJob": Series()}
        self.done_seen = 0
        self.phase = "empty"
        self.errors: dict[str, int] = {}

    async def once(self) -> None:
        for name in ("GetJob", "ListJobs", "SubmitJob"):
            started = time.perf_counter()
            try:
                if name == "GetJob":
                    if not self.known:
                        continue
                    job = await self.stub.GetJob(jobs_pb2.GetJobRequest(job_id=random.choice(self.known)))
                    self.done_seen += job.state == common_pb2.JOB_STATE_DONE
                elif name == "ListJobs":
                    await self.stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=50))
                else:
                    reply = await self.stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=self.job))
                    self.known.append(reply.job.id)
            except grpc.aio.AioRpcError as exc:
                key = f"{name}:{exc.code().name}"
                self.errors[key] = self.errors.get(key, 0) + 1
                continue
            self.calls[name].add(self.phase, (time.perf_counter() - started) * 1000)

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)


async def depth_of(stub: jobs_pb2_grpc.BackendServiceStub, target: str) -> int:
    """The server's queue depth (jobs waiting to compile or run), by one GetBackend call:
    a sample of GetJob calls fired together would queue the probe's calls behind them and
    measure the sampler, not the server."""
    return int((await stub.GetBackend(jobs_pb2.GetBackendRequest(name=target))).queue_depth)


async def measure(address: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    job = bell_request(args.shots)
    memory: list[tuple[float, str, float]] = []
    async with grpc.aio.insecure_channel(
        address, options=[("grpc.max_send_message_length", 256 * 1024 * 1024)]
    ) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        backends = jobs_pb2_grpc.BackendServiceStub(channel)
        probe = Probe(stub, job)
        interval = args.probe_interval_ms / 1000

        async def sample_memory(stop: asyncio.Event) -> None:
            while not stop.is_set():
                memory.append((time.time(), probe.phase, rss_mib(pid)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_memory(stop))
        # baseline: the empty queue
        for _ in range(args.baseline_calls):
            await probe.once()
            await asyncio.sleep(interval)
        # fill
        probe.phase = "fill"
        prober = asyncio.create_task(probe.run(interval, stop))
        enqueue = Series()
        queued: list[str] = []
        fill_started = time.perf_counter()
        cpu_before = server_cpu_s(pid)
        refused = 0
        while len(queued) < args.jobs:
            count = min(args.batch, args.jobs - len(queued))
            started = time.perf_counter()
            try:
                reply = await stub.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=[job] * count))
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    refused += 1
                    await asyncio.sleep(0.5)
                    continue
                raise
            enqueue.add("fill", (time.perf_counter() - started) * 1000)
            queued.extend(reply.job_ids)
            probe.known.append(reply.job_ids[-1])
        fill_s = time.perf_counter() - fill_started
        # drain
        probe.phase = "drain"
        left_start = await depth_of(backends, job.target)
        cpu_drain = server_cpu_s(pid)
        drain_started = time.perf_counter()
        left = left_start
        while time.perf_counter() - drain_started < args.drain_s and left > 0:
            await asyncio.sleep(min(1.0, args.drain_s))
            left = await depth_of(backends, job.target)
        drain_s = time.perf_counter() - drain_started
        stop.set()
        await prober
        await sampler
        cpu_after = server_cpu_s(pid)
    report_memory = {
        phase: round(max((m for _, p, m in memory if p == phase), default=0.0), 1)
        for phase in ("empty", "fill", "drain")
    }
    return {
        "jobs": args.jobs,
        "batch": args.batch,
        "fill_s": round(fill_s, 2),
        "enqueue_jobs_per_s": round(args.jobs / fill_s, 1),
        "enqueue": enqueue.summary(),
        "batches_refused_queue_full": refused,
        "calls": {name: series.summary() for name, series in probe.calls.items()},
        "probe_errors": probe.errors,
        "queued_at_drain_start": left_start,
        "queued_at_end": left,
        "drain_s": round(drain_s, 1),
        "drain_jobs_per_s": round((left_start - left) / drain_s, 1) if drain_s else None,
        "server_rss_mib_max": report_memory,
        "server_cpu_s": {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_after}
        if cpu_before and cpu_after
        else None,
        # the drain's CPU over the jobs it ended (the probe's few submissions aside)
        "drain_cpu_ms_per_job": round(
            sum(cpu_after[k] - cpu_drain[k] for k in cpu_after) * 1000 / max(left_start - left, 1), 2
        )
        if cpu_drain and cpu_after
        else None,
    }


def print_report(report: dict[str, Any]) -> None:
    print(f"\nqueue depth ({report['store']}): {report['jobs']:,} jobs by SubmitBatch of {report['batch']}")
    print(f"  fill {report['fill_s']} s ({report['enqueue_jobs_per_s']:,} jobs/s enqueued)")
    fill = report["enqueue"].get("fill", {})
    print(f"  SubmitBatch p50 {fill.get('p50_ms')} ms, p99 {fill.get('p99_ms')} ms")
    print(f"  {'call':10} {'phase':6} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  vs empty p99")
    for name, phases in report["calls"].items():
        empty = phases.get("empty", {}).get("p99_ms")
        for phase, row in phases.items():
            ratio = f"{row['p99_ms'] / empty:.1f}x" if empty and phase != "empty" else ""
            goal = ""
            if phase == "drain" and name in ("GetJob", "SubmitJob"):
                goal = "PASS" if row["p99_ms"] < GOAL_P99_MS else "FAIL"
            print(
                f"  {name:10} {phase:6} {row['count']:>6} {row['p50_ms']:>8} {row['p99_ms']:>8} "
                f"{row['max_ms']:>8}  {ratio} {goal}"
            )
    print(f"  queued: {report['queued_at_drain_start']:,} -> {report['queued_at_end']:,}")
    print(f"  drain {report['drain_jobs_per_s']} jobs/s over {report['drain_s']} s")
    print(f"  server CPU while draining: {report['drain_cpu_ms_per_job']} ms per job")
    print(f"  server RSS max (MiB) by phase: {report['server_rss_mib_max']}")
    if report["probe_errors"]:
        print(f"  probe errors: {report['probe_errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--drain-s", type=float, default=120.0)
    parser.add_argument("--probe-interval-ms", type=float, default=20.0)
    parser.add_argument("--baseline-calls", type=int, default=100)
    parser.add_argument("--start-timeout", type=float, default=120.0)
    parser.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the server's store: its SQLite file (memory dispatch) or a new PostgreSQL "
        "database on 127.0.0.1:5432 (the cluster's job queue, one kernel)",
    )
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--out", type=Path, default=RESULTS / "queue_depth.json")
    args = parser.parse_args()
    env = {"EIGEN_QUEUE_CAPACITY": str(args.jobs + 10_000)}
    with contextlib.ExitStack() as stack:
        if args.store == "postgres":  # a new database: the cluster's store and job queue
            env["EIGEN_DATABASE_URL"] = stack.enter_context(fresh_database())
        address, pid, startup = stack.enter_context(eigen_server(args.log_level, args.start_timeout, env=env))
        report = asyncio.run(measure(address, pid, args))
    report = {
        "benchmark": "queue_depth",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server_startup_s": round(startup, 2),
        "store": args.store,
        "goal_p99_ms": GOAL_P99_MS,
        **report,
        "git": git_state(),
        "versions": versions(),
    }
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
