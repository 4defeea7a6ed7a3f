"""Who makes a call: the principal an authenticator turned the call's credentials into.

A pure value: the edges (gRPC and REST, through one authenticator in ``eigen.security``)
make it, the call context carries it, the service layer checks its permissions, and the
kernel sees only its tenant, as data (every stored job carries one).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TENANT = "default"
"""The tenant of everything made while authentication is off (and of jobs stored before
tenants existed)."""

ROLE_NAMES: tuple[str, ...] = ("viewer", "submitter", "tenant-admin", "admin")
"""The built-in roles, weakest first (``eigen.security.permissions`` says what each may do)."""

Method = str
"""How the principal proved who it is: ``mtls``, ``jwt``, ``api_key``, ``service`` (an
internal role asserting the api's principal) or ``none`` (authentication off)."""


@dataclass(frozen=True)
class Principal:
    tenant: str
    subject: str
    roles: frozenset[str]
    method: Method = "none"

    @property
    def admin(self) -> bool:
        """An ``admin`` sees and acts on every tenant's jobs."""
        return "admin" in self.roles

    def sees(self, tenant: str) -> bool:
        """Whether this principal may see an object of ``tenant`` (else: NOT_FOUND)."""
        return self.admin or tenant == self.tenant

    @property
    def owner(self) -> str:
        """What ``jobs.owner`` records for a job this principal submits."""
        return self.subject


def unauthenticated(caller: str = "anonymous") -> Principal:
    """The principal of every call while authentication is off: the default tenant, with
    every role, named by the caller's ``x-eigen-caller`` header as before."""
    return Principal(DEFAULT_TENANT, caller, frozenset(ROLE_NAMES), "none")
