"""How long ``eigen-cli`` read commands take as real processes, beside ``eigen-cli --help``.

Issue 16: every embedded command used to pay ~5 s of stack start. Reads (``status``,
``jobs``, ``results``, ``watch`` of an ended job, ``backends``) now come from the data folder
(:mod:`eigen.server.folder_view`) when no server holds it. This script prepares a data
folder (two Bell jobs submitted by the embedded CLI, one ``backends`` listing to record the
devices), then runs each command ``--runs`` times as a process, interleaved (one of each
per round, so the shared machine's noise falls on all alike), and reports the median wall
time, its ratio to ``--help`` measured in the same run (the floor: Python, typer, rich and
the client's imports), and the median CPU of the child (``resource.getrusage`` of children,
user + system). A second floor, ``no-op command``, is a command added to ``eigen-cli``'s own
app that takes a read's arguments (a job id, ``--json``, ``--endpoint``) and does nothing:
what typer costs for any command beyond ``--help`` (it coerces every argument, the global
options' too, through pydantic); ``+no-op ms`` is what a read adds to it, the part that is
the read's own. For comparison, the same ``status`` against an ``eigen-server serve`` on
the folder: with ``EIGEN_ENDPOINT``, and without it (found through the folder's lock), and
``cancel`` of an ended job, which still starts the embedded stack (what every embedded
command cost before).

    .venv/bin/python benchmarks/cli_latency.py             # ~1-2 min
    .venv/bin/python benchmarks/cli_latency.py --runs 20 --stack-runs 5

Bar: each read command's median under 0.5 s (PASS/FAIL; nothing asserts). On a loaded
machine ``--help`` alone can take longer: then read the ratio and ``+ms`` (the median over
``--help``'s), which is what the command adds to the floor. JSON:
``benchmarks/results/cli_latency.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BELL_JOB = ROOT / "examples" / "bell-qasm3" / "job.yaml"
RESULTS = Path(__file__).resolve().parent / "results"
BAR_S = 0.5
READS = ("status", "status --json", "jobs", "results", "watch", "backends")
NO_OP = "no-op command"
# eigen-cli with one more command, which takes the arguments of a read and does nothing
NO_OP_SCRIPT = """
import sys
from eigen.cli import main

@main.app.command("no-op")
def no_op(job_id: main.JobIdArg, as_json: main.JsonOpt = False, endpoint: main.EndpointOpt = None) -> None:
    pass

sys.argv[0] = "eigen-cli"
main.run()
"""


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit code) of one ``eigen-cli`` process:
    ``args`` follow ``python -m eigen.cli``, or ``python`` itself when they start with -c."""
    command = [sys.executable, *(args if args[0] == "-c" else ["-m", "eigen.cli", *args])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    begun = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True)
    wall = time.perf_counter() - begun
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(data_dir: Path, env: dict[str, str]) -> str:
    """Two Bell jobs submitted by the embedded CLI and the device list recorded; the id of
    the last job."""
    job_id = ""
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "eigen.cli", "submit", str(BELL_JOB), "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        job_id = json.loads(done.stdout)["id"]
    subprocess.run([sys.executable, "-m", "eigen.cli", "backends"], env=env, capture_output=True, check=True)
    return job_id


def commands(job_id: str) -> dict[str, list[str]]:
    return {
        "--help": ["--help"],
        NO_OP: ["-c", NO_OP_SCRIPT, "no-op", job_id],
        "status": ["status", job_id],
        "status --json": ["status", job_id, "--json"],
        "jobs": ["jobs"],
        "results": ["results", job_id],
        "watch": ["watch", job_id],
        "backends": ["backends"],
    }


def measure(named: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, dict[str, Any]]:
    """Each command ``runs`` times, one of each per round; medians and exit codes."""
    walls: dict[str, list[float]] = {name: [] for name in named}
    cpus: dict[str, list[float]] = {name: [] for name in named}
    codes: dict[str, set[int]] = {name: set() for name in named}
    for _ in range(runs):
        for name, (args, env) in named.items():
            wall, cpu, code = run_cli(args, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
            codes[name].add(code)
    return {
        name: {
            "median_s": statistics.median(walls[name]),
            "cpu_median_s": statistics.median(cpus[name]),
            "min_s": min(walls[name]),
            "max_s": max(walls[name]),
            "runs": runs,
            "exit_codes": sorted(codes[name]),
        }
        for name in named
    }


def serve(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``eigen-server serve`` on the folder, once it answers health checks."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    port = free_port()
    command = [sys.executable, "-m", "eigen.server", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--log-level", "WARNING"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.poll() is not None:
                raise SystemExit(f"eigen-server exited with {process.returncode}")
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return process, address
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("eigen-server did not become healthy in 120 s")
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (median of these)")
    parser.add_argument("--stack-runs", type=int, default=3, help="runs of the command that starts the stack")
    parser.add_argument("--out", type=Path, default=RESULTS / "cli_latency.json")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="eigen-cli-latency-"))
    env = {k: v for k, v in os.environ.items() if k != "EIGEN_ENDPOINT"}
    env.update(EIGEN_DATA_DIR=str(data_dir), COLUMNS="80", NO_COLOR="1")
    try:
        job_id = prepare(data_dir, env)
        embedded = measure({name: (argv, env) for name, argv in commands(job_id).items()}, args.runs)
        stack = measure({"cancel (starts the stack)": (["cancel", job_id], env)}, args.stack_runs)
        process, address = serve(data_dir, env)
        try:
            served = measure(
                {
                    "--help": (["--help"], env),
                    "status, EIGEN_ENDPOINT": (["status", job_id], {**env, "EIGEN_ENDPOINT": address}),
                    "status, the folder's server": (["status", job_id], env),
                },
                args.runs,
            )
        finally:
            process.terminate()
            process.wait(30)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    floor = embedded["--help"]["median_s"]
    no_op = embedded[NO_OP]["median_s"]
    served_floor = served["--help"]["median_s"]
    print(f"eigen-cli as a process, median of {args.runs} (ratio: against --help in the same series)")
    print(f"{'command':40} {'median ms':>9} {'x --help':>8} {'+ms':>5} {'+no-op ms':>9} {'CPU ms':>6}  bar")
    rows: list[tuple[str, dict[str, Any], float]] = [(n, f, floor) for n, f in embedded.items()]
    rows += [(n, f, floor) for n, f in stack.items()]
    rows += [(f"{n} (server running)", f, served_floor) for n, f in served.items()]
    for name, figures, base in rows:
        figures["x_help"] = figures["median_s"] / base
        figures["over_help_s"] = figures["median_s"] - base
        over_no_op = bar = ""
        if name in READS:
            figures["over_no_op_s"] = figures["median_s"] - no_op
            over_no_op = f"{1e3 * figures['over_no_op_s']:.0f}"
            figures["bar_pass"] = figures["median_s"] < BAR_S
            bar = "PASS" if figures["bar_pass"] else "FAIL"
        print(
            f"{name:40} {1e3 * figures['median_s']:9.0f} {figures['x_help']:8.2f} "
            f"{1e3 * figures['over_help_s']:5.0f} {over_no_op:>9} {1e3 * figures['cpu_median_s']:6.0f}  {bar}"
        )
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "bar_s": BAR_S,
        "embedded": embedded,
        "stack": stack,
        "with_server": served,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
