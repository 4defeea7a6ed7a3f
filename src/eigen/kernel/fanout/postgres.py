"""The event fan-out over PostgreSQL LISTEN/NOTIFY, for a cluster without Redis: every
node NOTIFYs the events it stores on one channel of the store's database and LISTENs on
it.

Two connections, each from a one-connection psycopg pool: one LISTENs (its own thread,
:meth:`start`), one NOTIFYs (the :class:`~eigen.kernel.fanout.outbox.Outbox`'s sender
thread, so a worker that stores an event never waits on the database). Reconnecting is
the pool's: a connection that broke is replaced in the background with exponential
backoff, and the listener LISTENs again on the fresh one; while it is down
:meth:`problem` says so, and once it is back ``on_lost`` tells the bus that messages sent
meanwhile never came (its watchers read the store).

A NOTIFY payload is shorter than 8000 bytes: events are packed into as few payloads as
fit (one statement sends them all), and an event too large for one alone travels as a
pointer (job id and seq) that the receiver reads from the store (``read_events``: the
store's ``events``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import psycopg
import sqlalchemy as sa
from psycopg_pool import ConnectionPool, PoolTimeout

from eigen.errors import InvalidArgument
from eigen.kernel.fanout import wire
from eigen.kernel.fanout.broker import WAKE_S, BrokerFanout
from eigen.models.job import JobEvent

log = logging.getLogger(__name__)

CHANNEL = "eigen_events"
PAYLOAD_LIMIT = 7999  # bytes of a NOTIFY payload (PostgreSQL refuses 8000 and more)
_POINTERS = 50  # pointers per payload
_NOTIFY = "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) WITH ORDINALITY AS m(payload, n) ORDER BY n"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def conninfo(url: str | sa.Engine) -> str:
    """A libpq connection string from a store URL (``postgresql+psycopg://...``) or engine."""
    parsed = url.url if isinstance(url, sa.Engine) else sa.make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise InvalidArgument(f"LISTEN/NOTIFY needs PostgreSQL, not {parsed.get_backend_name()}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresFanout(BrokerFanout):
    def __init__(
        self,
        url: str | sa.Engine,
        node_id: str,
        *,
        read_events: Callable[[str, int], list[JobEvent]] | None = None,
        channel: str = CHANNEL,
        timeout_s: float = 2.0,
    ) -> None:
        if not _IDENTIFIER.match(channel):
            raise InvalidArgument(f"NOTIFY channel {channel!r}: lower-case letters, digits and _ only")
        self._read_events = read_events
        self._timeout_s = timeout_s
        parsed = url.url if isinstance(url, sa.Engine) else sa.make_url(url)
        self._shown = parsed.render_as_string(hide_password=True)
        info = conninfo(url)
        self._pools = [
            ConnectionPool(
                info,
                kwargs={"autocommit": True, "connect_timeout": max(1, round(timeout_s))},
                min_size=1,
                max_size=1,
                open=False,
                name=f"eigen-fanout-{role}",
                timeout=timeout_s,
                reconnect_timeout=10.0,  # then gives up; the next wait for a connection tries again
                num_workers=1,
            )
            for role in ("listen", "notify")
        ]
        self._listening, self._notifying = self._pools
        self._notifying.open(wait=False)
        super().__init__(node_id, channel, f"PostgreSQL at {self._shown}", "eigen-fanout-pg")

    def _opening(self) -> None:
        self._listening.open(wait=False)

    def close(self) -> None:
        self._stop_listening()
        for pool in self._pools:
            pool.close(timeout=self._timeout_s)

    def _payloads(self, events: list[JobEvent]) -> list[str]:
        """The NOTIFY payloads that carry ``events``: as many per payload as fit, a pointer
        for one that does not fit alone."""
        room = PAYLOAD_LIMIT - self._sender.overhead()
        batches: list[list[bytes]] = [[]]
        size = 0
        pointers: list[tuple[str, int]] = []
        for event in events:
            encoded = wire.encode_event(event)
            if encoded is None:
                self._sender.skip()
                continue
            if len(encoded) + 1 > room:
                pointers.append((event.job_id, event.seq))
                continue
            if size + len(encoded) + 1 > room:
                batches.append([])
                size = 0
            batches[-1].append(encoded)
            size += len(encoded) + 1
        messages = [self._sender.message(batch) for batch in batches if batch]
        # A pointer is small (a job id of at most 64 characters, a number): 50 fit.
        for start in range(0, len(pointers), _POINTERS):
            messages.append(self._sender.message([], pointers[start : start + _POINTERS]))
        return [m.decode() for m in messages]

    def _send(self, events: list[JobEvent]) -> None:
        if self._outbox.dropped != self._dropped:  # events lost on the way: say so
            self._dropped = self._outbox.dropped
            self._sender.skip()
        payloads = self._payloads(events)
        if not payloads:
            return
        try:
            with self._notifying.connection() as connection:
                connection.execute(_NOTIFY, (self.channel, payloads))
        except psycopg.Error as exc:  # PoolTimeout included
            if self._sending is None:
                log.warning("job events not sent to other nodes: PostgreSQL at %s: %s", self._shown, exc)
            self._sending = f"cannot NOTIFY job events on PostgreSQL at {self._shown}: {exc}"
            return
        self._sending = None

    def _listen(self) -> None:
        while not self._closing.is_set():
            try:
                with self._listening.connection() as connection:
                    connection.execute(f"LISTEN {self.channel}")
                    self._joined()
                    while not self._closing.is_set():
                        for note in connection.notifies(timeout=WAKE_S):
                            self._receive(note.payload)
            except psycopg.Error as exc:  # PoolTimeout included: still down
                self._cut_off(exc)

    def _joined(self) -> None:
        self._receiving = None
        self._sending = None  # the broker answers again; a publish that still fails says so
        self._subscribed.set()
        if self._was_subscribed:
            log.info("job events from other nodes: PostgreSQL at %s reached again", self._shown)
            if self.on_lost is not None:
                self.on_lost()
        self._was_subscribed = True

    def _cut_off(self, exc: Exception) -> None:
        if self._receiving is None:
            log.warning("job events from other nodes: PostgreSQL at %s unreachable: %s", self._shown, exc)
        self._subscribed.clear()
        reason = "no connection" if isinstance(exc, PoolTimeout) else str(exc).strip().splitlines()[0]
        self._receiving = f"not receiving other nodes' job events from PostgreSQL at {self._shown}: {reason}"

    def _receive(self, payload: str) -> None:
        found = wire.decode(payload)
        if found is None or found.node == self.node_id or self._deliver is None:
            return
        if self._arrivals.missed(found) and self.on_lost is not None:
            self.on_lost()
        events = list(found.events)
        for job_id, seq in found.pointers:
            events.extend(self._fetch(job_id, seq))
        for event in events:
            try:
                self._deliver(event)
            except Exception:  # a bad watcher callback must not stop the fan-out
                log.exception("delivering a job event from another node failed")

    def _fetch(self, job_id: str, seq: int) -> list[JobEvent]:
        """The event a pointer names, from the store (none without ``read_events``: the
        gap it leaves sends watchers to the store)."""
        if self._read_events is None:
            return []
        try:
            return [e for e in self._read_events(job_id, seq - 1) if e.seq == seq]
        except Exception:  # the store is down too: the gap sends watchers there later
            log.warning("job event %s/%d not read from the store", job_id, seq, exc_info=True)
            return []
