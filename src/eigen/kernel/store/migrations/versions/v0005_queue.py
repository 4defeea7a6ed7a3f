"""The cluster's job queue: pgqueuer's tables, types, trigger and function, in the schema
``eigen_queue`` (PostgreSQL only; nothing on SQLite, where the queue is in memory).

The statements are pgqueuer's own (its installer's DDL, rendered for the installed version
of pgqueuer), run in the migration's transaction, under its lock, with the job store's own
revisions: ``eigen-server migrate`` sets up the whole database, no node runs DDL when it
starts, and a failed migration leaves nothing half made. A later pgqueuer that changes its
tables comes with a revision of ours that runs its upgrade plan.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

# eigen.kernel.dispatch.queue_names when this revision was written
_SCHEMA = "eigen_queue"
_CHANNEL = "eigen_queue"


def _settings() -> Any:
    from pgqueuer.domain.settings import DBSettings, Durability
    from pgqueuer.domain.types import Channel

    return DBSettings(db_schema=_SCHEMA, channel=Channel(_CHANNEL), durability=Durability.balanced)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from pgqueuer.adapters.persistence.schema_ddl import render_install

    bind.exec_driver_sql(render_install(_settings(), create_schema=True))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from pgqueuer.adapters.persistence.schema_ddl import render_uninstall

    bind.exec_driver_sql(render_uninstall(_settings()))
    bind.exec_driver_sql(f"DROP SCHEMA IF EXISTS {_SCHEMA}")
