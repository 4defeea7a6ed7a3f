"""Rate limits shared by every api node: the token buckets of
:class:`~eigen.security.ratelimit.RateLimiter` kept in Redis (``redis_url``).

Each bucket is one Redis hash (``tokens``, ``updated``) under ``eigen:ratelimit:<scope>:
<caller>``, taken from by one Lua script: Redis runs a script alone, so nodes taking from
one bucket at once never both spend its last token, and the script reads the time from
Redis (``TIME``), so the nodes' clocks need not agree. A bucket left alone expires once it
would be full again.

When Redis cannot be reached the limiter degrades to this process's own buckets (each
node then allows the whole rate by itself) and says so: one warning, and :meth:`problem`
for a readiness check, until a call to Redis succeeds again. For a while after a failure
(``retry_after_s``) it does not try Redis at all, so a dead Redis costs one connection
timeout per that interval, not one per call.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from eigen.security.ratelimit import LIMITED_METHODS, RateLimiter

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

KEY_PREFIX = "eigen:ratelimit"

#: KEYS[1] the bucket; ARGV rate (tokens per second), burst, cost. Returns the seconds to
#: wait as a string ("0" when granted; Redis would truncate a Lua number to an integer).
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
if tokens < cost then
  return tostring((cost - tokens) / rate)
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return '0'
"""


class SharedRateLimiter(RateLimiter):
    """A :class:`RateLimiter` whose buckets live in Redis (``client``), shared by every
    process that uses the same ``scope`` (a name for what is limited: ``calls`` for the
    per-caller submission limit, ``policy:<n>`` for a policy's rate of n per minute)."""

    def __init__(
        self,
        client: redis.Redis,
        rate_per_s: float,
        burst: int | None = None,
        *,
        scope: str = "calls",
        methods: frozenset[str] = LIMITED_METHODS,
        retry_after_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(rate_per_s, burst, methods=methods, clock=clock)
        self.client = client
        self.prefix = f"{KEY_PREFIX}:{scope}:"
        self.retry_after_s = retry_after_s
        self._script = client.register_script(TOKEN_BUCKET)
        self._down_since: float | None = None  # on ``clock``; None while Redis answers
        self._retry_at = 0.0
        self._failure = ""
        self._state = threading.Lock()

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s shared bucket (see :meth:`RateLimiter.acquire`);
        this process's own bucket while Redis is unreachable."""
        import redis

        if self._down_since is not None and self.clock() < self._retry_at:
            return super().acquire(key, cost)
        try:
            answer = self._script(
                keys=[self.prefix + key], args=[repr(self.rate), repr(self.burst), repr(cost)]
            )
        except redis.RedisError as exc:
            self._failed(exc)
            return super().acquire(key, cost)
        self._recovered()
        wait = float(answer)
        return wait if math.isfinite(wait) and wait > 0 else 0.0

    def problem(self) -> str | None:
        """Why the limits are per process now (Redis unreachable), None while shared."""
        if self._down_since is None:
            return None
        return f"rate limits per process: Redis unreachable ({self._failure})"

    def close(self) -> None:
        self.client.close()

    def _failed(self, exc: Exception) -> None:
        with self._state:
            now = self.clock()
            self._retry_at = now + self.retry_after_s
            self._failure = f"{type(exc).__name__}: {exc}"
            if self._down_since is not None:
                return
            self._down_since = now
        log.warning(
            "rate limits: Redis unreachable, counting in this process until it answers",
            extra={"reason": self._failure},
        )

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        with self._state:
            if self._down_since is None:
                return
            outage = self.clock() - self._down_since
            self._down_since = None
        log.info("rate limits: Redis answers again, limits shared", extra={"outage_s": round(outage, 3)})


def redis_client(url: str, *, timeout_s: float = 0.25) -> redis.Redis:
    """A Redis client for rate limits: short connect and read timeouts (a limit is
    checked on the call's path), connections kept in redis-py's pool. InvalidSetting
    for a URL redis-py cannot read."""
    import redis

    from eigen.config.errors import InvalidSetting

    try:
        return redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30
        )
    except ValueError as exc:
        raise InvalidSetting(f"redis_url: {exc}") from None


def shared_limiter(url: str, rate_per_s: float, burst: int = 0) -> SharedRateLimiter | None:
    """The per-caller submission limit of the settings (``rate_limit_per_s``,
    ``rate_limit_burst``) shared through the Redis at ``url``; None when the rate is 0."""
    if rate_per_s <= 0:
        return None
    return SharedRateLimiter(redis_client(url), rate_per_s, burst or None)


class PerMinuteLimiters:
    """The shared buckets of a policy file's ``rate_limit_per_minute`` values: one
    :class:`SharedRateLimiter` per value (scope ``policy:<n>``, n tokens refilled over a
    minute, as :class:`~eigen.security.policy.RulePolicy` makes them in process), all over
    one Redis connection pool. Called with n, it gives that value's limiter."""

    def __init__(self, url: str) -> None:
        self.client = redis_client(url)

    def __call__(self, per_minute: int) -> SharedRateLimiter:
        return SharedRateLimiter(
            self.client, per_minute / 60.0, per_minute, scope=f"policy:{per_minute}", methods=frozenset()
        )

    def close(self) -> None:
        self.client.close()
