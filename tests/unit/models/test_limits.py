"""The edge's table of limits (``eigen.models.limits``) matches the store's bounded columns,
so what the edge accepts always fits (issue 14, item 3)."""

from __future__ import annotations

import pytest

from eigen.kernel.store import schema
from eigen.models import limits


@pytest.mark.parametrize(
    ("column", "limit"),
    [
        ("id", limits.JOB_ID_MAX),
        ("name", limits.NAME_MAX),
        ("owner", limits.OWNER_MAX),
        ("target", limits.TARGET_MAX),
        ("idempotency_key", limits.IDEMPOTENCY_KEY_MAX),
        ("worker_id", limits.NODE_ID_MAX),  # bounded where it is set: Settings.node_id
    ],
)
def test_each_bounded_column_has_its_edge_limit(column: str, limit: int) -> None:
    assert getattr(schema.jobs.c[column].type, "length", None) == limit


def test_every_bounded_string_column_of_jobs_is_in_the_table() -> None:
    covered = {"id", "name", "owner", "target", "idempotency_key", "worker_id"}
    # not user input (the tenant is the authenticated principal's, bounded where it is made)
    written_by_the_server = {"state", "error_code", "traceparent", "tenant"}
    bounded = {c.name for c in schema.jobs.c if getattr(c.type, "length", None)}
    assert bounded == covered | written_by_the_server


@pytest.mark.parametrize(
    ("caller", "problem"),
    [
        ("a" * limits.OWNER_MAX, None),
        ("a" * (limits.OWNER_MAX + 1), "must have at most 128 characters (has 129)"),
        ("tab\there", "must not contain control characters"),
        ("newline at the end\n", "must not contain control characters"),  # "$" is not the end
    ],
)
def test_the_caller_rule(caller: str, problem: str | None) -> None:
    assert limits.CALLER.problem(caller) == problem
