"""The audit log: every authentication attempt and every refusal, as a structured log
event and a row of ``audit_events``.

:class:`AuditWriter` is the one :class:`AuditLog`: :meth:`AuditWriter.record` writes the
log line (logger ``eigen.audit``) at once and queues the row; a thread of its own writes
the queued rows in batches (every ``flush_every_s`` or ``batch_size`` events), so no call
waits on the database. The queue is bounded: when it is full an event keeps its log line,
loses its row, and is counted (:attr:`AuditWriter.dropped`; one warning says so).
:meth:`AuditWriter.close` writes what is still queued.

Never a secret: the guard names a credential by its method and key id only, and the
writer masks anything in a reason or subject that looks like one
(:func:`eigen.observability.redact.redact_text`) before either is written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from eigen.errors import bounded
from eigen.models.audit import AuditEvent
from eigen.observability.redact import redact_text

log = logging.getLogger(__name__)
audit_log = logging.getLogger("eigen.audit")

FLUSH_EVERY_S = 0.2
BATCH_SIZE = 500
QUEUE_SIZE = 10_000
FIELDS = ("kind", "outcome", "method", "tenant", "subject", "peer", "operation", "reason", "request_id")


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None:
        """Keep ``event``; must not block the call on a database write."""


class AuditSink(Protocol):
    """Where the rows go (``eigen.kernel.store.audit.SqlAuditStore`` or its memory twin)."""

    def append(self, events: Sequence[AuditEvent]) -> None: ...


def masked(event: AuditEvent) -> AuditEvent:
    """``event`` with anything that looks like a credential masked in its free texts."""
    reason, subject = redact_text(event.reason), redact_text(event.subject)
    if reason == event.reason and subject == event.subject:
        return event
    return replace(event, reason=reason, subject=subject)


class AuditWriter:
    """An :class:`AuditLog`: log lines now, rows in batches from a background thread
    (``store`` None: log lines only)."""

    def __init__(
        self,
        store: AuditSink | None,
        *,
        flush_every_s: float = FLUSH_EVERY_S,
        batch_size: int = BATCH_SIZE,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.store = store
        self.flush_every_s = flush_every_s
        self.batch_size = batch_size
        self.queue_size = queue_size
        self.dropped = 0  # events whose row the full queue refused
        self.lost = 0  # events whose batch the store refused
        self.written = 0
        self._queue: deque[AuditEvent] = deque()
        self._queued = 0  # every event ever queued
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._closing = False
        self._warned_full = False
        self._thread: threading.Thread | None = None
        if store is not None:
            self._thread = threading.Thread(target=self._run, name="eigen-audit-writer", daemon=True)
            self._thread.start()

    def record(self, event: AuditEvent) -> None:
        event = masked(event)
        audit_log.info(
            f"audit {event.kind} {event.outcome}",
            extra={name: getattr(event, name) for name in FIELDS},
        )
        if self._thread is None:
            return
        with self._lock:
            if self._closing:
                return
            if len(self._queue) >= self.queue_size:
                self.dropped += 1
                warn = not self._warned_full
                self._warned_full = True
            else:
                self._queue.append(event)
                self._queued += 1
                warn = False
                if len(self._queue) >= self.batch_size:
                    self._wake.set()
        if warn:
            log.warning(
                "audit queue full: events keep their log line but lose their row",
                extra={"queue_size": self.queue_size},
            )

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything queued so far now; True once it is written (or refused)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._queued
            self._wake.set()
            while self.written + self.lost < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return self.written + self.lost >= target
                self._progress.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread; later events only log."""
        with self._lock:
            self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _take(self) -> list[AuditEvent]:
        with self._lock:
            count = min(self.batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        assert self.store is not None
        while True:
            self._wake.wait(self.flush_every_s)
            self._wake.clear()
            with self._lock:
                closing = self._closing
            while batch := self._take():
                self._write(batch)
            if closing:
                return

    def _write(self, batch: list[AuditEvent]) -> None:
        assert self.store is not None
        try:
            self.store.append(batch)
        except Exception as exc:  # the database is down or refuses: lose these rows, go on
            log.warning(
                "audit rows not written",
                extra={"events": len(batch), "error": bounded(f"{type(exc).__name__}: {exc}", 500)},
            )
            with self._lock:
                self.lost += len(batch)
                self._progress.notify_all()
            return
        with self._lock:
            self.written += len(batch)
            self._progress.notify_all()


def audit_log_from(store: AuditSink | None) -> AuditWriter:
    """The audit log of a server: rows into ``store`` (for the SQL job store's database,
    ``eigen.kernel.store.audit.SqlAuditStore(engine)``), log lines only when None."""
    return AuditWriter(store)
