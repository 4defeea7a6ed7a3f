"""The memory a worker's simulator runs may hold at once: the ``worker_memory_bytes``
setting, or by default a share of what this machine (or its cgroup) allows.

The default leaves a quarter of the memory to the server itself (its interpreter, the
engines' libraries, the results on their way out) and to the rest of the machine. Under a
container or service manager that sets a cgroup memory limit (``memory.max`` of cgroup v2,
``memory.limit_in_bytes`` of v1) below the machine's memory, the share is of that limit:
past it the kernel's OOM killer ends the process, whatever the machine has free.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: The share of the machine's (or cgroup's) memory a worker's runs may hold by default.
DEFAULT_SHARE = 0.75
#: Where cgroup v2, then v1, put this process's memory limit.
CGROUP_LIMIT_FILES: tuple[Path, ...] = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def cgroup_limit(files: Sequence[Path] = CGROUP_LIMIT_FILES) -> int | None:
    """The cgroup memory limit of this process in bytes, or None (no cgroup file, or
    ``max``: unlimited)."""
    for path in files:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.isdigit():
            return int(text)
        if text == "max":
            return None
    return None


def worker_memory_limit(
    setting: int, *, machine: int | None = None, cgroup_files: Sequence[Path] = CGROUP_LIMIT_FILES
) -> int:
    """The bytes a worker's runs may hold: ``setting`` when it is above 0, else
    :data:`DEFAULT_SHARE` of the machine's memory or of the cgroup limit, the lower
    (``machine`` and ``cgroup_files`` stand for what this machine has, for tests)."""
    if setting > 0:
        return setting
    total = machine if machine is not None else machine_memory()
    limit = cgroup_limit(cgroup_files)
    if limit is not None:
        total = min(total, limit)
    return int(total * DEFAULT_SHARE)
