"""What one small job costs the server, counted: store statements and transactions,
artifact writes, context switches, and CPU time next to qiskit-aer's own.

Counts do not depend on how busy the machine is, so they show a change in work per job
where the timings of ``small_jobs.py`` drown in the noise of a shared VM. A job is the
Bell pair of ``examples/bell-qasm3`` (1000 shots): SubmitJob -> WatchJob to the terminal
event -> GetJobResults over real gRPC against an embedded server in this process (the
counters hook SQLAlchemy and the artifact store), one job at a time.

    .venv/bin/python benchmarks/job_costs.py              # ~20 s
    .venv/bin/python benchmarks/job_costs.py --jobs 500
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python benchmarks/job_costs.py   # A/B
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import sqlalchemy as sa

from eigen.jobfile import load_job_file
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parent.parent
BELL_JOB = ROOT / "examples" / "bell-qasm3" / "job.yaml"
RESULTS = Path(__file__).resolve().parent / "results"
SHOTS = 1000


class Counters:
    """Store statements (by SQL verb), commits, artifact writes and the batches they
    went out in, from every thread."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._statement)
        sa.event.listen(sa.engine.Engine, "commit", self._commit)
        # put_many since 2026-12-02; put alone before (an older checkout through PYTHONPATH)
        batched = hasattr(ArtifactStore, "put_many")
        name = "put_many" if batched else "put"
        original = getattr(ArtifactStore, name)

        def put(store: ArtifactStore, *args: Any) -> Any:
            self._add("artifact_batches")
            for _ in args[0] if batched else [args]:
                self._add("artifact_writes")
            return original(store, *args)

        setattr(ArtifactStore, name, put)

    def _add(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self._add("sql_statements")
        self._add(f"sql_{statement.split(None, 1)[0].lower()}")

    def _commit(self, _conn: Any) -> None:
        self._add("transactions")


def context_switches() -> int:
    """Voluntary and involuntary context switches of every thread of this process (Linux)."""
    total = 0
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/status") as status:
            total += sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
    return total


def aer_ms_per_job(runs: int) -> float:
    """CPU ms of one pre-transpiled Bell run on qiskit-aer, in this process (the floor)."""
    from qiskit import qasm3, transpile
    from qiskit_aer import AerSimulator

    backend = AerSimulator()
    circuit = transpile(qasm3.loads((BELL_JOB.parent / "bell.qasm").read_text()), backend)
    backend.run(circuit, shots=SHOTS).result()
    started = time.process_time()
    for _ in range(runs):
        backend.run(circuit, shots=SHOTS).result()
    return 1000.0 * (time.process_time() - started) / runs


def run_jobs(stub: jobs_pb2_grpc.JobServiceStub, request: jobs_pb2.SubmitJobRequest, count: int) -> None:
    for _ in range(count):
        job_id = stub.SubmitJob(request).job.id
        for event in stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id)):
            if event.terminal:
                break
        results = stub.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=job_id))
        if sum(results.experiments[0].counts.values()) != SHOTS:
            raise RuntimeError(f"job {job_id}: unexpected counts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300, help="measured jobs (after 20 warm-up jobs)")
    parser.add_argument("--out", type=Path, default=RESULTS / "job_costs.json")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if not sys.platform.startswith("linux"):
        parser.error("context switches are read from /proc: Linux only")

    request = jobs_pb2.SubmitJobRequest(job=convert.request_to_pb(load_job_file(BELL_JOB)))
    request.job.shots = SHOTS
    counters = Counters()
    aer_before = aer_ms_per_job(200)
    with (
        tempfile.TemporaryDirectory() as data_dir,
        EmbeddedServer(data_dir=Path(data_dir)) as server,
        grpc.insecure_channel(server.address) as channel,
    ):
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        run_jobs(stub, request, 20)
        counters.counts.clear()
        switches, cpu, wall = context_switches(), time.process_time(), time.perf_counter()
        run_jobs(stub, request, args.jobs)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        switches = context_switches() - switches
    aer = statistics.fmean([aer_before, aer_ms_per_job(200)])

    per_job: dict[str, float] = {k: v / args.jobs for k, v in sorted(counters.counts.items())}
    per_job["context_switches"] = switches / args.jobs
    cpu_ms = 1000.0 * cpu / args.jobs
    report = {
        "benchmark": "job_costs",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "jobs": args.jobs,
        "per_job": {k: round(v, 2) for k, v in per_job.items()},
        "cpu_ms_per_job": round(cpu_ms, 3),
        "wall_ms_per_job": round(1000.0 * wall / args.jobs, 3),
        "aer_cpu_ms_per_run": round(aer, 3),
        "cpu_x_aer": round(cpu_ms / aer, 2),
        "note": "CPU is the whole process: server and the one synchronous client together",
    }
    for key, value in report["per_job"].items():  # type: ignore[union-attr]
        print(f"{key:>20}: {value:8.2f} per job")
    print(f"{'CPU':>20}: {cpu_ms:8.2f} ms per job (server + client), {cpu_ms / aer:.1f}x one aer run")
    print(f"{'aer run':>20}: {aer:8.2f} ms CPU (in process, pre-transpiled)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
