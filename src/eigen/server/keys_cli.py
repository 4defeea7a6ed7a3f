"""Operator commands for API keys and tenants: ``eigen-server keys create|list|revoke`` and
``eigen-server tenants delete``.

A key is printed once, by ``keys create`` (alone on stdout, so ``KEY=$(eigen-server keys
create ...)`` keeps it); the store keeps only its keyed hash, so nothing can show it
again. ``keys list`` never shows a secret. A revoked key, and every key and token of a
deleted tenant, is refused on every api node within ``api_key_cache_s`` (at most 1 s).

These commands write the job store's database (setting ``database_url``) and need the
server secret every api node uses (``api_key_secret``, or the file in ``data_dir``).

Exit codes: 0 success, 2 bad settings, flags or arguments (a deleted tenant, an unknown
key id), 3 database unreachable, 4 other database or schema errors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from eigen.config.settings import Settings
from eigen.errors import AlreadyExists, EigenError, FailedPrecondition, NotFound, quote
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.factory import pool_options
from eigen.kernel.store.keys import SqlKeyStore
from eigen.kernel.store.migrate import ensure_schema
from eigen.models.credentials import KEY_NAME_MAX, TENANT_NAME, ApiKeyRecord
from eigen.models.principal import ROLE_NAMES
from eigen.security import apikeys
from eigen.server.admin import ConfigFile, DatabaseUrl, _database_errors, _settings

keys_app = typer.Typer(
    help="API keys: create (printed once), list (never a secret), revoke.", no_args_is_help=True
)
tenants_app = typer.Typer(help="Tenants: delete (its keys and tokens stop working).", no_args_is_help=True)

DAY_S = 86_400.0


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _key_store(settings: Settings) -> Iterator[SqlKeyStore]:
    """The key store of the settings' database, migrated to head first unless
    ``database_auto_migrate`` is off; database errors as exit codes 2 to 4."""
    url = settings.store_url
    with _database_errors(url):
        engine = make_engine(url, pool_options(settings))
        try:
            ensure_schema(engine, migrate=settings.database_auto_migrate)
            yield SqlKeyStore(engine)
        finally:
            engine.dispose()


def _tenant_name(tenant: str) -> str:
    if not TENANT_NAME.fullmatch(tenant):
        raise _fail(f"tenant {quote(tenant)}: must be 1 to 64 of A-Za-z0-9._-")
    return tenant


def _when(at: float | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _state(record: ApiKeyRecord, deleted_tenants: set[str], now: float) -> str:
    if record.tenant in deleted_tenants:
        return "tenant deleted"
    return record.refusal(now) or "active"


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option("--tenant", help="tenant the key acts in")],
    name: Annotated[str, typer.Option("--name", help="who or what uses the key: the owner of its jobs")],
    role: Annotated[str, typer.Option("--role", help=f"one of {', '.join(ROLE_NAMES)}")],
    expires: Annotated[
        float | None, typer.Option("--expires", metavar="DAYS", help="days until the key stops working")
    ] = None,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it, once: only its keyed hash is stored."""
    _tenant_name(tenant)
    if not name.strip() or len(name) > KEY_NAME_MAX or not name.isprintable():
        raise _fail(f"--name {quote(name)}: must be 1 to {KEY_NAME_MAX} printable characters")
    if role not in ROLE_NAMES:
        raise _fail(f"--role {quote(role)}: must be one of {', '.join(ROLE_NAMES)}")
    if expires is not None and not expires > 0:
        raise _fail("--expires: must be a positive number of days")
    settings = _settings(config, {"database_url": database_url})
    try:
        secret = apikeys.server_secret(settings)
    except EigenError as exc:
        raise _fail(str(exc)) from None
    now = time.time()
    key, record = apikeys.new_key(
        secret,
        tenant=tenant,
        name=name,
        role=role,
        created_at=now,
        expires_at=None if expires is None else now + expires * DAY_S,
    )
    with _key_store(settings) as store:
        try:
            store.add_key(record, now)
        except (FailedPrecondition, AlreadyExists) as exc:
            raise _fail(str(exc)) from None
    typer.echo(key)
    typer.echo(
        f"created API key {record.key_id} for tenant {tenant} (name {name}, role {role}, "
        f"expires {_when(record.expires_at)}): store it now, it is not shown again",
        err=True,
    )


@keys_app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant's keys")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array")] = False,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List API keys (their ids, tenants, names, roles, dates and states; never a secret)."""
    if tenant is not None:
        _tenant_name(tenant)
    settings = _settings(config, {"database_url": database_url})
    now = time.time()
    with _key_store(settings) as store:
        records = list(store.list_keys(tenant))
        deleted = set()
        for name in {r.tenant for r in records}:
            found = store.tenant(name)
            if found is not None and found.deleted:
                deleted.add(name)
    if as_json:
        rows: list[dict[str, Any]] = [
            {
                "key_id": r.key_id,
                "tenant": r.tenant,
                "name": r.name,
                "role": r.role,
                "created_at": r.created_at,
                "expires_at": r.expires_at,
                "revoked_at": r.revoked_at,
                "state": _state(r, deleted, now),
            }
            for r in records
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not records:
        typer.echo("no API keys" + (f" in tenant {tenant}" if tenant else ""))
        return
    header = ("KEY ID", "TENANT", "NAME", "ROLE", "CREATED", "EXPIRES", "STATE")
    table = [header] + [
        (
            r.key_id,
            r.tenant,
            r.name,
            r.role,
            _when(r.created_at),
            _when(r.expires_at),
            _state(r, deleted, now),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="the key's id (keys list)")],
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key: every api node refuses it within api_key_cache_s (at most 1 s)."""
    settings = _settings(config, {"database_url": database_url})
    with _key_store(settings) as store:
        try:
            record = store.revoke(key_id, time.time())
        except NotFound as exc:
            raise _fail(str(exc)) from None
    typer.echo(
        f"revoked API key {record.key_id} (tenant {record.tenant}, name {record.name}) at "
        f"{_when(record.revoked_at)}"
    )


@tenants_app.command("delete")
def delete_tenant(
    tenant: Annotated[str, typer.Argument(metavar="TENANT", help="the tenant's name")],
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Mark a tenant deleted: its API keys and tokens stop working (its jobs stay)."""
    _tenant_name(tenant)
    settings = _settings(config, {"database_url": database_url})
    with _key_store(settings) as store:
        record = store.delete_tenant(tenant, time.time())
        count = len(store.list_keys(tenant))
    typer.echo(
        f"tenant {tenant} deleted at {_when(record.deleted_at)}: its {count} API key(s) and its "
        "tokens are refused from now on"
    )
