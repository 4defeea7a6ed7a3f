"""Singleton duties on one node (SQLite or no database): always held, run on their
intervals. PostgreSQL and the advisory lock: tests/integration/test_duties_postgres.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from eigen.kernel.duties import Duties
from eigen.kernel.store.sql import sqlite_url


@pytest.mark.parametrize("where", ["none", "sqlite"])
def test_a_single_node_always_holds_the_duties(where: str, tmp_path: Path) -> None:
    duties = Duties(None if where == "none" else sqlite_url(tmp_path / "j.db"), lease_s=1.0)
    runs: list[int] = []
    third = threading.Event()

    def sweep() -> None:
        runs.append(1)
        if len(runs) == 3:
            third.set()

    duties.register("sweep", 0.05, sweep)
    assert duties.holding()
    duties.start()
    try:
        assert third.wait(10)
        assert duties.problem() is None
    finally:
        duties.stop()
    assert not duties.holding()


def test_registering_twice_or_without_an_interval_is_refused() -> None:
    duties = Duties(None, lease_s=1.0)
    duties.register("sweep", 1.0, lambda: None)
    with pytest.raises(ValueError, match="registered already"):
        duties.register("sweep", 1.0, lambda: None)
    with pytest.raises(ValueError, match="interval_s must be positive"):
        duties.register("other", 0, lambda: None)
    with pytest.raises(ValueError, match="lease_s"):
        Duties(None, lease_s=0)
