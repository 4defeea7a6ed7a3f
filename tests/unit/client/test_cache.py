"""The result cache: memory LRU, disk level, copies, invalidation."""

from __future__ import annotations

from pathlib import Path

from eigen.client import ResultCache
from eigen.models.result import Experiment, JobResult


def result(job_id: str, ones: int = 1) -> JobResult:
    return JobResult(job_id, "sim", [Experiment({"0": 10 - ones, "1": ones}, 10)], seed=7)


def test_memory_lru_evicts_the_least_recently_used() -> None:
    cache = ResultCache(max_entries=2)
    cache.put(result("a"))
    cache.put(result("b"))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put(result("c"))
    assert "b" not in cache and "a" in cache and "c" in cache
    assert len(cache) == 2
    assert cache.stats.hits == 1


def test_callers_get_copies() -> None:
    cache = ResultCache()
    original = result("a")
    cache.put(original)
    original.experiments[0].counts["1"] = 999
    first = cache.get("a")
    assert first is not None and first.experiments[0].counts["1"] == 1
    first.experiments[0].counts.clear()
    second = cache.get("a")
    assert second is not None and second.experiments[0].counts == {"0": 9, "1": 1}


def test_disk_level_survives_a_new_cache_and_refills_memory(tmp_path: Path) -> None:
    ResultCache(directory=tmp_path).put(result("job_1", ones=3))
    fresh = ResultCache(max_entries=4, directory=tmp_path)
    assert len(fresh) == 0
    loaded = fresh.get("job_1")
    assert loaded == result("job_1", ones=3)
    assert fresh.stats.disk_hits == 1 and len(fresh) == 1
    assert fresh.get("missing") is None and fresh.stats.misses == 1


def test_invalidate_and_clear_drop_both_levels(tmp_path: Path) -> None:
    cache = ResultCache(directory=tmp_path)
    cache.put(result("a"))
    cache.put(result("b"))
    assert cache.invalidate("a") is True
    assert cache.get("a") is None and not (tmp_path / "a.json").exists()
    assert cache.invalidate("a") is False
    cache.clear()
    assert cache.get("b") is None and list(tmp_path.glob("*.json")) == []


def test_unsafe_ids_stay_in_memory_and_bad_files_are_ignored(tmp_path: Path) -> None:
    cache = ResultCache(directory=tmp_path)
    cache.put(result("../escape"))
    assert cache.get("../escape") is not None
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "broken.json").write_text("{not json")
    assert ResultCache(directory=tmp_path).get("broken") is None


def test_zero_entries_turns_the_memory_level_off() -> None:
    cache = ResultCache(max_entries=0)
    cache.put(result("a"))
    assert cache.get("a") is None
