"""How long a device's runs take: the mean seconds per device, smoothed over recent runs.

Fed by the pipeline as each execution ends (a hybrid job counts its whole loop: that is how
long it holds the slot), read by fair share as a job's cost
(:mod:`eigen.kernel.fair_order`) and by the queue's estimated starts
(:mod:`eigen.kernel.placement`). Each node measures its own runs; the mean weighs the newest
run ``SMOOTHING``, so old runs fade out (a decaying window of about 1 / SMOOTHING runs).
"""

from __future__ import annotations

import threading

COMPILE_DEFAULT_S = 0.1  # a compile's time until one was seen
SMOOTHING = 0.2  # the weight of the newest run in a mean


class RunTimes:
    """The mean seconds a run takes per device, smoothed over the recent runs (each new one
    weighs ``SMOOTHING``); ``default_s`` for a device with none yet."""

    def __init__(self, default_s: float) -> None:
        self.default_s = default_s
        self._means: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, device: str, seconds: float) -> None:
        seconds = max(0.0, seconds)
        with self._lock:
            mean = self._means.get(device)
            self._means[device] = seconds if mean is None else mean + SMOOTHING * (seconds - mean)

    def of(self, device: str) -> float:
        with self._lock:
            return self._means.get(device, self.default_s)
