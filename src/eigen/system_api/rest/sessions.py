"""Sessions over HTTP (the gRPC JobService's OpenSession, GetSession, CloseSession,
CancelSession; docs/scheduling.md, "Sessions")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from eigen.models.job import SESSION_ID_PATTERN
from eigen.system_api.rest import convert
from eigen.system_api.rest import jobs as _jobs  # noqa: F401  (registers the job_id convertor)
from eigen.system_api.rest.problems import ERRORS
from eigen.system_api.rest.schemas import OpenSessionRequest, Session
from eigen.system_api.service import JobApi

# a segment without ``:`` (the job id's convertor, registered by rest.jobs), so that
# ``/v1/sessions/X:close`` is the action path of session X
SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN, description="the session's id (32 hex digits)")]


def sessions_router(api: JobApi) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["sessions"], responses=ERRORS)

    @router.post("/sessions", status_code=201, operation_id="OpenSession")
    def open_session(body: OpenSessionRequest) -> Session:
        """OpenSession: jobs submitted with its ``session_id`` run back to back on ``target``,
        ahead of the queue, until it is closed, cancelled, idle or past its max time."""
        return convert.session_to_rest(api.open_session(body.target, body.max_time_s, body.idle_s))

    @router.get("/sessions/{session_id:job_id}", operation_id="GetSession")
    def get_session(session_id: SessionId) -> Session:
        """GetSession."""
        return convert.session_to_rest(api.get_session(session_id))

    @router.post("/sessions/{session_id:job_id}:close", operation_id="CloseSession")
    def close_session(session_id: SessionId) -> Session:
        """CloseSession: no more jobs; those in it finish (idempotent)."""
        return convert.session_to_rest(api.close_session(session_id))

    @router.post("/sessions/{session_id:job_id}:cancel", operation_id="CancelSession")
    def cancel_session(session_id: SessionId) -> Session:
        """CancelSession: no more jobs, and its jobs that have not ended are cancelled."""
        return convert.session_to_rest(api.cancel_session(session_id))

    return router
