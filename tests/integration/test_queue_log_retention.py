"""The queue log's retention on the real PostgreSQL server: a kernel on the postgres
dispatch registers the singleton duty that prunes pgqueuer's log, and that duty deletes
the rows older than a day and keeps the newer ones.

Runs in a database of its own (tests/unit/store/postgres.py); without a reachable server
it skips, except under EIGEN_CI=1, where it fails.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from eigen.config.settings import Settings
from eigen.kernel.dispatch.port import Entry, Stage
from eigen.kernel.dispatch.postgres import PostgresDispatch
from eigen.kernel.dispatch.queue_names import queue_settings
from eigen.kernel.duties import Duties
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.sql import SqlJobStore
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration


class HeldDuties(Duties):
    """The duties of a node that holds them, run by the test when it says so."""

    def __init__(self) -> None:
        super().__init__(None, lease_s=1.0)
        self.registered: dict[str, Callable[[], None]] = {}

    def register(
        self, name: str, interval_s: float, fn: Callable[[], None], *, settle_s: float = 0.0
    ) -> None:
        super().register(name, interval_s, fn, settle_s=settle_s)
        self.registered[name] = fn

    def start(self) -> None:
        """Nothing runs on its own: the test runs the duty."""


def test_the_queue_log_retention_duty_prunes_rows_older_than_a_day(tmp_path: Path) -> None:
    with fresh_database() as url:
        store = SqlJobStore(url)  # migrated to head: the queue's schema too
        engine = make_engine(url)
        dispatch = PostgresDispatch(engine, Settings(lease_s=1.0, node_id="node-a"))
        duties = HeldDuties()
        settings = KernelSettings(node_id="node-a", shared_store=True, compile_workers=0, execute_workers=0)
        kernel = Kernel(
            store,
            ArtifactStore(tmp_path / "artifacts"),
            FakeCompiler(),
            FakeDrivers(),
            settings,
            dispatch=dispatch,
            duties=duties,
        )
        log_table = queue_settings().qualified.queue_table_log
        try:
            kernel.start()
            prune = duties.registered["queue-log-retention"]
            dispatch.enqueue(Stage.COMPILE, [Entry("old-1"), Entry("old-2")])
            with engine.begin() as conn:  # these rows were logged two days ago
                conn.execute(sa.text(f"UPDATE {log_table} SET created = now() - interval '2 days'"))
            dispatch.enqueue(Stage.COMPILE, [Entry("new-1")])
            with engine.connect() as conn:
                before = conn.execute(sa.text(f"SELECT count(*) FROM {log_table}")).scalar_one()
            prune()
            with engine.connect() as conn:
                left = conn.execute(sa.text(f"SELECT count(*) FROM {log_table}")).scalar_one()
            assert before >= 3 and left >= 1
            assert before - left >= 2  # the two-day-old rows went, today's stayed
            with engine.connect() as conn:
                oldest = conn.execute(
                    sa.text(f"SELECT min(created) > now() - interval '1 day' FROM {log_table}")
                )
                assert oldest.scalar_one() is True
        finally:
            kernel.stop()
            store.close()
            engine.dispose()
