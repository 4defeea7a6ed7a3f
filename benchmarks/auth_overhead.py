"""What authentication adds to a call: latency and CPU of ``Guard.authenticate`` with an
API key and with a JWT (JWKS cached), against the same loop with authentication off, in
the same run; then GetJob over a real in-process gRPC server with and without keys.

Part 1 (in process): the authenticator the server builds (``authenticator_from``) over a
key store on a real SQLite file (migrated, ``api_key_cache_s`` 1 s: a steady caller's
record is read again about twice a second, by a background thread) and a JWKS served
over local HTTP (fetched once, then cached). Each call is timed alone
(``perf_counter_ns``); rounds interleave the modes so that the noise of a shared machine
falls on all of them alike. ``api_key_audited`` adds what the server's
guard also does per call: an audit event (a log line, and a row written in batches by a
thread; logging is not configured here, so the line is dropped early). Also: the first
sight of a token (a new token is checked in full, signature included, once; then it is
remembered).

Part 2 (gRPC): two embedded servers in this process, one with ``auth_required`` (its
guard as ``eigen-server serve`` builds it: authenticator, audit log) and one without;
one job each; GetJob called back to back on one channel per mode, interleaved.

    .venv/bin/python benchmarks/auth_overhead.py              # ~30-60 s
    .venv/bin/python benchmarks/auth_overhead.py --calls 20000 --rounds 7
    .venv/bin/python benchmarks/auth_overhead.py --no-grpc    # part 1 only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr

from eigen.config.settings import Settings
from eigen.jobfile import load_job_file
from eigen.kernel.store.audit import SqlAuditStore
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.keys import SqlKeyStore
from eigen.kernel.store.migrate import upgrade
from eigen.kernel.store.sql import sqlite_url
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.security import apikeys
from eigen.security.audit import audit_log_from
from eigen.security.authenticator import Credentials
from eigen.security.guard import Guard
from eigen.security.identity import authenticator_from

ROOT = Path(__file__).resolve().parent.parent
BELL_JOB = ROOT / "examples" / "bell-qasm3" / "job.yaml"
RESULTS = Path(__file__).resolve().parent / "results"
ISSUER = "https://idp.bench.example"
AUDIENCE = "eigen"
SERVER_SECRET = "auth-overhead-benchmark-server-secret"
BAR_MS = 0.1  # added median per call, API key and JWT (JWKS cached)


class Jwks:
    """A JWKS endpoint on 127.0.0.1 in a thread; ``fetches`` counts its answers."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        body = json.dumps({"keys": keys}).encode()
        owner = self
        self.fetches = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/jwks.json"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class Signer:
    def __init__(self, alg: str) -> None:
        self.alg = alg
        self.kid = f"bench-{alg.lower()}"
        if alg == "RS256":
            self.private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
        public = jwt.get_algorithm_by_name(alg).to_jwk(self.private.public_key())
        self.jwk = {**json.loads(public), "kid": self.kid, "alg": alg, "use": "sig"}

    def token(self, subject: str = "bench-user") -> str:
        now = time.time()
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "exp": now + 3600,
            "iat": now,
            "sub": subject,
            "tenant": "bench",
            "roles": ["viewer"],
        }
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid})


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def timed(call: Callable[[], object], count: int) -> tuple[list[float], float]:
    """Per-call wall times (ms) of ``count`` calls and the CPU ms per call of the batch."""
    times = [0.0] * count
    clock = time.perf_counter_ns
    cpu = time.process_time()
    for index in range(count):
        start = clock()
        call()
        times[index] = (clock() - start) / 1e6
    return times, 1000.0 * (time.process_time() - cpu) / count


def summary(samples: dict[str, list[float]], cpu: dict[str, list[float]], base: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode, times in samples.items():
        out[mode] = {
            "calls": len(times),
            "median_ms": round(statistics.median(times), 5),
            "p99_ms": round(percentile(times, 0.99), 5),
            "cpu_ms_per_call": round(statistics.median(cpu[mode]), 5),
        }
    for mode, figures in out.items():
        if mode != base:
            figures["added_median_ms"] = round(figures["median_ms"] - out[base]["median_ms"], 5)
            figures["added_p99_ms"] = round(figures["p99_ms"] - out[base]["p99_ms"], 5)
            figures["added_cpu_ms_per_call"] = round(
                figures["cpu_ms_per_call"] - out[base]["cpu_ms_per_call"], 5
            )
    return out


def interleaved(modes: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    for call in modes.values():  # warm: caches filled, code paths loaded
        timed(call, min(calls, 500))
    for _ in range(rounds):
        for mode, call in modes.items():
            times, cpu_ms = timed(call, calls)
            samples[mode].extend(times)
            cpu[mode].append(cpu_ms)
    return summary(samples, cpu, next(iter(modes)))


def in_process(workdir: Path, calls: int, rounds: int) -> dict[str, Any]:
    rsa_signer, ec_signer = Signer("RS256"), Signer("ES256")
    jwks = Jwks([rsa_signer.jwk, ec_signer.jwk])
    try:
        settings = Settings(
            data_dir=workdir / "inproc",
            auth_required=True,
            api_key_secret=SecretStr(SERVER_SECRET),
            jwt_jwks_url=jwks.url,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
        )
        engine = make_engine(sqlite_url(workdir / "inproc" / "eigen.db"))
        upgrade(engine)
        keys = SqlKeyStore(engine, owns_engine=True)
        key, record = apikeys.new_key(
            SERVER_SECRET.encode(), tenant="bench", name="bench-bot", role="viewer", created_at=time.time()
        )
        keys.add_key(record, time.time())
        identity = authenticator_from(settings, keys, None)
        assert identity is not None
        off, on = Guard(), Guard(identity)
        audit = audit_log_from(SqlAuditStore(engine))
        audited = Guard(identity, audit=audit)
        plain = Credentials(headers={"x-eigen-caller": "bench-user"}, peer="ipv4:127.0.0.1:50000")
        with_key = Credentials(headers={"authorization": f"Bearer {key}"}, peer=plain.peer)
        rs_token = Credentials(headers={"authorization": f"Bearer {rsa_signer.token()}"}, peer=plain.peer)
        es_token = Credentials(headers={"authorization": f"Bearer {ec_signer.token()}"}, peer=plain.peer)
        figures = interleaved(
            {
                "off": lambda: off.authenticate(plain, "GetJob"),
                "api_key": lambda: on.authenticate(with_key, "GetJob"),
                "jwt_rs256": lambda: on.authenticate(rs_token, "GetJob"),
                "jwt_es256": lambda: on.authenticate(es_token, "GetJob"),
                "api_key_audited": lambda: audited.authenticate(with_key, "GetJob"),
            },
            calls,
            rounds,
        )
        audit.close()
        first_sight: dict[str, Any] = {}
        for signer in (rsa_signer, ec_signer):
            fresh = [
                Credentials(headers={"authorization": f"Bearer {signer.token(f'user-{n}')}"})
                for n in range(300)
            ]
            times = []
            for credentials in fresh:
                start = time.perf_counter_ns()
                on.authenticate(credentials, "GetJob")
                times.append((time.perf_counter_ns() - start) / 1e6)
            first_sight[f"jwt_{signer.alg.lower()}"] = {
                "calls": len(times),
                "median_ms": round(statistics.median(times), 4),
                "p99_ms": round(percentile(times, 0.99), 4),
            }
        figures["jwt_first_sight"] = first_sight
        figures["jwks_fetches"] = jwks.fetches
        keys.close()
        return figures
    finally:
        jwks.close()


def over_grpc(workdir: Path, calls: int, rounds: int) -> dict[str, Any]:
    from eigen.server.embedded import EmbeddedServer

    signer = Signer("ES256")
    jwks = Jwks([signer.jwk])
    secured = Settings(
        data_dir=workdir / "secured",
        auth_required=True,
        api_key_secret=SecretStr(SERVER_SECRET),
        jwt_jwks_url=jwks.url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
    request = jobs_pb2.SubmitJobRequest(job=convert.request_to_pb(load_job_file(BELL_JOB)))
    try:
        with (
            EmbeddedServer(data_dir=workdir / "open") as open_server,
            EmbeddedServer(secured) as secure_server,
            grpc.insecure_channel(open_server.address) as open_channel,
            grpc.insecure_channel(secure_server.address) as secure_channel,
            grpc.insecure_channel(secure_server.address) as jwt_channel,
        ):
            engine = make_engine(sqlite_url(workdir / "secured" / "eigen.db"))
            keys = SqlKeyStore(engine, owns_engine=True)
            key, record = apikeys.new_key(
                SERVER_SECRET.encode(),
                tenant="bench",
                name="bench-bot",
                role="submitter",
                created_at=time.time(),
            )
            keys.add_key(record, time.time())
            keys.close()
            token = jwt.encode(
                {
                    "iss": ISSUER,
                    "aud": AUDIENCE,
                    "exp": time.time() + 3600,
                    "sub": "bench-bot",
                    "tenant": "bench",
                    "roles": ["submitter"],
                },
                signer.private,
                algorithm=signer.alg,
                headers={"kid": signer.kid},
            )
            key_metadata = (("authorization", f"Bearer {key}"),)
            jwt_metadata = (("authorization", f"Bearer {token}"),)
            plain = jobs_pb2_grpc.JobServiceStub(open_channel)
            secure = jobs_pb2_grpc.JobServiceStub(secure_channel)
            with_jwt = jobs_pb2_grpc.JobServiceStub(jwt_channel)
            open_id = plain.SubmitJob(request, timeout=30).job.id
            secure_id = secure.SubmitJob(request, metadata=key_metadata, timeout=30).job.id
            get_open = jobs_pb2.GetJobRequest(job_id=open_id)
            get_secure = jobs_pb2.GetJobRequest(job_id=secure_id)
            figures = interleaved(
                {
                    "off": lambda: plain.GetJob(get_open, timeout=10),
                    "api_key": lambda: secure.GetJob(get_secure, metadata=key_metadata, timeout=10),
                    "jwt_es256": lambda: with_jwt.GetJob(get_secure, metadata=jwt_metadata, timeout=10),
                },
                calls,
                rounds,
            )
            figures["note"] = (
                "CPU is the whole process: both servers and the client; the secured server "
                "also writes an audit event per call"
            )
            return figures
    finally:
        jwks.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per mode and round (in process)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--grpc-calls", type=int, default=1000, help="GetJob calls per mode and round")
    parser.add_argument("--no-grpc", action="store_true", help="skip the gRPC part")
    parser.add_argument("--out", type=Path, default=RESULTS / "auth_overhead.json")
    args = parser.parse_args()
    if min(args.calls, args.rounds, args.grpc_calls) < 1:
        parser.error("--calls, --rounds and --grpc-calls must be at least 1")

    report: dict[str, Any] = {
        "benchmark": "auth_overhead",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "calls": args.calls,
        "rounds": args.rounds,
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        report["authenticate"] = in_process(workdir, args.calls, args.rounds)
        if not args.no_grpc:
            report["grpc_get_job"] = over_grpc(workdir, args.grpc_calls, args.rounds)
    bars = {}
    for mode in ("api_key", "jwt_rs256", "jwt_es256"):
        added = report["authenticate"][mode]["added_median_ms"]
        bars[f"{mode}_added_median_under_{BAR_MS}_ms"] = "PASS" if added < BAR_MS else "FAIL"
    report["bars"] = bars

    print(f"authenticate() per call ({args.rounds} rounds x {args.calls} calls per mode, interleaved)")
    columns = ("median ms", "p99 ms", "CPU ms", "+median", "+p99", "+CPU")
    print(f"{'mode':>15} " + " ".join(f"{c:>10}" for c in columns))
    for part in ("authenticate", "grpc_get_job"):
        if part not in report:
            continue
        if part == "grpc_get_job":
            print(f"\nGetJob over gRPC, in process ({args.rounds} rounds x {args.grpc_calls} calls per mode)")
        for mode, f in report[part].items():
            if not isinstance(f, dict) or "median_ms" not in f:
                continue
            added = [f.get(k) for k in ("added_median_ms", "added_p99_ms", "added_cpu_ms_per_call")]
            shown = " ".join(f"{'':>10}" if a is None else f"{a:>+10.4f}" for a in added)
            own = " ".join(f"{f[k]:>10.4f}" for k in ("median_ms", "p99_ms", "cpu_ms_per_call"))
            print(f"{mode:>15} {own} {shown}")
    print("\nfirst sight of a token (checked in full once, then remembered):")
    for mode, f in report["authenticate"]["jwt_first_sight"].items():
        print(f"{mode:>15} {f['median_ms']:>10.4f} {f['p99_ms']:>10.4f}")
    print(f"JWKS fetches: {report['authenticate']['jwks_fetches']}")
    for name, verdict in bars.items():
        print(f"{verdict}: {name}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
