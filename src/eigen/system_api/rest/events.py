"""WatchJob as server-sent events.

The service layer's watch is a blocking generator, so it runs in a thread of its own (not
the request thread pool, which a long watch would starve) and hands events to the event
loop through a queue. The stream ends after the terminal event; it stops the watch when
the client goes away or the server shuts down, and sends a comment line while idle so
proxies keep the connection open.

Each event::

    id: <event_seq>
    event: <kind>            ("state" or "progress"; "error" if the watch fails mid-stream)
    data: <JobEvent JSON>    (for "error": a problem JSON)
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator

from eigen.errors import EigenError, InternalError
from eigen.models.job import JobEvent
from eigen.system_api.rest.convert import event_to_rest
from eigen.system_api.rest.problems import problem_of

log = logging.getLogger(__name__)

KEEP_ALIVE = b": keep-alive\n\n"

EVENT_SCHEMA: dict[str, object] = {
    "type": "object",
    "description": "one server-sent event (OpenAPI 3.1 reads a stream's schema per event)",
    "required": ["event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the event_seq"},
        "event": {"type": "string", "enum": ["state", "progress", "error"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "anyOf": [{"$ref": "#/components/schemas/JobEvent"}, {"$ref": "#/components/schemas/Problem"}]
            },
        },
    },
}
"""The JSON Schema of one event of ``GET /v1/jobs/{job_id}/events``."""
_END = object()


def sse_event(event: JobEvent) -> bytes:
    data = event_to_rest(event).model_dump_json()
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {data}\n\n".encode()


def sse_error(error: EigenError) -> bytes:
    data = json.dumps(problem_of(error).model_dump(mode="json"), ensure_ascii=True)
    return f"event: error\ndata: {data}\n\n".encode()


class Watch:
    """Stops the service layer's watch when the client leaves or the server shuts down."""

    def __init__(self, closing: threading.Event) -> None:
        self.closing = closing
        self.stop = threading.Event()

    def active(self) -> bool:
        return not (self.stop.is_set() or self.closing.is_set())


async def event_stream(
    events: Iterator[JobEvent], watch: Watch, *, label: str = "", keep_alive_s: float = 15.0
) -> AsyncIterator[bytes]:
    """SSE bytes of ``events`` (a blocking iterator, consumed in a thread of its own)."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue[object] = asyncio.Queue()

    def push(item: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            loop.call_soon_threadsafe(items.put_nowait, item)

    def pump() -> None:
        try:
            for event in events:
                push(event)
                if not watch.active():
                    break
        except EigenError as exc:
            push(exc)
        except Exception:
            log.exception("watch failed", extra={"job_id": label})
            push(InternalError(f"watching job {label} failed"))
        finally:
            push(_END)

    context = contextvars.copy_context()  # the request's CallContext, for the service layer
    thread = threading.Thread(target=context.run, args=(pump,), name=f"eigen-sse-{label}", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = await asyncio.wait_for(items.get(), keep_alive_s)
            except TimeoutError:
                yield KEEP_ALIVE
                continue
            if item is _END:
                return
            if isinstance(item, EigenError):
                yield sse_error(item)
                return
            assert isinstance(item, JobEvent)
            yield sse_event(item)
    finally:
        watch.stop.set()
