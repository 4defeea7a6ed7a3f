"""Sessions: a tenant's span of back-to-back jobs on one device (docs/scheduling.md).

``sessions`` holds one row per session, its state and its two deadlines' inputs (max time
from its opening, idle time from its last job); the jobs of a session carry the label
``scheduler.eigen.os/session``, so no job column changes.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
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
    )
    op.create_index("ix_sessions_state", "sessions", ["state"])


def downgrade() -> None:
    op.drop_index("ix_sessions_state", table_name="sessions")
    op.drop_table("sessions")
