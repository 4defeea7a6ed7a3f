"""SQL job store on SQLAlchemy Core: SQLite (WAL) for one node, PostgreSQL for many.

One code path serves both dialects; only the upsert differs (both spell it
``INSERT ... ON CONFLICT DO UPDATE``). The schema is owned by the Alembic migrations:
opening a store upgrades its database to head (see :mod:`eigen.kernel.store.migrate`).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, RowMapping

from eigen.errors import AlreadyExists, NotFound
from eigen.kernel.store import schema
from eigen.kernel.store.base import JobFilter, Then, Transition
from eigen.kernel.store.engine import PoolOptions, make_engine, masked, unreachable_is_unavailable
from eigen.kernel.store.migrate import ensure_schema
from eigen.kernel.store.recent import RecentResults
from eigen.kernel.store.rows import event_from_row, job_from_row
from eigen.kernel.store.turns import WriterTurns
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.result import JobResult, result_from_dict, result_to_dict
from eigen.models.state import JobState

_JOB_COLUMNS = (
    "state",
    "updated_at",
    "started_at",
    "finished_at",
    "error_code",
    "error_summary",
    "attempt",
    "last_seq",
    "timings",
    "progress",
    "worker_id",
    "lease_expires_at",
    "deadline_at",
)
_UNFINISHED = list(schema.UNFINISHED_STATES)
# results expired per statement, so a large sweep never holds one long transaction
EXPIRE_BATCH = 500


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class SqlJobStore:
    """JobStore over a database URL (``sqlite:///path`` or ``postgresql+psycopg://...``).

    ``migrate`` (default) upgrades the schema to head on open; with ``migrate=False`` the
    store refuses a database that is not at head (run ``eigen-server migrate`` first).
    """

    def __init__(self, url: str, *, migrate: bool = True, pool: PoolOptions | None = None) -> None:
        self.url = url
        self._requests = RequestCache()
        self._recent = RecentResults()  # results saved lately, for the read that follows
        self._engine: Engine = make_engine(url, pool)
        self._turns = WriterTurns() if self._engine.dialect.name == "sqlite" else None
        try:
            ensure_schema(self._engine, migrate=migrate)
        except BaseException:
            self._engine.dispose()
            raise
        unreachable_is_unavailable(self._engine)  # from now on: callers get UNAVAILABLE

    def __repr__(self) -> str:
        return f"SqlJobStore({masked(self._engine.url)!r})"

    @contextlib.contextmanager
    def _writing(self, *, first: bool = False) -> Iterator[Connection]:
        """A write transaction. SQLite has one writer at a time, so this process's writers
        take turns (:class:`~eigen.kernel.store.turns.WriterTurns`; ``first``: new jobs,
        which a client waits on, go before the workers' writes). PostgreSQL writers need
        no turns."""
        turn = self._turns.turn(first=first) if self._turns is not None else contextlib.nullcontext()
        with turn, self._engine.begin() as conn:
            yield conn

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- jobs ---------------------------------------------------------------------------
    def create(self, job: Job, event: JobEvent, *, then: Then | None = None) -> None:
        try:
            self.create_many([(job, event)], then=then)
        except AlreadyExists:
            raise AlreadyExists(f"job {job.id} or idempotency key {job.idempotency_key!r} exists") from None

    def create_many(self, batch: Sequence[tuple[Job, JobEvent]], *, then: Then | None = None) -> None:
        rows: list[dict[str, Any]] = []
        for job, event in batch:
            self._requests.put(job.id, job.request)
            rows.append({**_job_row(job), "last_seq": event.seq})
        if not rows:
            return
        events = [_event_row(event) for _, event in batch]
        links = [
            {"job_id": job.id, "depends_on": depends_on}
            for job, _ in batch
            for depends_on in dict.fromkeys(job.request.dependencies)
        ]
        try:
            with self._writing(first=True) as conn:  # one executemany each
                conn.execute(_INSERT_JOB, rows)
                conn.execute(_INSERT_EVENT, events)
                if links:
                    conn.execute(_INSERT_DEPENDENCY, links)
                if then is not None:
                    then(conn)
        except sa.exc.IntegrityError:
            raise AlreadyExists("a job id or idempotency key of the batch exists") from None

    def get(self, job_id: str) -> Job | None:
        """One job; its request (which never changes) comes from a cache when it can."""
        with self._engine.connect() as conn:
            row = conn.execute(_SELECT_JOB, {"job_id": job_id}).mappings().first()
            if row is None:
                return None
            request = self._requests.get(job_id)
            if request is None:
                stored = conn.execute(_SELECT_REQUEST, {"job_id": job_id})
                request = self._requests.parse(job_id, stored.scalar_one())
        return job_from_row(row, request)

    def dependants(self, job_id: str) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.execute(_SELECT_DEPENDANTS, {"job_id": job_id}).scalars())

    def _from_row(self, row: RowMapping) -> Job:
        request = self._requests.get(row["id"]) or self._requests.parse(row["id"], row["request"])
        return job_from_row(row, request)

    def head(self, job_id: str) -> tuple[JobState, int] | None:
        """The job's state and last event number (what a transition compares against)."""
        with self._engine.connect() as conn:
            row = conn.execute(_SELECT_HEAD, {"job_id": job_id}).first()
        return (JobState(row[0]), int(row[1])) if row else None

    def find_by_idempotency_key(self, tenant: str, owner: str, key: str) -> Job | None:
        jobs = schema.jobs
        query = jobs.select().where(
            jobs.c.tenant == tenant, jobs.c.owner == owner, jobs.c.idempotency_key == key
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return self._from_row(row) if row else None

    def count_unfinished(self, tenant: str, owner: str | None = None, exclude: Collection[str] = ()) -> int:
        jobs = schema.jobs
        query = (
            sa.select(sa.func.count())
            .select_from(jobs)
            .where(jobs.c.tenant == tenant, jobs.c.state.in_(_UNFINISHED))
        )
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        if exclude:
            query = query.where(jobs.c.id.not_in(list(exclude)))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def transition(
        self,
        job_id: str,
        expected: JobState,
        event: JobEvent,
        changes: dict[str, Any],
        result: JobResult | None = None,
        *,
        then: Then | None = None,
        lease_before: float | None = None,
    ) -> bool:
        move = Transition(job_id, expected, event, changes, result, then, lease_before)
        return self.transitions([move])[0]

    def transitions(self, batch: Sequence[Transition], *, then: Then | None = None) -> list[bool]:
        applied = [False] * len(batch)
        # rows locked in job id order, as renew_leases locks them: no deadlock between the two
        order = sorted(range(len(batch)), key=lambda i: batch[i].job_id)
        # every row is built before the write turn, which then only runs the statements
        rows = [(index, *_rows_of(batch[index])) for index in order]
        events: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        with self._writing() as conn:
            for index, statement, parameters, event, result in rows:
                ok = conn.execute(statement, parameters).rowcount == 1
                applied[index] = ok
                if ok:
                    events.append(event)
                    if result is not None:
                        results.append(result)
            # one executemany each for the rows of the applied moves
            if events:
                conn.execute(_INSERT_EVENT, events)
            if results:
                columns = tuple(sorted(k for k in results[0] if k != "job_id"))
                conn.execute(_upsert_statement(conn.dialect.name, schema.results.name, columns), results)
            for move, ok in zip(batch, applied, strict=True):
                if ok and move.then is not None:
                    move.then(conn)
            if then is not None:
                then(conn)
        for move, ok in zip(batch, applied, strict=True):
            if ok and move.result is not None:
                self._recent.put(move.result)
        return applied

    # -- leases, deadlines and dead letters ------------------------------------------------
    def renew_leases(
        self, worker_id: str, job_ids: Collection[str], until: float, now: float | None = None
    ) -> set[str]:
        """One ``UPDATE ... RETURNING id`` for all of ``job_ids``."""
        if not job_ids:
            return set()
        parameters = {
            "b_until": until,
            "b_worker_id": worker_id,
            "b_job_ids": sorted(set(job_ids)),
            "b_now": time.time() if now is None else now,
        }
        with self._writing() as conn:
            return set(conn.execute(_RENEW_LEASES, parameters).scalars())

    def expired_leases(self, now: float, limit: int = 100) -> list[Job]:
        return self._sweep(_EXPIRED_LEASES, now, limit)

    def overdue(self, now: float, limit: int = 100) -> list[Job]:
        return self._sweep(_OVERDUE, now, limit)

    def _sweep(self, statement: sa.Select[Any], now: float, limit: int) -> list[Job]:
        """The jobs a sweep found, their requests (up to 256 KiB of program each, never
        changing) from the cache, and those not in it in one more read."""
        with self._engine.connect() as conn:
            rows = list(conn.execute(statement, {"now": now, "limit": limit}).mappings())
            missing = [row["id"] for row in rows if self._requests.get(row["id"]) is None]
            if missing:
                stored = conn.execute(
                    sa.select(schema.jobs.c.id, schema.jobs.c.request).where(schema.jobs.c.id.in_(missing))
                )
                for job_id, request in stored:
                    self._requests.parse(job_id, request)
        return [
            job_from_row(row, self._requests.get(row["id"]) or self._request_of(row["id"])) for row in rows
        ]

    def _request_of(self, job_id: str) -> JobRequest:
        """A request that fell out of the cache between two reads: read it once more."""
        with self._engine.connect() as conn:
            return self._requests.parse(
                job_id, conn.execute(_SELECT_REQUEST, {"job_id": job_id}).scalar_one()
            )

    def add_dead_letter(
        self,
        job_id: str,
        attempts: int,
        reason: str,
        worker_id: str | None = None,
        *,
        within: Any = None,
        at: float | None = None,
    ) -> None:
        """INSERT ... SELECT the job's tenant, replacing an earlier record of the job."""
        parameters = {
            "job_id": job_id,
            "attempts": attempts,
            "reason": reason,
            "at": time.time() if at is None else at,
            "last_worker": worker_id,
        }
        with contextlib.nullcontext(within) if within is not None else self._writing() as conn:
            statement = _dead_letter_statement(conn.dialect.name)
            if conn.execute(statement, parameters).first() is None:
                raise NotFound(f"job {job_id} not found")

    def dead_letters(
        self, tenant: str | None = None, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[DeadLetter]:
        letters = schema.dead_letters
        stmt = letters.select()
        if tenant is not None:
            stmt = stmt.where(letters.c.tenant == tenant)
        if before is not None:
            stamp, job_id = before
            stmt = stmt.where(
                sa.or_(letters.c.at < stamp, sa.and_(letters.c.at == stamp, letters.c.job_id < job_id))
            )
        stmt = stmt.order_by(letters.c.at.desc(), letters.c.job_id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [
                DeadLetter(
                    job_id=r["job_id"],
                    tenant=r["tenant"],
                    attempts=r["attempts"],
                    reason=r["reason"],
                    at=r["at"],
                    last_worker=r["last_worker"],
                )
                for r in conn.execute(stmt).mappings()
            ]

    def append_event(
        self,
        event: JobEvent,
        progress: dict[str, Any] | None = None,
        checkpoint: dict[str, Any] | None = None,
        *,
        then: Then | None = None,
    ) -> bool:
        values: dict[str, Any] = {"last_seq": event.seq, "updated_at": event.timestamp}
        if progress is not None:
            values["progress"] = progress
        parameters = {**values, "b_id": event.job_id, "b_seq": event.seq - 1}
        with self._writing() as conn:
            if conn.execute(_progress_statement(tuple(sorted(values))), parameters).rowcount != 1:
                return False
            conn.execute(_INSERT_EVENT, _event_row(event))
            if checkpoint is not None:
                self._upsert(conn, schema.checkpoints, event.job_id, {"data": checkpoint})
            if then is not None:
                then(conn)
        return True

    def events(self, job_id: str, after_seq: int = 0) -> list[JobEvent]:
        with self._engine.connect() as conn:
            rows = conn.execute(_SELECT_EVENTS, {"job_id": job_id, "after_seq": after_seq}).mappings()
            return [event_from_row(r) for r in rows]

    def list_jobs(self, query: JobFilter) -> list[Job]:
        jobs = schema.jobs
        stmt = jobs.select()
        if query.tenant is not None:
            stmt = stmt.where(jobs.c.tenant == query.tenant)
        if query.id_prefix:
            stmt = stmt.where(*_id_prefix_clauses(self._engine.dialect.name, query.id_prefix))
        if query.states:
            stmt = stmt.where(jobs.c.state.in_([s.value for s in query.states]))
        if query.target:
            stmt = stmt.where(jobs.c.target == query.target)
        for key, value in query.labels.items():
            stmt = stmt.where(jobs.c.labels[key].as_string() == value)
        if query.created_after is not None:
            stmt = stmt.where(jobs.c.created_at >= query.created_after)
        if query.created_before is not None:
            stmt = stmt.where(jobs.c.created_at < query.created_before)
        if query.before is not None:
            stamp, job_id = query.before
            stmt = stmt.where(
                sa.or_(
                    jobs.c.created_at < stamp,
                    sa.and_(jobs.c.created_at == stamp, jobs.c.id < job_id),
                )
            )
        stmt = stmt.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(query.limit)
        with self._engine.connect() as conn:
            return [self._from_row(r) for r in conn.execute(stmt).mappings()]

    def in_states(self, states: tuple[JobState, ...]) -> list[Job]:
        stmt = schema.jobs.select().where(schema.jobs.c.state.in_([s.value for s in states]))
        with self._engine.connect() as conn:
            return [
                self._from_row(r) for r in conn.execute(stmt.order_by(schema.jobs.c.created_at)).mappings()
            ]

    # -- results, retention and checkpoints ----------------------------------------------
    def save_result(self, job_id: str, result: JobResult) -> None:
        self._recent.drop([job_id])
        with self._writing() as conn:
            self._upsert(conn, schema.results, job_id, _result_row(result))
            conn.execute(
                schema.jobs.update()
                .where(schema.jobs.c.id == job_id, schema.jobs.c.result_expired_at.is_not(None))
                .values(result_expired_at=None)
            )

    def result(self, job_id: str) -> JobResult | None:
        recent = self._recent.get(job_id)
        if recent is not None:
            return recent
        data = self._fetch(schema.results, job_id, "result")
        return result_from_dict(data) if data is not None else None

    def expire_results(self, older_than: float) -> int:
        """Delete results saved before ``older_than`` (epoch seconds) and mark their jobs
        with ``result_expired_at``; the jobs and their events stay. Returns how many."""
        results, jobs = schema.results, schema.jobs
        expired = 0
        while True:
            batch = (
                sa.select(results.c.job_id)
                .where(results.c.saved_at < older_than)
                .order_by(results.c.saved_at)
                .limit(EXPIRE_BATCH)
            )
            with self._writing() as conn:
                gone = (
                    conn.execute(
                        results.delete()
                        .where(results.c.job_id.in_(batch.scalar_subquery()), results.c.saved_at < older_than)
                        .returning(results.c.job_id)
                    )
                    .scalars()
                    .all()
                )
                if gone:
                    self._recent.drop(gone)
                    conn.execute(
                        jobs.update().where(jobs.c.id.in_(gone)).values(result_expired_at=time.time())
                    )
            expired += len(gone)
            if len(gone) < EXPIRE_BATCH:
                return expired

    def result_expired_at(self, job_id: str) -> float | None:
        with self._engine.connect() as conn:
            stamp = conn.execute(
                sa.select(schema.jobs.c.result_expired_at).where(schema.jobs.c.id == job_id)
            ).scalar()
        return float(stamp) if stamp is not None else None

    def save_checkpoint(self, job_id: str, data: dict[str, Any]) -> None:
        with self._writing() as conn:
            self._upsert(conn, schema.checkpoints, job_id, {"data": data})

    def checkpoint(self, job_id: str) -> dict[str, Any] | None:
        return self._fetch(schema.checkpoints, job_id, "data")

    @staticmethod
    def _upsert(conn: Connection, table: sa.Table, job_id: str, values: dict[str, Any]) -> None:
        statement = _upsert_statement(conn.dialect.name, table.name, tuple(sorted(values)))
        conn.execute(statement, {**values, "job_id": job_id})

    def _fetch(self, table: sa.Table, job_id: str, column: str) -> Any:
        with self._engine.connect() as conn:
            return conn.execute(sa.select(table.c[column]).where(table.c.job_id == job_id)).scalar()

    def connection(self) -> Connection:
        return self._engine.connect()

    def close(self) -> None:
        self._engine.dispose()


# Above every character a job id may hold ([A-Za-z0-9_-]): with binary collation, the ids
# that start with p are exactly those in [p, p + _ID_CEILING).
_ID_CEILING = "\x7f"


def _id_prefix_clauses(dialect: str, prefix: str) -> list[sa.ColumnElement[bool]]:
    """Jobs whose id starts with ``prefix``, case-sensitively, in the dialect's best form.

    SQLite compares text byte by byte (BINARY), so a range on the primary key is exact and
    uses its index (SQLite's LIKE would ignore case). PostgreSQL orders text by the
    database's collation, where such a range is not a prefix test, so it gets
    ``id LIKE prefix || '%'`` with ``_`` (a LIKE wildcard, and legal in ids) escaped."""
    ids = schema.jobs.c.id
    if dialect == "sqlite":
        return [ids >= prefix, ids < prefix + _ID_CEILING]
    return [ids.startswith(prefix, autoescape=True)]


def _job_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.request.name,
        "state": job.state.value,
        "owner": job.owner,
        "tenant": job.tenant,
        "target": job.request.target,
        "priority": job.request.priority,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "error_code": job.error_code,
        "error_summary": job.error_summary,
        "idempotency_key": job.idempotency_key,
        "traceparent": job.traceparent,
        "attempt": job.attempt,
        "last_seq": job.last_seq,
        "labels": job.request.labels,
        "request": job.request.model_dump(mode="json"),
        "timings": job.timings,
        "progress": job.progress,
        "worker_id": job.worker_id,
        "lease_expires_at": job.lease_expires_at,
        "deadline_at": job.deadline_at,
    }


_WITHOUT_REQUEST = [column for column in schema.jobs.c if column.name != "request"]

# The hot statements, built once with bound parameters (building a statement per call, with
# .values(**row), costs more than running it on SQLite).
_JOB_ID: sa.BindParameter[str] = sa.bindparam("job_id")
_INSERT_JOB = schema.jobs.insert()
_INSERT_EVENT = schema.events.insert()
_INSERT_DEPENDENCY = schema.job_dependencies.insert()
_SELECT_DEPENDANTS = (
    sa.select(schema.job_dependencies.c.job_id)
    .join(schema.jobs, schema.jobs.c.id == schema.job_dependencies.c.job_id)
    .where(schema.job_dependencies.c.depends_on == sa.bindparam("job_id"))
    .order_by(schema.jobs.c.created_at, schema.jobs.c.id)
)
_SELECT_JOB = sa.select(*_WITHOUT_REQUEST).where(schema.jobs.c.id == _JOB_ID)
_SELECT_REQUEST = sa.select(schema.jobs.c.request).where(schema.jobs.c.id == _JOB_ID)
_SELECT_HEAD = sa.select(schema.jobs.c.state, schema.jobs.c.last_seq).where(schema.jobs.c.id == _JOB_ID)
_SELECT_EVENTS = (
    schema.events.select()
    .where(schema.events.c.job_id == _JOB_ID, schema.events.c.seq > sa.bindparam("after_seq"))
    .order_by(schema.events.c.seq)
)

# The sweeps spell the conditions of their partial indexes (schema.ix_jobs_lease,
# ix_jobs_deadline) so that both dialects use them.
_LEASED = sa.text(schema.LEASED_CONDITION)
_NOW: sa.BindParameter[float] = sa.bindparam("now", type_=sa.Float)
_LIMIT: sa.BindParameter[int] = sa.bindparam("limit", type_=sa.Integer)
_RENEWABLE = (
    schema.jobs.c.id.in_(sa.bindparam("b_job_ids", expanding=True)),
    schema.jobs.c.worker_id == sa.bindparam("b_worker_id"),
    _LEASED,
    schema.jobs.c.lease_expires_at >= sa.bindparam("b_now"),
)
# the rows locked in id order first (FOR UPDATE; SQLite, one writer at a time, has no row
# locks and SQLAlchemy leaves the clause out), as transitions take them
_RENEW_LEASES = (
    schema.jobs.update()
    .where(
        schema.jobs.c.id.in_(
            sa.select(schema.jobs.c.id).where(*_RENEWABLE).order_by(schema.jobs.c.id).with_for_update()
        ),
        *_RENEWABLE,
    )
    .values(lease_expires_at=sa.bindparam("b_until"))
    .returning(schema.jobs.c.id)
)
_EXPIRED_LEASES = (
    sa.select(*_WITHOUT_REQUEST)
    .where(_LEASED, schema.jobs.c.lease_expires_at < _NOW)
    .order_by(schema.jobs.c.lease_expires_at, schema.jobs.c.id)
    .limit(_LIMIT)
)
_OVERDUE = (
    sa.select(*_WITHOUT_REQUEST)
    .where(
        sa.text(schema.UNFINISHED_CONDITION),
        schema.jobs.c.deadline_at <= _NOW,
    )
    .order_by(schema.jobs.c.deadline_at, schema.jobs.c.id)
    .limit(_LIMIT)
)


@functools.lru_cache(maxsize=2)
def _dead_letter_statement(dialect: str) -> sa.Insert:
    """INSERT INTO dead_letters SELECT the job's tenant ... ON CONFLICT (job_id) DO UPDATE
    RETURNING job_id: no row when the job does not exist."""
    letters, jobs = schema.dead_letters, schema.jobs
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    source = sa.select(
        jobs.c.id,
        jobs.c.tenant,
        sa.bindparam("attempts", type_=sa.Integer),
        sa.bindparam("reason", type_=sa.Text),
        sa.bindparam("at", type_=sa.Float),
        sa.bindparam("last_worker", type_=sa.String),
    ).where(jobs.c.id == sa.bindparam("job_id"))
    columns = ("attempts", "reason", "at", "last_worker")
    statement = insert(letters).from_select(["job_id", "tenant", *columns], source)
    return statement.on_conflict_do_update(
        index_elements=[letters.c.job_id], set_={name: statement.excluded[name] for name in columns}
    ).returning(letters.c.job_id)


@functools.lru_cache(maxsize=16)
def _upsert_statement(dialect: str, table_name: str, columns: tuple[str, ...]) -> sa.Insert:
    """INSERT ... ON CONFLICT (job_id) DO UPDATE, for SQLite and PostgreSQL alike."""
    table = schema.metadata.tables[table_name]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values({name: sa.bindparam(name) for name in ("job_id", *columns)})
    return statement.on_conflict_do_update(
        index_elements=[table.c.job_id], set_={name: statement.excluded[name] for name in columns}
    )


@functools.lru_cache(maxsize=8)
def _progress_statement(columns: tuple[str, ...]) -> sa.Update:
    """UPDATE jobs SET <columns> WHERE id and last_seq are as expected and it has not ended."""
    jobs = schema.jobs
    return (
        jobs.update()
        .where(
            jobs.c.id == sa.bindparam("b_id"),
            jobs.c.last_seq == sa.bindparam("b_seq"),
            jobs.c.state.not_in([s.value for s in JobState if s.terminal]),
        )
        .values({name: sa.bindparam(name) for name in columns})
    )


def _rows_of(
    move: Transition,
) -> tuple[sa.Update, dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """What ``move`` writes: its compare-and-set UPDATE and that statement's parameters, its
    event's row, and its result's row (None: it has none)."""
    values: dict[str, Any] = {
        "state": move.event.state.value,
        "last_seq": move.event.seq,
        "updated_at": move.event.timestamp,
    }
    values.update({k: v for k, v in move.changes.items() if k in _JOB_COLUMNS})
    if move.result is not None:
        values["result_expired_at"] = None
    parameters = {
        **values,
        "b_id": move.job_id,
        "b_state": move.expected.value,
        "b_seq": move.event.seq - 1,
        "b_lease": move.lease_before,
    }
    statement = _transition_statement(tuple(sorted(values)), move.lease_before is not None)
    result = None if move.result is None else {**_result_row(move.result), "job_id": move.job_id}
    return statement, parameters, _event_row(move.event), result


@functools.lru_cache(maxsize=64)
def _transition_statement(columns: tuple[str, ...], lapsed: bool = False) -> sa.Update:
    """UPDATE jobs SET <columns> WHERE id, state and last_seq are as expected (and, when
    ``lapsed``, the lease ended before ``b_lease``)."""
    jobs = schema.jobs
    conditions = [
        jobs.c.id == sa.bindparam("b_id"),
        jobs.c.state == sa.bindparam("b_state"),
        jobs.c.last_seq == sa.bindparam("b_seq"),
    ]
    if lapsed:
        conditions.append(jobs.c.lease_expires_at < sa.bindparam("b_lease"))
    return jobs.update().where(*conditions).values({name: sa.bindparam(name) for name in columns})


class RequestCache:
    """Parsed requests by job id (bounded): a request never changes once stored, and
    parsing it (pydantic validation of up to 256 KiB of program) dominates a read."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: OrderedDict[str, JobRequest] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job_id: str) -> JobRequest | None:
        with self._lock:
            found = self._items.get(job_id)
            if found is not None:
                self._items.move_to_end(job_id)
            return found

    def put(self, job_id: str, request: JobRequest) -> None:
        with self._lock:
            self._items[job_id] = request
            self._items.move_to_end(job_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def parse(self, job_id: str, data: Any) -> JobRequest:
        request = JobRequest.model_validate(data)
        self.put(job_id, request)
        return request


def _result_row(result: JobResult) -> dict[str, Any]:
    return {"result": result_to_dict(result), "saved_at": time.time()}


def _event_row(event: JobEvent) -> dict[str, Any]:
    return {
        "job_id": event.job_id,
        "seq": event.seq,
        "state": event.state.value,
        "kind": event.kind,
        "timestamp": event.timestamp,
        "message": event.message,
        "data": event.data,
    }
