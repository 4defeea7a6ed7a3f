"""Secrets never reach a log line; every line is JSON with service, trace id and job id."""

from __future__ import annotations

import logging

import structlog

from eigen.observability import context as call_context
from eigen.observability.redact import redact_text, redact_value
from tests.unit.observability.support import captured_logs

PASSWORD = "hunter2-Secr3t"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig"
URL = f"postgresql+psycopg://eigen:{PASSWORD}@db.internal:5432/eigen"


def test_text_patterns() -> None:
    assert redact_text(URL) == "postgresql+psycopg://eigen:***@db.internal:5432/eigen"
    assert redact_text(f"Authorization: Bearer {TOKEN}") == "Authorization: Bearer ***"
    assert TOKEN not in redact_text(f"[('authorization', 'Bearer {TOKEN}'), ('x-eigen-caller', 'a')]")
    assert redact_text("password=abc&user=x") == "password=***&user=x"
    assert redact_text("redis://localhost:6379/0") == "redis://localhost:6379/0"  # nothing to hide
    assert redact_text("job 42 done in 3 s") == "job 42 done in 3 s"


def test_values_by_key() -> None:
    cleaned = redact_value(
        {"database_password": "x1", "nested": {"Authorization": "Basic abc"}, "url": URL, "n": 3}
    )
    assert cleaned == {
        "database_password": "***",
        "nested": {"Authorization": "***"},
        "url": "postgresql+psycopg://eigen:***@db.internal:5432/eigen",
        "n": 3,
    }
    assert redact_value([("authorization", "Bearer z"), ("x-request-id", "r")]) == [
        ("authorization", "***"),
        ("x-request-id", "r"),
    ]


def test_no_secret_in_any_log_line() -> None:
    log = logging.getLogger("eigen.test.secrets")
    with captured_logs() as logs:
        log.info("opening store %s", URL)
        log.info("settings", extra={"database_url": URL, "database_password": PASSWORD})
        log.debug("metadata", extra={"metadata": [("authorization", f"Bearer {TOKEN}")]})
        log.warning(f"refused call with authorization={TOKEN}")
        try:
            raise ConnectionError(f"could not connect to {URL}")
        except ConnectionError:
            log.exception("store failed")
        structlog.get_logger("eigen.test").info("native", authorization=f"Bearer {TOKEN}", url=URL)
    assert len(logs.records()) == 6
    assert PASSWORD not in logs.text and TOKEN not in logs.text
    assert "eigen:***@db.internal" in logs.text


def test_lines_carry_service_trace_and_job() -> None:
    log = logging.getLogger("eigen.test.fields")
    context = call_context.CallContext(
        request_id="r-1", caller="alice", traceparent=call_context.new_traceparent(), job_id="job-7"
    )
    with captured_logs(service="eigen-kernel") as logs:
        log.info("outside a call")
        token = call_context.activate(context)
        try:
            log.info("inside a call", extra={"attempt": 2})
        finally:
            call_context.deactivate(token)
    outside, inside = logs.records()
    assert outside["service"] == inside["service"] == "eigen-kernel"
    assert outside["event"] == "outside a call" and "trace_id" not in outside
    assert inside["trace_id"] == context.trace_id
    assert inside["job_id"] == "job-7" and inside["caller"] == "alice" and inside["attempt"] == 2
    assert inside["level"] == "info" and inside["logger"] == "eigen.test.fields" and inside["ts"]


def test_levels_and_console_format() -> None:
    log = logging.getLogger("eigen.test.console")
    with captured_logs(level="WARNING") as logs:
        log.info("hidden")
        log.warning("shown")
    assert [r["event"] for r in logs.records()] == ["shown"]
    with captured_logs(fmt="console") as logs:
        log.warning("for humans %s", URL)
    assert "for humans" in logs.text and not logs.records() and PASSWORD not in logs.text
