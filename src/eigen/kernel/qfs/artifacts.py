"""QFS: the per-job artifact folder (job.yaml, program, compiled circuit, results, error).

Writes are atomic (write a temporary file in the same folder, then rename), so a reader
never sees half a file and a crash never leaves one behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

from eigen.errors import InvalidArgument, NotFound

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = str(root)
        root.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        return self.root / _checked(job_id)

    def put(self, job_id: str, name: str, data: str | bytes) -> None:
        if not _NAME.match(name) or name.startswith("."):
            raise InvalidArgument.for_field("artifact", f"bad artifact name {name!r}")
        folder = os.path.join(self._root, _checked(job_id))
        payload = data.encode() if isinstance(data, str) else data
        # A temporary name private to this thread (no two threads write one job's artifact
        # at once, and names starting with "." are never listed), then an atomic rename.
        # Plain os.path strings: this runs several times for every job.
        temp = os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
        target = os.path.join(folder, name)
        try:
            _write(temp, payload)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def put_json(self, job_id: str, name: str, data: Any) -> None:
        self.put(job_id, name, json.dumps(data, indent=2, sort_keys=True, default=str))

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


def _checked(job_id: str) -> str:
    if not _NAME.match(job_id):
        raise InvalidArgument.for_field("job_id", "is not a valid job id")
    return job_id


def _write(path: str, payload: bytes) -> None:
    """Write a new file, creating its folder on the first write of a job."""
    try:
        handle = open(path, "wb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = open(path, "wb")  # noqa: SIM115
    with handle:
        handle.write(payload)
