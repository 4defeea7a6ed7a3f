"""Tables of the SQL job store (SQLite and PostgreSQL share them).

These are the models the Alembic migrations in :mod:`eigen.kernel.store.migrations` must
produce: a test compares the migrated schema with this metadata on both dialects. Change
a table here and add a migration in the same change.

JSON columns are plain ``JSON`` on both dialects (``json``, not ``jsonb``, on PostgreSQL)
so that objects keep their key order, exactly as SQLite and the memory store keep it.
Timestamps are ``Float`` (epoch seconds; ``double precision`` on PostgreSQL).

Leases and deadlines (revision 0004): a job being compiled or run carries the id of the
worker that claimed it (``worker_id``) and when that claim lapses unless renewed
(``lease_expires_at``); every unfinished job carries the moment it times out
(``deadline_at``). The sweeps that look for lapsed leases and passed deadlines read partial
indexes that hold only the jobs still in play, so they never scan a store's history. A job
that used up its attempts leaves a row in ``dead_letters``.

Every job belongs to a tenant (``jobs.tenant``; ``default`` for jobs stored before tenants
existed, and for everything made while authentication is off). ``tenants``, ``api_keys``
and ``audit_events`` belong to the security layer, which reads and writes them through
this same metadata.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from eigen.models.principal import DEFAULT_TENANT
from eigen.models.state import JobState

metadata = sa.MetaData()

# states in which a worker holds a job under a lease, and the states not yet ended: the
# conditions of the two sweep indexes (a query must spell the same condition to use them)
LEASED_STATES = (JobState.COMPILING.value, JobState.RUNNING.value)
UNFINISHED_STATES = tuple(state.value for state in JobState if not state.terminal)


def _state_in(states: tuple[str, ...]) -> str:
    return "state IN (" + ", ".join(f"'{state}'" for state in states) + ")"


# The conditions of the sweep indexes, as SQL text with the states as literals: a query that
# means to use such an index puts this same text in its WHERE (a bound parameter in its place
# would keep PostgreSQL's generic plans, and SQLite, from proving the index applies).
LEASED_CONDITION = _state_in(LEASED_STATES)
UNFINISHED_CONDITION = _state_in(UNFINISHED_STATES)


def _partial(condition: str) -> dict[str, Any]:
    """A partial index's condition on both dialects (SQLite has them since 3.8)."""
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False, server_default=DEFAULT_TENANT),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_summary", sa.Text),
    sa.Column("idempotency_key", sa.String(256)),
    sa.Column("traceparent", sa.String(64), nullable=False, default="", server_default=""),
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("last_seq", sa.Integer, nullable=False, default=0),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("timings", sa.JSON, nullable=False),
    sa.Column("progress", sa.JSON, nullable=False),
    # set when retention removed the job's result (the job itself stays)
    sa.Column("result_expired_at", sa.Float),
    # the worker holding the job (COMPILING, RUNNING) and until when, unless it renews
    sa.Column("worker_id", sa.String(128)),
    sa.Column("lease_expires_at", sa.Float),
    # when the job times out (epoch seconds), whichever node watches it
    sa.Column("deadline_at", sa.Float),
    sa.Index("ix_jobs_lease", "lease_expires_at", **_partial(LEASED_CONDITION)),
    sa.Index("ix_jobs_deadline", "deadline_at", **_partial(UNFINISHED_CONDITION)),
    sa.Index("ix_jobs_created", "created_at", "id"),
    sa.Index("ix_jobs_state", "state"),
    sa.Index("ix_jobs_tenant_created", "tenant", "created_at", "id"),
    # a tenant's unfinished jobs (max_queued_jobs), without reading its whole history
    sa.Index("ix_jobs_tenant_state", "tenant", "state"),
    # an idempotency key is the tenant's and the owner's: another tenant's reuse is its own
    sa.Index("ux_jobs_idempotency", "tenant", "owner", "idempotency_key", unique=True),
)

events = sa.Table(
    "job_events",
    metadata,
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)

results = sa.Table(
    "job_results",
    metadata,
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("saved_at", sa.Float, nullable=False),
    sa.Index("ix_job_results_saved_at", "saved_at"),
)

checkpoints = sa.Table(
    "job_checkpoints",
    metadata,
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("data", sa.JSON, nullable=False),
)

# job_id waits for depends_on (each a job of the same tenant, stored before it): written
# with the job; read by depends_on when a job ends (its dependants) and by job_id
job_dependencies = sa.Table(
    "job_dependencies",
    metadata,
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("depends_on", sa.String(64), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Index("ix_job_dependencies_depends_on", "depends_on"),
)

# sessions (revision 0008): a tenant's span of back-to-back jobs on one device; the
# expiry duty reads the ACTIVE ones by the earlier of their two deadlines
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("max_time_s", sa.Float, nullable=False),
    sa.Column("idle_s", sa.Float, nullable=False),
    sa.Column("last_activity_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Index("ix_sessions_state", "state"),
)

# a job that ended in ERROR because it used up its attempts: why, and on which worker last
dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("last_worker", sa.String(128)),
    sa.Index("ix_dead_letters_at", "at", "job_id"),
    sa.Index("ix_dead_letters_tenant_at", "tenant", "at", "job_id"),
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("deleted_at", sa.Float),  # a deleted tenant's keys no longer authenticate
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("digest", sa.String(128), nullable=False),  # a keyed hash, never the key
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Index("ix_api_keys_tenant", "tenant"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, default="", server_default=""),
    sa.Column("outcome", sa.String(16), nullable=False, default="", server_default=""),
    sa.Column("method", sa.String(16), nullable=False, default="", server_default=""),
    sa.Column("tenant", sa.String(64), nullable=False, default="", server_default=""),
    sa.Column("subject", sa.String(128), nullable=False, default="", server_default=""),
    sa.Column("peer", sa.String(128), nullable=False, default="", server_default=""),
    sa.Column("operation", sa.String(64), nullable=False, default="", server_default=""),
    sa.Column("reason", sa.String(512), nullable=False, default="", server_default=""),
    sa.Column("request_id", sa.String(128), nullable=False, default="", server_default=""),
    sa.Index("ix_audit_events_at", "at"),
    sa.Index("ix_audit_events_tenant_at", "tenant", "at"),
)
