"""Job dependencies: a job waits until every job it names is DONE, and fails with the first
that fails; unknown ids and other tenants' jobs are refused at submit."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

from eigen.errors import InvalidArgument
from eigen.kernel.dependencies import DEPENDENCY_FAILED_CODE, WAITING
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel
from eigen.kernel.store.base import JobStore
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.state import JobState
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, job_request
from tests.unit.store.postgres import fresh_database

FAILING = "OPENQASM 3.0; qubit[2] q; // fail-run"


def ended(kernel: Kernel, job_id: str) -> Job:
    """The job once it ended (watch returns at its terminal event)."""
    events = list(kernel.watch(job_id))
    assert events[-1].state.terminal, job_id
    return kernel.get(job_id)


def test_job_and_prefixed_ids_name_the_same_dependency() -> None:
    request = job_request(dependencies=["job:abc", "def"])
    assert request.dependencies == ["abc", "def"]


def test_a_dependant_waits_for_its_dependency_then_runs(kernel: Kernel, drivers: FakeDrivers) -> None:
    drivers.gate = threading.Event()
    root, _ = kernel.submit(job_request())
    assert drivers.started.wait(5)
    child, _ = kernel.submit(job_request(dependencies=[f"job:{root.id}"]))
    waiting = kernel.get(child.id)
    assert waiting.state is JobState.PENDING
    assert waiting.progress == {"phase": WAITING, "waiting_for": [root.id]}
    drivers.gate.set()
    done = ended(kernel, child.id)
    assert done.state is JobState.DONE
    assert done.progress == {}
    assert (done.started_at or 0) >= (kernel.get(root.id).finished_at or float("inf"))


def test_a_done_dependency_does_not_hold_the_job(kernel: Kernel) -> None:
    root, _ = kernel.submit(job_request())
    assert ended(kernel, root.id).state is JobState.DONE
    child, _ = kernel.submit(job_request(dependencies=[root.id]))
    assert ended(kernel, child.id).state is JobState.DONE


def test_a_failed_dependency_fails_its_dependants_recursively(kernel: Kernel, drivers: FakeDrivers) -> None:
    drivers.gate = threading.Event()
    root, _ = kernel.submit(job_request(FAILING))
    assert drivers.started.wait(5)
    child, _ = kernel.submit(job_request(dependencies=[root.id]))
    grandchild, _ = kernel.submit(job_request(dependencies=[child.id]))
    drivers.gate.set()
    assert ended(kernel, root.id).state is JobState.ERROR
    failed_child = ended(kernel, child.id)
    assert failed_child.state is JobState.ERROR
    assert failed_child.error_code == DEPENDENCY_FAILED_CODE
    assert failed_child.error_summary == f"dependency {root.id} ended in ERROR"
    failed_grandchild = ended(kernel, grandchild.id)
    assert failed_grandchild.error_code == DEPENDENCY_FAILED_CODE
    assert child.id in (failed_grandchild.error_summary or "")


def test_a_dependency_already_failed_fails_the_job_at_once(kernel: Kernel) -> None:
    root, _ = kernel.submit(job_request(FAILING))
    assert ended(kernel, root.id).state is JobState.ERROR
    child, _ = kernel.submit(job_request(dependencies=[root.id]))
    assert ended(kernel, child.id).error_code == DEPENDENCY_FAILED_CODE


def test_cancelling_a_waiting_dependency_fails_the_dependant(kernel: Kernel, drivers: FakeDrivers) -> None:
    drivers.gate = threading.Event()
    slow, _ = kernel.submit(job_request())
    assert drivers.started.wait(5)
    root, _ = kernel.submit(job_request(dependencies=[slow.id]))
    child, _ = kernel.submit(job_request(dependencies=[root.id]))
    kernel.cancel(root.id)
    failed = ended(kernel, child.id)
    assert failed.error_summary == f"dependency {root.id} ended in CANCELLED"
    drivers.gate.set()
    assert ended(kernel, slow.id).state is JobState.DONE


def test_unknown_and_foreign_dependencies_are_refused_alike(kernel: Kernel) -> None:
    theirs, _ = kernel.submit(job_request(), tenant="other")
    refusals = []
    for missing in ("no-such-job", theirs.id):
        with pytest.raises(InvalidArgument) as caught:
            kernel.submit(job_request(dependencies=[missing]), tenant="mine")
        refusals.append(caught.value)
    for refusal, missing in zip(refusals, ("no-such-job", theirs.id), strict=True):
        assert str(refusal) == f"dependencies[0]: no job {missing!r}"


def test_batch_refusal_names_the_item_and_the_dependency(kernel: Kernel) -> None:
    with pytest.raises(InvalidArgument) as caught:
        kernel.submit_batch([job_request(), job_request(dependencies=["nope"])])
    assert [v.field for v in caught.value.violations] == ["jobs[1].dependencies[0]"]
    assert "'nope'" in str(caught.value)


@pytest.mark.parametrize("store_kind", ["memory", "sqlite", "postgresql"])
def test_the_store_finds_a_jobs_dependants(tmp_path: Path, store_kind: str) -> None:
    with contextlib.ExitStack() as stack:
        if store_kind == "memory":
            store: JobStore = MemoryJobStore()
        elif store_kind == "sqlite":
            store = SqlJobStore(sqlite_url(tmp_path / "e.db"))
        else:
            store = SqlJobStore(stack.enter_context(fresh_database()))
        stack.callback(store.close)
        dependants_are_found(store)


def dependants_are_found(store: JobStore) -> None:
    now = time.time()

    def put(job_id: str, request: JobRequest, at: float) -> None:
        store.create(
            Job(job_id, request, JobState.PENDING, at, at), JobEvent(job_id, 1, JobState.PENDING, "state", at)
        )

    put("a", job_request(), now)
    put("b", job_request(dependencies=["a"]), now + 1)
    put("c", job_request(dependencies=["a", "b"]), now + 2)
    assert store.dependants("a") == ["b", "c"]
    assert store.dependants("b") == ["c"]
    assert store.dependants("c") == []


def test_a_restart_settles_jobs_whose_dependencies_ended_meanwhile(tmp_path: Path) -> None:
    store = SqlJobStore(sqlite_url(tmp_path / "eigen.db"))
    now = time.time()
    root = Job("root", job_request(), JobState.PENDING, now, now)
    store.create(root, JobEvent("root", 1, JobState.PENDING, "state", now))
    waiting = Job(
        "waiting",
        job_request(dependencies=["root"]),
        JobState.PENDING,
        now,
        now,
        progress={"phase": WAITING, "waiting_for": ["root"]},
    )
    store.create(waiting, JobEvent("waiting", 1, JobState.PENDING, "state", now))
    # the root ended while no kernel was there to settle its dependant
    store.transition("root", JobState.PENDING, JobEvent("root", 2, JobState.CANCELLED, "state", now), {})
    kernel = Kernel(store, ArtifactStore(tmp_path / "artifacts"), FakeCompiler(), FakeDrivers())
    kernel.start()
    try:
        assert ended(kernel, "waiting").error_code == DEPENDENCY_FAILED_CODE
    finally:
        kernel.stop()
        store.close()
