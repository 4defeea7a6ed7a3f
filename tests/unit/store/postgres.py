"""Throwaway PostgreSQL databases for store tests.

Each test gets ``eigen_test_<random>``, created through the ``postgres`` database and
dropped afterwards. ``EIGEN_TEST_POSTGRES_URL`` overrides the server (default: the local
one on 127.0.0.1:5432, user postgres, trust auth). When the server is unreachable the
tests skip, except in CI (``EIGEN_CI=1``), where they fail.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

ADMIN_URL_ENV = "EIGEN_TEST_POSTGRES_URL"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get(ADMIN_URL_ENV) or DEFAULT_ADMIN_URL


@functools.cache
def unreachable(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None when it can."""
    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


def require_postgres(url: str | None = None) -> str:
    """The admin URL; skips the test (fails it under EIGEN_CI=1) when unreachable."""
    url = url or admin_url()
    problem = unreachable(url)
    if problem is not None:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        reason = f"PostgreSQL at {shown} is unreachable ({problem}); set {ADMIN_URL_ENV} to use another"
        if os.environ.get("EIGEN_CI") == "1":
            pytest.fail(f"{reason}. EIGEN_CI=1: PostgreSQL tests must run in CI", pytrace=False)
        pytest.skip(reason)
    return url


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database, dropped on exit."""
    admin = require_postgres()
    name = f"eigen_test_{uuid.uuid4().hex[:16]}"
    engine = sa.create_engine(admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield sa.make_url(admin).set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


@contextmanager
def migrated_engine() -> Iterator[sa.Engine]:
    """An engine of a :func:`fresh_database` migrated to head (the job store's schema and the
    queue's), disposed on exit."""
    from eigen.kernel.store import migrate
    from eigen.kernel.store.engine import make_engine

    with fresh_database() as url:
        made = make_engine(url)
        migrate.upgrade(made)
        try:
            yield made
        finally:
            made.dispose()
