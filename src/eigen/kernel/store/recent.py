"""The results a store saved lately, kept in memory for the GetJobResults that usually
follows a job's end within milliseconds (the database is the record; this spares reading
and parsing it again).

Only small results are kept (a few thousand outcomes in all), only for a while, and only
so many: a result older than ``max_age_s`` is read from the database. The store drops a
result from here when it expires it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from eigen.models.result import JobResult

MAX_OUTCOMES = 4096  # a result with more outcomes (all experiments together) is not kept


class RecentResults:
    def __init__(self, size: int = 1024, max_age_s: float = 60.0) -> None:
        self._size = size
        self._max_age_s = max_age_s
        self._items: OrderedDict[str, tuple[float, JobResult]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, result: JobResult) -> None:
        """Keep ``result`` (as recorded: callers only read it) when it is small."""
        if sum(len(e.counts) for e in result.experiments) > MAX_OUTCOMES:
            return
        with self._lock:
            self._items[result.job_id] = (time.monotonic(), result)
            self._items.move_to_end(result.job_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def drop(self, job_ids: Iterable[str]) -> None:
        with self._lock:
            for job_id in job_ids:
                self._items.pop(job_id, None)

    def get(self, job_id: str) -> JobResult | None:
        with self._lock:
            found = self._items.get(job_id)
        if found is None or time.monotonic() - found[0] > self._max_age_s:
            return None
        return found[1]
