"""Tables of the SQL job store (SQLite and PostgreSQL share them).

These are the models the Alembic migrations in :mod:`eigen.kernel.store.migrations` must
produce: a test compares the migrated schema with this metadata on both dialects. Change
a table here and add a migration in the same change.

JSON columns are plain ``JSON`` on both dialects (``json``, not ``jsonb``, on PostgreSQL)
so that objects keep their key order, exactly as SQLite and the memory store keep it.
Timestamps are ``Float`` (epoch seconds; ``double precision`` on PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_summary", sa.Text),
    sa.Column("idempotency_key", sa.String(256)),
    sa.Column("traceparent", sa.String(64), nullable=False, default=""),
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
    sa.Index("ux_jobs_idempotency", "owner", "idempotency_key", unique=True),
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
