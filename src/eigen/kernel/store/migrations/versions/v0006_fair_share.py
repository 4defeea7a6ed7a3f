"""Fair share in a cluster: each tenant's virtual time, shared by every node.

``eigen_queue.fair_share`` holds, per tenant, the virtual time of start-time fair queueing
(:mod:`eigen.kernel.fair_order`): the enqueue that ranks a tenant's execute entries locks
the tenant's row, reads it and moves it on, in the transaction that writes the entries. It
lives with the queue, in pgqueuer's schema (PostgreSQL only; on SQLite the queue, and the
virtual times, are in memory).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

# eigen.kernel.dispatch.queue_names.SCHEMA when this revision was written
_TABLE = "eigen_queue.fair_share"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql(
        f"CREATE TABLE {_TABLE} (tenant text PRIMARY KEY, virtual_time double precision NOT NULL)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql(f"DROP TABLE IF EXISTS {_TABLE}")
