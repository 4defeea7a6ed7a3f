"""Which event fan-out a node runs, from its settings (:func:`fanout_from`)."""

from __future__ import annotations

from pathlib import Path

from eigen.config.settings import Settings
from eigen.kernel.fanout.factory import default_node_id, fanout_from
from eigen.kernel.fanout.postgres import PostgresFanout
from eigen.kernel.fanout.redis import RedisFanout

PG = "postgresql+psycopg://eigen@127.0.0.1:1/eigen"  # nothing listens: nothing is started here


def test_redis_when_redis_url_is_set(tmp_path: Path) -> None:
    made = fanout_from(Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0", node_id="k1"))
    assert isinstance(made, RedisFanout) and made.node_id == "k1"
    made.close()


def test_listen_notify_for_a_postgresql_dispatch(tmp_path: Path) -> None:
    for settings in (
        Settings(data_dir=tmp_path, database_url=PG),  # dispatch auto
        Settings(data_dir=tmp_path, database_url=PG, dispatch="postgres"),
    ):
        made = fanout_from(settings)
        assert isinstance(made, PostgresFanout) and made.node_id == default_node_id()
        made.close()


def test_none_for_one_kernel(tmp_path: Path) -> None:
    assert fanout_from(Settings(data_dir=tmp_path)) is None  # SQLite
    assert fanout_from(Settings(data_dir=tmp_path, database_url=PG, dispatch="memory")) is None
