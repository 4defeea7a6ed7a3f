"""A cluster of real ``eigen-server`` processes on one PostgreSQL database, for drills.

Kernel nodes run ``--role kernel,compiler,driver-manager`` (the kernel with its compiler
and driver-manager in process) on the shared database with ``dispatch: postgres``; api
nodes run ``--role api`` and know every kernel (``kernel_addresses``). Every node has the
``test:counted`` device (:mod:`tests.integration.counting`), writing to one count file,
and its own log file. Nodes listen on free loopback ports; a node can be killed
(SIGKILL to its process group: the node and its compiler sandbox and driver processes, as
when its machine dies), stopped (SIGTERM) and started again on the same port. Everything a cluster
started is stopped when it closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.counting import node_environment
from tests.integration.test_four_processes import free_port, wait_serving

KERNEL_ROLES = "kernel,compiler,driver-manager"
START_TIMEOUT_S = 90.0


@dataclass
class Node:
    name: str
    role: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start the node and wait until it answers its health check SERVING."""
        assert self.process is None or self.process.poll() is not None, f"{self.name} is running"
        command = [sys.executable, "-m", "eigen.server", "serve", "--role", self.role]
        command += ["--port", str(self.port), "--log-level", "INFO"]
        with self.log.open("ab") as log:
            log.write(f"\n--- start {self.starts + 1} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, with the processes it starts
            )
        self.starts += 1
        wait_serving(self.address, self.process, time.monotonic() + START_TIMEOUT_S)

    def kill(self) -> set[int]:
        """SIGKILL to the node's process group: the node and the processes it started (a
        run in a driver process is the node's) end at once, holding whatever they held.
        Returns their pids."""
        assert self.process is not None
        members = group_members(self.process.pid)
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        return members

    def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, then wait for the node's own shutdown; its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.terminate(20.0)
            return
        self.process.kill()
        self.process.wait(10)

    def reap(self) -> None:
        """SIGKILL what is left of the node's process group (after a stop)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


def group_members(pgid: int) -> set[int]:
    """The pids of the live processes in process group ``pgid`` (read from /proc)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(int(entry.name)) == pgid:
                    members.add(int(entry.name))
    return members


@dataclass
class Cluster:
    folder: Path
    database_url: str
    settings: dict[str, str] = field(default_factory=dict)  # EIGEN_* for every node
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.count_file = self.folder / "runs.txt"
        self.artifacts = self.folder / "shared"  # the nodes' shared data folder (artifacts)
        self.artifacts.mkdir(parents=True, exist_ok=True)

    def _environment(self, name: str, extra: dict[str, str]) -> dict[str, str]:
        return {
            **os.environ,
            **node_environment(self.folder / "plugin", self.count_file),
            "EIGEN_DATABASE_URL": self.database_url,
            "EIGEN_DATA_DIR": str(self.artifacts),
            "EIGEN_DISPATCH": "postgres",
            "EIGEN_NODE_ID": name,
            **self.settings,
            **extra,
        }

    def kernel(self, name: str, **settings: str) -> Node:
        """A kernel node (started)."""
        return self._node(name, KERNEL_ROLES, settings)

    def api(self, name: str, kernels: list[Node], **settings: str) -> Node:
        """An api node that knows ``kernels`` (started)."""
        addresses = json.dumps([kernel.address for kernel in kernels])
        return self._node(name, "api", {"EIGEN_KERNEL_ADDRESSES": addresses, **settings})

    def _node(self, name: str, role: str, settings: dict[str, str]) -> Node:
        node = Node(name, role, free_port(), self._environment(name, settings), self.folder / f"{name}.log")
        self.nodes.append(node)
        node.start()
        return node

    def logs(self, limit: int = 4000) -> str:
        """The end of every node's log (for a failing drill's message)."""
        parts = []
        for node in self.nodes:
            with contextlib.suppress(OSError):
                parts.append(f"== {node.name}\n{node.log.read_text(errors='replace')[-limit:]}")
        return "\n".join(parts)

    def close(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        for node in self.nodes:
            node.reap()
