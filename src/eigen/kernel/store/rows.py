"""A stored row as a model: the one mapping of the ``jobs`` and ``job_events`` columns to
:class:`Job` and :class:`JobEvent`, for the SQL store and the CLI's read-only view of a
data folder alike (no SQLAlchemy here, so the CLI's fast reads stay light).

``row`` is any mapping of column names to values with JSON columns already decoded (what
SQLAlchemy's JSON type gives; the folder view decodes the text itself)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.state import JobState

JOB_JSON_COLUMNS = ("request", "timings", "progress")
EVENT_JSON_COLUMNS = ("data",)


def job_from_row(row: Mapping[Any, Any], request: JobRequest) -> Job:
    return Job(
        id=row["id"],
        request=request,
        state=JobState(row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        owner=row["owner"],
        tenant=row["tenant"],
        traceparent=row["traceparent"] or "",
        idempotency_key=row["idempotency_key"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error_code=row["error_code"],
        error_summary=row["error_summary"],
        attempt=row["attempt"],
        last_seq=row["last_seq"],
        timings=dict(row["timings"] or {}),
        progress=dict(row["progress"] or {}),
        result_expired_at=row["result_expired_at"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        deadline_at=row["deadline_at"],
    )


def event_from_row(row: Mapping[Any, Any]) -> JobEvent:
    return JobEvent(
        job_id=row["job_id"],
        seq=row["seq"],
        state=JobState(row["state"]),
        kind=row["kind"],
        timestamp=row["timestamp"],
        message=row["message"],
        data=dict(row["data"] or {}),
    )
