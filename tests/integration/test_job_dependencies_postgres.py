"""Job dependencies with two kernel nodes on one PostgreSQL database: a job accepted by one
node waits for a job of the other and is released (or failed) by whichever node ends that
job, because the links are in the database (migration 0007), not in a node's memory.

Without a reachable server these tests skip, except under EIGEN_CI=1, where they fail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eigen.kernel.dependencies import DEPENDENCY_FAILED_CODE, WAITING
from eigen.kernel.service import Kernel
from eigen.models.state import JobState
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.test_kernel_postgres_leases import bell, final, node
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[EmbeddedServer, EmbeddedServer]]:
    with fresh_database() as url, node(url, tmp_path, "node-a") as a, node(url, tmp_path, "node-b") as b:
        yield a, b


def kernel_of(server: EmbeddedServer) -> Kernel:
    assert server.stack is not None and server.stack.kernel is not None
    return server.stack.kernel


def test_a_diamond_spread_over_two_nodes_runs_in_order(
    two_nodes: tuple[EmbeddedServer, EmbeddedServer],
) -> None:
    a, b = (kernel_of(server) for server in two_nodes)
    with holding(two_nodes[0]), holding(two_nodes[1]):
        root, _ = a.submit(bell(target=HELD))
        left, _ = b.submit(bell(target="sim:statevector", dependencies=[root.id]))
        right, _ = a.submit(bell(target="sim:statevector", dependencies=[f"job:{root.id}"]))
        last, _ = b.submit(bell(target="sim:statevector", dependencies=[left.id, right.id]))
        assert b.get(last.id).progress == {"phase": WAITING, "waiting_for": [left.id, right.id]}
    ended = {job.id: final(a, job.id) for job in (root, left, right, last)}
    assert all(job.state is JobState.DONE for job in ended.values()), ended
    finished_root = ended[root.id].finished_at or 0.0
    assert min(ended[left.id].started_at or 0.0, ended[right.id].started_at or 0.0) >= finished_root
    last_started = ended[last.id].started_at or 0.0
    assert last_started >= max(ended[left.id].finished_at or 0.0, ended[right.id].finished_at or 0.0)


def test_a_cancel_on_one_node_fails_the_dependants_the_other_accepted(
    two_nodes: tuple[EmbeddedServer, EmbeddedServer],
) -> None:
    a, b = (kernel_of(server) for server in two_nodes)
    with holding(two_nodes[0]), holding(two_nodes[1]):
        blocker, _ = a.submit(bell(target=HELD))
        root, _ = a.submit(bell(target="sim:statevector", dependencies=[blocker.id]))
        child, _ = b.submit(bell(target="sim:statevector", dependencies=[root.id]))
        a.cancel(root.id)
        failed = final(b, child.id)
        assert (failed.state, failed.error_code) == (JobState.ERROR, DEPENDENCY_FAILED_CODE)
        assert failed.error_summary == f"dependency {root.id} ended in CANCELLED"
