"""A queued entry found by its payload in one index probe, for a job's placement.

A waiting job's placement (:meth:`eigen.kernel.dispatch.postgres.PostgresDispatch.standing`)
finds its queue entry by the payload that enqueue wrote for it, then counts the entries
ahead of it. pgqueuer's indexes lead with the entrypoint and priority, so the lookup read
every queued entry of the job's entrypoint; a hash index on the payload of queued entries
finds it at once. What remains is the count, which walks the entries ahead along
pgqueuer's (entrypoint, priority, id) index. PostgreSQL only, like the queue.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

# eigen.kernel.dispatch.queue_names.SCHEMA and pgqueuer's table when this revision was written
_TABLE = "eigen_queue.pgqueuer"
_INDEX = "pgqueuer_queued_payload_idx"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql(f"CREATE INDEX {_INDEX} ON {_TABLE} USING hash (payload) WHERE status = 'queued'")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.exec_driver_sql(f"DROP INDEX IF EXISTS eigen_queue.{_INDEX}")
