"""Sessions with two kernel nodes on one PostgreSQL database: a session opened on one node
is seen, used and closed from the other (it is a row of ``sessions``, migration 0008), and
its jobs, queued on the session lane's entrypoint, run on either node's lane; its device is
held on both nodes.

Without a reachable server these tests skip, except under EIGEN_CI=1, where they fail."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eigen.errors import FailedPrecondition
from eigen.kernel.service import Kernel
from eigen.kernel.sessions import HOLDS_FRESH_S
from eigen.models.session import SESSION_LABEL, SessionState
from eigen.models.state import JobState
from eigen.server.embedded import EmbeddedServer
from tests.integration.test_kernel_postgres_leases import bell, final, node
from tests.unit.store.postgres import fresh_database

pytestmark = pytest.mark.integration

TARGET = "sim:stabilizer"
HOLD_S = 1.5  # session_hold_s: how long a session holds its device after its last activity


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[EmbeddedServer, EmbeddedServer]]:
    with (
        fresh_database() as url,
        node(url, tmp_path, "node-a", session_hold_s=HOLD_S) as a,
        node(url, tmp_path, "node-b", session_hold_s=HOLD_S) as b,
    ):
        yield a, b


def kernel_of(server: EmbeddedServer) -> Kernel:
    assert server.stack is not None and server.stack.kernel is not None
    return server.stack.kernel


def test_a_session_opened_on_one_node_is_used_and_closed_from_the_other(
    two_nodes: tuple[EmbeddedServer, EmbeddedServer],
) -> None:
    a, b = (kernel_of(server) for server in two_nodes)
    opened = a.open_session("default", "alice", TARGET, None, 60.0)
    assert b.get_session(opened.id, "default").state is SessionState.ACTIVE
    jobs = [b.submit(bell(target=TARGET, seed=n, session_id=opened.id))[0] for n in range(4)]
    ended = [final(a, job.id) for job in jobs]
    assert all(job.state is JobState.DONE for job in ended), ended
    assert all(job.request.labels[SESSION_LABEL] == opened.id for job in ended)
    closed = b.close_session(opened.id, "default")
    assert closed.state is SessionState.CLOSED and a.get_session(opened.id, None).state is SessionState.CLOSED
    with pytest.raises(FailedPrecondition):
        a.submit(bell(target=TARGET, session_id=opened.id))


def test_a_session_used_on_one_node_holds_its_device_on_the_other(
    two_nodes: tuple[EmbeddedServer, EmbeddedServer],
) -> None:
    a, b = (kernel_of(server) for server in two_nodes)
    opened = a.open_session("default", "alice", TARGET, None, 60.0)
    mine = final(a, a.submit(bell(target=TARGET, seed=1, session_id=opened.id))[0].id)
    assert mine.state is JobState.DONE and mine.finished_at is not None
    # node b reads the hold from the sessions table, within its cache's freshness
    deadline = time.monotonic() + HOLDS_FRESH_S + 0.5
    while TARGET not in b.sessions.holds():
        assert time.monotonic() < deadline, "node b did not see the session's hold"
        time.sleep(0.02)
    outside = final(b, b.submit(bell(target=TARGET, seed=2))[0].id)
    assert outside.state is JobState.DONE and outside.started_at is not None
    assert outside.started_at >= mine.finished_at + HOLD_S - 0.1
