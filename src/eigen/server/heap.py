"""How a serving process sets up CPython's cyclic garbage collector once it is warm.

A started server holds a few hundred thousand long-lived objects (qiskit, the transpiler's
pass managers, gRPC, SQLAlchemy, the drivers' targets). CPython's defaults suit short
scripts, not that: a young collection runs every 700 net allocations of tracked objects,
hundreds of times a second under load, and a full collection walks the whole heap (about
0.2 s on our 2-core machine, with every thread stopped behind the GIL).

:func:`settle` runs once the process has imported and warmed everything it serves with:
it collects what start-up left over, moves every surviving object into the permanent
generation (:func:`gc.freeze`, so later collections never walk it again), and raises the
young threshold so that collections follow the requests' garbage rather than every few
hundred allocations. Reference counting still frees almost everything at once; the
collector only has cycles to find, and a request makes few.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

#: Net allocations of tracked objects between young collections (CPython: 700).
YOUNG_THRESHOLD = 20_000
#: Young collections per middle one, and middle ones per full one (CPython's defaults).
OLDER_THRESHOLDS = (10, 10)


@dataclass(frozen=True)
class Settled:
    """What :func:`settle` did: objects freed by its collection, objects frozen."""

    collected: int
    frozen: int


def settle(young_threshold: int = YOUNG_THRESHOLD) -> Settled:
    """Collect, freeze what survives and raise the young threshold (see the module)."""
    if young_threshold < 1:
        raise ValueError(f"young_threshold must be at least 1, not {young_threshold}")
    collected = gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, *OLDER_THRESHOLDS)
    return Settled(collected=collected, frozen=gc.get_freeze_count())
