"""Where a waiting job stands in the queue, when it should start, and why.

Shown by GetJob (``Job.placement``), REST and ``eigen-cli status`` for a job that waits
on a queue (PENDING to be compiled, QUEUED to run); absent once a worker holds it, while
it waits for its dependencies, and once it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class QueueStage(StrEnum):
    COMPILE = "compile"  # PENDING: waiting to be compiled
    EXECUTE = "execute"  # QUEUED: compiled, waiting for its device


@dataclass(frozen=True)
class Placement:
    """``position`` 1 is the next to start on its queue (the compile queue, or its device's
    queue); ``slots`` the device's concurrent executions (0: as many as there are
    workers); ``estimated_start`` epoch seconds, from the entries ahead and the device's
    measured run time; ``reason`` the order's explanation (priority class, fair share)."""

    stage: QueueStage
    device: str
    position: int
    slots: int
    estimated_start: float
    reason: str
