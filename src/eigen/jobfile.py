"""Reading a ``job.yaml`` and its program file from disk (the one reader for CLI and server).

Path rules: a program path is relative to the job folder and stays inside it; absolute
paths, ``..`` and symbolic links that lead out are rejected before anything is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from eigen.errors import InvalidArgument, quote
from eigen.models.job import JobRequest
from eigen.models.jobspec import MAX_JOBSPEC_BYTES, JobSpec, parse_jobspec
from eigen.models.program import MAX_PROGRAM_BYTES

# libyaml's safe loader where PyYAML was built with it (same documents, ~10x faster).
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_YAML_NODES = 100_000
"""The most nodes a job.yaml may have once its aliases are expanded. Aliases share one
node, so a few lines can stand for billions of values ("billion laughs"), which every
later step (validation, JSON, error messages) would walk one by one. A file of 64 KiB
without aliases has fewer (at least 2 bytes a value), so no such file is refused."""

MAX_YAML_DEPTH = 32
"""The deepest nesting of collections a job.yaml may have (its format needs 5 levels)."""


def load_job_file(path: str | Path) -> JobRequest:
    """Read, validate and resolve a job.yaml (JobSpec 1.0 or v0.1) into the request the
    kernel runs; its program path is relative to the file's folder."""
    job_path = Path(path)
    text = read_limited(job_path, MAX_JOBSPEC_BYTES, "job file", str(job_path))
    return jobspec_from_text(text, job_path.parent, source_name=str(job_path))


def jobspec_from_text(text: str, base_dir: Path | None, *, source_name: str = "job spec") -> JobRequest:
    """Parse job.yaml text; ``base_dir`` is the folder program paths are relative to and
    ``source_name`` names the text (its file) in errors."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_JOBSPEC_BYTES:
        raise InvalidArgument.for_field(
            "(document)", f"job spec is larger than {MAX_JOBSPEC_BYTES // 1024} KiB"
        )
    spec = parse_jobspec(load_yaml(text, source_name))
    return spec.to_request(program_source(spec, base_dir))


def load_yaml(text: str, source_name: str = "job spec") -> Any:
    """The one YAML document of ``text`` (safe tags only), refused as INVALID_ARGUMENT
    naming ``source_name`` and the line when it is not valid YAML, holds a value Python
    cannot read (an integer of thousands of digits), or is bigger or deeper than
    :data:`MAX_YAML_NODES` / :data:`MAX_YAML_DEPTH` (or holds more text than a job file)
    once its aliases are expanded."""
    try:
        loader = _YAML_LOADER(text)
    except UnicodeEncodeError:  # libyaml reads UTF-8 bytes: a lone surrogate cannot be one
        raise InvalidArgument.for_field(
            "(document)", f"{source_name}: not valid YAML: text is not valid Unicode"
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, source_name)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidArgument.for_field("(document)", f"{source_name}: not valid YAML{where}") from None
    except (ValueError, OverflowError) as exc:  # a scalar its constructor cannot read
        raise InvalidArgument.for_field(
            "(document)", f"{source_name}: a value cannot be read: {quote(str(exc))}"
        ) from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, source_name: str) -> None:
    """Count the nodes, depth and characters of ``root`` as if every alias were a copy,
    without expanding anything: each shared node is measured once and its size reused.
    Expanded text is bounded by the size of a job file (an alias-free file has no more)."""
    sizes: dict[int, tuple[int, int, int]] = {}  # id(node) -> (nodes, depth, characters)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if children_done:
            open_nodes.discard(key)
            measured = [sizes[id(child)] for child in children]
            size = 1 + sum(m[0] for m in measured)
            depth = 1 + max((m[1] for m in measured), default=0)
            text = sum(m[2] for m in measured) + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
            if size > MAX_YAML_NODES or text > MAX_JOBSPEC_BYTES:
                what = f"more than {MAX_YAML_NODES} values" if size > MAX_YAML_NODES else "too much text"
                raise InvalidArgument.for_field(
                    "(document)",
                    f"{source_name}: the YAML at line {node.start_mark.line + 1} expands to {what}"
                    " (aliases copy what they name)",
                )
            sizes[key] = (size, depth, text)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise InvalidArgument.for_field(
                "(document)", f"{source_name}: the YAML at line {node.start_mark.line + 1} contains itself"
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
        if len(open_nodes) > MAX_YAML_DEPTH:
            raise InvalidArgument.for_field(
                "(document)", f"{source_name}: the YAML at line {node.start_mark.line + 1} nests too deep"
            )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def program_source(spec: JobSpec, base_dir: Path | None) -> str:
    """The program text of ``spec``: inline, or read from ``spec.program.path`` under
    ``base_dir``; empty for a program stored on the server (``spec.program.uri``, or a
    ReplayJob's replayed job), which the kernel reads in at submission."""
    ref = spec.spec.program
    if ref is None:
        workload = spec.spec.workload
        if workload is not None and workload.kind == "ReplayJob":
            return ""
        raise InvalidArgument.for_field("spec.program", "is required (one of path, source or uri)")
    given = [key for key in ("path", "source", "inline", "uri") if getattr(ref, key) is not None]
    if len(given) > 1:
        raise InvalidArgument.for_field(
            "spec.program", f"give exactly one of path, source or uri, not {' and '.join(given)}"
        )
    if ref.text is not None:
        return ref.text
    if ref.uri is not None:
        return ""
    if ref.path is None:
        raise InvalidArgument.for_field("spec.program", "needs one of path, source (inline) or uri")
    if base_dir is None:
        raise InvalidArgument.for_field("spec.program.path", "a path needs a job folder; send source instead")
    path = safe_program_path(base_dir, ref.path)
    return read_limited(path, MAX_PROGRAM_BYTES, "program", "spec.program.path")


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
            raise InvalidArgument.for_field(field, f"no such file: {quote(relative)}")
    except (OSError, RuntimeError, ValueError) as exc:  # loops, NUL bytes, overlong names
        raise InvalidArgument.for_field(field, f"cannot be used: {quote(str(exc))}") from None
    return candidate


def read_limited(path: Path, limit: int, what: str, field: str) -> str:
    """The UTF-8 text of the regular file at ``path``, at most ``limit`` bytes.

    The file is opened without blocking and checked to be a regular file before anything
    is read: a FIFO would block forever, ``/dev/zero`` never ends, a folder has no text."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise InvalidArgument.for_field(field, f"{what} not found") from None
    except (OSError, ValueError) as exc:  # permissions, NUL bytes, overlong names
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidArgument.for_field(field, f"cannot read {what}: {reason}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, a device...)"
        raise InvalidArgument.for_field(field, f"{what} is {kind}")
    with os.fdopen(descriptor, "rb") as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise InvalidArgument.for_field(field, f"cannot read {what}: {exc.strerror}") from None
    if len(data) > limit:
        raise InvalidArgument.for_field(field, f"{what} is larger than {limit // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument.for_field(field, f"{what} is not UTF-8 text") from None
