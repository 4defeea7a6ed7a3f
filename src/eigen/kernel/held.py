"""Holding a stage's writes while the job store's database cannot be reached.

A stage whose write meets an unreachable database (``Unavailable``: PostgreSQL restarting)
keeps its jobs and tries the write again every ``HELD_RETRY_S`` until the database
answers, instead of failing the jobs (which could not be written either) and leaving them
to the lease sweep, which would run them a second time. The worker holds its jobs
meanwhile, so the heartbeat keeps their leases (renewed once the database is back, the
sweep waiting for that). When the kernel stops first the write is given up and the jobs
stay where they were (the next start or the sweep takes them).

The writes held: a stage's outcomes (:meth:`eigen.kernel.pipeline.Pipeline._move_batch`)
and a hybrid loop's progress and checkpoint (:mod:`eigen.kernel.hybrid.runner`). The
retries are tenacity's, their waits cut short by the kernel's stop.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_when_event_set, wait_fixed

from eigen.errors import Unavailable

T = TypeVar("T")

log = logging.getLogger(__name__)

HELD_RETRY_S = 0.2  # how often a held write is tried again


def held(
    write: Callable[[], T],
    problem: Unavailable,
    stopping: threading.Event,
    what: str,
    extra: dict[str, Any],
) -> tuple[bool, T | None]:
    """Try ``write`` again (it just failed with ``problem``) until the store answers:
    (True, what it returned), or (False, None) when the kernel stopped first. ``what``
    names the writes in the logs (``outcomes held ...``, ``held outcomes stored``)."""
    log.warning(
        f"{what} held: the job store cannot be reached; stored once it answers",
        extra={**extra, "error": problem.message},
    )
    retrying = Retrying(
        retry=retry_if_exception_type(Unavailable),
        wait=wait_fixed(HELD_RETRY_S),
        stop=stop_when_event_set(stopping),
        sleep=functools.partial(_pause, stopping),
    )
    try:
        written = retrying(write)
    except RetryError:
        log.warning(f"held {what} not stored: the kernel stops", extra=extra)
        return False, None
    log.info(f"held {what} stored", extra=extra)
    return True, written


def _pause(stopping: threading.Event, seconds: float) -> None:
    """tenacity's wait between tries, cut short by the kernel's stop."""
    stopping.wait(seconds)
