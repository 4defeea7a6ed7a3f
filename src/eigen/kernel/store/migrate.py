"""Schema migrations of the SQL job store, run with a programmatic Alembic config.

No ``alembic.ini`` is needed: the scripts ship inside the package
(:mod:`eigen.kernel.store.migrations`). :func:`ensure_schema` is what the store calls when
it opens; :func:`upgrade` is what ``eigen-server migrate`` calls.

An upgrade runs in one transaction that excludes other migrators: on PostgreSQL under an
advisory lock, on SQLite in ``BEGIN IMMEDIATE`` (both have transactional DDL). Several
processes starting at once migrate once; the others wait, then find the schema at head,
and a failed migration leaves the database as it was. A database made by
``metadata.create_all`` before migrations existed (tables, no ``alembic_version``) is
stamped with the baseline revision, then upgraded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from eigen.kernel.store.engine import sqlite_pragmas

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
# pg_advisory_xact_lock key held while migrating ("eigen" in ASCII)
_LOCK_KEY = 0x65_69_67_65_6E


class SchemaVersionError(RuntimeError):
    """The database schema is not the one this version of Eigen needs."""


@dataclass(frozen=True)
class Migration:
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # new revisions: versions/v<rev>_<slug>.py (module names must not start with a digit)
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(rev.revision for rev in script.walk_revisions())


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def ensure_schema(engine: Engine, *, migrate: bool = True) -> Migration:
    """Make sure the schema is at head: upgrade it (``migrate``) or raise
    :class:`SchemaVersionError` telling the operator to run ``eigen-server migrate``."""
    with engine.connect() as connection:
        current = current_revision(connection)
    if current == head_revision():
        return Migration(current, current)
    _check_known(current)
    if not migrate:
        raise SchemaVersionError(
            f"database schema is at revision {current or '(none)'}, this Eigen needs "
            f"{head_revision()}: run `eigen-server migrate` (or enable database_auto_migrate)"
        )
    return upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> Migration:
    """Upgrade to ``revision`` (adopting a database made before migrations existed)."""
    with _exclusive(engine) as connection:
        before = current_revision(connection)
        _check_known(before)
        if before is None and sa.inspect(connection).has_table("jobs"):
            command.stamp(alembic_config(connection), BASELINE)
        command.upgrade(alembic_config(connection), revision)
        return Migration(before, current_revision(connection))


def downgrade(engine: Engine, revision: str) -> Migration:
    """Downgrade to ``revision`` (``base`` drops every table). For tests and rollbacks."""
    with _exclusive(engine) as connection:
        before = current_revision(connection)
        command.downgrade(alembic_config(connection), revision)
        return Migration(before, current_revision(connection))


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """One transaction that no other migrator runs beside; committed on success."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            yield connection
        return
    # pysqlite would commit before DDL and begin lazily: take over, and BEGIN IMMEDIATE
    # (the write lock; others wait up to busy_timeout) so the migration is one transaction
    own = sa.create_engine(engine.url, poolclass=NullPool)
    sa.event.listen(own, "connect", _sqlite_manual_transactions)
    sa.event.listen(own, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        with own.begin() as connection:
            yield connection
    finally:
        own.dispose()


def _sqlite_manual_transactions(dbapi_connection: Any, record: Any) -> None:
    sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.isolation_level = None


def _check_known(revision: str | None) -> None:
    if revision is not None and revision not in known_revisions():
        raise SchemaVersionError(
            f"database schema is at revision {revision}, which this Eigen does not know "
            "(it was migrated by a newer version)"
        )
