"""Did-you-mean hints for the mistakes people make writing a ``job.yaml``.

A key in the wrong place (``spec.shots`` for ``spec.metadata.shots``), a misspelt key
(``spec.tarket``), a program given as a bare string (``program: bell.qasm``) and a
``spec.metadata`` key one letter away from a setting Eigen reads (``shot``, ``maxiter``)
are refused with the fix spelled out. ``spec.metadata`` stays a free map: only keys close
to a known setting (by :func:`difflib.get_close_matches`, or a listed synonym) are
refused, so a program's own options (``ansatz_depth``, ``note``) pass untouched.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from eigen.errors import FieldViolation, quote

METADATA_KEYS = (
    "shots",
    "seed",
    "optimization_level",
    "timeout_seconds",
    "replay_of",
    "max_iters",
    "optimizer",
    "estimator",
    "noise_model",
    "outputs",
)
"""The ``spec.metadata`` keys Eigen reads (docs/jobspec.md, *spec.metadata keys*)."""

METADATA_SYNONYMS: dict[str, str] = {
    "maxiter": "max_iters",
    "max_iterations": "max_iters",
    "iterations": "max_iters",
    "optimiser": "optimizer",
    "opt_level": "optimization_level",
    "optimisation_level": "optimization_level",
    "timeout": "timeout_seconds",
    "num_shots": "shots",
    "noise": "noise_model",
}
"""Other names people give the known keys (scipy's ``maxiter``, British spelling, ...)."""

CUTOFF = 0.8
"""How close (difflib's ratio) a key must be to a known one to count as a misspelling."""

PROGRAM_STRING_HINT = "needs path: or source:, not a string (e.g. program: {path: bell.qasm})"


def close_key(key: str, known: Iterable[str], synonyms: Mapping[str, str] | None = None) -> str | None:
    """The known key ``key`` most likely stands for (a synonym or a near spelling), if any."""
    names = list(known)
    if key in names:
        return None
    folded = key.lower().replace("-", "_")
    if synonyms and folded in synonyms:
        return synonyms[folded]
    if folded in names:
        return folded
    matches = difflib.get_close_matches(folded, names, n=1, cutoff=CUTOFF)
    return matches[0] if matches else None


def unknown_key_message(path: list[str], known: Iterable[str]) -> str:
    """The message for the unknown key at ``path`` (its parent allows only ``known``):
    a run setting outside ``spec.metadata`` is pointed there, a misspelling to its key."""
    key = path[-1]
    parent = path[:-1]
    setting = key if key in METADATA_KEYS else close_key(key, METADATA_KEYS, METADATA_SYNONYMS)
    if parent in (["spec"], ["metadata"], []) and setting is not None:
        return f"unknown key (did you mean spec.metadata.{setting}?)"
    meant = close_key(key, known)
    if meant is not None:
        return f"unknown key (did you mean {'.'.join([*parent, meant])}?)"
    return "unknown key"


def metadata_violations(metadata: Any) -> list[FieldViolation]:
    """The keys of ``spec.metadata`` that look like a misspelt known key."""
    if not isinstance(metadata, Mapping):
        return []
    violations = []
    for key in metadata:
        meant = close_key(str(key), METADATA_KEYS, METADATA_SYNONYMS)
        if meant is not None:
            violations.append(
                FieldViolation(
                    f"spec.metadata.{key}",
                    f"unknown setting {quote(str(key))} (did you mean spec.metadata.{meant}?)",
                )
            )
    return violations
