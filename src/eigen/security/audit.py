"""The audit log: every authentication attempt and every refusal, as a structured log
event and a row of ``audit_events``. (Contract; the writer is built on it.)"""

from __future__ import annotations

from typing import Protocol

from eigen.models.audit import AuditEvent


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None:
        """Keep ``event``; must not block the call on a database write."""
