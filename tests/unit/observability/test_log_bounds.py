"""Every field of a structured log line is bounded, whatever a caller sent (issue 14, 8)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from eigen.observability.logs import EXCEPTION_LIMIT, FIELD_LIMIT, configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    written = io.StringIO()
    configure_logging("INFO", "test", stream=written)
    yield written
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_long_messages_and_extras_are_cut(stream: io.StringIO) -> None:
    huge = "p" * 1_000_000
    logging.getLogger("eigen.test").warning(
        "refused %s", huge, extra={"program": huge, "labels": {"k": huge}, "n": 10**5000, "ok": 3}
    )
    (line,) = lines(stream)
    assert len(stream.getvalue()) < 5 * FIELD_LIMIT
    assert str(line["event"]).endswith("(1000008 chars)")
    assert str(line["program"]).endswith("(1000000 chars)")
    assert len(str(line["labels"])) <= FIELD_LIMIT + 40
    assert line["n"] == "<an integer of about 5001 digits>"
    assert line["ok"] == 3


def test_a_traceback_is_cut(stream: io.StringIO) -> None:
    try:
        raise ValueError("x" * 1_000_000)
    except ValueError:
        structlog.get_logger("eigen.test").exception("failed")
    (line,) = lines(stream)
    assert len(str(line["exception"])) <= EXCEPTION_LIMIT + 40
    assert "ValueError" in str(line["exception"])


def test_short_fields_are_unchanged(stream: io.StringIO) -> None:
    logging.getLogger("eigen.test").info("hello", extra={"job_id": "abc", "shots": 10})
    (line,) = lines(stream)
    assert (line["event"], line["job_id"], line["shots"]) == ("hello", "abc", 10)
