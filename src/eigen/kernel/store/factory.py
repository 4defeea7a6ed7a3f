"""The job store a server opens, from its settings."""

from __future__ import annotations

from eigen.config.settings import Settings
from eigen.kernel.store.engine import PoolOptions
from eigen.kernel.store.sql import SqlJobStore


def pool_options(settings: Settings) -> PoolOptions:
    return PoolOptions(
        size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        timeout_s=settings.database_pool_timeout_s,
        recycle_s=settings.database_pool_recycle_s,
    )


def open_store(settings: Settings) -> SqlJobStore:
    """The SQL store of ``settings.store_url`` (SQLite in data_dir by default), migrated to
    head on open unless ``database_auto_migrate`` is off."""
    return SqlJobStore(
        settings.store_url, migrate=settings.database_auto_migrate, pool=pool_options(settings)
    )
