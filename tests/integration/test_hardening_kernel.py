"""Issue 14, kernel side, at the edges users meet: a real embedded server (gRPC on a free
port, REST readiness over real HTTP, a real SQLite file), real PostgreSQL for the group
commit, and a real small file system (tmpfs) that fills up or turns read-only.

- a foreign panic in a stage (``pyo3_runtime.PanicException``, a ``BaseException``) ends
  its job in ERROR and later jobs run; a worker that dies anyway is named by readiness
  until the supervisor replaces it;
- queue capacity holds under concurrent submissions, and a queue-full refusal carries a
  RetryInfo delay;
- other RPCs answer while a program the compiler has not seen is being validated;
- one caller's bad row does not fail the other submissions of its group commit;
- a full or unwritable data folder refuses submissions with a reason, turns readiness
  503, strands no job, and work resumes once it can be written again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from eigen.config.settings import Settings
from eigen.errors import EigenError
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.sql import SqlJobStore
from eigen.kernel.submission import new_job
from eigen.models.compiled import CompiledProgram, CompileRequest
from eigen.models.job import Job
from eigen.models.result import ExecutionResult
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import BELL, job, submit, wait
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, foreign_panic, job_request
from tests.unit.kernel.test_survival import finish, grouped_submissions

pytestmark = pytest.mark.integration

DONE = pb.JobState.JOB_STATE_DONE
ERROR = pb.JobState.JOB_STATE_ERROR
RUNNING = pb.JobState.JOB_STATE_RUNNING


def unique(marker: str) -> str:
    """BELL with a comment that makes it a program no cache has seen."""
    return f"{BELL}// {marker} {uuid.uuid4().hex}\n"


def final_state(stub: jobs_pb2_grpc.JobServiceStub, job_id: str) -> int:
    return wait(stub, job_id)[-1].state


def retry_delay_s(error: grpc.RpcError) -> float | None:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else []:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToNanoseconds() / 1e9
    return None


def until(condition: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    """Poll ``condition`` (a clock-bounded wait on a state only the server can change)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("eigen-data"), http_port=0)
    with EmbeddedServer(settings) as running:
        yield running


@pytest.fixture(scope="module")
def stub(served: EmbeddedServer) -> Iterator[jobs_pb2_grpc.JobServiceStub]:
    with grpc.insecure_channel(served.address) as channel:
        yield jobs_pb2_grpc.JobServiceStub(channel)


# -- item 1: no exception stops a worker ----------------------------------------------------
def test_a_panicking_compile_ends_in_error_and_later_jobs_run(
    served: EmbeddedServer, stub: jobs_pb2_grpc.JobServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert served.stack is not None and served.stack.compiler is not None
    compile_program = served.stack.compiler.compile

    def panicking(request: CompileRequest) -> CompiledProgram:
        if "panic-here" in request.program:
            raise foreign_panic().with_traceback(None)
        return compile_program(request)

    monkeypatch.setattr(served.stack.compiler, "compile", panicking)
    for _ in range(2):  # the same worker survives each
        bad = submit(stub, job(unique("panic-here")))
        events = wait(stub, bad.id)
        assert events[-1].state == ERROR
        failed = stub.GetJob(jobs_pb2.GetJobRequest(job_id=bad.id))
        assert failed.error_code == "EIGEN_INTERNAL"
        assert type(foreign_panic()).__name__ in failed.error_summary
    good = submit(stub, job(unique("fine")))
    assert final_state(stub, good.id) == DONE


def test_a_dead_worker_makes_readiness_fail_until_it_is_replaced(
    served: EmbeddedServer, stub: jobs_pb2_grpc.JobServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert served.stack is not None and served.stack.kernel is not None
    kernel = served.stack.kernel
    ready = f"{served.http_address}/health/ready"
    assert httpx.get(ready, timeout=10).status_code == 200
    monkeypatch.setattr(kernel, "supervise", lambda: None)  # hold the supervisor back
    compile_batch = kernel.pipeline.compile

    def exit_once(jobs: Any) -> None:
        monkeypatch.setattr(kernel.pipeline, "compile", compile_batch)
        raise SystemExit("a worker that ends anyway")

    monkeypatch.setattr(kernel.pipeline, "compile", exit_once)
    held = submit(stub, job(unique("held")))
    down = until(lambda: (r := httpx.get(ready, timeout=10)).status_code == 503 and r)
    assert down, "readiness never reported the dead worker"
    assert down.headers["content-type"].startswith("application/problem+json")
    assert "eigen-compile-0" in down.json()["detail"] and "SystemExit" in down.json()["detail"]
    with grpc.insecure_channel(served.address) as channel:  # gRPC health says so too
        health = health_pb2_grpc.HealthStub(channel)

        def status() -> int:
            return int(health.Check(health_pb2.HealthCheckRequest(), timeout=10).status)

        assert until(lambda: status() == health_pb2.HealthCheckResponse.NOT_SERVING)
        Kernel.supervise(kernel)  # what the supervisor thread does on its next round
        assert httpx.get(ready, timeout=10).status_code == 200
        assert until(lambda: status() == health_pb2.HealthCheckResponse.SERVING)
    assert final_state(stub, held.id) == ERROR  # the job the dead worker held, with why
    summary = stub.GetJob(jobs_pb2.GetJobRequest(job_id=held.id)).error_summary
    assert "worker running this job died" in summary
    assert final_state(stub, submit(stub, job(unique("after"))).id) == DONE


# -- item 4: validation off the event loop --------------------------------------------------
def test_other_rpcs_answer_while_an_unseen_program_is_validated(
    served: EmbeddedServer, stub: jobs_pb2_grpc.JobServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert served.stack is not None and served.stack.compiler is not None
    validate = served.stack.compiler.validate
    entered, gate = threading.Event(), threading.Event()

    def slow(request: CompileRequest) -> CompiledProgram:
        if "slow-to-check" in request.program:
            entered.set()
            gate.wait(30)
        return validate(request)

    monkeypatch.setattr(served.stack.compiler, "validate", slow)
    known = submit(stub, job(unique("known")))
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(submit, stub, job(unique("slow-to-check")))
        try:
            assert entered.wait(10)
            started = time.monotonic()
            answered = stub.GetJob(jobs_pb2.GetJobRequest(job_id=known.id), timeout=5)
            took = time.monotonic() - started
        finally:
            gate.set()
        assert answered.id == known.id and took < 1.0
        assert final_state(stub, pending.result(30).id) == DONE


# -- item 5: exact capacity, with a retry delay ---------------------------------------------
def test_queue_capacity_holds_under_concurrent_submissions(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, queue_capacity=4)
    with EmbeddedServer(settings) as server, grpc.insecure_channel(server.address) as channel:
        assert server.stack is not None and server.stack.compiler is not None
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        compile_program, gate = server.stack.compiler.compile, threading.Event()

        def held(request: CompileRequest) -> CompiledProgram:
            gate.wait(30)
            return compile_program(request)

        server.stack.compiler.compile = held  # type: ignore[method-assign]
        try:

            def attempt(index: int) -> pb.Job | grpc.RpcError:
                try:
                    return submit(stub, job(unique(f"load {index}")))
                except grpc.RpcError as exc:
                    return exc

            with ThreadPoolExecutor(16) as pool:
                outcomes = list(pool.map(attempt, range(24)))
        finally:
            gate.set()
        accepted = [o for o in outcomes if isinstance(o, pb.Job)]
        refused = [o for o in outcomes if isinstance(o, grpc.RpcError)]
        assert len(accepted) == 4, [o.details() for o in refused][:3]
        assert {e.code() for e in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert "queue full" in refused[0].details()
        assert retry_delay_s(refused[0]) == pytest.approx(1.0)
        assert {final_state(stub, j.id) for j in accepted} == {DONE}
        assert final_state(stub, submit(stub, job(unique("later"))).id) == DONE


# -- item 3: a group commit that fails retries its members one by one ------------------------
def test_one_callers_bad_row_fails_only_its_own_submission_on_postgresql(tmp_path: Path) -> None:
    from tests.unit.store.postgres import fresh_database

    with fresh_database() as url:
        store = SqlJobStore(url)
        kernel = Kernel(store, ArtifactStore(tmp_path), FakeCompiler(), FakeDrivers(), KernelSettings())
        kernel.start()
        try:
            # PostgreSQL refuses an owner longer than its column (128): the bad row
            bad = new_job(job_request(), "m" * 200, None, "")
            outcomes, sizes = grouped_submissions(kernel, bad, good=4)
            assert max(sizes) >= 5  # stored as one group first
            assert isinstance(outcomes[0], BaseException)
            good = [o for o in outcomes[1:] if isinstance(o, Job)]
            assert len(good) == 4, outcomes
            assert {finish(kernel, j.id).value for j in good} == {"DONE"}
            assert store.get(bad.id) is None
        finally:
            kernel.stop()
            store.close()


# -- item 6: a full or unwritable data folder ------------------------------------------------
@pytest.fixture
def small_folder(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MiB file system (tmpfs) to fill up; skipped where mounting is not allowed."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill ``folder``'s file system to the last byte; the file that holds the space."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * size)
    with pytest.raises(OSError) as full:
        (folder / "probe").write_bytes(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


def hold_execution(server: EmbeddedServer) -> threading.Event:
    assert server.stack is not None and server.stack.drivers is not None
    drivers = server.stack.drivers
    execute, gate = drivers.execute, threading.Event()

    def held(request: Any) -> ExecutionResult:
        gate.wait(60)
        return execute(request)

    drivers.execute = held  # type: ignore[method-assign]
    return gate


def test_a_full_data_folder_refuses_submissions_strands_no_job_and_recovers(small_folder: Path) -> None:
    settings = Settings(data_dir=small_folder, http_port=0)
    with EmbeddedServer(settings) as server, grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        ready = f"{server.http_address}/health/ready"
        assert final_state(stub, submit(stub, job(unique("before"))).id) == DONE
        gate = hold_execution(server)
        running = submit(stub, job(unique("in flight")))
        assert until(lambda: stub.GetJob(jobs_pb2.GetJobRequest(job_id=running.id)).state == RUNNING)
        filler = fill(small_folder)
        gate.set()  # it finishes, but its results cannot be written

        down = until(lambda: (r := httpx.get(ready, timeout=10)).status_code == 503 and r)
        assert down, "readiness stayed 200 on a full disk"
        assert "full" in down.json()["detail"]
        with pytest.raises(grpc.RpcError) as refused:
            submit(stub, job(unique("while full")))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "disk full" in (refused.value.details() or "")
        assert retry_delay_s(refused.value) is not None
        state = stub.GetJob(jobs_pb2.GetJobRequest(job_id=running.id)).state
        assert state not in (ERROR, DONE)  # waiting for space, not failed

        os.unlink(filler)  # space returns
        assert until(lambda: httpx.get(ready, timeout=10).status_code == 200), "readiness never recovered"
        assert final_state(stub, running.id) == DONE
        assert final_state(stub, submit(stub, job(unique("after"))).id) == DONE


def test_an_unwritable_artifact_folder_is_unavailable_until_it_is_writable(small_folder: Path) -> None:
    settings = Settings(data_dir=small_folder, http_port=0)
    with EmbeddedServer(settings) as server, grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        ready = f"{server.http_address}/health/ready"
        assert final_state(stub, submit(stub, job(unique("before"))).id) == DONE
        artifacts = small_folder / "artifacts"
        subprocess.run(["mount", "--bind", str(artifacts), str(artifacts)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(artifacts)], check=True)
            accepted = submit(stub, job(unique("stored, not written")))  # the store can still write
            down = until(lambda: (r := httpx.get(ready, timeout=10)).status_code == 503 and r)
            assert down and "cannot be written" in down.json()["detail"]
            with pytest.raises(grpc.RpcError) as refused:
                submit(stub, job(unique("refused")))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "Read-only file system" in (refused.value.details() or "")
            state = stub.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id)).state
            assert state != ERROR
            subprocess.run(["mount", "-o", "remount,bind,rw", str(artifacts)], check=True)
            assert until(lambda: httpx.get(ready, timeout=10).status_code == 200), "readiness never recovered"
            assert final_state(stub, accepted.id) == DONE
        finally:
            subprocess.run(["umount", "-l", str(artifacts)], check=False)
        assert final_state(stub, submit(stub, job(unique("after"))).id) == DONE


def test_a_store_error_is_recognised_as_a_full_disk() -> None:
    import sqlite3

    import sqlalchemy as sa

    from eigen.kernel.qfs.health import storage_error

    wrapped = sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    found = storage_error(wrapped)
    assert isinstance(found, EigenError) and found.code == "EIGEN_RESOURCE_EXHAUSTED"
    unwritable = storage_error(OSError(errno.EROFS, os.strerror(errno.EROFS)))
    assert unwritable is not None and unwritable.code == "EIGEN_UNAVAILABLE"
    assert storage_error(ValueError("nothing to do with disks")) is None


def test_grpc_health_follows_the_kernels_problems() -> None:
    """The helper the gRPC server runs beside its health servicer (the real servicer of
    grpc_health): NOT_SERVING while the kernel names a problem, SERVING once it does not."""
    import asyncio
    from typing import cast

    from grpc_health.v1 import health, health_pb2

    from eigen.server.readiness import follow_kernel_health

    problems = ["worker eigen-compile-0 died (SystemExit: a worker that ends anyway)"]

    class Named:
        def problems(self) -> list[str]:
            return list(problems)

    async def follow() -> list[int]:
        servicer = health.aio.HealthServicer()
        await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        task = asyncio.ensure_future(follow_kernel_health(cast(Kernel, Named()), servicer, [""], 0.01))
        seen: list[int] = []
        try:
            states = health_pb2.HealthCheckResponse
            for wanted in (states.NOT_SERVING, states.SERVING):
                for _ in range(500):
                    answer = await servicer.Check(health_pb2.HealthCheckRequest(service=""), None)
                    if answer.status == wanted:
                        break
                    await asyncio.sleep(0.01)
                seen.append(answer.status)
                problems.clear()
        finally:
            task.cancel()
        return seen

    assert asyncio.run(follow()) == [
        health_pb2.HealthCheckResponse.NOT_SERVING,
        health_pb2.HealthCheckResponse.SERVING,
    ]
