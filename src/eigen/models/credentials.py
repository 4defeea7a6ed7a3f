"""What the server keeps about API keys and tenants: records of the ``api_keys`` and
``tenants`` tables, and the store contract both the authenticator (reads) and the
``eigen-server keys`` commands (writes) use.

A key's record holds its digest (a keyed hash of the key, see
:mod:`eigen.security.apikeys`), never the key itself, and even the digest stays out of
``repr``, so neither ends up in a log line or an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

TENANT_MAX = 64  # tenants.name, api_keys.tenant, jobs.tenant
TENANT_NAME = re.compile(rf"[A-Za-z0-9._-]{{1,{TENANT_MAX}}}")  # what a tenant may be called
KEY_ID_MAX = 32  # api_keys.key_id
KEY_NAME_MAX = 128  # api_keys.name
ROLE_MAX = 32  # api_keys.role


@dataclass(frozen=True)
class ApiKeyRecord:
    """One API key: who it authenticates (tenant, name, role), when it stops working
    (``expires_at``, ``revoked_at``; epoch seconds), and how to recognise it (``digest``)."""

    key_id: str
    tenant: str
    name: str
    role: str
    digest: str = field(repr=False)
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def refusal(self, now: float) -> str | None:
        """Why the key does not work at ``now`` (``revoked``, ``expired``), None if it does."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return None


@dataclass(frozen=True)
class TenantRecord:
    """A tenant the server knows. A deleted tenant (``deleted_at`` set) authenticates by
    no method; its rows stay."""

    name: str
    created_at: float
    deleted_at: float | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


class KeyStore(Protocol):
    """API keys and tenants (SQL in ``eigen.kernel.store.keys``, or in memory)."""

    def key(self, key_id: str) -> ApiKeyRecord | None:
        """The key ``key_id``, None if there is none."""
        ...

    def tenant(self, name: str) -> TenantRecord | None:
        """The tenant ``name``, None if the server never heard of it (a tenant may exist
        only in an identity provider's tokens)."""
        ...

    def add_key(self, record: ApiKeyRecord, now: float) -> None:
        """Keep ``record``, recording its tenant at ``now`` if new; FAILED_PRECONDITION
        for a deleted tenant, ALREADY_EXISTS for a key id in use."""
        ...

    def list_keys(self, tenant: str | None = None) -> Sequence[ApiKeyRecord]:
        """Every key (of ``tenant``), oldest first."""
        ...

    def revoke(self, key_id: str, now: float) -> ApiKeyRecord:
        """Mark ``key_id`` revoked at ``now`` (kept as it was if already revoked);
        NOT_FOUND if there is no such key."""
        ...

    def delete_tenant(self, name: str, now: float) -> TenantRecord:
        """Mark tenant ``name`` deleted at ``now`` (recorded first if the server never
        heard of it, so its tokens stop working too)."""
        ...

    def close(self) -> None: ...
