"""What creating a small file costs on a file system right now.

A job leaves six small files in a folder of its own, each written atomically (a
temporary name, then a rename), so a server's throughput follows what its disk charges
per file. On our 2-core machines (ext4 on a virtual disk, mounted with ``discard``) that
charge is ~40-60 us of CPU, but 5 to 20 times more in slow phases of seconds to minutes
(seen right after a large deletion, such as a benchmark removing its data folder, and in
the middle of long runs of file creation). This probe writes job-like folders under a
parent folder, measures the CPU time (user and system) that costs per file, and deletes
them again (a few hundred files, not enough to slow the disk by itself).
``small_jobs.py`` runs it before its server starts (waiting while the disk is slow) and
after its load.

    .venv/bin/python benchmarks/fs_probe.py            # the system's temporary folder
    .venv/bin/python benchmarks/fs_probe.py /dev/shm   # another file system
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

FILES_PER_JOB = 6
#: Above this, the file system is in a slow phase: figures measured now will be low.
SLOW_US_PER_FILE = 200.0


def create_cost_us(parent: Path, jobs: int = 40, passes: int = 3) -> float:
    """CPU microseconds per small file created atomically under ``parent`` (median of
    ``passes`` passes of ``jobs`` folders of six files each)."""
    payload = b"x" * 700
    root = Path(tempfile.mkdtemp(prefix="eigen-fs-probe-", dir=parent))
    try:
        costs = []
        for one in range(passes):
            begun = time.thread_time()
            for job in range(jobs):
                folder = root / f"{one}-{job}"
                folder.mkdir()
                for index in range(FILES_PER_JOB):
                    temp = folder / f".{index}.tmp"
                    temp.write_bytes(payload)
                    os.replace(temp, folder / str(index))
            costs.append((time.thread_time() - begun) / (jobs * FILES_PER_JOB))
        return 1e6 * statistics.median(costs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def settle(parent: Path, timeout_s: float, pause_s: float = 5.0) -> tuple[float, float]:
    """Wait, up to ``timeout_s``, for the file system under ``parent`` to leave a slow
    phase, probing every ``pause_s`` seconds; returns the last cost per file (us) and the
    seconds waited."""
    begun = time.monotonic()
    cost = create_cost_us(parent)
    while cost > SLOW_US_PER_FILE and time.monotonic() - begun + pause_s <= timeout_s:
        print(f"  waiting for the file system to settle: {describe(cost)}", flush=True)
        time.sleep(pause_s)
        cost = create_cost_us(parent)
    return cost, time.monotonic() - begun


def describe(us_per_file: float) -> str:
    verdict = "slow phase: expect low figures" if us_per_file > SLOW_US_PER_FILE else "normal"
    return f"{us_per_file:.0f} us of CPU per file created ({verdict})"


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir())
    print(f"{where}: {describe(create_cost_us(where))}")
