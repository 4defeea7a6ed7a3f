"""Security and tenancy: every job's tenant, and the tenants, api_keys and audit_events tables.

Jobs stored before this revision belong to the tenant ``default`` (the column's server
default fills them). The idempotency key becomes unique per (tenant, owner): another
tenant reusing a key gets its own job.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# the value of eigen.models.principal.DEFAULT_TENANT when this revision was written
_DEFAULT_TENANT = "default"


def _text(name: str, length: int) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=False, server_default="")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("tenant", sa.String(64), nullable=False, server_default=_DEFAULT_TENANT))
    op.drop_index("ux_jobs_idempotency", table_name="jobs")
    op.create_index("ux_jobs_idempotency", "jobs", ["tenant", "owner", "idempotency_key"], unique=True)
    op.create_index("ix_jobs_tenant_created", "jobs", ["tenant", "created_at", "id"])
    op.create_index("ix_jobs_tenant_state", "jobs", ["tenant", "state"])
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("deleted_at", sa.Float),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        _text("kind", 16),
        _text("outcome", 16),
        _text("method", 16),
        _text("tenant", 64),
        _text("subject", 128),
        _text("peer", 128),
        _text("operation", 64),
        _text("reason", 512),
        _text("request_id", 128),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_tenant_at", "audit_events", ["tenant", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_tenant_at", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
    op.drop_index("ix_jobs_tenant_state", table_name="jobs")
    op.drop_index("ix_jobs_tenant_created", table_name="jobs")
    op.drop_index("ux_jobs_idempotency", table_name="jobs")
    # fails if two tenants' jobs share an (owner, key): such a database cannot go back
    op.create_index("ux_jobs_idempotency", "jobs", ["owner", "idempotency_key"], unique=True)
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("tenant")
