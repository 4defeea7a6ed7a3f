"""Fair share's virtual times on PostgreSQL: one row per tenant in ``eigen_queue.fair_share``
(migration 0006), so that every node of a cluster ranks a tenant's jobs from one virtual
time (:mod:`eigen.kernel.fair_order`).

``starts`` runs in the transaction that writes the entries: it takes the tenant's row
with ``FOR UPDATE`` (made on first use), so two nodes enqueueing for one tenant at once
take turns, and a rolled back submission leaves the virtual time as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from eigen.kernel.dispatch.queue_names import SCHEMA
from eigen.kernel.fair_order import advance

TABLE = f"{SCHEMA}.fair_share"
_MAKE = sa.text(f"INSERT INTO {TABLE} (tenant, virtual_time) VALUES (:t, 0) ON CONFLICT DO NOTHING")
_LOCK = sa.text(f"SELECT virtual_time FROM {TABLE} WHERE tenant = :t FOR UPDATE")
_MOVE = sa.text(f"UPDATE {TABLE} SET virtual_time = :v WHERE tenant = :t")


class PostgresVirtualClock:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def starts(
        self, tenant: str, arrivals: Sequence[float], step_s: float, *, within: Any = None
    ) -> list[float]:
        if within is None:
            with self._engine.begin() as connection:
                return self._starts(connection, tenant, arrivals, step_s)
        return self._starts(within, tenant, arrivals, step_s)

    @staticmethod
    def _starts(
        connection: sa.Connection, tenant: str, arrivals: Sequence[float], step_s: float
    ) -> list[float]:
        connection.execute(_MAKE, {"t": tenant})
        virtual = float(connection.execute(_LOCK, {"t": tenant}).scalar_one())
        found, virtual = advance(virtual, arrivals, step_s)
        connection.execute(_MOVE, {"t": tenant, "v": virtual})
        return found

    def reset(self) -> None:
        """Forget every tenant's virtual time (benchmarks and tests start level)."""
        with self._engine.begin() as connection:
            connection.execute(sa.text(f"DELETE FROM {TABLE}"))
