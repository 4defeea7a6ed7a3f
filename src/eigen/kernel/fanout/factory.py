"""The event fan-out a kernel node runs, from its settings: Redis pub/sub when
``redis_url`` is set, else PostgreSQL LISTEN/NOTIFY when the dispatch is PostgreSQL
(several kernels on one database), else none (one kernel: its bus has every event)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from eigen.config.settings import Settings
from eigen.kernel.fanout.port import Fanout
from eigen.kernel.fanout.postgres import PostgresFanout
from eigen.kernel.fanout.redis import RedisFanout
from eigen.kernel.kernel_settings import default_node_id
from eigen.models.job import JobEvent


def fanout_from(
    settings: Settings, read_events: Callable[[str, int], list[JobEvent]] | None = None
) -> Fanout | None:
    """The fan-out of these settings, not started (``EventBus(fanout).start()`` starts
    it). ``read_events``: the store's ``events``, for the events too large for a NOTIFY."""
    node_id = settings.node_id or default_node_id()
    if settings.redis_url:
        return RedisFanout(settings.redis_url, node_id)
    postgres = sa.make_url(settings.store_url).get_backend_name() == "postgresql"
    if settings.dispatch == "postgres" or (settings.dispatch == "auto" and postgres):
        return PostgresFanout(settings.store_url, node_id, read_events=read_events)
    return None
