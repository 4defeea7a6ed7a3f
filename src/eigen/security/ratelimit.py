"""Per-caller rate limit of submissions: one token bucket per caller identity (the
authenticated tenant and subject when authentication is on).

A bucket holds up to ``burst`` tokens and refills at ``rate_per_s``; each limited call
takes one. An empty bucket answers with the seconds until a token is back, which the
gRPC layer returns as RESOURCE_EXHAUSTED with a retry hint (ErrorInfo metadata
``retry_after_s`` and a ``google.rpc.RetryInfo`` detail).

The process-wide limiter is installed by the entry point (:func:`install`); a servicer
may carry its own as ``rate_limiter``. With none installed nothing is limited.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from eigen.errors import ResourceExhausted
from eigen.models.principal import Principal
from eigen.observability.context import ANONYMOUS

LIMITED_METHODS = frozenset({"SubmitJob", "SubmitBatch"})


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by caller; thread-safe; the least recently seen callers are
    forgotten past ``max_callers`` (a forgotten caller starts again with a full bucket)."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int | None = None,
        *,
        methods: frozenset[str] = LIMITED_METHODS,
        max_callers: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate = float(rate_per_s)
        self.burst = float(burst if burst is not None else max(1, math.ceil(rate_per_s)))
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self.methods = methods
        self.max_callers = max_callers
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def applies_to(self, method: str) -> bool:
        return method in self.methods

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s bucket: 0.0 when granted, otherwise the
        seconds until the bucket holds enough again (nothing is taken then)."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(self.burst, now)
                self._buckets[key] = bucket
                while len(self._buckets) > self.max_callers:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
                bucket.updated = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate

    def check(self, key: str, method: str) -> None:
        """Raise RESOURCE_EXHAUSTED with a retry hint when ``key`` is over its rate."""
        wait = self.acquire(key)
        if wait > 0:
            retry = max(0.001, round(wait, 3))
            raise ResourceExhausted(
                f"rate limit exceeded for {method} ({self.rate:g}/s, burst {self.burst:g}): "
                f"retry in {retry:g} s",
                metadata={"retry_after_s": f"{retry:g}"},
            )


def caller_key(caller: str, peer: str, principal: Principal | None = None) -> str:
    """The identity a bucket belongs to: an authenticated principal (its tenant and
    subject: another tenant's client of the same name has a bucket of its own), else the
    caller's ``x-eigen-caller``, or the client host when anonymous."""
    if principal is not None:
        return f"principal:{principal.tenant}/{principal.subject}"
    if caller and caller != ANONYMOUS:
        return f"caller:{caller}"
    host = peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer  # ipv4:1.2.3.4:5678
    return f"peer:{host or 'unknown'}"


def limiter(rate_per_s: float, burst: int = 0) -> RateLimiter | None:
    """A limiter from settings values; None (no limit) when ``rate_per_s`` is 0."""
    if rate_per_s <= 0:
        return None
    return RateLimiter(rate_per_s, burst or None)


_installed: RateLimiter | None = None


def install(value: RateLimiter | None) -> None:
    """Make ``value`` the limiter of this process (None: no limit)."""
    global _installed
    _installed = value


def installed() -> RateLimiter | None:
    return _installed
