"""Result retention: when each result was saved, and when retention removed it.

``job_results.saved_at`` of existing rows is taken from their job (finished, else updated).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("result_expired_at", sa.Float))
    op.add_column("job_results", sa.Column("saved_at", sa.Float))
    op.execute(
        "UPDATE job_results SET saved_at = (SELECT COALESCE(jobs.finished_at, jobs.updated_at)"
        " FROM jobs WHERE jobs.id = job_results.job_id)"
    )
    with op.batch_alter_table("job_results") as batch:
        batch.alter_column("saved_at", existing_type=sa.Float, nullable=False)
    op.create_index("ix_job_results_saved_at", "job_results", ["saved_at"])


def downgrade() -> None:
    op.drop_index("ix_job_results_saved_at", table_name="job_results")
    with op.batch_alter_table("job_results") as batch:
        batch.drop_column("saved_at")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("result_expired_at")
