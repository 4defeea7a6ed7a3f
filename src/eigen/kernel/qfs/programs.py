"""Program files in QFS: the name a job's program is stored under, and reading one back.

Every job's folder holds its program as submitted (``program.qasm``, ``program.eigen.py``,
``program.aqo.json``), next to the compiled forms. A later job may take its program from
there (``program_uri``) and a ReplayJob re-runs it; both read it with :func:`read_text`.
"""

from __future__ import annotations

from eigen.errors import EigenError, InvalidArgument, NotFound, quote
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.models.program import MAX_PROGRAM_BYTES, ProgramLanguage

PROGRAM_FILES = {
    ProgramLanguage.QASM2: "program.qasm",
    ProgramLanguage.QASM3: "program.qasm",
    ProgramLanguage.EIGEN_LANG: "program.eigen.py",
    ProgramLanguage.AQO: "program.aqo.json",
}


def program_file(language: ProgramLanguage) -> str:
    """The artifact name a program in ``language`` is stored under."""
    return PROGRAM_FILES[language]


def read_text(
    artifacts: ArtifactStore, job_id: str, name: str, field: str, missing: type[EigenError] = InvalidArgument
) -> str:
    """The artifact ``name`` of job ``job_id`` as program text (UTF-8, no NUL, at most
    the program size limit). A file that is not there is ``missing`` (an error naming
    ``field``); one that is no program text is INVALID_ARGUMENT naming ``field``."""
    if name.startswith(".") or "/" in name or "\\" in name:
        raise InvalidArgument.for_field(field, f"{quote(name)} is not an artifact name")
    try:
        data = artifacts.get(job_id, name)
    except NotFound:
        raise missing.for_field(field, f"job {job_id} has no artifact {quote(name)}") from None
    except EigenError as exc:  # a bad job id
        raise InvalidArgument.for_field(field, exc.message) from None
    except IsADirectoryError:
        raise missing.for_field(field, f"job {job_id} has no artifact {quote(name)}") from None
    if len(data) > MAX_PROGRAM_BYTES:
        raise InvalidArgument.for_field(
            field, f"artifact {quote(name)} of job {job_id} is larger than {MAX_PROGRAM_BYTES // 1024} KiB"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument.for_field(
            field, f"artifact {quote(name)} of job {job_id} is not UTF-8 text (not a program)"
        ) from None
    if "\x00" in text or not text.strip():
        raise InvalidArgument.for_field(
            field, f"artifact {quote(name)} of job {job_id} holds no program text"
        )
    return text
