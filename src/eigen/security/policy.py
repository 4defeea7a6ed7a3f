"""The policy file: per tenant or client, the operations, backends, rate and quotas.

A YAML file (setting ``policy_file``) in the roadmap's shape::

    policies:
      - tenant: research
        allowed_operations: [SubmitJob, GetJob, jobs.read]
        allowed_backends: ["sim:*"]
        max_queued_jobs: 100
        rate_limit_per_minute: 300
        max_shots_per_job: 100000
        max_qubits_per_job: 20
        fair_share: 3
      - client_id: ci-runner
        tenant: research
        rate_limit_per_minute: 60
    certificates:
      - name: worker.research.example
        tenant: research
        subject: ci-runner
        roles: [submitter]

A tenant rule applies to every principal of the tenant; a client rule (``client_id``, the
principal's subject, optionally narrowed to one ``tenant``) overrides the tenant's rule key
by key. A principal no rule names may do what its roles grant. An authenticated ``admin``
is never limited by a tenant rule, only by a client rule that names it. While
authentication is off every call is the default tenant's (``unauthenticated``), whose
rule then applies. ``fair_share`` (a tenant rule's only) is the tenant's weight in the
fair-share order of the execute queues (docs/scheduling.md): it wins over the
``tenant_shares`` setting, which stays the default of a tenant whose rule sets none, and
it is read at each enqueue (:class:`PolicyShares`), so a reload reweighs the jobs queued
after it. ``rate_limit_per_minute`` counts every call the rule's principals make,
not only submissions. An empty file is an error (no rules: ``policies: []``), so a file
caught half-rewritten never drops the rules; write it atomically all the same (a new file
renamed over the old one). The policy only narrows
what the roles of :mod:`eigen.security.permissions` grant, never widens it.

:class:`PolicyFile` is the reloadable source: :meth:`PolicyFile.current` looks at the
file's modification time, size and inode at most once a second and reloads it when they
changed; :func:`reload_on_sighup` reloads it on SIGHUP. A file that does not parse at
start is a settings error; one that breaks later keeps the previous policy and logs why.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from eigen.config.errors import InvalidSetting
from eigen.errors import FieldViolation, PermissionDenied, ResourceExhausted, bounded, quote
from eigen.models.principal import ROLE_NAMES, Principal
from eigen.models.quota import NO_QUOTA, Quota
from eigen.security.permissions import PERMISSION_OF, PERMISSIONS
from eigen.security.ratelimit import RateLimiter

if TYPE_CHECKING:
    from eigen.config.settings import Settings

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
"""How often :meth:`PolicyFile.current` looks at the file (one ``stat``)."""

REASON_LIMIT = 600
"""The most UTF-8 bytes the warning about a broken file keeps of why."""

OPERATION_NAMES: frozenset[str] = frozenset(PERMISSION_OF) | frozenset(PERMISSIONS)
"""What ``allowed_operations`` may list: RPC names and permission names."""


class Policy(Protocol):
    def check(self, principal: Principal, operation: str, *, backend: str | None = None) -> None:
        """PERMISSION_DENIED (operation or backend not allowed) or RESOURCE_EXHAUSTED (rate)."""
        ...

    def quota(self, principal: Principal) -> Quota: ...

    def certificate_principal(self, names: Sequence[str]) -> Principal | None:
        """The principal a client certificate with ``names`` maps to, None if unmapped."""
        ...


class PolicySource(Protocol):
    def current(self) -> Policy: ...


# --- the file ---------------------------------------------------------------------------


class Limits(BaseModel):
    """What one rule sets; an absent key sets nothing (a client rule then keeps the tenant's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_operations: tuple[str, ...] | None = None
    allowed_backends: tuple[str, ...] | None = None  # fnmatch patterns
    max_queued_jobs: int | None = Field(default=None, ge=0)
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    max_shots_per_job: int | None = Field(default=None, ge=1)
    max_qubits_per_job: int | None = Field(default=None, ge=1)

    @field_validator("allowed_operations")
    @classmethod
    def _known_operations(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in value or ():
            if name not in OPERATION_NAMES:
                known = ", ".join(sorted(OPERATION_NAMES))
                raise ValueError(f"unknown operation {quote(name)}: an RPC or permission name ({known})")
        return value


class Rule(Limits):
    """One entry of ``policies``: a tenant's rule, or a client's (``client_id``)."""

    tenant: str | None = Field(default=None, min_length=1)
    client_id: str | None = Field(default=None, min_length=1)
    # the tenant's weight in fair share; not a limit a client rule could override
    fair_share: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @field_validator("fair_share", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError("must be a positive number")
        return value

    @field_validator("fair_share")
    @classmethod
    def _a_tenants(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("client_id") is not None:
            raise ValueError("a tenant's fair share, not a client's: only a rule without client_id sets it")
        return value

    @model_validator(mode="after")
    def _names_someone(self) -> Rule:
        if self.tenant is None and self.client_id is None:
            raise ValueError("a rule names a tenant, a client_id, or both")
        return self


class CertificateRule(BaseModel):
    """One entry of ``certificates``: a client certificate's subject CN or SAN (exact) and
    the principal it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    tenant: str = Field(min_length=1)
    subject: str | None = Field(default=None, min_length=1)  # default: the name
    roles: tuple[str, ...] = Field(min_length=1)

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for role in value:
            if role not in ROLE_NAMES:
                raise ValueError(f"unknown role {quote(role)}: one of {', '.join(ROLE_NAMES)}")
        return value


class PolicyDocument(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policies: tuple[Rule, ...] = ()
    certificates: tuple[CertificateRule, ...] = ()

    @model_validator(mode="after")
    def _no_duplicates(self) -> PolicyDocument:
        seen: dict[tuple[str | None, str | None], int] = {}
        for index, rule in enumerate(self.policies):
            key = (rule.tenant, rule.client_id)
            if key in seen:
                raise ValueError(
                    f"policies[{index}] names the same tenant and client as policies[{seen[key]}]"
                )
            seen[key] = index
        names: dict[str, int] = {}
        for index, cert in enumerate(self.certificates):
            if cert.name in names:
                raise ValueError(
                    f"certificates[{index}] has the same name as certificates[{names[cert.name]}]"
                )
            names[cert.name] = index
        return self


def _path_of(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "file"


def _invalid(path: Path | str, exc: ValidationError) -> InvalidSetting:
    violations = []
    for error in exc.errors():
        field = _path_of(tuple(error["loc"]))
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            message = message.replace("Input should be", "must be").replace("Field required", "required")
            message = message.replace("greater than or equal to", "at least")
            if "input" in error and not isinstance(error["input"], dict | list):
                message += f", got {quote(error['input'])}"
        violations.append(FieldViolation(field, message))
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return InvalidSetting(f"policy file {path}: {summary}", violations)


def parse_policy(text: str, source: Path | str = "<policy>") -> PolicyDocument:
    """The policy in ``text``; :class:`~eigen.config.errors.InvalidSetting` naming the
    field path (``policies[0].max_queued_jobs``) of every mistake."""
    try:
        loaded: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        why = " ".join(str(exc).split())
        raise InvalidSetting(
            f"policy file {source} is not valid YAML: {why}", [FieldViolation("file", why)]
        ) from None
    if loaded is None:  # empty: most likely caught half-written; no rules is `policies: []`
        raise InvalidSetting(
            f"policy file {source} is empty: write `policies: []` for a policy without rules",
            [FieldViolation("file", "empty")],
        )
    if not isinstance(loaded, dict):
        raise InvalidSetting(
            f"policy file {source} must be a mapping with the keys policies and certificates",
            [FieldViolation("file", "must be a mapping")],
        )
    try:
        return PolicyDocument.model_validate(loaded)
    except ValidationError as exc:
        raise _invalid(source, exc) from None


def read_policy(path: Path) -> PolicyDocument:
    """The policy in the file ``path`` (InvalidSetting when missing, unreadable or wrong)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise InvalidSetting(
            f"cannot read policy file {path} (setting policy_file): {why}",
            [FieldViolation("policy_file", why)],
        ) from None
    return parse_policy(text, path)


# --- one version of the policy ----------------------------------------------------------

_LIMIT_KEYS = tuple(Limits.model_fields)


@dataclass(frozen=True)
class Effective:
    """The rules that apply to one principal, merged; ``rate_scope`` names the bucket."""

    values: dict[str, Any]
    rate_scope: str = ""

    def get(self, key: str) -> Any:
        return self.values.get(key)


class RulePolicy:
    """One parsed version of the policy file (a :class:`Policy`): answers from its rules,
    counts rates in token buckets (one per tenant, or per client for a client rule's rate).

    ``make_limiter`` makes the buckets of one ``rate_limit_per_minute`` value (default:
    in this process, on ``clock``); the api nodes of a cluster pass
    :class:`~eigen.security.shared_ratelimit.PerMinuteLimiters`, so that they count
    together in Redis."""

    def __init__(
        self,
        document: PolicyDocument,
        *,
        clock: Callable[[], float] = time.monotonic,
        limiters: dict[int, RateLimiter] | None = None,
        make_limiter: Callable[[int], RateLimiter] | None = None,
    ) -> None:
        self.document = document
        self.clock = clock
        self.make_limiter = make_limiter or functools.partial(_local_limiter, clock=clock)
        self._tenants: dict[str, Rule] = {}
        self._clients: dict[tuple[str, str | None], Rule] = {}
        for rule in document.policies:
            if rule.client_id is None:
                assert rule.tenant is not None
                self._tenants[rule.tenant] = rule
            else:
                self._clients[(rule.client_id, rule.tenant)] = rule
        self._certificates = {cert.name: cert for cert in document.certificates}
        rates = {r.rate_limit_per_minute for r in document.policies if r.rate_limit_per_minute}
        previous = limiters or {}
        # Buckets of a rate still in use survive a reload; a new rate starts full.
        self.limiters: dict[int, RateLimiter] = {n: previous.get(n) or self.make_limiter(n) for n in rates}

    def rules_of(self, principal: Principal) -> Effective:
        """The tenant's rule, overridden key by key by the client's. An authenticated admin
        has no tenant rule (the unauthenticated principal's roles, while authentication is
        off, make no admin of it here: its tenant's rule applies)."""
        values: dict[str, Any] = {}
        scope = ""
        layers: list[tuple[Rule, str]] = []
        tenant_rule = self._tenants.get(principal.tenant)
        if tenant_rule is not None and not (principal.admin and principal.method != "none"):
            layers.append((tenant_rule, f"tenant:{principal.tenant}"))
        for client in ((principal.subject, None), (principal.subject, principal.tenant)):
            client_rule = self._clients.get(client)
            if client_rule is not None:
                layers.append((client_rule, f"client:{principal.tenant}/{principal.subject}"))
        for rule, rule_scope in layers:
            for key in _LIMIT_KEYS:
                value = getattr(rule, key)
                if value is not None:
                    values[key] = value
                    if key == "rate_limit_per_minute":
                        scope = rule_scope
        return Effective(values, scope)

    def fair_share(self, tenant: str) -> float | None:
        """The ``fair_share`` of ``tenant``'s rule; None when it has no rule or sets none."""
        rule = self._tenants.get(tenant)
        return rule.fair_share if rule is not None else None

    def check(self, principal: Principal, operation: str, *, backend: str | None = None) -> None:
        rules = self.rules_of(principal)
        if not rules.values:
            return
        allowed_operations = rules.get("allowed_operations")
        permission = PERMISSION_OF.get(operation, "")
        if allowed_operations is not None and not (
            operation in allowed_operations or (permission and permission in allowed_operations)
        ):
            raise PermissionDenied(
                f"{principal.subject} (tenant {principal.tenant}) may not call {operation}: "
                "the policy's allowed_operations do not list it",
                metadata={"operation": operation, "permission": permission, "tenant": principal.tenant},
            )
        allowed_backends = rules.get("allowed_backends")
        if (
            backend is not None
            and allowed_backends is not None
            and not any(fnmatch.fnmatchcase(backend, pattern) for pattern in allowed_backends)
        ):
            raise PermissionDenied(
                f"backend {quote(backend)} is not allowed for {principal.subject} "
                f"(tenant {principal.tenant}): the policy's allowed_backends are "
                f"{', '.join(allowed_backends) or 'none'}",
                metadata={"backend": backend, "tenant": principal.tenant},
            )
        per_minute = rules.get("rate_limit_per_minute")
        if per_minute is not None:
            wait = self.limiters[per_minute].acquire(rules.rate_scope)
            if wait > 0:
                retry = max(0.001, round(wait, 3))
                raise ResourceExhausted(
                    f"rate_limit_per_minute of {per_minute} reached for {principal.subject} "
                    f"(tenant {principal.tenant}): retry in {retry:g} s",
                    metadata={
                        "retry_after_s": f"{retry:g}",
                        "limit": "rate_limit_per_minute",
                        "value": str(per_minute),
                    },
                )

    def quota(self, principal: Principal) -> Quota:
        rules = self.rules_of(principal)
        if not rules.values:
            return NO_QUOTA
        return Quota(
            max_queued_jobs=rules.get("max_queued_jobs"),
            max_shots_per_job=rules.get("max_shots_per_job"),
            max_qubits_per_job=rules.get("max_qubits_per_job"),
        )

    def certificate_principal(self, names: Sequence[str]) -> Principal | None:
        for name in names:
            cert = self._certificates.get(name)
            if cert is not None:
                return Principal(cert.tenant, cert.subject or cert.name, frozenset(cert.roles), "mtls")
        return None


# --- the reloadable file ----------------------------------------------------------------

Stamp = tuple[int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino)


def _local_limiter(per_minute: int, *, clock: Callable[[], float]) -> RateLimiter:
    """The in-process buckets of one ``rate_limit_per_minute`` value: n tokens, refilled
    over a minute."""
    return RateLimiter(per_minute / 60.0, per_minute, methods=frozenset(), clock=clock)


class PolicyFile:
    """The policy of a file, reloaded when it changes (a :class:`PolicySource`).

    :meth:`current` is cheap: at most once every ``check_every_s`` (on ``clock``) one
    ``stat`` of the file, and a reload only when its modification time, size or inode
    changed. A reload that fails (missing file, bad YAML, a wrong field) keeps the previous
    policy and logs one warning per version of the file saying why."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        check_every_s: float = CHECK_EVERY_S,
        rate_clock: Callable[[], float] = time.monotonic,
        make_limiter: Callable[[int], RateLimiter] | None = None,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.check_every_s = check_every_s
        self.rate_clock = rate_clock
        self.make_limiter = make_limiter
        self._lock = threading.Lock()
        self._forced = False
        stamp = _stamp(self.path)
        self._policy = RulePolicy(read_policy(self.path), clock=rate_clock, make_limiter=make_limiter)
        self._stamp = stamp
        self._failed: list[Stamp | None] = []  # the version that failed to load, once reported
        self._checked = clock()
        self.reloads = 0

    def current(self) -> RulePolicy:
        if self._forced or self.clock() - self._checked >= self.check_every_s:
            self.reload(force=self._forced, blocking=False)
        return self._policy

    def request_reload(self) -> None:
        """Reload at the next :meth:`current`, whether or not the file looks changed."""
        self._forced = True

    def reload(self, *, force: bool = False, blocking: bool = True) -> bool:
        """Reload now if the file changed (or ``force``): True when a new policy is in use.
        With ``blocking`` false and a reload already running elsewhere, leave it to that."""
        if not self._lock.acquire(blocking=blocking):
            return False
        try:
            self._checked = self.clock()
            stamp = _stamp(self.path)  # before reading: a change while we read shows next time
            if stamp == self._stamp and not force:
                return False
            self._forced = False
            if self._failed == [stamp] and not force:
                return False  # this version is broken, and was already reported
            try:
                document = read_policy(self.path)
            except InvalidSetting as exc:
                self._failed = [stamp]
                log.warning(
                    "policy file not reloaded: keeping the previous policy",
                    extra={"path": str(self.path), "reason": bounded(str(exc), REASON_LIMIT)},
                )
                return False
            self._policy = RulePolicy(
                document,
                clock=self.rate_clock,
                limiters=self._policy.limiters,
                make_limiter=self.make_limiter,
            )
            self._stamp = stamp
            self._failed = []
            self.reloads += 1
            log.info(
                "policy file reloaded",
                extra={
                    "path": str(self.path),
                    "policies": len(document.policies),
                    "certificates": len(document.certificates),
                },
            )
            return True
        finally:
            self._lock.release()


class PolicyShares:
    """The fair share of each tenant (the kernel's
    :class:`~eigen.kernel.fair_order.Shares`): the policy file's ``fair_share`` for the
    tenant, else ``fallback`` (the ``tenant_shares`` setting), else 1. Each answer reads
    :meth:`PolicyFile.current`, so a reload (the file changed, or SIGHUP) weighs the jobs
    queued after it; a broken rewrite keeps the previous weights, as it keeps the rules.

    ``source`` may be swapped for another :class:`PolicyFile` of the same file (the api
    role's, in a process that hosts both: one file object, one reload)."""

    def __init__(self, source: PolicyFile, fallback: Mapping[str, float] | None = None) -> None:
        self.source = source
        self.fallback: dict[str, float] = dict(fallback or {})

    def share(self, tenant: str) -> float:
        found = self.source.current().fair_share(tenant)
        return found if found is not None else self.fallback.get(tenant, 1.0)


def reload_on_sighup(source: PolicyFile) -> None:
    """Reload ``source`` on SIGHUP (from the main thread, where Python runs signal
    handlers). The handler reloads at once unless a reload is running, which then leaves
    it to the next :meth:`PolicyFile.current`. A no-op where there is no SIGHUP."""
    if not hasattr(signal, "SIGHUP"):
        return
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("reload_on_sighup must be called from the main thread")

    def handler(signum: int, frame: object) -> None:
        source.request_reload()
        source.reload(force=True, blocking=False)

    signal.signal(signal.SIGHUP, handler)


def policy_from(
    settings: Settings, make_limiter: Callable[[int], RateLimiter] | None = None
) -> PolicyFile | None:
    """The policy of the setting ``policy_file`` (None when unset), its rates counted by
    the limiters ``make_limiter`` makes (default: in this process); InvalidSetting (exit
    code 2) when the file is missing or wrong at start."""
    if settings.policy_file is None:
        return None
    return PolicyFile(settings.policy_file, make_limiter=make_limiter)
