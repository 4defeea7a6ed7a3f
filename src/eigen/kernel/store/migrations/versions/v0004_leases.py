"""Leases, deadlines and dead letters: what lets several kernel nodes share one store.

``jobs`` gains ``worker_id`` and ``lease_expires_at`` (who holds a COMPILING or RUNNING job,
and until when) and ``deadline_at`` (when the job times out), each sweep with a partial
index over the jobs still in play. Unfinished jobs stored before this revision get their
deadline from their creation and their request's ``timeout_seconds``, else the default job
timeout of this revision's time (3600 s); their lease stays empty (no worker holds them
yet). ``dead_letters`` records the jobs that used up their attempts.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

# the values of eigen.models.state and settings.default_timeout_s when this was written
_LEASED = "state IN ('COMPILING', 'RUNNING')"
_UNFINISHED = "state IN ('PENDING', 'COMPILING', 'QUEUED', 'RUNNING')"
_DEFAULT_TIMEOUT_S = 3600.0


def _partial(condition: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.add_column("jobs", sa.Column("worker_id", sa.String(128)))
    op.add_column("jobs", sa.Column("lease_expires_at", sa.Float))
    op.add_column("jobs", sa.Column("deadline_at", sa.Float))
    if op.get_bind().dialect.name == "postgresql":
        timeout = "(request->>'timeout_seconds')::double precision"
    else:
        timeout = "json_extract(request, '$.timeout_seconds')"
    op.execute(
        f"UPDATE jobs SET deadline_at = created_at + COALESCE({timeout}, {_DEFAULT_TIMEOUT_S})"
        f" WHERE {_UNFINISHED}"
    )
    op.create_index("ix_jobs_lease", "jobs", ["lease_expires_at"], **_partial(_LEASED))
    op.create_index("ix_jobs_deadline", "jobs", ["deadline_at"], **_partial(_UNFINISHED))
    op.create_table(
        "dead_letters",
        sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("last_worker", sa.String(128)),
    )
    op.create_index("ix_dead_letters_at", "dead_letters", ["at", "job_id"])
    op.create_index("ix_dead_letters_tenant_at", "dead_letters", ["tenant", "at", "job_id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_tenant_at", table_name="dead_letters")
    op.drop_index("ix_dead_letters_at", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index("ix_jobs_deadline", table_name="jobs")
    op.drop_index("ix_jobs_lease", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("deadline_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("worker_id")
