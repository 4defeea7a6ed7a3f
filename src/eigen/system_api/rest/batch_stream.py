"""SubmitBatchStream over REST: a WebSocket at ``/v1/jobs:batchStream``.

The same service-layer code as the gRPC stream (:func:`run_batch_stream`); JSON text
messages both ways.

Client -> server, one per item, then one end marker (a WebSocket cannot half-close):

    {"client_request_id": "a", "job": {...a JobRequest, as POST /v1/jobs takes it...}}
    {"end": true}

Server -> client, per item: ``submitted`` (with the job id), then ``completed`` (with the
results, as GET /v1/jobs/{job_id}/results answers them) or ``error`` (reason, message,
violations); a refused item gets ``error`` at once:

    {"client_request_id": "a", "kind": "submitted", "job_id": "..."}
    {"client_request_id": "a", "kind": "completed", "job_id": "...", "results": {...}}
    {"client_request_id": "b", "kind": "error", "job_id": "",
     "error": {"reason": "EIGEN_INVALID_ARGUMENT", "message": "...", "violations": [...]}}

The server closes the socket (code 1000) once the end marker came and every submitted job
is terminal. A client that goes away stops the watching; its jobs run on.

With authentication on, a connection without a valid credential (the headers of the
upgrade request) is closed at once with 1008 and ``EIGEN_UNAUTHENTICATED: ...`` as the
reason; one that may not submit, with 1008 and ``EIGEN_PERMISSION_DENIED: ...``; both
before any message is read.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from eigen.errors import EigenError, FieldViolation, InvalidArgument
from eigen.observability import context as call_context
from eigen.system_api.batch_stream import BatchEvent, Item, open_batch_stream
from eigen.system_api.rest import convert
from eigen.system_api.rest import schemas as rest
from eigen.system_api.rest.bodies import loads_bounded
from eigen.system_api.rest.middleware import call_from_scope, close_code, close_reason
from eigen.system_api.rest.problems import validation_violations
from eigen.system_api.service import JobApi
from eigen.system_api.streams import Inbox, from_thread

PATH = "/jobs:batchStream"
MAX_CLIENT_REQUEST_ID = 256


def batch_stream_router(api: JobApi, *, closing: threading.Event) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["jobs"])

    @router.websocket(PATH)
    async def submit_batch_stream(websocket: WebSocket) -> None:
        # the producer runs with the caller (the authenticated principal), request id and
        # trace of this connection
        token = call_context.activate(call_from_scope(websocket.scope))
        try:
            stream = open_batch_stream(api)  # refused: closed before a message is read
        except EigenError as exc:
            await websocket.accept()
            await websocket.close(code=close_code(exc), reason=close_reason(exc))
            call_context.deactivate(token)
            return
        await websocket.accept()
        inbox: Inbox[Item] = Inbox()
        connected = threading.Event()
        connected.set()

        def produce(listening: Callable[[], bool]) -> Iterator[BatchEvent]:
            def active() -> bool:
                return listening() and connected.is_set() and not closing.is_set()

            return stream(iter(inbox), active)

        async def receive() -> None:
            try:
                while True:
                    item = read_item(await websocket.receive_text())
                    if item is None:
                        return
                    inbox.put(item)
            except WebSocketDisconnect:
                connected.clear()
            finally:
                inbox.close()

        receiver = asyncio.create_task(receive())
        try:
            async for event in from_thread(produce, "eigen-ws-batch"):
                await websocket.send_text(json.dumps(event_to_json(event)))
            if connected.is_set():
                await websocket.close(code=1000)
        except WebSocketDisconnect:
            connected.clear()
        finally:
            connected.clear()
            inbox.close()
            receiver.cancel()
            call_context.deactivate(token)

    return router


def read_item(text: str) -> Item | None:
    """One client message as (client request id, request or the error about it); None for
    the end marker."""
    try:
        message = loads_bounded(text)
    except ValueError as exc:  # JSONDecodeError, and nesting past the bound
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else "cannot be read"
        return "", InvalidArgument.for_field("message", f"is not valid JSON: {why}")
    if not isinstance(message, dict):
        return "", InvalidArgument.for_field("message", "must be a JSON object")
    if message.get("end") is True:
        return None
    request_id = message.get("client_request_id", "")
    if not isinstance(request_id, str):
        return "", InvalidArgument.for_field("client_request_id", "must be a string")
    if len(request_id) > MAX_CLIENT_REQUEST_ID:  # echoed in every answer about the item
        return "", InvalidArgument.for_field(
            "client_request_id", f"must have at most {MAX_CLIENT_REQUEST_ID} characters"
        )
    if "job" not in message:
        return request_id, InvalidArgument.for_field("job", 'is required (or send {"end": true})')
    try:
        body = rest.JobRequest.model_validate(message["job"])
        return request_id, convert.request_from_rest(body)
    except ValidationError as exc:
        violations = [
            FieldViolation(f"job.{v.field}" if v.field != "body" else "job", v.description)
            for v in validation_violations(exc.errors())
        ]
        detail = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        return request_id, InvalidArgument(detail, violations)
    except EigenError as exc:
        return request_id, exc


def event_to_json(event: BatchEvent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_request_id": event.client_request_id,
        "kind": event.kind,
        "job_id": event.job_id,
    }
    if event.result is not None:
        body["results"] = convert.result_to_rest(event.result).model_dump(mode="json")
    if event.error is not None:
        body["error"] = {
            "reason": event.error.code,
            "message": event.error.message,
            "violations": [{"field": v.field, "description": v.description} for v in event.error.violations],
        }
    return body
