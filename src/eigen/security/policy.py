"""The policy file: per tenant or client, the operations, backends, rate and quotas.
(Contract.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from eigen.models.principal import Principal
from eigen.models.quota import Quota


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
