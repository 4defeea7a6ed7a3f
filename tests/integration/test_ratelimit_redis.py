"""Rate limits shared by api nodes through Redis (:mod:`eigen.security.shared_ratelimit`),
against the real Redis at 127.0.0.1:6379, a private ``redis-server`` the tests stop and
start again (the outage), and two real ``eigen-server serve`` processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis

from eigen.config.settings import Settings
from eigen.errors import ResourceExhausted
from eigen.models.principal import Principal
from eigen.security import ratelimit
from eigen.security.ratelimit import RateLimiter
from eigen.security.shared_ratelimit import KEY_PREFIX, PerMinuteLimiters, SharedRateLimiter, redis_client
from eigen.server.security import guard_from
from tests.integration.helpers import details, job
from tests.integration.private_services import private_redis
from tests.integration.test_four_processes import free_port, wait_serving

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
NO_REFILL = 1e-6  # tokens per second: a bucket that does not refill during a test


@pytest.fixture
def scope() -> Iterator[str]:
    """A scope of this test's own in the shared Redis, its keys deleted after."""
    name = f"test-{uuid.uuid4().hex}"
    yield name
    with contextlib.closing(redis.Redis.from_url(REDIS_URL)) as client:
        keys = list(client.scan_iter(f"{KEY_PREFIX}:{name}:*"))
        if keys:
            client.delete(*keys)


def node(scope: str, rate: float = NO_REFILL, burst: int = 5) -> SharedRateLimiter:
    """The limiter of one api node: its own Redis connection."""
    return SharedRateLimiter(redis_client(REDIS_URL), rate, burst, scope=scope)


def test_two_nodes_share_one_bucket_per_caller(scope: str) -> None:
    first, second = node(scope), node(scope)
    granted = [limiter.acquire("caller:alice") == 0 for _ in range(4) for limiter in (first, second)]
    assert granted == [True] * 5 + [False] * 3  # burst 5 across both, not 5 each
    assert first.acquire("caller:bob") == 0  # another caller has a bucket of its own
    # per process (no Redis), each node would have allowed its own 5
    local = [RateLimiter(NO_REFILL, 5), RateLimiter(NO_REFILL, 5)]
    assert sum(limiter.acquire("caller:alice") == 0 for _ in range(4) for limiter in local) == 8


def test_concurrent_takers_never_spend_a_token_twice(scope: str) -> None:
    limiters = [node(scope, burst=20) for _ in range(4)]
    granted: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def take(limiter: SharedRateLimiter) -> None:
        start.wait(10)
        for _ in range(25):
            ok = limiter.acquire("caller:burst") == 0
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=take, args=(limiters[i % 4],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(granted) == 200 and granted.count(True) == 20


def test_the_bucket_refills_on_redis_time_and_expires(scope: str) -> None:
    limiter = node(scope, rate=20.0, burst=1)
    assert limiter.acquire("caller:carol") == 0
    wait = limiter.acquire("caller:carol")
    assert 0 < wait <= 0.05 + 1e-9
    deadline = time.monotonic() + 5
    while limiter.acquire("caller:carol") > 0:  # refilled once the hinted wait has passed
        assert time.monotonic() < deadline
        time.sleep(wait)
    with contextlib.closing(redis.Redis.from_url(REDIS_URL)) as client:
        ttl = client.pttl(f"{KEY_PREFIX}:{scope}:caller:carol")
    assert 0 < ttl <= 1000 + 50  # gone once it would be full again (plus a second)


def test_check_refuses_with_a_retry_hint(scope: str) -> None:
    limiter = node(scope, burst=1)
    limiter.check("caller:dave", "SubmitJob")
    with pytest.raises(ResourceExhausted) as refused:
        limiter.check("caller:dave", "SubmitJob")
    assert float(refused.value.metadata["retry_after_s"]) > 0


def test_a_redis_outage_degrades_to_per_process_buckets_and_recovers() -> None:
    port = free_port()
    clock = [0.0]
    limiter = SharedRateLimiter(
        redis_client(f"redis://127.0.0.1:{port}/0"), NO_REFILL, 2, clock=lambda: clock[0], retry_after_s=1.0
    )
    with private_redis(port):
        assert limiter.acquire("caller:erin") == 0
        assert limiter.problem() is None
    # Redis gone: this process's own bucket (full: it never counted erin), and a problem
    assert [limiter.acquire("caller:erin") == 0 for _ in range(3)] == [True, True, False]
    assert "Redis unreachable" in (limiter.problem() or "")
    with private_redis(port):
        assert limiter.acquire("caller:frank") == 0  # within retry_after_s: not tried yet
        assert limiter.problem() is not None
        clock[0] += 1.0
        assert limiter.acquire("caller:frank") == 0  # Redis again (a fresh server: full bucket)
        assert limiter.problem() is None
        assert [limiter.acquire("caller:frank") == 0 for _ in range(2)] == [True, False]


def test_guard_from_installs_the_shared_limiter_and_restores_the_previous(tmp_path: Path) -> None:
    before = ratelimit.installed()
    settings = Settings(data_dir=tmp_path, redis_url=REDIS_URL, rate_limit_per_s=2.0, rate_limit_burst=4)
    security = guard_from(settings)
    try:
        installed = ratelimit.installed()
        assert isinstance(installed, SharedRateLimiter) and security.rate_limiter is installed
        assert installed.rate == 2.0 and installed.burst == 4
    finally:
        security.close()
    assert ratelimit.installed() is before
    assert guard_from(Settings(data_dir=tmp_path, rate_limit_per_s=2.0)).rate_limiter is None  # no Redis


def test_a_bad_redis_url_is_a_clear_setting_error(tmp_path: Path) -> None:
    from eigen.config.errors import InvalidSetting

    with pytest.raises(InvalidSetting, match="redis_url"):
        guard_from(Settings(data_dir=tmp_path, redis_url="mysql://nope", rate_limit_per_s=1.0))


def test_the_limit_holds_across_two_api_processes(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two real servers, one Redis: a caller's burst is spent across both."""
    from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc

    scope_key = f"failover-{uuid.uuid4().hex}"  # the caller: a bucket no other run shares
    processes: list[subprocess.Popen[bytes]] = []
    addresses = []
    try:
        for name in ("api-1", "api-2"):
            port = free_port()
            env = {
                **os.environ,
                "EIGEN_DATA_DIR": str(tmp_path_factory.mktemp(name)),
                "EIGEN_REDIS_URL": REDIS_URL,
                "EIGEN_RATE_LIMIT_PER_S": "0.001",
                "EIGEN_RATE_LIMIT_BURST": "3",
            }
            command = [sys.executable, "-m", "eigen.server", "serve", "--port", str(port)]
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            processes.append(process)
            wait_serving(f"127.0.0.1:{port}", process, time.monotonic() + 120)
            addresses.append(f"127.0.0.1:{port}")
        outcomes = []
        channels = [grpc.insecure_channel(a) for a in addresses]
        stubs = [jobs_pb2_grpc.JobServiceStub(c) for c in channels]
        for i in range(6):
            try:
                stubs[i % 2].SubmitJob(
                    jobs_pb2.SubmitJobRequest(job=job(shots=10)),
                    metadata=(("x-eigen-caller", scope_key),),
                    timeout=30,
                )
                outcomes.append("ok")
            except grpc.RpcError as exc:
                assert exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, details(exc)
                outcomes.append("limited")
        for channel in channels:
            channel.close()
        assert outcomes == ["ok"] * 3 + ["limited"] * 3  # 3 in all, through both servers
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        with contextlib.closing(redis.Redis.from_url(REDIS_URL)) as client:
            client.delete(f"{KEY_PREFIX}:calls:caller:{scope_key}")


def test_a_policy_rate_per_minute_is_shared_by_the_nodes() -> None:
    """The buckets a policy's ``rate_limit_per_minute`` would take from on two nodes."""
    per_minute = 5  # 1 token per 12 s: none comes back during the test
    nodes = [PerMinuteLimiters(REDIS_URL), PerMinuteLimiters(REDIS_URL)]
    scope = f"tenant:{uuid.uuid4().hex}"
    try:
        limiters = [make(per_minute) for make in nodes]
        assert limiters[0].rate == per_minute / 60.0 and limiters[0].burst == per_minute
        granted = sum(limiters[i % 2].acquire(scope) == 0 for i in range(per_minute + 4))
        assert granted == per_minute  # the minute's tokens once, across both nodes
    finally:
        with contextlib.closing(redis.Redis.from_url(REDIS_URL)) as client:
            client.delete(f"{KEY_PREFIX}:policy:{per_minute}:{scope}")
        for make in nodes:
            make.close()


def _policy_outcomes(guards: list[Any], principal: Principal, calls: int) -> list[str]:
    outcomes = []
    for i in range(calls):
        try:
            guards[i % len(guards)].authorize(principal, "GetJob")
            outcomes.append("ok")
        except ResourceExhausted:
            outcomes.append("limited")
    return outcomes


def test_guard_from_shares_the_policy_rates_through_redis(tmp_path: Path) -> None:
    """Two api nodes' guards (guard_from, one policy file, redis_url set): a tenant's
    ``rate_limit_per_minute`` is spent across both, also after a reload; without Redis
    each node counts its own."""
    tenant = f"t{uuid.uuid4().hex[:12]}"
    per_minute = 3  # 1 token per 20 s: none comes back during the test
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"policies:\n  - tenant: {tenant}\n    rate_limit_per_minute: {per_minute}\n")
    principal = Principal(tenant, "alice", frozenset({"viewer"}), "api_key")
    shared = Settings(data_dir=tmp_path, redis_url=REDIS_URL, policy_file=policy)
    nodes = [guard_from(shared), guard_from(shared)]
    try:
        guards = [node.guard for node in nodes]
        assert _policy_outcomes(guards, principal, 5) == ["ok"] * 3 + ["limited"] * 2
        # a reload keeps the shared buckets: still spent on both nodes
        policy.write_text(
            f"policies:\n  - tenant: {tenant}\n    rate_limit_per_minute: {per_minute}\n"
            "    max_queued_jobs: 10\n"
        )
        for node in nodes:
            assert node.policy is not None and node.policy.reload(force=True)
        assert _policy_outcomes(guards, principal, 2) == ["limited"] * 2
    finally:
        for node in nodes:
            node.close()
        with contextlib.closing(redis.Redis.from_url(REDIS_URL)) as client:
            client.delete(f"{KEY_PREFIX}:policy:{per_minute}:tenant:{tenant}")
    local = [guard_from(Settings(data_dir=tmp_path, policy_file=policy)) for _ in range(2)]
    try:
        outcomes = _policy_outcomes([node.guard for node in local], principal, 8)
        assert outcomes.count("ok") == 2 * per_minute  # each node its own minute's tokens
    finally:
        for node in local:
            node.close()
