"""The circuit breaker against a real server that goes away and comes back on the same
port: calls fail until the breaker opens, then fail fast; after the cool-down a probe
closes it again. A future watched across the outage resumes and completes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from eigen.client import (
    BreakerState,
    ChannelOptions,
    CircuitBreaker,
    Client,
    JobState,
    RetryPolicy,
    Unavailable,
)
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import BELL, SLOW

pytestmark = pytest.mark.integration
COOL_DOWN = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_on(port: int, data_dir: Path) -> EmbeddedServer:
    """An embedded server on a fixed port (EmbeddedServer picks a free one by default)."""
    server = EmbeddedServer(data_dir=data_dir)
    server.settings = server.settings.model_copy(update={"port": port})
    return server.start()


def test_breaker_opens_while_the_server_is_down_and_closes_when_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    server = server_on(port, tmp_path)
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=COOL_DOWN)
    options = ChannelOptions(
        timeout=5.0,
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.05, max_backoff=0.1),
        initial_reconnect_backoff=0.1,
        max_reconnect_backoff=0.3,
    )
    client = Client(f"127.0.0.1:{port}", options=options, breaker=breaker, watch_resume_timeout=30)
    try:
        assert client.backends()
        before = client.submit(BELL, target="sim:stabilizer", shots=8)
        before.result(timeout=30)
        server.stop()

        failures = 0
        while breaker.state is BreakerState.CLOSED and failures < 10:
            with pytest.raises(Unavailable) as caught:
                client.backends()
            assert "circuit open" not in str(caught.value)
            failures += 1
        assert breaker.state is BreakerState.OPEN and failures == 3

        started = time.monotonic()
        with pytest.raises(Unavailable, match="circuit open"):
            client.get(before.id)
        assert time.monotonic() - started < 0.5  # failed fast, nothing was sent

        server = server_on(port, tmp_path)  # back, same port, same data
        time.sleep(COOL_DOWN)
        deadline = time.monotonic() + 15
        while True:
            try:
                backends = client.backends()
                break
            except Unavailable:  # the channel may still be reconnecting: the breaker re-opens
                assert time.monotonic() < deadline, "the breaker never closed"
                time.sleep(0.1)
        assert backends and breaker.state is BreakerState.CLOSED
        assert client.get(before.id).id == before.id
        after = client.submit(BELL, target="sim:stabilizer", shots=8)
        assert sum(after.result(timeout=30).counts.values()) == 8
    finally:
        client.close()
        server.stop()


def test_a_future_resumes_its_watch_across_a_restart(tmp_path: Path) -> None:
    port = free_port()
    server = server_on(port, tmp_path)
    options = ChannelOptions(initial_reconnect_backoff=0.1, max_reconnect_backoff=0.3)
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=0.2)
    client = Client(f"127.0.0.1:{port}", options=options, breaker=breaker, watch_resume_timeout=30)
    try:
        futures = [client.submit(SLOW, shots=10) for _ in range(3)]
        server.stop(grace=0.1)
        unfinished = [f for f in futures if not f.done()]
        assert unfinished  # their watch streams broke with the server
        server = server_on(port, tmp_path)  # re-runs what was left RUNNING or QUEUED
        results = [f.result(timeout=60) for f in futures]
        assert all(sum(r.counts.values()) == 10 for r in results)
        assert all(f.state is JobState.DONE for f in futures)
    finally:
        client.close()
        server.stop()
