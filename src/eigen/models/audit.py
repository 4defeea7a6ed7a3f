"""One audit event: an authentication attempt (success or failure) or a refusal. Never a
secret: a credential is named by its method and, for API keys, its key id only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AuditKind = Literal["authentication", "refusal"]
Outcome = Literal["success", "failure", "denied"]


@dataclass(frozen=True)
class AuditEvent:
    at: float  # epoch seconds
    kind: AuditKind
    outcome: Outcome
    method: str = ""  # mtls | jwt | api_key | service | none
    tenant: str = ""
    subject: str = ""  # the principal, or what the credential claimed (key id, token sub)
    peer: str = ""
    operation: str = ""  # RPC name (SubmitJob, ...) or an admin command
    reason: str = ""  # EIGEN_* code and a short why; bounded
    request_id: str = ""
