"""A dead letter: the record of a job that ended in ERROR because it used up its attempts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeadLetter:
    """Why a job was given up on: each of its ``attempts`` lost its worker (or failed the
    same way), and the kernel stopped retrying it. ``last_worker`` is the worker that held
    it last, when one did."""

    job_id: str
    tenant: str
    attempts: int
    reason: str
    at: float  # when it was given up on (epoch seconds)
    last_worker: str | None = None
