"""A small thread-safe bounded LRU map, with hit and miss counters."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K, *, count: bool = True) -> V | None:
        """The value of ``key`` (now the most recent), or None; ``count=False`` leaves
        the hit and miss counters alone (a look before the counted lookup)."""
        if self._maxsize <= 0:
            return None
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += count
                return None
            self._data.move_to_end(key)
            self.hits += count
            return value

    def hit(self, key: K) -> V | None:
        """The value of ``key`` (now the most recent) counted as a hit, or None counting
        nothing: a look whose miss the caller's next :meth:`get` counts."""
        value = self.get(key, count=False)
        if value is not None:
            with self._lock:
                self.hits += 1
        return value

    def put(self, key: K, value: V) -> None:
        if self._maxsize <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = 0
            self.misses = 0

    def info(self) -> dict[str, int]:
        return {
            "size": len(self._data),
            "maxsize": self._maxsize,
            "hits": self.hits,
            "misses": self.misses,
        }
