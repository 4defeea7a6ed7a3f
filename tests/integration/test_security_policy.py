"""The policy file under load and through a real server.

- Reload under load: threads ask the policy while the file is rewritten many times (in
  place and by rename); no call fails, and every answer comes whole from one version,
  never older than one the thread already saw.
- Quotas hold across tenants: a real server with authentication on (API keys of two
  tenants in its SQLite store) refuses a tenant over ``max_queued_jobs`` and not the
  other; a backend outside ``allowed_backends`` is PERMISSION_DENIED naming it; a reload
  raises the quota; each refusal is a row that ``eigen-server audit list`` shows.
- Fair shares: a tenant of ``fair_share: 3`` gets about three times the places at the
  front of a held device's queue of a tenant of share 1, and the kernel reads the guard's
  policy file (a reload moves both).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import SecretStr
from typer.testing import CliRunner

from eigen.client import Client
from eigen.config.settings import Settings
from eigen.errors import PermissionDenied
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.keys import SqlKeyStore
from eigen.kernel.store.sql import sqlite_url
from eigen.models.principal import Principal
from eigen.models.state import JobState
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.security import apikeys
from eigen.security.policy import PolicyFile, PolicyShares
from eigen.server.embedded import EmbeddedServer
from eigen.server.main import app
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, details, job

pytestmark = pytest.mark.integration

VERSIONS = 40
READERS = 6


def version(n: int) -> str:
    """Version ``n``: quota n; SubmitJob allowed in even versions only (flow style: a
    file caught half-written never parses)."""
    operations = "[GetJob, SubmitJob]" if n % 2 == 0 else "[GetJob]"
    return f"policies: [{{tenant: lab, max_queued_jobs: {n}, allowed_operations: {operations}}}]\n"


def test_reload_under_load_answers_from_one_version_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(version(1))
    source = PolicyFile(path, check_every_s=0.0)  # every call looks at the file
    lab = Principal("lab", "alice", frozenset({"submitter"}), "api_key")
    started = threading.Barrier(READERS + 1)
    done = threading.Event()
    seen: list[list[int]] = [[] for _ in range(READERS)]
    failures: list[BaseException] = []

    def read(mine: list[int]) -> None:
        started.wait()
        try:
            while not done.is_set() or not mine or mine[-1] != VERSIONS:
                policy = source.current()
                quota = policy.quota(lab).max_queued_jobs
                assert quota is not None
                try:
                    policy.check(lab, "SubmitJob")
                    allowed = True
                except PermissionDenied:
                    allowed = False
                assert allowed == (quota % 2 == 0), f"version {quota} answered {allowed}"
                mine.append(quota)
                if len(mine) > 1_000_000:
                    raise AssertionError("the last version never arrived")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=read, args=(seen[i],)) for i in range(READERS)]
    for thread in threads:
        thread.start()
    started.wait()
    for n in range(2, VERSIONS + 1):
        if n % 3:
            path.write_text(version(n))  # in place: readers may catch it empty or half-written
        else:
            fresh = tmp_path / f".policy.{n}.yaml"
            fresh.write_text(version(n))
            os.replace(fresh, path)  # by rename: a new inode
        stat = path.stat()  # a new modification time even within one clock tick
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + n * 1_000_000_000))
        time.sleep(0)  # let the readers run between rewrites
    done.set()
    for thread in threads:
        thread.join(60)
    assert not failures, failures[0]
    for mine in seen:
        assert mine[-1] == VERSIONS
        assert all(1 <= q <= VERSIONS for q in mine)
        assert mine == sorted(mine), "a thread saw an older version after a newer one"
    assert 1 <= source.reloads <= 2 * (VERSIONS - 1)  # a rewrite, then its new time


# --- through a real server -------------------------------------------------------------

POLICY = """
policies:
  - tenant: research
    max_queued_jobs: {research}
    allowed_backends: ["test:*", "sim:*"]
  - tenant: lab
    max_queued_jobs: 10
"""
SERVER_SECRET = "policy-test-server-secret-0123456789"


def secured_settings(tmp_path: Path, text: str, **values: Any) -> tuple[Path, Settings]:
    """A policy file of ``text``, and the settings of a server with authentication on that
    reads it (and ``values``)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    settings = Settings(
        data_dir=tmp_path / "data",
        auth_required=True,
        api_key_secret=SecretStr(SERVER_SECRET),
        policy_file=policy,
        **values,
    )
    return policy, settings


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[EmbeddedServer, Path, dict[str, str]]]:
    policy, settings = secured_settings(tmp_path, POLICY.format(research=2))
    with EmbeddedServer(settings) as server:
        yield server, policy, issue_keys(tmp_path / "data")


def issue_keys(data_dir: Path) -> dict[str, str]:
    """A submitter's API key of each tenant, research and lab, in the server's store."""
    engine = make_engine(sqlite_url(data_dir / "eigen.db"))
    keys = SqlKeyStore(engine)
    issued = {}
    for tenant in ("research", "lab"):
        key, record = apikeys.new_key(
            SERVER_SECRET.encode(),
            tenant=tenant,
            name=f"{tenant}-bot",
            role="submitter",
            created_at=time.time(),
        )
        keys.add_key(record, time.time())
        issued[tenant] = key
    engine.dispose()
    return issued


def as_key(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def test_quotas_hold_per_tenant_through_a_real_server(
    secured: tuple[EmbeddedServer, Path, dict[str, str]], tmp_path: Path
) -> None:
    server, policy, keys = secured
    with grpc.insecure_channel(server.address) as channel, holding(server) as held:
        stub = jobs_pb2_grpc.JobServiceStub(channel)

        def submit(tenant: str, target: str = HELD) -> jobs_pb2.SubmitJobResponse:
            request = jobs_pb2.SubmitJobRequest(job=job(BELL, target=target, shots=10))
            return stub.SubmitJob(request, metadata=as_key(keys[tenant]), timeout=30)

        # Two threads taking stim's very first sample in a process at once deadlock (a
        # lazy import inside stim): one stabilizer job first, alone, before the held ones.
        warm = submit("lab", target="sim:stabilizer").job
        watched = jobs_pb2.WatchJobRequest(job_id=warm.id)
        assert list(stub.WatchJob(watched, metadata=as_key(keys["lab"]), timeout=120))
        for _ in range(2):
            submit("research")
        held.wait_held(1)
        with pytest.raises(grpc.RpcError) as over:
            submit("research")
        assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert details(over.value)[0] == "EIGEN_RESOURCE_EXHAUSTED"
        assert "max_queued_jobs" in (over.value.details() or "")
        for _ in range(3):  # another tenant: its own count, its own quota
            assert submit("lab").job.tenant == "lab"

        with pytest.raises(grpc.RpcError) as backend:
            submit("research", target="emu:manila")
        assert backend.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "'emu:manila'" in (backend.value.details() or "")

        policy.write_text(POLICY.format(research=3))
        stat = policy.stat()
        os.utime(policy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert server.stack is not None and server.stack.security is not None
        assert server.stack.security.policy is not None
        assert server.stack.security.policy.reload()  # what the next second's check does
        assert submit("research").job.tenant == "research"
        with pytest.raises(grpc.RpcError):
            submit("research")

    assert server.stack.security.audit is not None
    assert server.stack.security.audit.flush()
    listed = CliRunner().invoke(
        app,
        [
            "audit",
            "list",
            "--json",
            "--tenant",
            "research",
            "--database-url",
            sqlite_url(tmp_path / "data" / "eigen.db"),
        ],
    )
    assert listed.exit_code == 0, listed.output
    refusals = [r for r in json.loads(listed.output) if r["kind"] == "refusal"]
    assert [r["operation"] for r in refusals] == ["SubmitJob"] * 3
    assert {r["subject"] for r in refusals} == {"research-bot"}
    assert refusals[1]["reason"].startswith("EIGEN_PERMISSION_DENIED")
    assert all(keys["research"] not in json.dumps(r) for r in json.loads(listed.output))


@pytest.mark.parametrize("content", [None, "policies: [{tenant: lab, max_queued_jobs: many}]"])
def test_serve_refuses_a_missing_or_broken_policy_file(tmp_path: Path, content: str | None) -> None:
    policy = tmp_path / "policy.yaml"
    if content is not None:
        policy.write_text(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EIGEN_")}
    env.update(EIGEN_DATA_DIR=str(tmp_path / "data"), EIGEN_POLICY_FILE=str(policy))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "eigen-server"), "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    expected = (
        "policies[0].max_queued_jobs: must be a valid integer" if content else "cannot read policy file"
    )
    assert expected in done.stderr and "Traceback" not in done.stderr


def padded(text: str, size: int = 120) -> str:
    """``text`` padded with a comment to ``size`` characters: versions of one size."""
    return text + "#" + " " * (size - len(text) - 2) + "\n"


def wait_for_line(log: Path, words: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited with {process.returncode}"
        if words in log.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"no {words!r} in the server's log: {log.read_text()[-2000:]}")


def test_sighup_reloads_the_policy_of_a_running_server(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(padded("policies: [{tenant: default, max_queued_jobs: 10}]"))
    first = policy.stat()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EIGEN_")}
    env.update(EIGEN_DATA_DIR=str(tmp_path / "data"), EIGEN_POLICY_FILE=str(policy))
    log = tmp_path / "server.log"
    command = [str(Path(sys.executable).parent / "eigen-server"), "serve", "--port", "0"]
    with log.open("w") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on" in line, log.read_text()
        address = line.rsplit(" ", 1)[-1].strip()
        with grpc.insecure_channel(address) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            stub.ListJobs(jobs_pb2.ListJobsRequest(), timeout=30)
            # the same size, inode and modification time: only SIGHUP can tell it changed
            policy.write_text(padded("policies: [{tenant: default, allowed_operations: [GetJob]}]"))
            os.utime(policy, ns=(first.st_atime_ns, first.st_mtime_ns))
            process.send_signal(signal.SIGHUP)
            wait_for_line(log, "policy file reloaded", process)
            with pytest.raises(grpc.RpcError) as denied:
                stub.ListJobs(jobs_pb2.ListJobsRequest(), timeout=30)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            policy.write_text("policies: [{tenant: default, allowed_operations: [Everything]}]\n")
            process.send_signal(signal.SIGHUP)
            wait_for_line(log, "keeping the previous policy", process)
            assert "'Everything'" in log.read_text()
            with pytest.raises(grpc.RpcError):
                stub.ListJobs(jobs_pb2.ListJobsRequest(), timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_rate_limit_per_minute_through_a_real_server(
    secured: tuple[EmbeddedServer, Path, dict[str, str]],
) -> None:
    server, policy, keys = secured
    policy.write_text(POLICY.format(research=2) + "    rate_limit_per_minute: 2\n")  # lab's rule
    assert server.stack is not None and server.stack.security is not None
    assert server.stack.security.policy is not None and server.stack.security.policy.reload(force=True)
    with grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        for _ in range(2):
            stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=as_key(keys["lab"]), timeout=30)
        with pytest.raises(grpc.RpcError) as limited:
            stub.GetJob(jobs_pb2.GetJobRequest(job_id="nope"), metadata=as_key(keys["lab"]), timeout=30)
        assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        status = rpc_status.from_call(limited.value)  # type: ignore[arg-type]
        assert status is not None
        retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
        assert retry, "no RetryInfo"
        info = error_details_pb2.RetryInfo()
        retry[0].Unpack(info)
        assert 0 < info.retry_delay.ToTimedelta().total_seconds() <= 30
        for _ in range(3):  # another tenant: no rate
            stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=as_key(keys["research"]), timeout=30)


SHARES = "policies: [{{tenant: research, fair_share: {research}}}, {{tenant: lab, fair_share: 1}}]\n"


def test_policy_fair_shares_order_a_real_servers_queue(tmp_path: Path) -> None:
    """A held device of one slot; the two tenants then queue 8 jobs each, alternately.
    Research (share 3) has about three of every four places at the front of the queue.
    Each job is charged 100 s (no run on the device has ended yet), so how fast the test
    submits does not matter."""
    policy, settings = secured_settings(
        tmp_path,
        SHARES.format(research=3),
        scheduling_policy="fair_share",
        scheduling_job_cost_s=100.0,
        device_capacity={HELD: 1},
    )
    with EmbeddedServer(settings) as server:
        keys = issue_keys(tmp_path / "data")
        clients = {tenant: Client(server.address, api_key=key, timeout=60) for tenant, key in keys.items()}
        try:
            with holding(server) as held:
                blocker = clients["lab"].submit(BELL, target=HELD, shots=10)
                held.wait_held(1)
                waiting = [
                    (tenant, clients[tenant].submit(BELL, target=HELD, shots=10, seed=n))
                    for n in range(8)
                    for tenant in ("research", "lab")
                ]
                placed: dict[int, str] = {}
                for tenant, future in waiting:
                    for event in clients[tenant].watch(future.job_id):  # until compiled and queued
                        if event.state not in (JobState.PENDING, JobState.COMPILING):
                            break
                    job = clients[tenant].get(future.job_id)
                    assert job.state is JobState.QUEUED and job.placement is not None, job
                    placed[job.placement.position] = tenant
                assert sorted(placed) == list(range(1, 17))
                front = [placed[n] for n in range(1, 9)]
                assert front.count("research") == 6, front  # 3 : 1 (lab's blocker counts too)

                assert server.stack is not None and server.stack.kernel is not None
                assert server.stack.security is not None
                source = server.stack.security.policy
                assert source is not None
                shares = server.stack.kernel.dispatch.order.shares
                assert isinstance(shares, PolicyShares) and shares.source is source  # one file, one reload
                rewrite = policy.with_suffix(".new")
                rewrite.write_text(SHARES.format(research=0.5))
                os.replace(rewrite, policy)
                assert source.reload()  # what the next second's check does
                assert shares.share("research") == 0.5
                for future in [blocker, *(f for _, f in waiting)]:
                    future.cancel()
        finally:
            for client in clients.values():
                client.close()
