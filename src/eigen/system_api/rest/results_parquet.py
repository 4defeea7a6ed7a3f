"""Results as a Parquet file (``GET /v1/jobs/{job_id}/results?format=parquet``), written
with pyarrow: the dashboard's rows, one per count, expectation value, binding and scalar
summary figure, the same as its CSV download.

Columns: ``experiment`` (int64; -1 for the summary), ``kind`` (``count``,
``expectation_value``, ``binding`` or ``summary``), ``key`` (the outcome, the observable's
index, the parameter or the summary's name), ``value`` (float64; NaN for text), ``text``
(the value as written: JSON for numbers and booleans) and ``standard_error`` (float64; NaN
when there is none).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from eigen.system_api.rest.schemas import JobResults

SCHEMA = pa.schema(
    [
        pa.field("experiment", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("standard_error", pa.float64(), nullable=False),
    ]
)

Row = tuple[int, str, str, Any, float]


def rows_of(results: JobResults) -> list[Row]:
    """(experiment, kind, key, value, standard_error) of each figure, in the CSV's order."""
    rows: list[Row] = []
    for index, experiment in enumerate(results.experiments):
        counts = experiment.counts.items()
        rows.extend((index, "count", outcome, count, math.nan) for outcome, count in counts)
        errors = experiment.standard_errors
        for i, value in enumerate(experiment.expectation_values):
            error = errors[i] if i < len(errors) else math.nan
            rows.append((index, "expectation_value", str(i), value, error))
        rows.extend((index, "binding", name, value, math.nan) for name, value in experiment.bindings.items())
    for key, value in results.summary.items():
        if value is None or not isinstance(value, dict | list):
            rows.append((-1, "summary", key, value, math.nan))
    return rows


def number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return math.nan


def text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def parquet_of(results: JobResults) -> bytes:
    """The Parquet file of ``results`` (zstd-compressed columns)."""
    rows = rows_of(results)
    table = pa.table(
        {
            "experiment": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "key": [r[2] for r in rows],
            "value": [number(r[3]) for r in rows],
            "text": [text(r[3]) for r in rows],
            "standard_error": [float(r[4]) for r in rows],
        },
        schema=SCHEMA,
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())
