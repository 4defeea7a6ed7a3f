"""A test double device that counts its runs, for drills with real processes.

``test:counted`` is the stabilizer simulator that appends a line to the file named by
``EIGEN_TEST_COUNT_FILE`` when a run starts (``start <seed> <pid>``) and when it has
produced its result (``end <seed> <pid>``); with ``EIGEN_TEST_RUN_S`` a run lasts that
long, so that a drill's kill lands in the middle of runs. A drill gives each job its own seed, so the
file says how often each job was executed, and by which process, whatever the nodes
themselves report. Lines are short appends to one file (``O_APPEND``): processes do not
interleave them.

Real processes load it as a driver plugin: :func:`plugin_path` writes a distribution's
metadata (an ``eigen.drivers`` entry point naming this class) into a folder that goes on
the nodes' ``PYTHONPATH``, beside the repository root (for ``tests``).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path
from typing import ClassVar

from eigen.drivers.stabilizer import StabilizerDriver
from eigen.models.compiled import ExecutionRequest
from eigen.models.result import ExecutionResult

COUNTED = "test:counted"
COUNT_FILE = "EIGEN_TEST_COUNT_FILE"
RUN_S = "EIGEN_TEST_RUN_S"  # how long a run lasts, as a slow device's would (default 0)
ROOT = Path(__file__).resolve().parents[2]


class CountingDriver(StabilizerDriver):
    name: ClassVar[str] = COUNTED

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        self._record("start", request)
        threading.Event().wait(float(os.environ.get(RUN_S) or 0))  # the device at work
        result = super().run(request)
        self._record("end", request)
        return result

    @staticmethod
    def _record(what: str, request: ExecutionRequest) -> None:
        path = os.environ.get(COUNT_FILE)
        if path:
            line = f"{what} {request.seed} {os.getpid()}\n".encode()
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, line)
            finally:
                os.close(descriptor)


def plugin_path(folder: Path) -> Path:
    """A folder holding the metadata that makes ``test:counted`` an ``eigen.drivers``
    plugin for any process with it (and the repository root) on its path."""
    info = folder / "eigen_test_counting-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: eigen-test-counting\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        f'[eigen.drivers]\n"{COUNTED}" = tests.integration.counting:CountingDriver\n'
    )
    return folder


def node_environment(folder: Path, count_file: Path) -> dict[str, str]:
    """Environment entries for a node process that has ``test:counted``."""
    paths = [str(plugin_path(folder)), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p), COUNT_FILE: str(count_file)}


def records(count_file: Path) -> list[tuple[str, int, int]]:
    """Every (``start`` or ``end``, seed, pid) line of the count file, in order."""
    if not count_file.exists():
        return []
    found = []
    for line in count_file.read_text().splitlines():
        what, seed, pid = line.split()
        found.append((what, int(seed), int(pid)))
    return found


def runs(count_file: Path) -> tuple[Counter[int], Counter[int]]:
    """(runs started, runs finished) per seed, from the count file."""
    started: Counter[int] = Counter()
    finished: Counter[int] = Counter()
    for what, seed, _pid in records(count_file):
        (started if what == "start" else finished)[seed] += 1
    return started, finished
