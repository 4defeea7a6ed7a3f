"""The one table of sizes the edge enforces on what a caller sends.

Each string a submission carries into a bounded column of the store
(``kernel/store/schema.py``) has its limit here, equal to the column's size, so the gRPC
servicers, the REST gateway (and its OpenAPI document) and job.yaml refuse it with
INVALID_ARGUMENT naming the field, on SQLite (which does not enforce sizes) and
PostgreSQL (which fails the whole transaction) alike. The other limits keep what is
stored as JSON, logged or echoed small, and keep text a database can store (no NUL).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

# -- bounded store columns (jobs.*): must equal schema.py ------------------------------
JOB_ID_MAX = 64  # jobs.id
NAME_MAX = 128  # jobs.name
NAMESPACE_MAX = 64  # JobSpec 1.0 metadata.namespace
OWNER_MAX = 128  # jobs.owner: the x-eigen-caller header
TARGET_MAX = 128  # jobs.target
IDEMPOTENCY_KEY_MAX = 256  # jobs.idempotency_key
NODE_ID_MAX = 128  # jobs.worker_id, dead_letters.last_worker: the setting node_id

# -- strings kept in JSON columns (jobs.labels, jobs.request) ---------------------------
LABELS_MAX = 64  # labels per job
LABEL_KEY_MAX = 128
LABEL_VALUE_MAX = 256
OPTIONS_MAX = 64  # options per job
OPTION_KEY_MAX = 128
OPTION_VALUE_MAX = 4096
DEPENDENCIES_MAX = 100
ANNOTATIONS_MAX = 64  # annotations per job (free metadata, never read by the scheduler)
ANNOTATION_VALUE_MAX = 4096
EXTENSIONS_BYTES_MAX = 32 * 1024  # the JSON of a job's kept JobSpec sections
BATCH_MAX = 10_000  # jobs per SubmitBatch
PARAMETER_NAME_MAX = 128  # keys of a parameter binding
PAULI_MAX = 1024  # a Pauli string of an observable (one letter per qubit)

# -- what the kernel accepts as a number ------------------------------------------------
SHOTS_MAX = 10_000_000
SEED_MAX = 2**63 - 1
OPTIMIZATION_LEVEL_MAX = 3
PRIORITY_MAX = 100
TIMEOUT_S_MAX = 30 * 24 * 3600.0  # a month

# Text without control characters (a caller, a label): one line, printable.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
# Text without NUL (an option value may hold several lines; no database stores NUL).
NO_NUL = r"^[^\x00]*$"


@dataclass(frozen=True)
class TextLimit:
    """The rule for one string at the edge: its length in characters and a pattern."""

    max_length: int
    pattern: str = PRINTABLE
    min_length: int = 1

    def problem(self, value: str) -> str | None:
        """What is wrong with ``value`` (None when it is fine), for a field violation."""
        if len(value) < self.min_length:
            return "is empty" if self.min_length == 1 else f"must have at least {self.min_length} characters"
        if len(value) > self.max_length:
            return f"must have at most {self.max_length} characters (has {len(value)})"
        if not re.fullmatch(self.pattern, value):
            return (
                "must not contain control characters" if self.pattern == PRINTABLE else "must not contain NUL"
            )
        return None


CALLER = TextLimit(OWNER_MAX)


def _printable(value: str) -> str:
    if not re.fullmatch(PRINTABLE, value):
        raise ValueError("must not contain control characters")
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _schema(max_length: int, min_length: int, pattern: str) -> WithJsonSchema:
    """What the JSON Schema (OpenAPI) says of a text field: its lengths and its pattern
    (the pattern is checked by a validator with a readable message, not by pydantic)."""
    return WithJsonSchema(
        {"type": "string", "minLength": min_length, "maxLength": max_length, "pattern": pattern}
    )


def _line(max_length: int, min_length: int = 1) -> tuple[StringConstraints, AfterValidator, WithJsonSchema]:
    return (
        StringConstraints(min_length=min_length, max_length=max_length),
        AfterValidator(_printable),
        _schema(max_length, min_length, PRINTABLE),
    )


def mapping_schema(
    key_max: int, value_max: int, count: int, value_pattern: str = PRINTABLE
) -> WithJsonSchema:
    """The JSON Schema of a str -> str mapping with bounded keys, values and size."""
    return WithJsonSchema(
        {
            "type": "object",
            "maxProperties": count,
            "propertyNames": {"minLength": 1, "maxLength": key_max, "pattern": PRINTABLE},
            "additionalProperties": {"type": "string", "maxLength": value_max, "pattern": value_pattern},
        }
    )


# pydantic types of the request's fields (JobRequest and the REST schemas use them).
Target = Annotated[str, *_line(TARGET_MAX)]
TargetOrDefault = Annotated[str, *_line(TARGET_MAX, 0)]  # "" in an API message: the default
LabelKey = Annotated[str, *_line(LABEL_KEY_MAX)]
LabelValue = Annotated[str, *_line(LABEL_VALUE_MAX, 0)]
OptionKey = Annotated[str, *_line(OPTION_KEY_MAX)]
OptionValue = Annotated[
    str,
    StringConstraints(max_length=OPTION_VALUE_MAX),
    AfterValidator(_no_nul),
    _schema(OPTION_VALUE_MAX, 0, NO_NUL),
]
ParameterName = Annotated[str, *_line(PARAMETER_NAME_MAX)]
Pauli = Annotated[str, *_line(PAULI_MAX)]
PauliOrEmpty = Annotated[str, *_line(PAULI_MAX, 0)]
Finite = Annotated[float, AfterValidator(_finite), WithJsonSchema({"type": "number"})]
"""A float that is neither infinite nor NaN (JSON and PostgreSQL store neither)."""


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(value, allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError) as exc:  # a value JSON cannot hold (NaN, a set...)
        raise ValueError(f"must hold JSON values only ({exc})") from None
    if size > EXTENSIONS_BYTES_MAX:
        raise ValueError(f"is larger than {EXTENSIONS_BYTES_MAX // 1024} KiB of JSON")
    return value


LABELS_SCHEMA = mapping_schema(LABEL_KEY_MAX, LABEL_VALUE_MAX, LABELS_MAX)
ANNOTATIONS_SCHEMA = mapping_schema(LABEL_KEY_MAX, ANNOTATION_VALUE_MAX, ANNOTATIONS_MAX, NO_NUL)
OPTIONS_SCHEMA = mapping_schema(OPTION_KEY_MAX, OPTION_VALUE_MAX, OPTIONS_MAX, NO_NUL)
Labels = Annotated[dict[LabelKey, LabelValue], LABELS_SCHEMA]
Options = Annotated[dict[OptionKey, OptionValue], OPTIONS_SCHEMA]
AnnotationValue = Annotated[
    str,
    StringConstraints(max_length=ANNOTATION_VALUE_MAX),
    AfterValidator(_no_nul),
    _schema(ANNOTATION_VALUE_MAX, 0, NO_NUL),
]
Annotations = Annotated[dict[LabelKey, AnnotationValue], ANNOTATIONS_SCHEMA]
Extensions = Annotated[
    dict[str, Any],
    AfterValidator(_small_json),
    WithJsonSchema({"type": "object", "description": "kept JobSpec 1.0 sections (JSON)"}),
]
"""The JobSpec sections a job keeps as given: JSON values, at most 32 KiB of JSON."""
