"""QFS: the per-job artifact folder (job.yaml, program, compiled circuit, results, error).

Writes are atomic (write a temporary file in the same folder, then rename), so a reader
never sees half a file and a crash never leaves one behind. :meth:`ArtifactStore.put_many`
writes a batch of files in one go, in a writer process when the store has one
(:mod:`eigen.kernel.qfs.writer`). JSON artifacts are encoded by orjson: indented, keys
sorted, at a fraction of the cost of the standard library's indenting encoder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from eigen.errors import InvalidArgument, NotFound
from eigen.kernel.qfs.writer import WriterProcess, Yaml, write_files

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
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
    if not _NAME.match(name) or name.startswith("."):
        raise InvalidArgument.for_field("artifact", f"bad artifact name {name!r}")
    return name
