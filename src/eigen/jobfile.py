"""Reading a ``job.yaml`` and its program file from disk (the one reader for CLI and server).

Path rules: a program path is relative to the job folder and stays inside it; absolute
paths, ``..`` and symbolic links that lead out are rejected before anything is read.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import yaml

from eigen.errors import InvalidArgument
from eigen.models.job import JobRequest
from eigen.models.jobspec import MAX_JOBSPEC_BYTES, JobSpec, parse_jobspec
from eigen.models.program import MAX_PROGRAM_BYTES

# libyaml's safe loader where PyYAML was built with it (same documents, ~10x faster).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_job_file(path: str | Path) -> JobRequest:
    """Read, validate and resolve a job.yaml into the request the kernel runs."""
    job_path = Path(path)
    text = _read_limited(job_path, MAX_JOBSPEC_BYTES, "job file", str(job_path))
    return jobspec_from_text(text, job_path.parent)


def jobspec_from_text(text: str, base_dir: Path | None) -> JobRequest:
    """Parse job.yaml text; ``base_dir`` is the folder program paths are relative to."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_JOBSPEC_BYTES:
        raise InvalidArgument.for_field(
            "(document)", f"job spec is larger than {MAX_JOBSPEC_BYTES // 1024} KiB"
        )
    try:
        document = yaml.load(text, Loader=_YAML_LOADER)
    except UnicodeEncodeError:  # libyaml reads UTF-8 bytes: a lone surrogate cannot be one
        raise InvalidArgument.for_field("(document)", "not valid YAML: text is not valid Unicode") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidArgument.for_field("(document)", f"not valid YAML{where}") from None
    spec = parse_jobspec(document)
    return spec.to_request(program_source(spec, base_dir))


def program_source(spec: JobSpec, base_dir: Path | None) -> str:
    ref = spec.spec.program
    if ref.source is not None and ref.path is not None:
        raise InvalidArgument.for_field("spec.program", "give either path or source, not both")
    if ref.source is not None:
        return ref.source
    if ref.path is None:
        raise InvalidArgument.for_field("spec.program", "needs a path or a source")
    if base_dir is None:
        raise InvalidArgument.for_field("spec.program.path", "a path needs a job folder; send source instead")
    path = safe_program_path(base_dir, ref.path)
    return _read_limited(path, MAX_PROGRAM_BYTES, "program", "spec.program.path")


def safe_program_path(base_dir: Path, relative: str) -> Path:
    """Resolve ``relative`` inside ``base_dir`` or raise InvalidArgument naming the field."""
    field = "spec.program.path"
    pure = PurePosixPath(relative.replace("\\", "/"))
    if not relative.strip():
        raise InvalidArgument.for_field(field, "is empty")
    if pure.is_absolute() or Path(relative).is_absolute() or (len(relative) > 1 and relative[1] == ":"):
        raise InvalidArgument.for_field(field, "must be relative to the job folder")
    if ".." in pure.parts:
        raise InvalidArgument.for_field(field, "must not contain '..'")
    try:
        root = base_dir.resolve()
        candidate = (root / pure).resolve()
        if not candidate.is_relative_to(root):
            raise InvalidArgument.for_field(field, "leads outside the job folder (symbolic link)")
        if not candidate.is_file():
            raise InvalidArgument.for_field(field, f"no such file: {relative}")
    except (OSError, RuntimeError, ValueError) as exc:  # loops, NUL bytes, overlong names
        raise InvalidArgument.for_field(field, f"cannot be used: {exc}") from None
    return candidate


def _read_limited(path: Path, limit: int, what: str, field: str) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise InvalidArgument.for_field(field, f"{what} not found") from None
    except OSError as exc:
        raise InvalidArgument.for_field(str(path), f"cannot read {what}: {exc.strerror}") from None
    if len(data) > limit:
        raise InvalidArgument.for_field(field, f"{what} is larger than {limit // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument.for_field(field, f"{what} is not UTF-8 text") from None
