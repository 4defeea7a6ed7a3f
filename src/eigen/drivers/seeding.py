"""Seeds: every run is seeded, and the seed is reported so any run can be reproduced."""

from __future__ import annotations

import secrets

from eigen.errors import InvalidArgument

#: Largest seed accepted (qiskit-aer and stim both take any non-negative int64).
MAX_SEED = 2**63 - 1
#: Seeds drawn for requests without one stay below this (small, JSON- and int32-safe).
DRAWN_SEED_BOUND = 2**31


def choose_seed(seed: int | None) -> int:
    """``seed`` itself if given (checked), else a fresh random seed from :mod:`secrets`."""
    if seed is None:
        return secrets.randbelow(DRAWN_SEED_BOUND)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidArgument.for_field("seed", f"must be an integer between 0 and {MAX_SEED}, got {seed!r}")
    return seed
