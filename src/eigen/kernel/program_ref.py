"""Programs by reference: a request's ``program_uri`` read in from QFS at submission.

``qfs://<job id>`` is that job's program file (``program.qasm``, ``program.eigen.py`` or
``program.aqo.json``), and the request takes that job's language too. ``qfs://<job id>/<file>``
is a named artifact of that job (e.g. ``compiled.qasm``); naming its program file is the
same as the short form, any other file is read as a program whose language its text says.
The uri stays recorded on the request (shown on the job); everything after submission sees
the text, so a job never depends on another job's files once it is accepted.

A request with both a program text and a uri is taken as already read (that is what a
resolved request looks like). An unknown job, or one of another tenant, is NOT_FOUND; a
file that job does not have or that holds no program text is INVALID_ARGUMENT; both name
``program.uri``.
"""

from __future__ import annotations

from pydantic import ValidationError

from eigen.errors import InvalidArgument, NotFound
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.qfs.programs import program_file, read_text
from eigen.kernel.store.base import JobStore
from eigen.models.job import Job, JobRequest
from eigen.models.jobspec import invalid_from_pydantic
from eigen.models.program import sniff_language

URI_FIELD = "program.uri"
SCHEME = "qfs://"


def parse_uri(uri: str, field: str = URI_FIELD) -> tuple[str, str | None]:
    """(job id, file or None) of ``qfs://<job id>[/<file>]``."""
    if not uri.startswith(SCHEME):
        raise InvalidArgument.for_field(field, "must be qfs://<job id>[/<file>]")
    job_id, _, name = uri[len(SCHEME) :].partition("/")
    if not job_id:
        raise InvalidArgument.for_field(field, "must be qfs://<job id>[/<file>]")
    return job_id, name or None


def readable(job: Job, tenant: str) -> bool:
    """Whether a submission of ``tenant`` may read ``job``'s artifacts: only its own
    tenant's (an admin too submits in one tenant, and refers to that tenant's jobs). A
    job that is not readable is answered as not found, so its existence does not leak."""
    return job.tenant == tenant


def stored_job(store: JobStore, job_id: str, tenant: str, field: str) -> Job:
    """The stored job ``job_id`` a submission of ``tenant`` refers to, or NOT_FOUND naming
    ``field`` (the same answer for another tenant's job as for a missing one)."""
    job = store.get(job_id) if job_id else None
    if job is None or not readable(job, tenant):
        raise NotFound.for_field(field, f"job {job_id} not found")
    return job


def needs_reading(request: JobRequest) -> bool:
    """Whether the request names its program by uri and the text is still to be read."""
    return request.program_uri is not None and not request.program.strip()


def resolve_program(
    request: JobRequest, store: JobStore, artifacts: ArtifactStore, tenant: str
) -> JobRequest:
    """``request`` of a submitter of ``tenant`` with its program read from ``program_uri``
    (unchanged when there is nothing to read)."""
    if request.program_uri is None or not needs_reading(request):
        return request
    job_id, name = parse_uri(request.program_uri)
    source = stored_job(store, job_id, tenant, URI_FIELD)
    own = program_file(source.request.language)
    if name is None or name == own:
        try:
            text = read_text(artifacts, job_id, own, URI_FIELD)
        except InvalidArgument:
            if not source.request.program.strip():
                raise
            text = source.request.program  # not written yet (the job is still PENDING): the same text
        language = source.request.language
    else:
        text = read_text(artifacts, job_id, name, URI_FIELD)
        language = sniff_language(text)
    return replaced(request, URI_FIELD, program=text, language=language)


def replaced(request: JobRequest, field: str, **changes: object) -> JobRequest:
    """``request`` with ``changes``, validated again (a change that breaks a rule is
    INVALID_ARGUMENT naming ``field``)."""
    try:
        return JobRequest.model_validate({**request.model_dump(), **changes})
    except ValidationError as exc:
        raise invalid_from_pydantic(exc, {key: field for key in ("program", *changes)}) from None
