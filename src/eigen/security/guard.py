"""What the edges and the service layer of system-api ask of security, in one object.

``Guard.authenticate`` (the gRPC handlers and the REST middleware, once per call) turns
credentials into a principal; ``Guard.authorize`` (``system_api.service``, once per
operation) checks the permission table, then the policy's allowed operations, backends and
rate; ``Guard.quota`` is what the kernel enforces at submit. Every authentication attempt
and every refusal goes to the audit log.

With authentication off (``auth_required`` false) there is no authenticator: every call is
the unauthenticated principal (default tenant, every role), exactly as before security,
and the policy still applies where a file is configured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eigen.errors import EigenError, Unauthenticated
from eigen.models.audit import AuditEvent
from eigen.models.principal import Principal
from eigen.models.quota import NO_QUOTA, Quota
from eigen.observability import context as call_context
from eigen.security import permissions

if TYPE_CHECKING:
    from eigen.security.audit import AuditLog
    from eigen.security.authenticator import Authenticator, Credentials
    from eigen.security.policy import PolicySource


@dataclass
class Guard:
    authenticator: Authenticator | None = None  # None: authentication off
    policy: PolicySource | None = None  # None: no policy file (roles alone decide)
    audit: AuditLog | None = None  # None: nothing recorded

    @property
    def required(self) -> bool:
        return self.authenticator is not None

    def authenticate(self, credentials: Credentials, operation: str = "") -> Principal | None:
        """The principal of a call, None while authentication is off; UNAUTHENTICATED for
        a missing or bad credential. Audited, success or failure."""
        if self.authenticator is None:
            return None
        try:
            principal = self.authenticator.authenticate(credentials)
        except Unauthenticated as exc:
            self._record(
                "authentication",
                "failure",
                method=exc.metadata.get("method", ""),
                subject=exc.metadata.get("subject", ""),
                peer=credentials.peer,
                operation=operation,
                reason=f"{exc.code}: {exc.metadata.get('reason', exc.message)}",
            )
            raise
        self._record(
            "authentication",
            "success",
            method=principal.method,
            tenant=principal.tenant,
            subject=principal.subject,
            peer=credentials.peer,
            operation=operation,
        )
        return principal

    def authorize(self, principal: Principal, operation: str, *, backend: str | None = None) -> None:
        """PERMISSION_DENIED (role, or the policy's operations or backends) or
        RESOURCE_EXHAUSTED (the policy's rate_limit_per_minute, with ``retry_after_s``) for
        ``operation``, an RPC name of :data:`eigen.security.permissions.PERMISSION_OF`.
        Audited when refused."""
        try:
            permissions.require(principal, permissions.PERMISSION_OF[operation])
            if self.policy is not None:
                self.policy.current().check(principal, operation, backend=backend)
        except EigenError as exc:
            self.refused(principal, operation, exc)
            raise

    def quota(self, principal: Principal) -> Quota:
        """The quotas the policy sets on the principal's submissions (the kernel enforces them)."""
        return NO_QUOTA if self.policy is None else self.policy.current().quota(principal)

    def refused(self, principal: Principal, operation: str, error: EigenError) -> None:
        """Audit a refusal decided elsewhere (a quota the kernel enforced)."""
        self._record(
            "refusal",
            "denied",
            method=principal.method,
            tenant=principal.tenant,
            subject=principal.subject,
            operation=operation,
            reason=f"{error.code}: {error.message}",
        )

    def _record(self, kind: str, outcome: str, **fields: str) -> None:
        if self.audit is None:
            return
        call = call_context.active_context()
        self.audit.record(
            AuditEvent(
                at=time.time(),
                kind=kind,  # type: ignore[arg-type]
                outcome=outcome,  # type: ignore[arg-type]
                request_id=call.request_id if call else "",
                **fields,
            )
        )
