"""API keys and tenants, in the job store's database (tables ``api_keys`` and ``tenants``)
or in memory (tests, and a server without a database).

The authenticator reads one key and one tenant per lookup (then caches them for at most
``api_key_cache_s``); the ``eigen-server keys`` and ``tenants`` commands write. A key is
never deleted, only revoked, so ``keys list`` keeps showing who had access.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from eigen.errors import AlreadyExists, FailedPrecondition, NotFound, quote
from eigen.kernel.store import schema
from eigen.models.credentials import ApiKeyRecord, TenantRecord


def _deleted_tenant(name: str) -> FailedPrecondition:
    return FailedPrecondition(f"tenant {quote(name)} is deleted: it gets no new keys")


def _unknown_key(key_id: str) -> NotFound:
    return NotFound(f"no API key {quote(key_id)}")


class MemoryKeyStore:
    """The key store in a dict; thread-safe."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKeyRecord] = {}
        self._tenants: dict[str, TenantRecord] = {}
        self._lock = threading.Lock()
        self.reads = 0  # lookups (key or tenant) served: what the authenticator's cache saves

    def key(self, key_id: str) -> ApiKeyRecord | None:
        with self._lock:
            self.reads += 1
            return self._keys.get(key_id)

    def tenant(self, name: str) -> TenantRecord | None:
        with self._lock:
            self.reads += 1
            return self._tenants.get(name)

    def add_key(self, record: ApiKeyRecord, now: float) -> None:
        with self._lock:
            tenant = self._tenants.get(record.tenant)
            if tenant is not None and tenant.deleted:
                raise _deleted_tenant(record.tenant)
            if record.key_id in self._keys:
                raise AlreadyExists(f"API key id {quote(record.key_id)} is taken")
            if tenant is None:
                self._tenants[record.tenant] = TenantRecord(record.tenant, now)
            self._keys[record.key_id] = record

    def list_keys(self, tenant: str | None = None) -> Sequence[ApiKeyRecord]:
        with self._lock:
            found = [k for k in self._keys.values() if tenant is None or k.tenant == tenant]
        return sorted(found, key=lambda k: (k.created_at, k.key_id))

    def revoke(self, key_id: str, now: float) -> ApiKeyRecord:
        with self._lock:
            record = self._keys.get(key_id)
            if record is None:
                raise _unknown_key(key_id)
            if record.revoked_at is None:
                record = self._keys[key_id] = replace(record, revoked_at=now)
            return record

    def delete_tenant(self, name: str, now: float) -> TenantRecord:
        with self._lock:
            tenant = self._tenants.get(name) or TenantRecord(name, now)
            if tenant.deleted_at is None:
                tenant = replace(tenant, deleted_at=now)
            self._tenants[name] = tenant
            return tenant

    def close(self) -> None:
        pass


class SqlKeyStore:
    """The key store in the tables ``api_keys`` and ``tenants`` of ``engine`` (SQLite or
    PostgreSQL, migrated to v0003 or later). ``close`` disposes of the engine only when
    ``owns_engine`` (the server shares the job store's engine)."""

    def __init__(self, engine: Engine, *, owns_engine: bool = False) -> None:
        self._engine = engine
        self._owns_engine = owns_engine

    def __repr__(self) -> str:
        return f"SqlKeyStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def key(self, key_id: str) -> ApiKeyRecord | None:
        table = schema.api_keys
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.key_id == key_id)).mappings().first()
        return None if row is None else _key(row)

    def tenant(self, name: str) -> TenantRecord | None:
        table = schema.tenants
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.name == name)).mappings().first()
        return None if row is None else _tenant(row)

    def add_key(self, record: ApiKeyRecord, now: float) -> None:
        with self._engine.begin() as conn:
            self._record_tenant(conn, record.tenant, now)
            tenant = conn.execute(
                sa.select(schema.tenants.c.deleted_at).where(schema.tenants.c.name == record.tenant)
            ).scalar_one()
            if tenant is not None:
                raise _deleted_tenant(record.tenant)
            taken = conn.execute(
                sa.select(schema.api_keys.c.key_id).where(schema.api_keys.c.key_id == record.key_id)
            ).first()
            if taken is not None:
                raise AlreadyExists(f"API key id {quote(record.key_id)} is taken")
            conn.execute(
                schema.api_keys.insert().values(
                    key_id=record.key_id,
                    tenant=record.tenant,
                    name=record.name,
                    role=record.role,
                    digest=record.digest,
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                    revoked_at=record.revoked_at,
                )
            )

    def list_keys(self, tenant: str | None = None) -> Sequence[ApiKeyRecord]:
        table = schema.api_keys
        query = sa.select(table).order_by(table.c.created_at, table.c.key_id)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        with self._engine.connect() as conn:
            return [_key(row) for row in conn.execute(query).mappings()]

    def revoke(self, key_id: str, now: float) -> ApiKeyRecord:
        table = schema.api_keys
        with self._engine.begin() as conn:
            conn.execute(
                table.update()
                .where(table.c.key_id == key_id, table.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            row = conn.execute(sa.select(table).where(table.c.key_id == key_id)).mappings().first()
        if row is None:
            raise _unknown_key(key_id)
        return _key(row)

    def delete_tenant(self, name: str, now: float) -> TenantRecord:
        table = schema.tenants
        with self._engine.begin() as conn:
            self._record_tenant(conn, name, now)
            conn.execute(
                table.update()
                .where(table.c.name == name, table.c.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            row = conn.execute(sa.select(table).where(table.c.name == name)).mappings().one()
        return _tenant(row)

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    def _record_tenant(self, conn: Connection, name: str, now: float) -> None:
        """Insert tenant ``name`` unless it is there (two writers may both try: the
        database decides, neither fails)."""
        values = {"name": name, "created_at": now, "deleted_at": None}
        insert: Any
        if conn.dialect.name == "postgresql":
            insert = postgresql.insert(schema.tenants).values(**values)
        else:
            insert = sqlite.insert(schema.tenants).values(**values)
        conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))


def _key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row["key_id"],
        tenant=row["tenant"],
        name=row["name"],
        role=row["role"],
        digest=row["digest"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


def _tenant(row: Any) -> TenantRecord:
    return TenantRecord(name=row["name"], created_at=row["created_at"], deleted_at=row["deleted_at"])
