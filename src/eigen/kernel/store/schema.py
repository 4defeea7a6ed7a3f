"""Tables of the SQL job store (SQLite and PostgreSQL share them).

These are the models the Alembic migrations in :mod:`eigen.kernel.store.migrations` must
produce: a test compares the migrated schema with this metadata on both dialects. Change
a table here and add a migration in the same change.

JSON columns are plain ``JSON`` on both dialects (``json``, not ``jsonb``, on PostgreSQL)
so that objects keep their key order, exactly as SQLite and the memory store keep it.
Timestamps are ``Float`` (epoch seconds; ``double precision`` on PostgreSQL).

Every job belongs to a tenant (``jobs.tenant``; ``default`` for jobs stored before tenants
existed, and for everything made while authentication is off). ``tenants``, ``api_keys``
and ``audit_events`` belong to the security layer, which reads and writes them through
this same metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

from eigen.models.principal import DEFAULT_TENANT

metadata = sa.MetaData()

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
