"""Job dependencies: which jobs a job waits for, findable from either end.

``job_dependencies`` holds one row per (job, the job it depends on), written in the
transaction that stores the job; its index on ``depends_on`` is what finds a job's
dependants when it ends, on whichever node that happens. Jobs stored before this revision
had their dependencies stored and ignored: they get no rows (they never waited).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "job_dependencies",
        sa.Column("job_id", sa.String(64), sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("depends_on", sa.String(64), sa.ForeignKey("jobs.id"), primary_key=True),
    )
    op.create_index("ix_job_dependencies_depends_on", "job_dependencies", ["depends_on"])


def downgrade() -> None:
    op.drop_index("ix_job_dependencies_depends_on", table_name="job_dependencies")
    op.drop_table("job_dependencies")
