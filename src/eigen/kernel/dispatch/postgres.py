"""The dispatch port on PostgreSQL, with pgqueuer: the cluster's queues, in the job store's
database (why pgqueuer: docs/decisions/queue-library.md).

An entry is a row of pgqueuer's queue table (``eigen_queue.pgqueuer``; migration 0005): its
entrypoint is the stage (``compile``; ``session``, the session lane's, one for every
device) or, on the execute stage, the stage and the device (``execute:<device>``: a queue
per device), its priority column the entry's rank
(:class:`~eigen.kernel.fair_order.FairOrder`, computed at enqueue; fair share's virtual
times in the same transaction, :mod:`~eigen.kernel.dispatch.postgres_clock`), its payload
the job id, target, priority and tenant.

- ``enqueue`` writes the rows with pgqueuer's enqueue in the caller's transaction (the one
  that writes the jobs, :mod:`~eigen.kernel.dispatch.transaction_driver`): a job and its
  entry commit together. Without one, in a transaction of its own.
- ``claim`` is pgqueuer's dequeue: one statement takes the highest-ranked, oldest entries
  (``FOR UPDATE SKIP LOCKED``, so two claimers never get one entry) and marks them picked by
  this dispatch. On the execute stage it dequeues over every device's entrypoint, each with
  its ``device_capacity`` as pgqueuer's ``concurrency_limit``, which pgqueuer enforces
  across every consumer of the database (a slot per picked row, a unique index on it): a
  busy device's backlog is skipped, never waited on. Every node must have the same
  ``device_capacity`` (pgqueuer takes the highest limit it is given). With none there,
  it waits for pgqueuer's NOTIFY of an insert on a connection that only listens
  (psycopg locks a connection while it waits for notifications, so listening and querying
  need one each). A device held for a session (the port's ``holds``, or an entry of it on
  the ``session`` entrypoint, waiting or picked, on any node) is left out of the dequeue;
  a claim waiting on a held device's entries looks again when its hold ends, or at the
  NOTIFY of the session lane's ack.
- A picked entry whose heartbeat is older than ``lease_s`` is picked again by the next
  dequeue anywhere (pgqueuer's stalled-job recovery): a worker that died leaves its entries
  to others. A waiting claim therefore dequeues again at least every half lease, notified
  or not: pgqueuer's own worker does the same (its ``dequeue_timeout``).
- ``heartbeat`` is pgqueuer's, ``ack`` its completion log (the row leaves the queue, and
  a device's slot is free: a NOTIFY wakes the claimers where the device has a capacity),
  ``release`` its retry without delay, followed by a NOTIFY of our own on the channel so
  that waiting claimers anywhere take the entries at once.

pgqueuer's queries are asynchronous; they run on a loop thread of this dispatch
(:class:`~eigen.kernel.dispatch.loop_thread.LoopThread`) over one connection, which is
opened again when it breaks. Exactly-once of a job is not the queue's duty: the job row's
compare-and-set decides who runs it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
import sqlalchemy as sa
from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment, QueryQueueBuilder
from pgqueuer.db import PsycopgDriver
from pgqueuer.ports.repository import EntrypointExecutionParameter
from pgqueuer.queries import Queries, SyncQueries
from pgqueuer.types import QueueEntrypoint, QueueManagerId

from eigen.errors import InvalidArgument, Unavailable
from eigen.kernel.dispatch.loop_thread import LoopThread
from eigen.kernel.dispatch.port import Claimed, Entry, Holds, Stage, Standing, no_holds
from eigen.kernel.dispatch.postgres_clock import PostgresVirtualClock
from eigen.kernel.dispatch.queue_names import queue_settings
from eigen.kernel.dispatch.transaction_driver import TransactionDriver
from eigen.kernel.fair_order import FairOrder, Shares

if TYPE_CHECKING:
    from pgqueuer.models import Job

    from eigen.config.settings import Settings

T = TypeVar("T")

# what wakes a waiting claim: pgqueuer's trigger on an insert, our own NOTIFY after a release
_WAKING = frozenset({"insert", "release"})
_CALL_TIMEOUT_S = 60.0
_EXECUTE_PREFIX = f"{Stage.EXECUTE.value}:"


def entrypoint_of(stage: Stage, entry: Entry) -> str:
    """The pgqueuer entrypoint of ``entry`` on ``stage``: one per device on the execute stage."""
    return f"{_EXECUTE_PREFIX}{entry.target}" if stage is Stage.EXECUTE else stage.value


def _is_execute(entrypoint: str) -> bool:
    """An execute entrypoint: a device's, or the one queue of before per-device queues."""
    return entrypoint == Stage.EXECUTE.value or entrypoint.startswith(_EXECUTE_PREFIX)


class PostgresDispatch:
    def __init__(self, engine: sa.Engine, settings: Settings, shares: Shares | None = None) -> None:
        """``shares``: the tenants' fair shares (default: the ``tenant_shares`` setting)."""
        if engine.dialect.name != "postgresql":
            raise InvalidArgument.for_field(
                "dispatch", f"the postgres dispatch needs a PostgreSQL database, not {engine.dialect.name}"
            )
        self._engine = engine
        self._lease_s = settings.lease_s
        self._names = queue_settings()
        self._builder = QueryQueueBuilder(settings=self._names)
        self.clock = PostgresVirtualClock(engine)
        self.order = FairOrder.of(settings, self.clock, shares)
        self._limits = {
            f"{_EXECUTE_PREFIX}{device}": n for device, n in settings.device_capacity.items() if n > 0
        }
        self.holds: Holds = no_holds
        # the execute entrypoints: those in the queue table, and every device with a capacity;
        # and the devices the session lane has entries of (which hold them)
        self._find_execute = (
            f"SELECT DISTINCT entrypoint, CASE WHEN entrypoint = '{Stage.SESSION.value}' THEN"
            " convert_from(payload, 'UTF8')::jsonb ->> 'target' END AS lane"
            f" FROM {self._names.qualified.queue_table} WHERE entrypoint = '{Stage.EXECUTE.value}'"
            f" OR entrypoint LIKE '{_EXECUTE_PREFIX}%' OR entrypoint = '{Stage.SESSION.value}'"
        )
        table = self._names.qualified.queue_table
        # an entry is found by its payload (what enqueue wrote for the job), then counted
        # against those of its entrypoint that go before it: higher rank, or equal and older
        self._standing = sa.text(
            f"SELECT m.priority AS rank, (SELECT count(*) FROM {table} q"
            " WHERE q.entrypoint = m.entrypoint AND q.status = 'queued'"
            " AND (q.priority > m.priority OR (q.priority = m.priority AND q.id < m.id)))"
            f" AS ahead FROM {table} m WHERE m.entrypoint = :entrypoint AND m.payload = :payload"
            " AND m.status = 'queued' ORDER BY m.id LIMIT 1"
        )
        self._me = QueueManagerId(uuid.uuid4())
        # who holds a connection, in pg_stat_activity: the node, as in its leases
        node = settings.node_id or f"{socket.gethostname()}:{os.getpid()}"
        self._application = f"eigen-queue {node}"[:63]
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._wake = threading.Condition()
        self._generation = 0
        self._closed = False
        self._loop = LoopThread("eigen-dispatch")
        self._work: Queries | None = None
        self._listener: PsycopgDriver | None = None
        self._listening: psycopg.AsyncConnection[Any] | None = None
        try:
            self._loop.call(self._listen(), _CALL_TIMEOUT_S)
        except BaseException:
            self._loop.stop()
            raise

    # --- the port ---------------------------------------------------------------------

    def enqueue(self, stage: Stage, entries: Sequence[Entry], *, within: Any = None) -> None:
        if not entries:
            return
        if self._closed:
            raise Unavailable("the dispatch is closed: this node takes no more work")
        if within is None:
            with self._engine.begin() as connection:
                self._enqueue(connection, stage, entries)
        else:
            self._enqueue(within, stage, entries)

    def claim(
        self,
        stage: Stage,
        limit: int,
        timeout_s: float,
        together: Callable[[Entry], bool] | None = None,
    ) -> list[Claimed]:
        if limit < 1:
            raise InvalidArgument.for_field("limit", f"must be at least 1, not {limit}")
        deadline = time.monotonic() + max(0.0, timeout_s)
        wanted = limit if together is not None else 1
        lease = timedelta(seconds=self._lease_s)

        async def dequeue(queries: Queries) -> tuple[list[Job], float]:
            entrypoints, lifted = await self._entrypoints(queries, stage)
            if not entrypoints:
                return [], lifted
            return await queries.dequeue(wanted, entrypoints, self._me, None, lease), lifted

        while True:
            with self._wake:
                if self._closed:
                    return []
                seen = self._generation
            jobs, lifted = self._run(dequeue)
            if jobs:
                return self._take(stage, jobs, together)
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            self._loop.call(self._keep_listening(), _CALL_TIMEOUT_S)
            with self._wake:
                self._wake.wait_for(
                    lambda seen=seen: self._closed or self._generation != seen,  # type: ignore[misc]
                    min(left, self._lease_s / 2, lifted),
                )

    def heartbeat(self, claimed: Sequence[Claimed]) -> None:
        if claimed:
            ids = [self._job(item).id for item in claimed]
            self._run(lambda q: q.update_heartbeat(ids))

    def ack(self, claimed: Sequence[Claimed]) -> None:
        if not claimed:
            return
        jobs = [self._job(item) for item in claimed]
        # a device's slot is free, or a session lane's entry no longer holds its device
        freed = any(job.entrypoint in self._limits or job.entrypoint == Stage.SESSION.value for job in jobs)

        async def ack(queries: Queries) -> None:
            await queries.log_jobs([(job, "successful", None) for job in jobs])  # type: ignore[misc]
            if freed:  # claimers waiting for the device look again
                await queries.driver.notify(self._names.channel, json.dumps({"operation": "release"}))

        self._run(ack)

    def release(self, claimed: Sequence[Claimed]) -> None:
        if not claimed:
            return
        jobs = [self._job(item) for item in claimed]

        async def release(queries: Queries) -> None:
            for job in jobs:
                await queries.retry_job(job, timedelta(0), None)
            await queries.driver.notify(self._names.channel, json.dumps({"operation": "release"}))

        self._run(release)

    def standing(self, stage: Stage, entry: Entry) -> Standing | None:
        entrypoint = entrypoint_of(stage, entry)
        with self._engine.connect() as connection:
            found = {"entrypoint": entrypoint, "payload": _payload(entry)}
            row = connection.execute(self._standing, found).first()
            connection.rollback()
        if row is None:
            return None
        return Standing(int(row.ahead), int(row.rank), self._limits.get(entrypoint, 0))

    def depth(self, stage: Stage | None = None) -> int:
        with self._engine.connect() as connection:
            sizes = SyncQueries(TransactionDriver(connection), qbq=self._builder).queue_size()
            connection.rollback()
        return sum(s.count for s in sizes if s.status == "queued" and _on(stage, s.entrypoint))

    def close(self) -> None:
        with self._wake:
            if self._closed:
                return
            self._closed = True
            self._wake.notify_all()
        with contextlib.suppress(Exception):
            self._loop.call(self._disconnect(), 10)
        self._loop.stop()

    def prune_log(self, older_than_s: float) -> int:
        """Delete pgqueuer's log rows (it logs an entry queued, picked, done or released)
        older than ``older_than_s``; how many. Nothing in Eigen reads them: a retention
        duty calls this, or the table grows by a few rows per job."""
        table = self._names.qualified.queue_table_log
        with self._engine.begin() as connection:
            done = connection.execute(
                sa.text(f"DELETE FROM {table} WHERE created < now() - make_interval(secs => :s)"),
                {"s": older_than_s},
            )
        return int(done.rowcount)

    # --- helpers ----------------------------------------------------------------------

    def _enqueue(self, connection: sa.Connection, stage: Stage, entries: Sequence[Entry]) -> None:
        ranked = self.order.ranked(entries, within=connection, share=stage is Stage.EXECUTE)
        queries = SyncQueries(TransactionDriver(connection), qbq=self._builder)
        queries.enqueue(
            [entrypoint_of(stage, e) for e in ranked],
            [_payload(e) for e in ranked],
            [e.rank if e.rank is not None else e.priority for e in ranked],
        )

    async def _entrypoints(
        self, queries: Queries, stage: Stage
    ) -> tuple[dict[QueueEntrypoint, EntrypointExecutionParameter], float]:
        """What a claim on ``stage`` dequeues from, with each one's capacity (on the execute
        stage, the devices not held for a session), and the seconds until the first hold
        of a device with entries ends (``math.inf``: none ends by itself)."""
        if stage is not Stage.EXECUTE:
            return {QueueEntrypoint(stage.value): EntrypointExecutionParameter(concurrency_limit=0)}, math.inf
        rows = await queries.driver.fetch(self._find_execute)
        now = time.time()
        held = {device: until for device, until in self.holds().items() if until > now}
        held.update((str(row["lane"]), math.inf) for row in rows if row["lane"] is not None)
        names = {str(row["entrypoint"]) for row in rows if row["lane"] is None} | set(self._limits)
        waiting = [held[name.removeprefix(_EXECUTE_PREFIX)] for name in names if _held(name, held)]
        return {
            QueueEntrypoint(name): EntrypointExecutionParameter(concurrency_limit=self._limits.get(name, 0))
            for name in sorted(names)
            if not _held(name, held) and name != Stage.SESSION.value
        }, max(0.0, min(waiting, default=math.inf) - now)

    def _take(self, stage: Stage, jobs: list[Job], together: Callable[[Entry], bool] | None) -> list[Claimed]:
        """The first entry and, while it and each next one satisfy ``together``, the next
        ones; the rest go back to the queue."""
        jobs = sorted(jobs, key=lambda j: (-j.priority, j.id))
        claimed = [Claimed(_entry(job), stage, job) for job in jobs]
        kept = claimed[:1]
        if together is not None and together(kept[0].entry):
            for item in claimed[1:]:
                if not together(item.entry):
                    break
                kept.append(item)
        if len(kept) < len(claimed):
            self.release(claimed[len(kept) :])
        return kept

    @staticmethod
    def _job(item: Claimed) -> Job:
        if item.handle is None:
            raise InvalidArgument.for_field(
                "claimed", f"job {item.job_id} was not claimed from this dispatch"
            )
        job: Job = item.handle
        return job

    def _run(self, call: Callable[[Queries], Awaitable[T]]) -> T:
        return self._loop.call(self._on_work(call), _CALL_TIMEOUT_S)

    async def _on_work(self, call: Callable[[Queries], Awaitable[T]]) -> T:
        """``call`` on the work connection; once more on a new one when it broke (every
        call here may be repeated: a dequeue whose answer was lost leaves entries that
        go stale and are picked again)."""
        for attempt in (1, 2):
            try:
                return await call(await self._queries())
            except psycopg.OperationalError as exc:
                await self._drop_work()
                if attempt == 2:
                    raise Unavailable(f"the job queue's database is unreachable: {exc}") from exc
        raise AssertionError("unreachable")

    async def _queries(self) -> Queries:
        if self._work is None:
            connection = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, application_name=self._application
            )
            self._work = Queries(
                PsycopgDriver(connection),
                qbe=QueryBuilderEnvironment(settings=self._names),
                qbq=self._builder,
            )
        return self._work

    async def _drop_work(self) -> None:
        work, self._work = self._work, None
        if work is not None:
            with contextlib.suppress(Exception):
                await work.driver._connection.close()  # type: ignore[attr-defined]

    async def _listen(self) -> None:
        connection = await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, application_name=self._application
        )
        driver = PsycopgDriver(connection)
        await driver.add_listener(self._names.channel, self._notified)
        self._listener, self._listening = driver, connection

    async def _keep_listening(self) -> None:
        """Listen again when the listening connection broke (notifications may have been
        missed meanwhile: waiting claims look again)."""
        if self._listening is not None and not self._listening.closed:
            return
        await self._stop_listening()
        with contextlib.suppress(psycopg.OperationalError):
            await self._listen()
            self._notified(json.dumps({"operation": "release"}))

    def _notified(self, payload: str | bytes | bytearray) -> None:
        try:
            operation = json.loads(payload).get("operation")
        except (ValueError, AttributeError):
            return
        if operation in _WAKING:
            with self._wake:
                self._generation += 1
                self._wake.notify_all()

    async def _stop_listening(self) -> None:
        driver, connection = self._listener, self._listening
        self._listener = self._listening = None
        if driver is not None:
            with contextlib.suppress(Exception):
                await driver.remove_listener(self._names.channel, self._notified)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _disconnect(self) -> None:
        await self._drop_work()
        await self._stop_listening()


def _held(entrypoint: str, held: dict[str, float]) -> bool:
    """Whether ``entrypoint`` is the queue of a device held for a session."""
    return entrypoint.startswith(_EXECUTE_PREFIX) and entrypoint.removeprefix(_EXECUTE_PREFIX) in held


def _on(stage: Stage | None, entrypoint: str) -> bool:
    """Whether ``entrypoint`` is one of ``stage``'s (None: of any stage)."""
    if stage is None:
        return entrypoint in (Stage.COMPILE.value, Stage.SESSION.value) or _is_execute(entrypoint)
    return _is_execute(entrypoint) if stage is Stage.EXECUTE else entrypoint == stage.value


def _payload(entry: Entry) -> bytes:
    fields = {
        "job_id": entry.job_id,
        "target": entry.target,
        "priority": entry.priority,
        "tenant": entry.tenant,
    }
    if entry.session:  # only then: the payloads of entries without one stay as they were
        fields["session"] = entry.session
    return json.dumps(fields).encode()


def _entry(job: Job) -> Entry:
    """The entry of a queue row: its rank is the row's priority column (a row written before
    ranks holds its job's priority there: it is still taken, in no particular place)."""
    payload = json.loads(job.payload or b"{}")
    return Entry(
        job_id=str(payload["job_id"]),
        priority=int(payload.get("priority", job.priority)),
        target=str(payload.get("target", "")),
        tenant=str(payload.get("tenant", "")),
        rank=job.priority,
        session=str(payload.get("session", "")),
    )
