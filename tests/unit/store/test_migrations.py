"""Migrations on SQLite files (PostgreSQL: tests/integration/test_store_postgres.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eigen.kernel.store.sql import sqlite_url
from tests.unit.store.migration_contract import MigrationContract


class TestSqliteMigrations(MigrationContract):
    @pytest.fixture
    def database_url(self, tmp_path: Path) -> str:
        return sqlite_url(tmp_path / "nested" / "eigen.db")
