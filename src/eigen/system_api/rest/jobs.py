"""JobService over HTTP: one route per RPC, each a thin call of the service layer."""

from __future__ import annotations

import re
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import StreamingResponse

from eigen.errors import EigenError, InvalidArgument
from eigen.models import limits
from eigen.models.credentials import TENANT_MAX
from eigen.models.job import JOB_ID_PATTERN, JobRequest
from eigen.models.program import MAX_PROGRAM_BYTES
from eigen.models.state import JobState as ModelState
from eigen.observability import context as call_context
from eigen.observability import metrics
from eigen.security import ratelimit
from eigen.system_api.rest import convert
from eigen.system_api.rest.bodies import BoundedJsonRoute
from eigen.system_api.rest.events import EVENT_SCHEMA, Watch, event_stream
from eigen.system_api.rest.problems import ERRORS
from eigen.system_api.rest.schemas import (
    IDEMPOTENCY_KEY_OR_NONE as KEY_OR_NONE,
)
from eigen.system_api.rest.schemas import (
    INT64_MAX,
    JobResults,
    JobState,
    ListDeadLettersResponse,
    ListJobsResponse,
    ProgramLanguage,
    SubmitBatchRequest,
    SubmitBatchResponse,
    SubmitJobRequest,
    SubmitJobResponse,
)
from eigen.system_api.rest.schemas import Job as JobBody
from eigen.system_api.service import (
    MAX_CHUNK_SIZE,
    MAX_PAGE_SIZE,
    MAX_WAIT_S,
    JobApi,
    ListQuery,
)

NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"
PARQUET = "application/vnd.apache.parquet"
PROGRAM_BYTES_DEFAULT = 64 * 1024


class JobProgram(BaseModel):
    """GetJobProgram: the program text a job was submitted with (or read from its
    ``program_uri``), cut at ``max_bytes`` bytes of UTF-8."""

    job_id: str
    language: ProgramLanguage
    entrypoint: str = Field(description="the Eigen-Lang function the job runs")
    program_uri: str = Field(default="", description="the stored artifact the program came from, if any")
    source: str = Field(description="the program text, at most max_bytes bytes of it (whole characters)")
    size_bytes: int = Field(description="the whole program's size in bytes of UTF-8")
    truncated: bool = Field(description="whether source is shorter than the program")


def program_of(job_id: str, request: JobRequest, max_bytes: int) -> JobProgram:
    text = request.program
    encoded = text.encode("utf-8", "surrogatepass")
    cut = encoded[:max_bytes].decode("utf-8", "ignore") if len(encoded) > max_bytes else text
    return JobProgram(
        job_id=job_id,
        language=convert.LANGUAGE_TO_REST[request.language],
        entrypoint=request.entrypoint,
        program_uri=request.program_uri or "",
        source=cut,
        size_bytes=len(encoded),
        truncated=len(encoded) > max_bytes,
    )


_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events (`id: <event_seq>`, `event: state|progress|error`, "
        "`data: <JobEvent JSON>`), ending after the terminal event",
        "content": {EVENT_STREAM: {"schema": EVENT_SCHEMA}},
    }
}


class JobIdConvertor(Convertor[str]):
    """``{job_id:job_id}`` in a route: one path segment without ``:``, so that
    ``/v1/jobs/X:cancel`` is never the job ``X:cancel`` (no job id has a colon) but the
    action path of job ``X``; what else a job id may hold is checked by its pattern."""

    regex = "[^/:]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("job_id", JobIdConvertor())

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description=f"1-{limits.JOB_ID_MAX} of A-Z a-z 0-9 _ -")]
LABEL_PAIR = (
    rf"^[^=\x00-\x1f\x7f]{{1,{limits.LABEL_KEY_MAX}}}=[^\x00-\x1f\x7f]{{0,{limits.LABEL_VALUE_MAX}}}$"
)
Moment = Annotated[
    str | None,
    Query(
        description="RFC 3339 (naive: UTC) or unix seconds",
        max_length=64,
        json_schema_extra={"anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]},
    ),
]


_NDJSON_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One ResultChunk JSON per line; merging the chunks' counts gives the results",
        "content": {NDJSON: {"schema": {"$ref": "#/components/schemas/ResultChunk"}}},
    }
}


def idempotency_key_of(body_key: str, header_key: str) -> str:
    if header_key and body_key and header_key != body_key:
        raise InvalidArgument.for_field(
            "idempotency_key", "differs from the Idempotency-Key header; send one of them"
        )
    return header_key or body_key


LAST_EVENT_ID = r"^ *[0-9]{0,18} *$"
"""A Last-Event-ID the server reads: an event_seq (or nothing); 18 digits fit an int64."""


def last_seq_of(after_seq: int, last_event_id: str) -> int:
    """Where a watch resumes: the Last-Event-ID of a reconnecting client wins."""
    if not last_event_id.strip():
        return after_seq
    if not re.fullmatch(LAST_EVENT_ID, last_event_id):
        raise InvalidArgument.for_field("Last-Event-ID", "must be an event_seq (a non-negative integer)")
    return int(last_event_id.strip())


def check_rate(request: Request, method: str) -> None:
    """The per-caller submission limit of the gRPC edge, with the same buckets."""
    limiter = ratelimit.installed()
    if limiter is None or not limiter.applies_to(method):
        return
    client = request.client
    host = client.host if client is not None else "unknown"
    peer = f"ipv6:[{host}]:0" if ":" in host else f"ipv4:{host}:0"
    try:
        call = call_context.current()
        limiter.check(ratelimit.caller_key(call.caller, peer, call.authenticated), method)
    except EigenError:
        metrics.rate_limited(method)
        raise


def jobs_router(api: JobApi, *, closing: threading.Event, keep_alive_s: float = 15.0) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["jobs"], responses=ERRORS, route_class=BoundedJsonRoute)

    @router.post(
        "/jobs",
        status_code=201,
        operation_id="SubmitJob",
        responses={200: {"model": SubmitJobResponse, "description": "deduplicated: the existing job"}},
    )
    def submit_job(
        body: SubmitJobRequest,
        request: Request,
        response: Response,
        idempotency_key: Annotated[str, Header(alias="Idempotency-Key", pattern=KEY_OR_NONE)] = "",
    ) -> SubmitJobResponse:
        """SubmitJob. 201 with the new job, or 200 with the job an idempotency key already made."""
        check_rate(request, "SubmitJob")
        key = idempotency_key_of(body.idempotency_key, idempotency_key)
        job, deduplicated = api.submit(convert.request_from_rest(body.job), key)
        response.status_code = 200 if deduplicated else 201
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        return SubmitJobResponse(job=convert.job_to_rest(job), deduplicated=deduplicated)

    @router.post(
        "/jobs:batch",
        status_code=201,
        operation_id="SubmitBatch",
        responses={200: {"model": SubmitBatchResponse, "description": "deduplicated: the existing jobs"}},
    )
    def submit_batch(
        body: SubmitBatchRequest,
        request: Request,
        response: Response,
        idempotency_key: Annotated[str, Header(alias="Idempotency-Key", pattern=KEY_OR_NONE)] = "",
    ) -> SubmitBatchResponse:
        """SubmitBatch: all or nothing; the first invalid item is named ``jobs[i].<field>``.
        201 with the new jobs, or 200 with the jobs an idempotency key already made."""
        check_rate(request, "SubmitBatch")
        key = idempotency_key_of(body.idempotency_key, idempotency_key)
        jobs, deduplicated = api.submit_batch(convert.batch_from_rest(body), key)
        response.status_code = 200 if deduplicated else 201
        return SubmitBatchResponse(job_ids=[job.id for job in jobs], deduplicated=deduplicated)

    @router.get("/jobs", operation_id="ListJobs")
    def list_jobs(
        state: Annotated[list[JobState] | None, Query(description="repeatable: any of these")] = None,
        target: Annotated[
            str, Query(description="backend name", max_length=limits.TARGET_MAX, pattern=limits.PRINTABLE)
        ] = "",
        label: Annotated[
            list[str] | None,
            Query(
                description="key=value, repeatable: all must match",
                max_length=limits.LABELS_MAX,
                json_schema_extra={"items": {"type": "string", "pattern": LABEL_PAIR}},
            ),
        ] = None,
        created_after: Moment = None,
        created_before: Moment = None,
        page_size: Annotated[
            int, Query(description=f"1-{MAX_PAGE_SIZE}; 0 or absent: 50", ge=0, le=MAX_PAGE_SIZE)
        ] = 0,
        page_token: Annotated[
            str,
            Query(
                description="next_page_token of the previous page",
                max_length=512,
                pattern=r"^[A-Za-z0-9_=-]*$",
            ),
        ] = "",
        id_prefix: Annotated[
            str,
            Query(
                description="only jobs whose id starts with this (1-64 of A-Z a-z 0-9 _ -)",
                max_length=limits.JOB_ID_MAX,
                pattern=r"^[A-Za-z0-9_-]*$",
            ),
        ] = "",
    ) -> ListJobsResponse:
        """ListJobs, newest first, with keyset pagination."""
        query = ListQuery(
            states=tuple(ModelState(s.value) for s in state or ()),
            target=target or None,
            labels=convert.labels_from_pairs("label", label or []),
            created_after=convert.seconds_from_text("created_after", created_after)
            if created_after is not None
            else None,
            created_before=convert.seconds_from_text("created_before", created_before)
            if created_before is not None
            else None,
            page_size=page_size,
            page_token=page_token,
            id_prefix=id_prefix,
        )
        jobs, token = api.list_jobs(query)
        return ListJobsResponse(jobs=[convert.job_to_rest(j) for j in jobs], next_page_token=token)

    @router.get("/dead-letters", operation_id="ListDeadLetters")
    def list_dead_letters(
        tenant: Annotated[
            str,
            Query(
                description='only this tenant\'s ("" or absent: every tenant the caller sees)',
                max_length=TENANT_MAX,
                pattern=r"^[A-Za-z0-9._-]*$",
            ),
        ] = "",
        page_size: Annotated[
            int, Query(description=f"1-{MAX_PAGE_SIZE}; 0 or absent: 50", ge=0, le=MAX_PAGE_SIZE)
        ] = 0,
        page_token: Annotated[
            str,
            Query(
                description="next_page_token of the previous page",
                max_length=512,
                pattern=r"^[A-Za-z0-9_=-]*$",
            ),
        ] = "",
    ) -> ListDeadLettersResponse:
        """ListDeadLetters: the jobs given up on after their attempts, newest first, with
        keyset pagination (a tenant-admin: its own tenant's; an admin: every tenant's)."""
        letters, token = api.dead_letters(tenant, page_size, page_token)
        return ListDeadLettersResponse(
            dead_letters=[convert.dead_letter_to_rest(d) for d in letters], next_page_token=token
        )

    @router.get("/jobs/{job_id:job_id}", operation_id="GetJob")
    def get_job(job_id: JobId) -> JobBody:
        """GetJob."""
        return convert.job_to_rest(api.get(job_id))

    @router.get("/jobs/{job_id:job_id}/program", operation_id="GetJobProgram")
    def get_job_program(
        job_id: JobId,
        max_bytes: Annotated[
            int,
            Query(
                description=f"the most bytes of the program to return (1-{MAX_PROGRAM_BYTES}; "
                f"absent: {PROGRAM_BYTES_DEFAULT})",
                ge=1,
                le=MAX_PROGRAM_BYTES,
            ),
        ] = PROGRAM_BYTES_DEFAULT,
    ) -> JobProgram:
        """The job's program text (OpenQASM, Eigen-Lang or AQO JSON) as it was submitted, up
        to ``max_bytes`` (the permission of GetJob; another tenant's job is 404)."""
        job = api.get(job_id)
        return program_of(job.id, job.request, max_bytes)

    @router.post("/jobs/{job_id:job_id}:cancel", operation_id="CancelJob")
    def cancel_job(job_id: JobId) -> JobBody:
        """CancelJob (idempotent; 409 once the job ended otherwise)."""
        return convert.job_to_rest(api.cancel(job_id))

    @router.get(
        "/jobs/{job_id:job_id}/events",
        operation_id="WatchJob",
        response_class=StreamingResponse,
        responses=_SSE_DOC,
    )
    async def watch_job(
        job_id: JobId,
        after_seq: Annotated[
            int,
            Query(description="resume: only events with event_seq > after_seq", ge=0, le=INT64_MAX),
        ] = 0,
        last_event_id: Annotated[
            str,
            Header(
                alias="Last-Event-ID",
                description="resume point of a reconnecting client",
                pattern=LAST_EVENT_ID,
            ),
        ] = "",
    ) -> StreamingResponse:
        """WatchJob as server-sent events, from event_seq 1 (or after the resume point) to the
        terminal event."""
        watch = Watch(closing)
        resume = last_seq_of(after_seq, last_event_id)
        # an unknown job (or another tenant's): 404 before the stream starts
        events = await run_in_threadpool(api.watch, job_id, resume, watch.active)
        return StreamingResponse(
            event_stream(events, watch, label=job_id, keep_alive_s=keep_alive_s),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get(
        "/jobs/{job_id:job_id}/results",
        operation_id="GetJobResults",
        response_model=JobResults,
        responses={
            200: {
                "description": "the results (JSON); with format=parquet, a Parquet file of one row per "
                "count, expectation value, binding and summary figure",
                "content": {PARQUET: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def get_job_results(
        job_id: JobId,
        format: Annotated[
            str,
            Query(
                description="json (absent), or parquet: columns experiment, kind, key, value, text, "
                "standard_error",
                pattern="^(json|parquet)$",
            ),
        ] = "json",
        wait_seconds: Annotated[
            float,
            Query(
                description=f"wait up to this long (0..{MAX_WAIT_S:g} s) for the job to end first",
                ge=0,
                le=MAX_WAIT_S,
                allow_inf_nan=False,
            ),
        ] = 0.0,
    ) -> JobResults | Response:
        """GetJobResults (409 EIGEN_FAILED_PRECONDITION until the job is DONE; with
        ``wait_seconds``, once the wait runs out)."""
        results = convert.result_to_rest(await api.results_after(job_id, wait_seconds, inline=False))
        if format == "parquet":
            from eigen.system_api.rest.results_parquet import parquet_of  # pyarrow: only when asked

            body = await run_in_threadpool(parquet_of, results)
            disposition = f'attachment; filename="{job_id}-results.parquet"'
            return Response(body, media_type=PARQUET, headers={"Content-Disposition": disposition})
        return results

    @router.get(
        "/jobs/{job_id:job_id}/results:stream",
        operation_id="StreamResults",
        response_class=StreamingResponse,
        responses=_NDJSON_DOC,
    )
    def stream_results(
        job_id: JobId,
        chunk_size: Annotated[
            int,
            Query(description="outcomes per chunk; 0: the server's default", ge=0, le=MAX_CHUNK_SIZE),
        ] = 0,
    ) -> StreamingResponse:
        """StreamResults as NDJSON: one ResultChunk per line (index, total, is_final)."""
        chunks = api.result_chunks(job_id, chunk_size)
        lines = (convert.chunk_to_rest(job_id, chunk).model_dump_json() + "\n" for chunk in chunks)
        return StreamingResponse(lines, media_type=NDJSON)

    return router
