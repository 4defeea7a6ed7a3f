"""Where pgqueuer's objects live in Eigen's database: their own PostgreSQL schema and NOTIFY
channel, so that no other pgqueuer user of the database shares (or wakes) Eigen's queues and
the job store's tables and migrations never see them.

Migration 0005 installs them under these names (it spells them itself, as they were then).
"""

from __future__ import annotations

from pgqueuer.domain.settings import DBSettings, Durability
from pgqueuer.domain.types import Channel

SCHEMA = "eigen_queue"
CHANNEL = "eigen_queue"


def queue_settings() -> DBSettings:
    """pgqueuer's names for Eigen's queues. ``balanced``: the queue table is WAL-logged (an
    entry survives a crash), the completion log and statistics, which Eigen does not read,
    are not."""
    return DBSettings(db_schema=SCHEMA, channel=Channel(CHANNEL), durability=Durability.balanced)
