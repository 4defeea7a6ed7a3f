"""Operator commands of ``eigen-server``: ``migrate``, ``gc`` and ``config show``.

Exit codes: 0 success, 2 bad settings, flags or database URL, 3 database unreachable,
4 other database or schema errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from eigen.config.loader import load_settings
from eigen.config.settings import Settings
from eigen.config.show import render_settings
from eigen.kernel.store.engine import make_engine, masked
from eigen.kernel.store.factory import open_store, pool_options
from eigen.kernel.store.migrate import SchemaVersionError, head_revision, upgrade
from eigen.kernel.store.retention import expire_old_results, retention_cutoff

ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="YAML settings file (default: $EIGEN_CONFIG)")
]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="job store URL (default: setting database_url)")
]

config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)


def _settings(config: Path | None, flags: dict[str, Any] | None = None) -> Settings:
    try:
        return load_settings(config, flags)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    try:
        yield
    except sa.exc.OperationalError as exc:
        typer.echo(f"error: cannot reach {masked(url)}: {exc.orig or exc}", err=True)
        raise typer.Exit(3) from None
    except (sa.exc.SQLAlchemyError, SchemaVersionError) as exc:
        typer.echo(f"error: {masked(url)}: {exc}", err=True)
        raise typer.Exit(4) from None
    except ValueError as exc:  # an unsupported or malformed URL
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def migrate(database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Upgrade the job store schema (SQLite or PostgreSQL) to the latest revision."""
    settings = _settings(config, {"database_url": database_url})
    url = settings.store_url
    with _database_errors(url):
        engine = make_engine(url, pool_options(settings))
        try:
            done = upgrade(engine)
        finally:
            engine.dispose()
    if done.changed:
        typer.echo(f"{masked(url)}: migrated from {done.before or 'an empty database'} to {done.after}")
    else:
        typer.echo(f"{masked(url)}: already at revision {head_revision()} (head)")


def gc(
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
    retention_days: Annotated[
        float | None, typer.Option(help="expire results older than this (default: setting)")
    ] = None,
) -> None:
    """Expire job results older than result_retention_days; the jobs themselves stay."""
    settings = _settings(config, {"database_url": database_url, "result_retention_days": retention_days})
    days = settings.result_retention_days
    now = datetime.now(UTC)
    cutoff = retention_cutoff(days, now.timestamp())
    if cutoff is None:
        typer.echo("result retention is off (result_retention_days unset or 0): nothing expired")
        return
    with _database_errors(settings.store_url):
        store = open_store(settings)
        try:
            count = expire_old_results(store, days, now.timestamp())
        finally:
            store.close()
    before = datetime.fromtimestamp(cutoff, UTC).isoformat(timespec="seconds")
    typer.echo(f"expired the results of {count} job(s) saved before {before}")


@config_app.command("show")
def config_show(config: ConfigFile = None) -> None:
    """Print the effective settings as YAML, secrets masked."""
    typer.echo(render_settings(_settings(config)), nl=False)
