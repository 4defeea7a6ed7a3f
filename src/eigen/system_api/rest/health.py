"""``/health/live`` (the process answers) and ``/health/ready`` (it can serve: the store and
the drivers answer through the service layer; a process hosting a kernel adds the
kernel's own check, ``eigen.server.readiness``). Not ready is a 503 problem naming each
failed check; a check that fails in any way (a foreign panic included) is a failed check,
never a 500."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from fastapi import APIRouter
from starlette.responses import Response

from eigen.errors import EigenError, Unavailable
from eigen.models.panics import must_escape
from eigen.system_api.rest.problems import ERRORS, problem, problem_response
from eigen.system_api.rest.schemas import Health, Problem
from eigen.system_api.service import JobApi, ListQuery

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], str]  # returns a short summary; raises when not ready


def api_checks(api: JobApi) -> dict[str, ReadyCheck]:
    """Readiness of the service layer: the drivers list backends, the store lists a job."""

    def backends() -> str:
        count = len(api.backends())
        if count == 0:
            raise Unavailable("no backends")
        return f"ok ({count} backends)"

    def store() -> str:
        api.list_jobs(ListQuery(page_size=1))
        return "ok"

    return {"backends": backends, "store": store}


def health_router(checks: Mapping[str, ReadyCheck], closing: threading.Event) -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"], responses=ERRORS)

    @router.get("/live", operation_id="Live")
    def live() -> Health:
        """The process is up and answering."""
        return Health(status="ok")

    @router.get(
        "/ready",
        operation_id="Ready",
        response_model=Health,
        responses={503: {"model": Problem, "description": "not ready"}},
    )
    def ready() -> Health | Response:
        """Every readiness check passes (503 EIGEN_UNAVAILABLE otherwise)."""
        if closing.is_set():
            return problem_response(problem("EIGEN_UNAVAILABLE", "shutting down"))
        results: dict[str, str] = {}
        failed: list[str] = []
        for name, check in checks.items():
            try:
                results[name] = check()
            except BaseException as exc:
                if must_escape(exc):
                    raise
                if not isinstance(exc, EigenError):
                    log.warning("readiness check %s failed", name, exc_info=True)
                reason = exc.message if isinstance(exc, EigenError) else type(exc).__name__
                failed.append(f"{name}: {reason}")
        if failed:
            return problem_response(problem("EIGEN_UNAVAILABLE", "not ready: " + "; ".join(failed)))
        return Health(status="ok", checks=results)

    return router
