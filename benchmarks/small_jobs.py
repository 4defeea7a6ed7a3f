"""Small jobs through the public gRPC API: jobs/s and submit-to-result latency.

A job is the Bell pair of ``examples/bell-qasm3`` (OpenQASM 3, 1000 shots), run over
``grpc.aio`` with the raw stubs of ``eigen.proto.api.v1`` in one of two flows:

- ``watch``: SubmitJob -> WatchJob (after the event the SubmitJob answer showed, as the
  SDK's futures resume) until the terminal event -> GetJobResults (a client that shows
  progress);
- ``wait``: SubmitJob -> GetJobResults with ``wait_seconds`` (the long poll: a client that
  wants the results and no progress; ``Client.results(job_id, wait=...)`` in the SDK).

Each client is a coroutine running jobs back to back; we measure each flow with 1 client
and with 32 clients, after a warm-up, for a fixed time per round (and at most
``--max-jobs`` jobs per round).

By default the server is a real ``eigen-server serve`` subprocess on a free loopback port
with a temporary data folder, stopped at the end (it also dies with this process on
Linux); ``--endpoint`` targets a running server instead.

Baseline, in this run and this process: qiskit-aer ``AerSimulator().run(bell, shots=1000)
.result().get_counts()`` on a pre-transpiled circuit, median jobs/s of repeated timings.

Bars (issue "foundation", section 7): >= 200 jobs/s with 32 clients, p50 <= 15 ms with
1 client, for each flow. Reported as pass/fail, never asserted.

    .venv/bin/python benchmarks/small_jobs.py            # ~1 minute
    .venv/bin/python benchmarks/small_jobs.py --endpoint 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import fs_probe
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eigen.jobfile import load_job_file
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
BELL_JOB = ROOT / "examples" / "bell-qasm3" / "job.yaml"
RESULTS = Path(__file__).resolve().parent / "results"
SHOTS = 1000
BAR_JOBS_PER_S_32 = 200.0
BAR_P50_MS_1 = 15.0


# -- the server under test -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the benchmark process dies (Linux only)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def server_command(port: int, data_dir: Path, log_level: str) -> list[str]:
    script = Path(sys.executable).parent / "eigen-server"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "eigen.server"]
    return [*base, "serve", "--port", str(port), "--data-dir", str(data_dir), "--log-level", log_level]


def wait_serving(address: str, timeout: float, proc: subprocess.Popen[bytes] | None) -> float:
    """Poll gRPC health until SERVING; returns the seconds it took."""
    started = time.perf_counter()
    deadline = started + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.perf_counter() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"eigen-server exited early with code {proc.returncode}")
            with contextlib.suppress(grpc.RpcError):
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.perf_counter() - started
            time.sleep(0.1)
    raise TimeoutError(f"no SERVING from {address} within {timeout:g} s")


@contextlib.contextmanager
def eigen_server(
    log_level: str, start_timeout: float, env: dict[str, str] | None = None, parent: Path | None = None
) -> Iterator[tuple[str, int, float]]:
    """A real ``eigen-server`` process with a data folder under ``parent`` (default: the
    system's temporary folder); yields (address, pid, start-up seconds)."""
    data_dir = Path(tempfile.mkdtemp(prefix="eigen-bench-", dir=parent))
    port = free_port()
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            server_command(port, data_dir, log_level),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    address = f"127.0.0.1:{port}"
    try:
        startup = wait_serving(address, start_timeout, proc)
        yield address, proc.pid, startup
    except BaseException:
        with contextlib.suppress(OSError):
            sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
        raise
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        shutil.rmtree(data_dir, ignore_errors=True)


#: The server's processes, by what their command line contains.
SERVER_PARTS = (("writer", "eigen.kernel.qfs.writer"), ("drivers", "multiprocessing"))
PARTS = ("main", *(name for name, _ in SERVER_PARTS), "other")


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a process, all its threads (Linux /proc; None elsewhere)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_s(pid: int | None) -> dict[str, float] | None:
    """CPU seconds of the server's main process ("main") and of the processes it started
    while they run: its artifact writer ("writer"), its driver processes ("drivers", with
    multiprocessing's helper) and anything else ("other")."""
    main = process_cpu_s(pid)
    if pid is None or main is None:
        return None
    parts = dict.fromkeys(PARTS, 0.0) | {"main": main}
    for child in child_pids(pid):
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            part = next((name for name, mark in SERVER_PARTS if mark in command), "other")
            parts[part] += process_cpu_s(child) or 0.0
    return parts


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def machine_cpu_s() -> dict[str, float] | None:
    """The whole machine's CPU seconds since boot, all cores: ``busy`` (user, nice, system,
    irq, softirq), ``idle`` (with iowait) and ``steal`` (time the hypervisor gave another
    guest while this one wanted to run). Linux ``/proc/stat``; None elsewhere."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = ticks
    hz = os.sysconf("SC_CLK_TCK")
    return {
        "busy": (user + nice + system + irq + softirq) / hz,
        "idle": (idle + iowait) / hz,
        "steal": steal / hz,
    }


# -- the load generator ---------------------------------------------------------------------
FLOWS = ("watch", "wait")
WAIT_S = 60.0  # GetJobResults' wait in the wait flow


@dataclass
class Round:
    clients: int
    flow: str = "watch"
    jobs: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    server_timings: dict[str, list[float]] = field(default_factory=dict)
    stages: dict[str, list[float]] = field(default_factory=dict)
    first_error: str = ""
    server_cpu_s: dict[str, float] | None = None  # by part (see server_cpu_s())
    client_cpu_s: float = 0.0
    machine_cpu_s: dict[str, float] | None = None  # busy, idle, steal (see machine_cpu_s())

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else 0.0


#: Where a job's time goes: client-side RPC times and the gaps between the server's
#: state events (server timestamps; meaningful when client and server share a clock).
STAGES = (
    "submit_rpc",
    "pending",
    "compiling",
    "queued",
    "running",
    "done_to_client",
    "results_rpc",
    "results_wait_rpc",
)
_STAGE_EDGES = (
    ("pending", common_pb2.JOB_STATE_PENDING, common_pb2.JOB_STATE_COMPILING),
    ("compiling", common_pb2.JOB_STATE_COMPILING, common_pb2.JOB_STATE_QUEUED),
    ("queued", common_pb2.JOB_STATE_QUEUED, common_pb2.JOB_STATE_RUNNING),
    ("running", common_pb2.JOB_STATE_RUNNING, common_pb2.JOB_STATE_DONE),
)


async def one_job(
    stub: jobs_pb2_grpc.JobServiceStub, request: jobs_pb2.SubmitJobRequest, flow: str
) -> tuple[common_pb2.JobResults, dict[str, float]]:
    """Run one job to its results; returns them and the seconds spent in each stage."""
    stages: dict[str, float] = {}
    if request.idempotency_key:  # --keyed: a key of its own per submission, as the SDK sends
        request = jobs_pb2.SubmitJobRequest(job=request.job, idempotency_key=uuid.uuid4().hex)
    begun = time.time()
    submitted = await stub.SubmitJob(request)
    stages["submit_rpc"] = time.time() - begun
    job_id = submitted.job.id
    if flow == "wait":
        asked = time.time()
        wait = jobs_pb2.GetJobResultsRequest(job_id=job_id, wait_seconds=WAIT_S)
        results = await stub.GetJobResults(wait)
        stages["results_wait_rpc"] = time.time() - asked
        check_counts(job_id, results)
        return results, stages
    # The SubmitJob answer is the job as PENDING (event 1, stamped at created_at); the watch
    # resumes after it, as the SDK's futures do: four stream messages.
    seen: dict[int, float] = {submitted.job.state: submitted.job.created_at.ToNanoseconds() / 1e9}
    watch = stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id, after_seq=submitted.job.last_event_seq))
    state = common_pb2.JOB_STATE_UNSPECIFIED
    try:
        async for event in watch:
            seen.setdefault(event.state, event.timestamp.ToNanoseconds() / 1e9)
            if event.terminal:
                state = event.state
                stages["done_to_client"] = time.time() - seen[event.state]
                break
    finally:
        watch.cancel()
    if state != common_pb2.JOB_STATE_DONE:
        raise RuntimeError(f"job {job_id} ended in {common_pb2.JobState.Name(state)}")
    asked = time.time()
    results = await stub.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=job_id))
    stages["results_rpc"] = time.time() - asked
    check_counts(job_id, results)
    for name, start, end in _STAGE_EDGES:
        if start in seen and end in seen:
            stages[name] = seen[end] - seen[start]
    return results, stages


def check_counts(job_id: str, results: common_pb2.JobResults) -> None:
    counts = results.experiments[0].counts if results.experiments else {}
    if sum(counts.values()) != SHOTS or not set(counts) <= {"00", "11"}:
        raise RuntimeError(f"job {job_id}: unexpected counts {dict(counts)}")


async def client_loop(
    stub: jobs_pb2_grpc.JobServiceStub,
    request: jobs_pb2.SubmitJobRequest,
    flow: str,
    stop_at: float,
    budget: list[int],
    into: Round | None,
) -> None:
    while time.perf_counter() < stop_at and budget[0] > 0:
        budget[0] -= 1
        started = time.perf_counter()
        try:
            results, stages = await one_job(stub, request, flow)
        except (grpc.RpcError, RuntimeError) as exc:
            if into is not None:
                into.errors += 1
                into.first_error = into.first_error or f"{type(exc).__name__}: {exc}"
            continue
        if into is not None:
            into.latencies_s.append(time.perf_counter() - started)
            into.jobs += 1
            for key, value in results.timings.items():
                into.server_timings.setdefault(key, []).append(value)
            for key, value in stages.items():
                into.stages.setdefault(key, []).append(value)


async def run_round(
    stub: jobs_pb2_grpc.JobServiceStub,
    request: jobs_pb2.SubmitJobRequest,
    flow: str,
    clients: int,
    seconds: float,
    max_jobs: int,
    measure: bool,
    server_pid: int | None = None,
) -> Round:
    result = Round(clients, flow)
    budget = [max_jobs]
    server_cpu = server_cpu_s(server_pid)
    client_cpu = own_cpu_s()
    machine_cpu = machine_cpu_s()
    started = time.perf_counter()
    stop_at = started + seconds
    loops = [
        client_loop(stub, request, flow, stop_at, budget, result if measure else None) for _ in range(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*loops), timeout=seconds + 60)
    result.seconds = time.perf_counter() - started  # until the last job in flight finished
    result.client_cpu_s = own_cpu_s() - client_cpu
    machine_after = machine_cpu_s()
    if machine_cpu is not None and machine_after is not None:
        result.machine_cpu_s = {kind: machine_after[kind] - machine_cpu[kind] for kind in machine_after}
    server_after = server_cpu_s(server_pid)
    if server_cpu is not None and server_after is not None:
        result.server_cpu_s = {part: server_after[part] - server_cpu[part] for part in server_after}
    return result


async def measure_api(
    address: str, request: jobs_pb2.SubmitJobRequest, args: argparse.Namespace, server_pid: int | None
) -> dict[tuple[str, int], list[Round]]:
    rounds: dict[tuple[str, int], list[Round]] = {}
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        for flow in args.flows:
            for clients in args.clients:
                await run_round(stub, request, flow, clients, args.warmup, args.max_jobs, False)
                level = rounds[flow, clients] = []
                for _ in range(args.rounds):
                    done = await run_round(
                        stub, request, flow, clients, args.duration, args.max_jobs, True, server_pid
                    )
                    level.append(done)
                    print(
                        f"  {flow}, {clients:>3} client(s): {done.jobs} jobs in {done.seconds:.2f} s "
                        f"= {done.jobs_per_s:.1f} jobs/s, {done.errors} errors",
                        flush=True,
                    )
    return rounds


# -- the baseline ---------------------------------------------------------------------------
def aer_baseline(repeats: int, per_timing: int) -> dict[str, Any]:
    from qiskit import qasm3, transpile
    from qiskit_aer import AerSimulator

    source = (BELL_JOB.parent / "bell.qasm").read_text()
    backend = AerSimulator()
    circuit = transpile(qasm3.loads(source), backend)
    for _ in range(max(3, per_timing // 10)):  # warm-up
        backend.run(circuit, shots=SHOTS).result().get_counts()
    rates: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(per_timing):
            counts = backend.run(circuit, shots=SHOTS).result().get_counts()
        rates.append(per_timing / (time.perf_counter() - started))
        if sum(counts.values()) != SHOTS:
            raise RuntimeError(f"aer baseline: unexpected counts {counts}")
    median = statistics.median(rates)
    return {
        "what": "AerSimulator().run(pre-transpiled bell, shots=1000).result().get_counts(), one process",
        "repeats": repeats,
        "jobs_per_timing": per_timing,
        "jobs_per_s_each": [round(r, 1) for r in rates],
        "jobs_per_s_median": median,
        "ms_per_job_median": 1000.0 / median,
    }


# -- figures --------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100.0 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarise(rounds: list[Round]) -> dict[str, Any]:
    latencies = [x for r in rounds for x in r.latencies_s]
    rates = [r.jobs_per_s for r in rounds]
    timings: dict[str, list[float]] = {}
    stages: dict[str, list[float]] = {}
    for r in rounds:
        for key, values in r.server_timings.items():
            timings.setdefault(key, []).extend(values)
        for key, values in r.stages.items():
            stages.setdefault(key, []).extend(values)
    figures: dict[str, Any] = {
        "flow": rounds[0].flow,
        "clients": rounds[0].clients,
        "rounds": len(rounds),
        "jobs": sum(r.jobs for r in rounds),
        "errors": sum(r.errors for r in rounds),
        "first_error": next((r.first_error for r in rounds if r.first_error), ""),
        "jobs_per_s_each": [round(x, 1) for x in rates],
        "jobs_per_s_median": statistics.median(rates),
        "server_timings_ms_median": {k: 1000.0 * statistics.median(v) for k, v in sorted(timings.items())},
        "stages_ms_median": {k: 1000.0 * statistics.median(stages[k]) for k in STAGES if stages.get(k)},
    }
    jobs = figures["jobs"]
    seconds = sum(r.seconds for r in rounds)
    client_cpu = sum(r.client_cpu_s for r in rounds)
    figures["client_cpu"] = {
        "ms_per_job": 1000.0 * client_cpu / jobs if jobs else None,
        "cores_busy": client_cpu / seconds if seconds else None,
    }
    if all(r.server_cpu_s is not None for r in rounds):
        parts = {part: sum((r.server_cpu_s or {}).get(part, 0.0) for r in rounds) for part in PARTS}
        server_cpu = sum(parts.values())
        figures["server_cpu"] = {
            "ms_per_job": 1000.0 * server_cpu / jobs if jobs else None,
            "cores_busy": server_cpu / seconds if seconds else None,
            "ms_per_job_by_process": {p: 1000.0 * cpu / jobs for p, cpu in parts.items()} if jobs else None,
        }
    if all(r.machine_cpu_s is not None for r in rounds):
        kinds = ("busy", "idle", "steal")
        machine = {kind: sum((r.machine_cpu_s or {})[kind] for r in rounds) for kind in kinds}
        elapsed = sum(machine.values())
        figures["machine_cpu"] = {
            "cores_busy": machine["busy"] / seconds if seconds else None,
            "steal_share": machine["steal"] / elapsed if elapsed else None,
        }
    if latencies:
        figures["latency_ms"] = {
            "p50": 1000.0 * percentile(latencies, 50),
            "p90": 1000.0 * percentile(latencies, 90),
            "p99": 1000.0 * percentile(latencies, 99),
            "mean": 1000.0 * statistics.fmean(latencies),
            "min": 1000.0 * min(latencies),
            "max": 1000.0 * max(latencies),
        }
    return figures


def git_state() -> dict[str, Any]:
    """The commit measured, and whether src/ had uncommitted changes (others edit it)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        return {"commit": git("rev-parse", "HEAD"), "src_dirty": bool(git("status", "--porcelain", "src"))}
    except (OSError, subprocess.SubprocessError):
        return {}


def versions() -> dict[str, str]:
    found: dict[str, str] = {"python": platform.python_version()}
    for name in ("eigen", "grpcio", "protobuf", "qiskit", "qiskit-aer"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def print_table(report: dict[str, Any]) -> None:
    base = report["baseline"]["jobs_per_s_median"]
    print()
    print(f"{'case':<34} {'jobs/s':>9} {'x aer':>7} {'p50 ms':>8} {'p99 ms':>8} {'jobs':>6} {'err':>4}")
    print(
        f"{'aer in-process (baseline)':<34} {base:>9.1f} {1.0:>7.3f} "
        f"{report['baseline']['ms_per_job_median']:>8.2f} {'-':>8} {'-':>6} {'-':>4}"
    )
    for phase in report["phases"]:
        lat = phase.get("latency_ms", {})
        print(
            f"{'eigen ' + phase['flow'] + ', ' + str(phase['clients']) + ' client(s)':<34} "
            f"{phase['jobs_per_s_median']:>9.1f} {phase['jobs_per_s_median'] / base:>7.3f} "
            f"{lat.get('p50', float('nan')):>8.2f} {lat.get('p99', float('nan')):>8.2f} "
            f"{phase['jobs']:>6} {phase['errors']:>4}"
        )
    print()
    for name, bar in report["bars"].items():
        verdict = "n/a" if bar["pass"] is None else ("PASS" if bar["pass"] else "FAIL")
        print(f"bar {name}: measured {bar['measured']}, target {bar['target']} -> {verdict}")
    for phase in report["phases"]:
        cpu = ", ".join(
            f"{who} {phase[key]['ms_per_job']:.2f} ms/job ({phase[key]['cores_busy']:.2f} cores busy)"
            for who, key in (("server", "server_cpu"), ("client", "client_cpu"))
            if phase.get(key) and phase[key]["ms_per_job"] is not None
        )
        by_process = (phase.get("server_cpu") or {}).get("ms_per_job_by_process")
        if by_process:
            cpu += "; server by process (ms/job): " + ", ".join(f"{p} {v:.2f}" for p, v in by_process.items())
        machine = phase.get("machine_cpu")
        if machine and machine["cores_busy"] is not None and machine["steal_share"] is not None:
            stolen = 100 * machine["steal_share"]
            cpu += f"; machine {machine['cores_busy']:.2f} cores busy, {stolen:.1f}% stolen"
        print(f"CPU, {phase['flow']}, {phase['clients']} client(s): {cpu}")
    for phase in report["phases"]:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in phase["stages_ms_median"].items())
        print(f"stages (ms, median), {phase['flow']}, {phase['clients']} client(s): {shown}")
    for phase in report["phases"]:
        if phase["server_timings_ms_median"]:
            shown = ", ".join(f"{k} {v:.2f}" for k, v in phase["server_timings_ms_median"].items())
            level = f"{phase['flow']}, {phase['clients']} client(s)"
            print(f"server-reported timings (ms, median), {level}: {shown}")


def bars(phases: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for flow in dict.fromkeys(flow for flow, _ in phases):
        many = phases.get((flow, 32))
        one = phases.get((flow, 1))
        rate = many["jobs_per_s_median"] if many else None
        p50 = one["latency_ms"]["p50"] if one and "latency_ms" in one else None
        found[f"jobs_per_s_32_clients_{flow}"] = {
            "target": f">= {BAR_JOBS_PER_S_32:g}",
            "measured": None if rate is None else round(rate, 1),
            "pass": None if rate is None else rate >= BAR_JOBS_PER_S_32,
        }
        found[f"p50_ms_1_client_{flow}"] = {
            "target": f"<= {BAR_P50_MS_1:g}",
            "measured": None if p50 is None else round(p50, 2),
            "pass": None if p50 is None else p50 <= BAR_P50_MS_1,
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="target a running server (host:port) instead of starting one")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 32], help="concurrency levels")
    parser.add_argument(
        "--flows", nargs="+", choices=FLOWS, default=list(FLOWS), help="call flows to measure"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per concurrency level")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per level")
    parser.add_argument("--max-jobs", type=int, default=5000, help="at most this many jobs per round")
    parser.add_argument("--baseline-repeats", type=int, default=7)
    parser.add_argument("--baseline-jobs", type=int, default=200, help="aer runs per baseline timing")
    parser.add_argument("--server-log-level", default="INFO", help="of the spawned server (its default)")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment of the spawned server (repeatable), e.g. OMP_WAIT_POLICY=passive",
    )
    parser.add_argument("--start-timeout", type=float, default=60.0)
    parser.add_argument(
        "--data-parent",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the spawned server's temporary data folder goes (default: the system's "
        "temporary folder), e.g. /dev/shm to take the disk out of the measurement",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=300.0,
        help="wait up to this long for the data folder's file system to leave a slow phase "
        "(e.g. after an earlier run deleted its data folder) before starting; 0: do not wait",
    )
    parser.add_argument(
        "--keyed",
        action="store_true",
        help="every SubmitJob carries an idempotency key of its own, as the SDK and the CLI send",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "small_jobs.json")
    args = parser.parse_args()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # others' work adds noise
    if not all(c >= 1 for c in args.clients) or args.duration <= 0 or args.rounds < 1:
        parser.error("clients, duration and rounds must be positive")
    if not all("=" in item for item in args.server_env):
        parser.error("--server-env takes KEY=VALUE")
    server_env = dict(item.split("=", 1) for item in args.server_env)

    request = jobs_pb2.SubmitJobRequest(job=convert.request_to_pb(load_job_file(BELL_JOB)))
    request.job.shots = SHOTS
    if args.keyed:
        request.idempotency_key = "each-its-own"  # replaced per submission (one_job)

    print(f"baseline: aer in-process, {args.baseline_repeats} x {args.baseline_jobs} runs ...", flush=True)
    baseline = aer_baseline(args.baseline_repeats, args.baseline_jobs)
    print(f"  {baseline['jobs_per_s_median']:.1f} jobs/s ({baseline['ms_per_job_median']:.2f} ms/job)")

    disk: dict[str, Any] = {"where": str(args.data_parent)}
    if not args.endpoint:  # the spawned server writes its artifacts there
        cost, waited = fs_probe.settle(args.data_parent, args.settle_timeout)
        disk.update(us_per_file_before=cost, settle_waited_s=round(waited, 1))
        print(f"file system at {args.data_parent}: {fs_probe.describe(cost)}")
    server: dict[str, Any]
    server_pid: int | None = None
    with contextlib.ExitStack() as stack:
        if args.endpoint:
            address = args.endpoint
            wait_serving(address, args.start_timeout, None)
            server = {"kind": "existing", "address": address}
        else:
            address, server_pid, startup = stack.enter_context(
                eigen_server(args.server_log_level, args.start_timeout, server_env, args.data_parent)
            )
            server = {
                "kind": "subprocess eigen-server serve",
                "address": address,
                "pid": server_pid,
                "startup_s": round(startup, 3),
                "log_level": args.server_log_level,
                "extra_env": server_env,
            }
            print(f"eigen-server pid {server_pid} on {address}, SERVING after {startup:.2f} s", flush=True)
        print(
            f"load: {args.rounds} x {args.duration:g} s per level after {args.warmup:g} s warm-up", flush=True
        )
        rounds = asyncio.run(measure_api(address, request, args, server_pid))
        if not args.endpoint:  # before the data folder goes (its deletion slows the disk)
            disk["us_per_file_after"] = fs_probe.create_cost_us(args.data_parent)

    phases = {level: summarise(done) for level, done in rounds.items()}
    report: dict[str, Any] = {
        "benchmark": "small_jobs",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(),
            "loadavg_1m_start": None if load_start is None else round(load_start, 2),
            "loadavg_1m_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
        "versions": versions(),
        "git": git_state(),
        "job": {
            "example": "examples/bell-qasm3",
            "language": "OpenQASM 3",
            "shots": SHOTS,
            "calls": {
                "watch": "SubmitJob -> WatchJob (after_seq=last_event_seq, to terminal) -> GetJobResults",
                "wait": f"SubmitJob -> GetJobResults(wait_seconds={WAIT_S:g})",
            },
            "client": "grpc.aio raw stubs" + (", a new idempotency key per SubmitJob" if args.keyed else ""),
        },
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "server": server,
        "file_system": disk,
        "baseline": baseline,
        "phases": list(phases.values()),
        "ratios_to_baseline": {
            f"{flow}_{c}_clients_jobs_per_s": p["jobs_per_s_median"] / baseline["jobs_per_s_median"]
            for (flow, c), p in phases.items()
        },
        "bars": bars(phases),
    }
    print_table(report)
    machine = report["machine"]
    print(
        f"machine: {machine['cpu_count']} CPUs, load average (1 min) "
        f"{machine['loadavg_1m_start']} at start, {machine['loadavg_1m_end']} at end"
    )
    if "us_per_file_after" in disk:
        after = fs_probe.describe(disk["us_per_file_after"])
        print(f"file system at {disk['where']} after the load: {after}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
