"""The per-caller token bucket of system-api."""

from __future__ import annotations

import pytest

from eigen.errors import ResourceExhausted
from eigen.security import ratelimit
from eigen.security.ratelimit import RateLimiter, caller_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)  # one token every 0.5 s
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 60  # refills up to the burst, not beyond
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0


def test_callers_have_their_own_buckets() -> None:
    limiter = RateLimiter(1.0, burst=1, clock=Clock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_check_raises_resource_exhausted_with_a_retry_hint() -> None:
    limiter = RateLimiter(4.0, burst=1, clock=Clock())
    limiter.check("a", "SubmitJob")
    with pytest.raises(ResourceExhausted, match="rate limit exceeded for SubmitJob") as caught:
        limiter.check("a", "SubmitJob")
    assert caught.value.retryable
    assert float(caught.value.metadata["retry_after_s"]) == pytest.approx(0.25)


def test_least_recently_seen_callers_are_forgotten() -> None:
    limiter = RateLimiter(1.0, burst=1, max_callers=2, clock=Clock())
    for key in ("a", "b", "c"):
        limiter.acquire(key)
    assert limiter.acquire("a") == 0.0  # forgotten, so a full bucket again
    assert limiter.acquire("c") > 0


def test_only_submissions_are_limited_by_default() -> None:
    limiter = RateLimiter(1.0)
    assert limiter.applies_to("SubmitJob") and limiter.applies_to("SubmitBatch")
    assert not limiter.applies_to("GetJob") and not limiter.applies_to("WatchJob")


def test_settings_values() -> None:
    assert ratelimit.limiter(0) is None
    made = ratelimit.limiter(5.0, 20)
    assert made is not None and made.rate == 5.0 and made.burst == 20
    assert ratelimit.limiter(2.5).burst == 3  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_caller_identity() -> None:
    assert caller_key("alice", "ipv4:10.0.0.1:5000") == "caller:alice"
    assert caller_key("anonymous", "ipv4:10.0.0.1:5000") == "peer:ipv4:10.0.0.1"
    assert caller_key("anonymous", "ipv4:10.0.0.1:6000") == "peer:ipv4:10.0.0.1"
    assert caller_key("", "ipv6:[::1]:5000") == "peer:ipv6:[::1]"
