"""Logging set-up for entry points: one JSON object per line, rendered by structlog.

Library code logs with ``logging.getLogger(__name__)`` and structured ``extra`` fields
(or with ``structlog.get_logger()``); both go through the same chain, which adds the
service name, the log level, the logger and, from the current call context, the trace
id, the request id, the caller and the job id, and masks secrets
(:mod:`eigen.observability.redact`) before anything is written.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

from eigen.errors import bounded, quote
from eigen.observability import context as call_context
from eigen.observability.redact import redact_fields, redact_text

FORMATS = ("json", "console")

FIELD_LIMIT = 4096
"""The most UTF-8 bytes one field of a log line keeps (a message, an extra): a field may
hold user input (a program, a name), whose size nobody bounds."""

EXCEPTION_LIMIT = 16384
"""The most UTF-8 bytes the rendered traceback of a log line keeps."""


class _AddService:
    def __init__(self, service: str) -> None:
        self.service = service

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        event.setdefault("service", self.service)
        return event


def _timestamp(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    created = record.created if isinstance(record, logging.LogRecord) else datetime.now(UTC).timestamp()
    event["ts"] = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return event


def _call_fields(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """trace_id, request_id, caller and job_id of the call this record was logged in."""
    call = call_context.active_context()
    if call is None:
        return event
    if call.trace_id:
        event.setdefault("trace_id", call.trace_id)
    event.setdefault("request_id", call.request_id)
    event.setdefault("caller", call.caller)
    if call.job_id:
        event.setdefault("job_id", call.job_id)
    return event


def _redact(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    private = {k: v for k, v in event.items() if k.startswith("_")}
    public = redact_fields({k: v for k, v in event.items() if not k.startswith("_")})
    return {**public, **private}


_FIRST = ("ts", "level", "service", "logger", "event", "trace_id", "job_id", "request_id", "caller")


_DROP = frozenset({"color_message"})  # uvicorn's ANSI-coloured copy of the message


def _order(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    ordered = {k: event[k] for k in _FIRST if k in event}
    ordered.update((k, v) for k, v in event.items() if k not in ordered and k not in _DROP)
    return ordered


def _bound_fields(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Cut every field to :data:`FIELD_LIMIT` (the traceback to :data:`EXCEPTION_LIMIT`),
    so no input makes a log line large; a collection is cut as its JSON text."""
    for key, value in event.items():
        if key.startswith("_") or value is None or isinstance(value, (bool, float)):
            continue
        if isinstance(value, int):
            if value.bit_length() > 256:  # JSON would print every digit, or fail past 4300
                event[key] = quote(value)
            continue
        limit = EXCEPTION_LIMIT if key in ("exception", "stack") else FIELD_LIMIT
        if isinstance(value, str):
            event[key] = bounded(value, limit)
        elif isinstance(value, (dict, list, tuple, set, frozenset)):
            shown = _json_text(value)
            if len(shown) > limit:
                event[key] = bounded(shown, limit)
        else:  # rendered with str() by the JSON renderer: cut only what would be long
            try:
                shown = str(value)
            except Exception:  # a __str__ that fails
                shown = f"<{type(value).__name__}>"
            if len(shown) > limit:
                event[key] = bounded(shown, limit)
    return event


def _json_text(value: object) -> str:
    try:
        return json.dumps(value, default=str, separators=(",", ":"))
    except (TypeError, ValueError):  # a set, a cycle
        return str(value)


def _redact_rendered(logger: WrappedLogger, method: str, rendered: Any) -> Any:
    # Last line of defence: exception texts and reprs are rendered by now.
    return redact_text(rendered) if isinstance(rendered, str) else rendered


def _chain(service: str) -> list[Processor]:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _timestamp,
        _AddService(service),
        _call_fields,
        _redact,
        _order,
    ]


def _renderer(fmt: str) -> Processor:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer(default=str, sort_keys=False)


def configure_logging(
    level: str = "INFO",
    service: str = "eigen",
    *,
    fmt: str = "json",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Route every log record of the process to ``stream`` (stderr) as JSON lines (or
    ``fmt="console"`` for humans). Returns the installed handler."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    chain = _chain(service)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _bound_fields,
            _renderer(fmt),
            _redact_rendered,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # qiskit logs every transpiler pass at INFO; keep only its warnings.
    logging.getLogger("qiskit").setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *chain,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler
