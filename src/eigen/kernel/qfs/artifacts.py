"""QFS: the per-job artifact folder (job.yaml, program, compiled circuit, results, error).

Writes are atomic (write a temporary file in the same folder, then rename), so a reader
never sees half a file and a crash never leaves one behind. A stage's outcome files (a
run's ``results.json`` and outputs) are written *staged* (:meth:`ArtifactStore.stage`:
hidden names of their own) and renamed to their names (:meth:`ArtifactStore.publish`) in
the transaction of the move that records the outcome, once its compare-and-set on the
job has passed: a worker whose claim moved on (its lease lapsed, the job runs elsewhere)
never overwrites the live attempt's files; its staged ones are removed
(:meth:`ArtifactStore.discard`). :meth:`ArtifactStore.put_many`
writes a batch of files in one go, in a writer process when the store has one
(:mod:`eigen.kernel.qfs.writer`). JSON artifacts are encoded by orjson: indented, keys
sorted, at a fraction of the cost of the standard library's indenting encoder.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from eigen.errors import InvalidArgument, NotFound
from eigen.kernel.qfs.writer import WriterProcess, Yaml, write_files

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# a staged artifact: hidden (names() lists no dot file), the final name and the tag in it
_STAGED = re.compile(r"^\.(?P<name>[A-Za-z0-9._-]{1,128})\.staged-[0-9a-f]{16}$")
_JSON_OPTIONS = (
    orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
)


@dataclass(frozen=True)
class Artifact:
    """One artifact of one job, ready to write."""

    job_id: str
    name: str
    data: bytes | Yaml

    @classmethod
    def of(cls, job_id: str, name: str, data: str | bytes) -> Artifact:
        return cls(job_id, name, data.encode() if isinstance(data, str) else data)

    @classmethod
    def json(cls, job_id: str, name: str, data: Any) -> Artifact:
        return cls(job_id, name, encode_json(data))

    @classmethod
    def yaml(cls, job_id: str, name: str, document: Any) -> Artifact:
        """Encoded where it is written (in the writer process, when the store has one)."""
        return cls(job_id, name, Yaml(document))


def encode_json(data: Any) -> bytes:
    """Indented JSON with sorted keys; values JSON has no form for become strings."""
    return orjson.dumps(data, default=str, option=_JSON_OPTIONS)


class ArtifactStore:
    def __init__(self, root: Path, writer: WriterProcess | None = None) -> None:
        self.root = root
        self._root = str(root)
        self._writer = writer
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        return self.root / _checked(job_id)

    def put(self, job_id: str, name: str, data: str | bytes) -> None:
        error = self.put_many([Artifact.of(job_id, name, data)])[0]
        if error is not None:
            raise OSError(error)

    def put_json(self, job_id: str, name: str, data: Any) -> None:
        self.put(job_id, name, encode_json(data))

    def put_many(self, artifacts: Sequence[Artifact]) -> list[str | None]:
        """Write every artifact (each atomically); the error of each that could not be
        written, in order (None for one written). A bad job id or name raises before
        anything is written."""
        files = [(self._folder(a.job_id), _checked_name(a.name), a.data) for a in artifacts]
        if not files:
            return []
        if self._writer is not None:
            return self._writer.write(files)
        return write_files(files)

    def stage(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        """``artifacts`` under staged names of their own (one tag for them all): written by
        :meth:`put_many` as any artifact, invisible until :meth:`publish`."""
        tag = secrets.token_hex(8)
        return [Artifact(a.job_id, f".{_checked_name(a.name)}.staged-{tag}", a.data) for a in artifacts]

    def publish(self, staged: Sequence[Artifact]) -> None:
        """Rename each staged artifact (:meth:`stage`) to its name, atomically, replacing
        what was there. One already renamed (published by the same call before) is skipped."""
        for artifact in staged:
            folder, name = self._folder(artifact.job_id), _final_name(artifact.name)
            with contextlib.suppress(FileNotFoundError):
                os.replace(os.path.join(folder, artifact.name), os.path.join(folder, name))

    def discard(self, staged: Sequence[Artifact]) -> None:
        """Remove staged artifacts that are not to be published (their outcome was refused)."""
        for artifact in staged:
            _final_name(artifact.name)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self._folder(artifact.job_id), artifact.name))

    def _folder(self, job_id: str) -> str:
        return os.path.join(self._root, _checked(job_id))  # plain strings: several per job

    def get(self, job_id: str, name: str) -> bytes:
        path = self.folder(job_id) / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"job {job_id} has no artifact {name!r}") from None

    def names(self, job_id: str) -> list[str]:
        folder = self.folder(job_id)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))

    def close(self) -> None:
        """Stop the writer process, if any, after the batch it is writing."""
        if self._writer is not None:
            self._writer.close()


def _checked(job_id: str) -> str:
    if not _NAME.match(job_id):
        raise InvalidArgument.for_field("job_id", "is not a valid job id")
    return job_id


def _checked_name(name: str) -> str:
    if name.startswith(".") and _STAGED.match(name):
        _final_name(name)
        return name
    if not _NAME.match(name) or name.startswith("."):
        raise InvalidArgument.for_field("artifact", f"bad artifact name {name!r}")
    return name


def published_name(name: str) -> str:
    """The name an artifact is read under: ``name``, or a staged one's final name."""
    return _final_name(name) if name.startswith(".") and _STAGED.match(name) else name


def _final_name(staged: str) -> str:
    """The name a staged artifact is published under."""
    match = _STAGED.match(staged)
    if match is None or not _NAME.match(match["name"]) or match["name"].startswith("."):
        raise InvalidArgument.for_field("artifact", f"not a staged artifact name {staged!r}")
    return match["name"]
