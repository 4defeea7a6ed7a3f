"""The security of a server from its settings: the one :class:`~eigen.security.guard.Guard`
both public edges and the service layer use.

``guard_from(settings, engine)`` puts together what the settings ask for:

- the authenticator (:func:`eigen.security.identity.authenticator_from`: mTLS, JWT, API
  keys), only while ``auth_required`` is on; API keys are read from the ``api_keys`` and
  ``tenants`` tables of the job store's database (``engine``);
- the policy file (``policy_file``: allowed operations and backends, rates, quotas),
  reloaded when it changes;
- the audit log: a log line per authentication attempt and refusal, and a row in
  ``audit_events`` of the same database (log lines only without one). It is kept only
  when there is something to audit (authentication on, or a policy file).
- the per-caller submission limit (``rate_limit_per_s``, ``rate_limit_burst``) shared by
  every api node through Redis when ``redis_url`` is set
  (:class:`~eigen.security.shared_ratelimit.SharedRateLimiter`, installed for this process
  in place of the per-process one ``serve`` installs); without Redis each process counts
  its own callers. The policy file's ``rate_limit_per_minute`` buckets are shared the
  same way (:class:`~eigen.security.shared_ratelimit.PerMinuteLimiters`).

With none of the settings (the embedded mode, a bare loopback server) the guard is
``Guard()``: no authentication, every call allowed, nothing recorded, as before security.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from eigen.config.settings import Settings
from eigen.security import ratelimit
from eigen.security.audit import AuditSink, AuditWriter, audit_log_from
from eigen.security.guard import Guard
from eigen.security.policy import PolicyFile, policy_from

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from eigen.security.authenticator import Authenticator
    from eigen.security.shared_ratelimit import PerMinuteLimiters, SharedRateLimiter


@dataclass
class Security:
    """The guard of a server and what it holds open (the audit writer's thread, the key
    cache's background reads)."""

    guard: Guard
    policy: PolicyFile | None = None  # for a SIGHUP handler of the entry point
    audit: AuditWriter | None = None
    rate_limiter: SharedRateLimiter | None = None  # its problem() for a readiness check
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()


def guard_from(settings: Settings, engine: Engine | None = None) -> Security:
    """The guard ``settings`` describe, over the job store's database ``engine`` (API keys
    and audit rows; None: neither is kept in a database). InvalidSetting for a policy file
    or an authentication setup that cannot work, at start rather than at the first call."""
    shared = _per_minute_limiters(settings)
    try:
        policy = policy_from(settings, shared)
    except BaseException:
        if shared is not None:
            shared.close()
        raise
    audit: AuditWriter | None = None
    security = Security(Guard(policy=policy), policy=policy)
    if shared is not None:
        security.closers.append(shared.close)
    if settings.auth_required or policy is not None:
        audit = audit_log_from(_audit_store(engine))
        security.audit = audit
        security.closers.append(audit.close)
        security.guard.audit = audit
    authenticator = _authenticator(settings, engine, policy)
    security.guard.authenticator = authenticator
    close = getattr(authenticator, "close", None)
    if callable(close):  # the key cache's background reads: stopped before the store closes
        security.closers.append(close)
    _share_rate_limit(settings, security)
    return security


def _per_minute_limiters(settings: Settings) -> PerMinuteLimiters | None:
    """The shared buckets of the policy file's rates, when there is a policy file and
    ``redis_url`` is set (None: each process counts its own)."""
    if settings.redis_url is None or settings.policy_file is None:
        return None
    from eigen.security.shared_ratelimit import PerMinuteLimiters

    return PerMinuteLimiters(settings.redis_url)


def _share_rate_limit(settings: Settings, security: Security) -> None:
    """With ``redis_url`` and a rate: the shared limiter, installed for this process until
    the security closes (then the one installed before it is back)."""
    if settings.redis_url is None or settings.rate_limit_per_s <= 0:
        return
    from eigen.security.shared_ratelimit import shared_limiter

    limiter = shared_limiter(settings.redis_url, settings.rate_limit_per_s, settings.rate_limit_burst)
    if limiter is None:
        return
    previous = ratelimit.installed()
    ratelimit.install(limiter)
    security.rate_limiter = limiter

    def uninstall() -> None:
        if ratelimit.installed() is limiter:
            ratelimit.install(previous)

    security.closers.append(limiter.close)
    security.closers.append(uninstall)  # closed in reverse: uninstalled, then disconnected


def _audit_store(engine: Engine | None) -> AuditSink | None:
    if engine is None:
        return None
    from eigen.kernel.store.audit import SqlAuditStore

    return SqlAuditStore(engine)


def _authenticator(
    settings: Settings, engine: Engine | None, policy: PolicyFile | None
) -> Authenticator | None:
    """The authenticator of the public edges (None while ``auth_required`` is off)."""
    if not settings.auth_required:
        return None
    from eigen.kernel.store.keys import SqlKeyStore
    from eigen.security.identity import authenticator_from

    keys = SqlKeyStore(engine) if engine is not None else None  # the engine stays the store's
    return authenticator_from(settings, keys, policy)
