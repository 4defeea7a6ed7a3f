"""REST requests in the API metrics: the same ``eigen_api_requests`` counter and duration
histogram as gRPC (not the in-flight gauge: the route is known only once the request is
routed), labelled ``service="REST"``, ``method`` the route's operation id (the RPC it
mirrors: ``SubmitJob``, ``GetJob``, ...; ``Ready`` and ``Live`` for health; a mounted app
its path, e.g. ``/metrics``) and ``code`` the gRPC status code name of the answer: ``OK``,
or that of the reason :func:`~eigen.system_api.rest.problems.reason_of_status` gives an
error status. An event stream counts until it ends. Paths that match no route (404) count
as method ``unmatched``: no path becomes a label.

A plain ASGI middleware (no buffering), placed inside the call-context middleware.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eigen.errors import CODES
from eigen.observability import metrics
from eigen.system_api.rest.problems import reason_of_status

SERVICE = "REST"
UNMATCHED = "unmatched"


def grpc_code_of(status: int) -> str:
    if 200 <= status < 400:
        return "OK"
    return CODES[reason_of_status(status)].grpc


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = scope.get("route")  # set by the router once a route matched
            method = str(getattr(route, "operation_id", None) or getattr(route, "path", None) or UNMATCHED)
            metrics.api_request(SERVICE, method, grpc_code_of(status), time.perf_counter() - started)
