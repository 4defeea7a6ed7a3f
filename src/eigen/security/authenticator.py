"""One authenticator for both edges: credentials in, a principal out. (Contract; the
implementation is :class:`eigen.security.identity.Identity`, built by
:func:`eigen.security.identity.authenticator_from`.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from eigen.models.principal import Principal


@dataclass(frozen=True)
class Credentials:
    """What one call presents: its headers (gRPC metadata or HTTP headers, names lower
    case), its peer, and the names of the client certificate the TLS layer verified
    (subject common name first, then the SANs), if any."""

    headers: Mapping[str, str] = field(default_factory=dict)
    peer: str = ""
    certificate_names: tuple[str, ...] = ()


class Authenticator(Protocol):
    def authenticate(self, credentials: Credentials) -> Principal:
        """The principal, or :class:`eigen.errors.Unauthenticated` (metadata ``method``,
        ``reason`` and, where known, ``subject``): mTLS, then JWT, then API key; a
        credential that is presented and fails is refused, never passed to the next."""
        ...
