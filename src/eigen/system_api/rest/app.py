"""The HTTP application of a server process: the REST gateway, health, and whatever else
the composition root mounts beside them (e.g. Prometheus ``/metrics``).

    create_app(api)                                    # REST + health
    create_app(api, mounts={"/metrics": metrics_app})  # + any ASGI app
    create_app(None)                                   # health only (roles without the API)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

import eigen
from eigen.security.guard import Guard
from eigen.system_api.batch_stream import OPERATION as BATCH_STREAM
from eigen.system_api.rest import problems
from eigen.system_api.rest.backends import backends_router
from eigen.system_api.rest.batch_stream import PATH as BATCH_STREAM_PATH
from eigen.system_api.rest.batch_stream import batch_stream_router
from eigen.system_api.rest.docs_ui import install_docs
from eigen.system_api.rest.health import ReadyCheck, api_checks, health_router
from eigen.system_api.rest.job_events import job_events_router
from eigen.system_api.rest.jobs import jobs_router
from eigen.system_api.rest.metrics import RequestMetricsMiddleware
from eigen.system_api.rest.middleware import (
    AuthenticationMiddleware,
    BodyLimitMiddleware,
    CallContextMiddleware,
)
from eigen.system_api.rest.openapi import DESCRIPTION, document
from eigen.system_api.rest.sessions import sessions_router
from eigen.system_api.rest.ui import OidcLogin, install_ui
from eigen.system_api.service import JobApi

MAX_BODY_BYTES = 64 * 1024 * 1024


def create_app(
    api: JobApi | None,
    *,
    extra_routers: Sequence[APIRouter] = (),
    mounts: Mapping[str, ASGIApp] | None = None,
    ready_checks: Mapping[str, ReadyCheck] | None = None,
    closing: threading.Event | None = None,
    keep_alive_s: float = 15.0,
    max_body_bytes: int = MAX_BODY_BYTES,
    oidc: OidcLogin | None = None,
) -> FastAPI:
    """The FastAPI app over ``api`` (the one service layer).

    ``extra_routers`` are included as they are; each of ``mounts`` serves its path and
    everything below it. ``ready_checks`` replace the default readiness checks of the API.
    Setting ``closing`` ends open event streams and makes ``/health/ready`` answer 503.
    ``oidc``: the OpenID Connect provider the dashboard signs in with.
    """
    if closing is None:
        closing = threading.Event()
    app = FastAPI(
        title="Eigen REST API",
        version=eigen.__version__,
        description=DESCRIPTION,
        docs_url=None,  # install_docs serves /docs and /redoc without a CDN
        redoc_url=None,
    )
    install_docs(app)
    app.state.closing = closing
    problems.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    guard = getattr(api, "guard", None)  # a test's stand-in JobApi may have none
    if isinstance(guard, Guard) and guard.required:  # inside the metrics: a 401 is counted
        app.add_middleware(AuthenticationMiddleware, guard=guard, operation_of=operations_of(app))
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(CallContextMiddleware)  # added last: the outermost
    checks = dict(api_checks(api) if api is not None else {})
    if ready_checks is not None:
        checks = dict(ready_checks)
    app.include_router(health_router(checks, closing))
    if api is not None:
        app.include_router(jobs_router(api, closing=closing, keep_alive_s=keep_alive_s))
        app.include_router(job_events_router(api, closing=closing, keep_alive_s=keep_alive_s))
        app.include_router(batch_stream_router(api, closing=closing))
        app.include_router(backends_router(api))
        app.include_router(sessions_router(api))
        install_ui(app, oidc)  # the dashboard at /ui/, a client of the routes above
    for router in extra_routers:
        app.include_router(router)
    for path, sub_app in (mounts or {}).items():
        exact = Route(path, endpoint=_AsgiEndpoint(sub_app), include_in_schema=False)
        app.router.routes.append(exact)  # the path itself, without a redirect to "path/"
        app.mount(path, sub_app)

    def openapi() -> dict[str, Any]:
        return document(app)

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def operations_of(app: FastAPI) -> Callable[[Scope], str]:
    """What names the RPC a request stands for (``GetJob``; "" for no route), for the
    audit of its authentication: the operation id of the route it matches."""

    def operation_of(scope: Scope) -> str:
        for route in app.router.routes:
            if route.matches(scope)[0] is Match.FULL:
                return route_operation(route)
        return ""

    return operation_of


def route_operation(route: BaseRoute) -> str:
    if isinstance(route, APIRoute):
        return route.operation_id or route.name
    if isinstance(route, WebSocketRoute) and route.path.endswith(BATCH_STREAM_PATH):
        return BATCH_STREAM
    return getattr(route, "name", "") or ""


class _AsgiEndpoint:
    """An ASGI app as a Route endpoint (Starlette would treat a bare function as a view)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
