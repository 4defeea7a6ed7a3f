"""Fuzzing with real budgets (issue 14): what bad input does to a real ``eigen-server``.

Three fuzzers, against one ``eigen-server serve`` process on loopback (gRPC and REST):

* **gRPC submissions** (default 20,000): fuzzed OpenQASM 2/3 and Eigen-Lang programs and
  job options through SubmitJob (one in ten a SubmitBatch with the fuzzed job between two
  good ones), then every accepted job waited for. While they run, a probe thread calls
  ListBackends every 100 ms: its latency shows whether bad programs hold up other RPCs.
* **job.yaml files** (default 20,000): fuzzed job files read as ``eigen-cli submit --job``
  reads them; the ones that load are submitted too.
* **schemathesis** ``--checks all`` on the server's OpenAPI document (default budget
  about 15,000 generated cases).

Counted: answers by status, crashes (the server died), hangs (no answer in 10 s),
INTERNAL/UNKNOWN for user input, INVALID_ARGUMENT naming no field, unbounded messages,
accepted jobs that did not end or ended in EIGEN_INTERNAL, and the bytes the server wrote
(stdout must not grow; stderr per input). A PASS needs all of those at 0 (and
schemathesis without failures). Figures go to ``benchmarks/results/fuzz.json``.

    .venv/bin/python benchmarks/fuzz.py                       # full budgets, ~50 min
    .venv/bin/python benchmarks/fuzz.py --grpc 2000 --job-files 2000 --schemathesis-examples 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fuzzing, the generators the small fuzz tests use

import grpc  # noqa: E402

from eigen.errors import EigenError  # noqa: E402
from eigen.jobfile import load_job_file  # noqa: E402
from eigen.proto import convert  # noqa: E402
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc  # noqa: E402
from tests import fuzzing  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PROBE_EVERY_S = 0.1
PROBE_BAR_MS = 50.0


class Probe:
    """ListBackends every :data:`PROBE_EVERY_S` on its own channel, its latencies kept;
    for up to ``keep_slow`` probes over :data:`PROBE_BAR_MS`, the last inputs the fuzzer
    sent (through :meth:`sent`) when it ended, to see what held it up."""

    def __init__(self, address: str, keep_slow: int = 0) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = jobs_pb2_grpc.BackendServiceStub(self._channel)
        self._stop = threading.Event()
        self.latencies_ms: list[float] = []
        self._keep_slow = keep_slow
        self._recent: deque[str] = deque(maxlen=3)
        self.slow: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self._channel.close()

    def _run(self) -> None:
        while not self._stop.wait(PROBE_EVERY_S):
            started = time.perf_counter()
            with contextlib.suppress(grpc.RpcError):  # a refused probe counts for its time too
                self._stub.ListBackends(jobs_pb2.ListBackendsRequest(), timeout=fuzzing.HANG_S)
            took_ms = (time.perf_counter() - started) * 1e3
            self.latencies_ms.append(took_ms)
            if took_ms > PROBE_BAR_MS and len(self.slow) < self._keep_slow:
                self.slow.append({"ms": round(took_ms, 1), "last_sent": list(self._recent)})

    def sent(self, what: str) -> None:
        """The fuzzer is about to send ``what``."""
        self._recent.append(what)

    def figures(self) -> dict[str, float | int]:
        values = sorted(self.latencies_ms) or [0.0]
        return {
            "probes": len(self.latencies_ms),
            "p50_ms": round(statistics.median(values), 2),
            "p99_ms": round(values[int(0.99 * (len(values) - 1))], 2),
            "max_ms": round(values[-1], 2),
            "over_50ms": sum(v > PROBE_BAR_MS for v in values),
        }


def fuzz_grpc(stub: Any, count: int, seed: int, settle_s: float, probe: Probe) -> dict[str, Any]:
    tally = fuzzing.fuzz_submissions(stub, random.Random(seed), count, sent=probe.sent)
    states = fuzzing.settle(stub, tally.accepted, tally, timeout_s=settle_s)
    return {**tally.as_dict(), "accepted": len(tally.accepted), "accepted_ended": dict(states)}


def fuzz_job_files(stub: Any, count: int, seed: int, folder: Path, settle_s: float) -> dict[str, Any]:
    """The job-file fuzzer, then each file that loaded submitted as the CLI would."""
    tally = fuzzing.fuzz_job_files(random.Random(seed), count, folder)
    loaded = fuzzing.Tally()
    replay = random.Random(seed)
    for index in range(count):  # the same files again, in the same order
        text, example = fuzzing.job_yaml(replay)
        path = folder / f"replay-{index % 8}" / "job.yaml"
        path.parent.mkdir(exist_ok=True)
        for program_file in example.iterdir():
            if program_file.name != "job.yaml":
                (path.parent / program_file.name).write_text(program_file.read_text())
        path.write_text(text)
        try:
            request = load_job_file(path)
        except EigenError:
            continue
        loaded.inputs += 1
        try:
            submitted = jobs_pb2.SubmitJobRequest(job=convert.request_to_pb(request))
            loaded.accepted.append(stub.SubmitJob(submitted, timeout=fuzzing.HANG_S).job.id)
            loaded.codes["OK"] += 1
        except grpc.RpcError as error:
            fuzzing.check_refusal(error, loaded, text[:200])
    states = fuzzing.settle(stub, loaded.accepted, loaded, timeout_s=settle_s)
    return {
        **tally.as_dict(),
        "submitted": {**loaded.as_dict(), "accepted": len(loaded.accepted), "accepted_ended": dict(states)},
    }


def schemathesis(
    http_address: str, examples: int, seed: int, folder: Path, max_time_s: int
) -> dict[str, Any]:
    report = folder / "schemathesis.json"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",  # the answers only the server can judge, as in the test suite
        str(ROOT / "tests" / "integration" / "schemathesis.toml"),
        "run",
        f"{http_address}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--generation-database",
        "none",
        "--max-time",
        str(max_time_s),
        "--request-timeout",
        str(fuzzing.HANG_S),
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=max_time_s + 300, check=False, cwd=folder
    )
    if not report.exists():
        return {"exit_code": run.returncode, "error": run.stderr[-2000:] or run.stdout[-2000:]}
    data = json.loads(report.read_text())
    return {
        "exit_code": run.returncode,
        "generated": data["test_cases"]["generated"],
        "with_failures": data["test_cases"]["with_failures"],
        "errored": data["test_cases"]["errored"],
        "failures": {f["code"] + " " + f["title"]: f["count"] for f in data.get("failures", [])},
        "running_time_s": round(data.get("running_time", 0.0), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grpc", type=int, default=20_000, help="fuzzed gRPC submissions")
    parser.add_argument("--job-files", type=int, default=20_000, help="fuzzed job.yaml files")
    parser.add_argument(
        "--schemathesis-examples", type=int, default=150, help="schemathesis --max-examples (0: skip)"
    )
    parser.add_argument("--schemathesis-max-time", type=int, default=1_200, help="its time budget, seconds")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--settle", type=float, default=900.0, help="seconds to wait for accepted jobs")
    parser.add_argument(
        "--slow-probes", type=int, default=0, help="keep the last inputs sent for this many slow probes"
    )
    args = parser.parse_args()

    figures: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": args.seed,
    }
    with tempfile.TemporaryDirectory(prefix="eigen-fuzz-") as temporary:
        folder = Path(temporary)
        with fuzzing.served(folder) as server, grpc.insecure_channel(server.address) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            started_out, started_err = server.output_bytes()
            began = time.monotonic()
            with Probe(server.address, args.slow_probes) as probe:
                figures["grpc"] = fuzz_grpc(stub, args.grpc, args.seed, args.settle, probe)
            figures["grpc"]["seconds"] = round(time.monotonic() - began, 1)
            figures["grpc"]["other_rpcs"] = probe.figures()
            if probe.slow:
                figures["grpc"]["slow_probes"] = probe.slow
            began = time.monotonic()
            files = folder / "job-files"
            files.mkdir()
            figures["job_files"] = fuzz_job_files(stub, args.job_files, args.seed, files, args.settle)
            figures["job_files"]["seconds"] = round(time.monotonic() - began, 1)
            if args.schemathesis_examples:
                figures["schemathesis"] = schemathesis(
                    server.http_address,
                    args.schemathesis_examples,
                    args.seed,
                    folder,
                    args.schemathesis_max_time,
                )
            alive = server.process.poll() is None
            out, err = server.output_bytes()
    inputs = figures["grpc"]["inputs"] + figures["job_files"]["submitted"]["inputs"]
    figures["server"] = {
        "alive_at_end": alive,
        "stdout_bytes_while_fuzzed": out - started_out,
        "stderr_bytes_while_fuzzed": err - started_err,
        "stderr_bytes_per_input": round((err - started_err) / max(1, inputs), 1),
    }
    failures = {
        "grpc": sum(figures["grpc"]["failures"].values()),
        "job_files": sum(figures["job_files"]["failures"].values())
        + sum(figures["job_files"]["submitted"]["failures"].values()),
        "schemathesis": figures.get("schemathesis", {}).get("with_failures", 0),
        "server_died": int(not alive),
        "stdout_grew": int(out != started_out),
        "other_rpcs_over_50ms": figures["grpc"]["other_rpcs"]["over_50ms"],
    }
    figures["failures"] = failures
    verdict = "PASS" if not any(v for k, v in failures.items() if k != "other_rpcs_over_50ms") else "FAIL"
    figures["verdict"] = verdict
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fuzz.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{'fuzzer':<14}{'inputs':>9}{'failures':>10}  codes")
    print(f"{'gRPC':<14}{figures['grpc']['inputs']:>9}{failures['grpc']:>10}  {figures['grpc']['codes']}")
    print(
        f"{'job.yaml':<14}{figures['job_files']['inputs']:>9}{failures['job_files']:>10}  "
        f"{figures['job_files']['codes']}"
    )
    if "schemathesis" in figures:
        st = figures["schemathesis"]
        counts = f"{st.get('generated', 0):>9}{st.get('with_failures', 0):>10}"
        print(f"{'schemathesis':<14}{counts}  {st.get('failures')}")
    print(f"other RPCs while fuzzed: {figures['grpc']['other_rpcs']}")
    print(f"server: {figures['server']}")
    for kind, examples in figures["grpc"]["failure_examples"].items():
        print(f"  gRPC {kind}: {examples[:2]}")
    print(f"{verdict} (results in {RESULTS / 'fuzz.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
