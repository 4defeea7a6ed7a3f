"""The PostgreSQL test fixture: skip outside CI, fail under EIGEN_CI=1."""

from __future__ import annotations

import pytest

from tests.unit.store.postgres import require_postgres

NOWHERE = "postgresql+psycopg://postgres:pw@127.0.0.1:1/postgres"


def test_an_unreachable_server_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EIGEN_CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"127\.0\.0\.1:1/postgres is unreachable") as skipped:
        require_postgres(NOWHERE)
    assert "pw" not in str(skipped.value)


def test_an_unreachable_server_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EIGEN_CI", "1")
    with pytest.raises(pytest.fail.Exception, match="EIGEN_CI=1: PostgreSQL tests must run in CI"):
        require_postgres(NOWHERE)
