"""``eigen-server audit list``: the audit log (authentication attempts and refusals) from
the ``audit_events`` table of the job store's database, newest first.

Exit codes as the other operator commands: 0 success, 2 bad settings or flags, 3
database unreachable, 4 other database or schema errors (no ``audit_events`` table:
``eigen-server migrate`` creates it).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
import typer

from eigen.errors import quote
from eigen.kernel.store.audit import SqlAuditStore
from eigen.kernel.store.engine import make_engine, masked, normalize_url, sqlite_file
from eigen.kernel.store.factory import pool_options
from eigen.models.audit import AuditEvent
from eigen.server.admin import ConfigFile, DatabaseUrl, _database_errors, _settings

audit_app = typer.Typer(help="Read the audit log.", no_args_is_help=True)

_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
COLUMNS = ("at", "kind", "outcome", "method", "tenant", "subject", "peer", "operation", "reason")


def since_time(text: str, now: datetime | None = None) -> float:
    """Epoch seconds of ``--since``: an ISO time (UTC when it names no zone) or an age
    such as ``30m``, ``1h``, ``7d``. ValueError when it is neither."""
    found = _AGO.match(text)
    if found:
        ago = timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})
        return ((now or datetime.now(UTC)) - ago).timestamp()
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since must be an ISO time (2026-01-31T12:00:00) or an age (30m, 1h, 7d), got {quote(text)}"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _as_dict(event: AuditEvent) -> dict[str, object]:
    return {
        "at": _iso(event.at),
        "kind": event.kind,
        "outcome": event.outcome,
        "method": event.method,
        "tenant": event.tenant,
        "subject": event.subject,
        "peer": event.peer,
        "operation": event.operation,
        "reason": event.reason,
        "request_id": event.request_id,
    }


def _table(events: list[AuditEvent]) -> str:
    rows = [[str(_as_dict(event)[name]) for name in COLUMNS] for event in events]
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(COLUMNS)]
    lines = ["  ".join(name.upper().ljust(widths[i]) for i, name in enumerate(COLUMNS)).rstrip()]
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    return "\n".join(lines)


@audit_app.command("list")
def audit_list(
    since: Annotated[
        str | None, typer.Option(help="only events at or after: an ISO time (UTC) or an age (30m, 1h, 7d)")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="only this tenant's events")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many events")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON array instead of a table")] = False,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Authentication attempts and refusals, newest first."""
    settings = _settings(config, {"database_url": database_url})
    try:
        cutoff = since_time(since) if since is not None else None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    url = settings.store_url
    with _database_errors(url):
        file = sqlite_file(normalize_url(url))
        if file is not None and not file.is_file():
            typer.echo(f"error: no job store at {file}: nothing audited there", err=True)
            raise typer.Exit(4)
        engine = make_engine(url, pool_options(settings))
        try:
            if not sa.inspect(engine).has_table("audit_events"):
                typer.echo(
                    f"error: {masked(url)} has no audit_events table: run `eigen-server migrate`", err=True
                )
                raise typer.Exit(4)
            events = SqlAuditStore(engine).recent(since=cutoff, tenant=tenant, limit=limit)
        finally:
            engine.dispose()
    if as_json:
        typer.echo(json.dumps([_as_dict(event) for event in events], indent=2))
    elif events:
        typer.echo(_table(events))
    else:
        typer.echo("no audit events" + (" matched" if since or tenant else ""))
