"""A bounded cache of job results keyed by job id: memory LRU, optionally backed by a folder.

Results of a DONE job never change, so caching them is safe; :meth:`ResultCache.invalidate`
drops one entry (both levels) and :meth:`ResultCache.clear` all of them. The disk level
keeps one JSON file per job (written atomically) and is read when the memory level misses.
Callers get their own copy of a result: changing it does not change the cache.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from eigen.models.result import JobResult, result_from_dict, result_to_dict

log = logging.getLogger(__name__)

_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class CacheStats:
    hits: int = 0
    disk_hits: int = 0
    misses: int = 0


class ResultCache:
    """Memory LRU of at most ``max_entries`` results, plus an optional disk folder."""

    def __init__(self, max_entries: int = 128, directory: str | Path | None = None) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must not be negative")
        self.max_entries = max_entries
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.stats = CacheStats()
        self._memory: OrderedDict[str, JobResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job_id: str) -> JobResult | None:
        """The cached result of ``job_id`` (a copy), or None."""
        with self._lock:
            found = self._memory.get(job_id)
            if found is not None:
                self._memory.move_to_end(job_id)
                self.stats.hits += 1
                return copy.deepcopy(found)
        loaded = self._read(job_id)
        with self._lock:
            if loaded is None:
                self.stats.misses += 1
                return None
            self.stats.disk_hits += 1
            self._remember(job_id, loaded)
        return copy.deepcopy(loaded)

    def put(self, result: JobResult) -> None:
        """Keep ``result`` under its job id (in memory and, when configured, on disk)."""
        stored = copy.deepcopy(result)
        with self._lock:
            self._remember(result.job_id, stored)
        self._write(stored)

    def invalidate(self, job_id: str) -> bool:
        """Forget one job's result; True when something was cached."""
        with self._lock:
            found = self._memory.pop(job_id, None) is not None
        path = self._path(job_id)
        if path is not None and path.exists():
            path.unlink(missing_ok=True)
            found = True
        return found

    def clear(self) -> None:
        """Forget every result (memory and disk)."""
        with self._lock:
            self._memory.clear()
        if self.directory is not None:
            for path in self.directory.glob("*.json"):
                path.unlink(missing_ok=True)

    def __contains__(self, job_id: object) -> bool:
        if not isinstance(job_id, str):
            return False
        with self._lock:
            if job_id in self._memory:
                return True
        path = self._path(job_id)
        return path is not None and path.exists()

    def __len__(self) -> int:
        """Entries in memory."""
        with self._lock:
            return len(self._memory)

    # -- internals ---------------------------------------------------------------------------
    def _remember(self, job_id: str, result: JobResult) -> None:
        if self.max_entries == 0:
            return
        self._memory[job_id] = result
        self._memory.move_to_end(job_id)
        while len(self._memory) > self.max_entries:
            self._memory.popitem(last=False)

    def _path(self, job_id: str) -> Path | None:
        if self.directory is None or not _JOB_ID.match(job_id):
            return None  # ids that could not name a file safely are kept in memory only
        return self.directory / f"{job_id}.json"

    def _read(self, job_id: str) -> JobResult | None:
        path = self._path(job_id)
        if path is None:
            return None
        try:
            return result_from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable cached result %s: %s", path, exc)
            return None

    def _write(self, result: JobResult) -> None:
        path = self._path(result.job_id)
        if path is None:
            return
        assert self.directory is not None
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(result_to_dict(result), out)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
