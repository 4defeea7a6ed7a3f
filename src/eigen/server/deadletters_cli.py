"""``eigen-server dead-letters``: the jobs the kernel gave up on, newest first.

A job whose worker kept disappearing (its lease lapsed ``max_attempts`` times) ends in
ERROR and leaves a dead letter: how many attempts it had, why it was given up on and the
worker that held it last. This reads them from the job store's database.

Exit codes as the other operator commands: 0 success, 2 bad settings or flags, 3
database unreachable, 4 other database or schema errors (a schema behind this Eigen's:
``eigen-server migrate`` upgrades it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from eigen.kernel.store.engine import normalize_url, sqlite_file
from eigen.kernel.store.factory import pool_options
from eigen.kernel.store.sql import SqlJobStore
from eigen.models.dead_letter import DeadLetter
from eigen.server.admin import ConfigFile, DatabaseUrl, _database_errors, _settings

COLUMNS = ("at", "job_id", "tenant", "attempts", "last_worker", "reason")


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def as_dict(letter: DeadLetter) -> dict[str, object]:
    return {
        "at": _iso(letter.at),
        "job_id": letter.job_id,
        "tenant": letter.tenant,
        "attempts": letter.attempts,
        "last_worker": letter.last_worker,
        "reason": letter.reason,
    }


def _table(letters: list[DeadLetter]) -> str:
    rows = [
        ["" if (v := as_dict(letter)[name]) is None else str(v) for name in COLUMNS] for letter in letters
    ]
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(COLUMNS)]
    lines = ["  ".join(name.upper().ljust(widths[i]) for i, name in enumerate(COLUMNS)).rstrip()]
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    return "\n".join(lines)


def dead_letters(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's jobs")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON array instead of a table")] = False,
    config: ConfigFile = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Jobs given up on after their attempts (dead letters), newest first."""
    settings = _settings(config, {"database_url": database_url})
    url = settings.store_url
    with _database_errors(url):
        file = sqlite_file(normalize_url(url))
        if file is not None and not file.is_file():
            typer.echo(f"error: no job store at {file}: no dead letters there", err=True)
            raise typer.Exit(4)
        store = SqlJobStore(url, migrate=False, pool=pool_options(settings))
        try:
            letters = store.dead_letters(tenant=tenant, limit=limit)
        finally:
            store.close()
    if as_json:
        typer.echo(json.dumps([as_dict(letter) for letter in letters], indent=2))
    elif letters:
        typer.echo(_table(letters))
    else:
        typer.echo("no dead letters" + (f" of tenant {tenant}" if tenant else ""))
