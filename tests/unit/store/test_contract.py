"""The job store contract against the memory store and a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eigen.kernel.store.base import JobStore
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from tests.unit.store.contract import StoreContract


class TestMemoryAndSqlite(StoreContract):
    @pytest.fixture(params=["memory", "sqlite"])
    def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
        made: JobStore = (
            MemoryJobStore() if request.param == "memory" else SqlJobStore(sqlite_url(tmp_path / "j.db"))
        )
        yield made
        made.close()
