"""Client certificates (mutual TLS): the names of a certificate the TLS layer verified
(its subject common name, then its SANs), mapped to a principal by the policy file.

The TLS layer has already checked the chain against ``tls_client_ca_file``; what is left
is who the certificate names. A certificate the policy maps to nothing is refused, never
taken as anonymous and never passed on to the token or key of the same call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from eigen.errors import Unauthenticated, bounded
from eigen.models.principal import Principal
from eigen.security.policy import PolicySource

METHOD = "mtls"


def refused(reason: str, names: Sequence[str] = ()) -> Unauthenticated:
    subject = bounded(names[0], 128) if names else ""
    return Unauthenticated(
        f"client certificate refused: {reason}",
        metadata={"method": METHOD, "reason": reason, "subject": subject},
    )


def certificate_principal(names: Sequence[str], policy: PolicySource | None) -> Principal:
    """The principal the policy maps a verified certificate with ``names`` to, or
    UNAUTHENTICATED (no policy, or no entry for any of the names)."""
    if policy is None:
        raise refused("no policy file maps client certificates (policy_file)", names)
    principal = policy.current().certificate_principal(names)
    if principal is None:
        raise refused("certificate not mapped to a tenant in the policy", names)
    return principal if principal.method == METHOD else replace(principal, method=METHOD)
