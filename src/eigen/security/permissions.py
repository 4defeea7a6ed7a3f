"""The one permission table: every public RPC (and its REST twin) has one permission, and
every built-in role a set of permissions.

``system_api.service`` checks the permission of each operation once, for every edge; no
handler checks anything itself. A policy file (:mod:`eigen.security.policy`) may narrow
what a tenant or client may do (``allowed_operations``), never widen what its roles grant.
"""

from __future__ import annotations

from eigen.errors import PermissionDenied
from eigen.models.principal import Principal

SUBMIT = "jobs.submit"
READ = "jobs.read"
CANCEL = "jobs.cancel"
BACKENDS = "backends.read"
KEYS = "keys.admin"
AUDIT = "audit.read"
DEAD_LETTERS = "deadletters.read"

PERMISSION_OF: dict[str, str] = {
    "SubmitJob": SUBMIT,
    "SubmitBatch": SUBMIT,
    "SubmitBatchStream": SUBMIT,
    "GetJob": READ,
    "ListJobs": READ,
    "WatchJob": READ,
    "GetJobResults": READ,
    "StreamResults": READ,
    "CancelJob": CANCEL,
    "ListBackends": BACKENDS,
    "GetBackend": BACKENDS,
    "GetCalibration": BACKENDS,
    "ListDeadLetters": DEAD_LETTERS,
    "OpenSession": SUBMIT,
    "CloseSession": SUBMIT,
    "GetSession": READ,
    "CancelSession": CANCEL,
}
"""Public RPC -> permission (the REST routes call the same service methods)."""

PERMISSIONS: tuple[str, ...] = (SUBMIT, READ, CANCEL, BACKENDS, KEYS, AUDIT, DEAD_LETTERS)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({READ, BACKENDS}),
    "submitter": frozenset({READ, BACKENDS, SUBMIT, CANCEL}),
    "tenant-admin": frozenset({READ, BACKENDS, SUBMIT, CANCEL, KEYS, AUDIT, DEAD_LETTERS}),
    "admin": frozenset(PERMISSIONS),
}
"""What each built-in role may do. ``tenant-admin`` acts within its tenant; ``admin`` on
every tenant (:attr:`Principal.admin`): a tenant-admin's ``deadletters.read`` lists its own
tenant's dead letters, an admin's every tenant's."""


def granted(principal: Principal) -> frozenset[str]:
    """Every permission the principal's roles grant (unknown role names grant nothing)."""
    found: set[str] = set()
    for role in principal.roles:
        found |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(found)


def allows(principal: Principal, permission: str) -> bool:
    return permission in granted(principal)


def require(principal: Principal, permission: str) -> None:
    """PERMISSION_DENIED naming the permission, unless the principal's roles grant it."""
    if not allows(principal, permission):
        roles = ", ".join(sorted(principal.roles)) or "no role"
        raise PermissionDenied(
            f"{principal.subject} ({roles}) may not {permission}",
            metadata={"permission": permission, "tenant": principal.tenant},
        )
