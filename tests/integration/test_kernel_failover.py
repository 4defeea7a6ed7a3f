"""An api node's view of several kernels (``kernel_addresses``): gRPC balances the calls over
them (round_robin) and fails over on UNAVAILABLE for the calls that may be sent twice and
for keyed submissions, never for an unkeyed one.

Real processes: one driver-manager, one compiler and two ``--role kernel`` processes, each
kernel on its own data folder (two kernels cannot share a SQLite folder; with a shared
PostgreSQL a keyed retry that reaches the other kernel finds the job the first one stored),
and the api role's :class:`~eigen.server.remote.RemoteKernel` over both addresses. Then
the policy itself against in-process gRPC servers on port 0 whose answers the test chooses:
a kernel that answers UNAVAILABLE to every submission, and one that cuts a watch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from eigen.config.errors import InvalidSetting
from eigen.errors import NotFound, Unavailable
from eigen.kernel.store.base import JobFilter
from eigen.models.job import JobRequest
from eigen.models.program import ProgramLanguage
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2
from eigen.proto.internal.v1 import kernel_pb2, kernel_pb2_grpc
from eigen.proto.status import to_status
from eigen.server.remote import RemoteKernel, kernel_target
from tests.integration.test_four_processes import free_port, wait_serving

pytestmark = pytest.mark.integration

BELL = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\n'
    "c = measure q;\n"
)
GRACE_S = 5


def bell(shots: int = 10) -> JobRequest:
    return JobRequest(name="failover", program=BELL, language=ProgramLanguage.QASM3, shots=shots)


def key() -> str:
    return uuid.uuid4().hex


@dataclass
class Kernel:
    """One ``--role kernel`` process on its own data folder, restartable."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "eigen.server",
            "serve",
            "--role",
            "kernel",
            "--port",
            str(self.port),
        ]
        with self.log.open("a") as stderr:
            self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=stderr)
        wait_serving(self.address, self.process, time.monotonic() + 120)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig``; SIGKILL if the process is still there after the grace and 15 s."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(GRACE_S + 15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(15)

    def job_ids(self) -> set[str]:
        """Every job this kernel stored (its own KernelService, not the balanced channel)."""
        with grpc.insecure_channel(self.address) as channel:
            stub = kernel_pb2_grpc.KernelServiceStub(channel)
            ids: set[str] = set()
            token = ""
            while True:
                page = stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=200, page_token=token), timeout=30)
                ids |= {job.id for job in page.jobs}
                token = page.next_page_token
                if not token:
                    return ids


@dataclass
class Cluster:
    kernels: list[Kernel]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("failover-logs")
    ports = {role: free_port() for role in ("compiler", "driver-manager")}
    env = {
        **os.environ,
        "EIGEN_COMPILER_ADDRESS": f"127.0.0.1:{ports['compiler']}",
        "EIGEN_DRIVER_MANAGER_ADDRESS": f"127.0.0.1:{ports['driver-manager']}",
        "EIGEN_SHUTDOWN_GRACE_S": str(GRACE_S),
    }
    helpers: list[subprocess.Popen[bytes]] = []
    kernels = [
        Kernel(
            name,
            free_port(),
            {**env, "EIGEN_DATA_DIR": str(tmp_path_factory.mktemp(f"data-{name}"))},
            logs / f"{name}.log",
        )
        for name in ("kernel-1", "kernel-2")
    ]
    try:
        for role in ("driver-manager", "compiler"):
            command = [sys.executable, "-m", "eigen.server", "serve", "--role", role]
            command += ["--port", str(ports[role])]
            with (logs / f"{role}.log").open("w") as stderr:
                process = subprocess.Popen(
                    command,
                    env={**env, "EIGEN_DATA_DIR": str(logs)},
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            helpers.append(process)
            wait_serving(f"127.0.0.1:{ports[role]}", process, time.monotonic() + 120)
        for kernel in kernels:
            kernel.start()
        yield Cluster(kernels, helpers)
    finally:
        for kernel in kernels:
            if kernel.process is not None and kernel.process.poll() is None:
                kernel.stop()
        for process in reversed(helpers):
            process.terminate()
        for process in helpers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def remote(cluster: Cluster) -> Iterator[RemoteKernel]:
    port = RemoteKernel([k.address for k in cluster.kernels])
    try:
        yield port
    finally:
        port.close()


def spread(port: RemoteKernel, count: int) -> list[str]:
    """``count`` keyed submissions, one after the other; their job ids."""
    return [port.submit(bell(), idempotency_key=key())[0].id for _ in range(count)]


def await_both_connected(port: RemoteKernel, cluster: Cluster, deadline_s: float = 30) -> None:
    """Until a round of submissions reaches both kernels (round_robin picks a kernel once
    its connection is up; the first calls of a new channel may all go to the first one)."""
    deadline = time.monotonic() + deadline_s
    before = [k.job_ids() for k in cluster.kernels]
    while time.monotonic() < deadline:
        spread(port, 4)
        if all(k.job_ids() - seen for k, seen in zip(cluster.kernels, before, strict=True)):
            return
    raise TimeoutError("the submissions never reached both kernels")


class Load:
    """Threads making keyed submissions and idempotent reads through ``port`` until
    stopped; every error any call surfaced is kept."""

    def __init__(self, port: RemoteKernel, threads: int = 3) -> None:
        self.port = port
        self.errors: list[BaseException] = []
        self.submitted: list[tuple[float, str]] = []  # (monotonic time accepted, job id)
        self.reads = 0
        self.slowest = 0.0  # seconds: the longest submission, its retries included
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                began = time.monotonic()
                job, _ = self.port.submit(bell(), idempotency_key=key())
                self.submitted.append((time.monotonic(), job.id))
                self.slowest = max(self.slowest, time.monotonic() - began)
                self.port.list_devices()
                self.port.list_jobs(JobFilter(limit=5))
                self.reads += 2
            except BaseException as exc:
                self.errors.append(exc)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(90)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` more submissions were accepted."""
        target = len(self.submitted) + count
        deadline = time.monotonic() + timeout
        while len(self.submitted) < target and time.monotonic() < deadline and not self.errors:
            time.sleep(0.05)
        assert len(self.submitted) >= target or self.errors, "the load made no progress"


def test_calls_are_spread_over_both_kernels(cluster: Cluster, remote: RemoteKernel) -> None:
    await_both_connected(remote, cluster)
    before = [k.job_ids() for k in cluster.kernels]
    ids = spread(remote, 20)
    gained = [k.job_ids() - seen for k, seen in zip(cluster.kernels, before, strict=True)]
    assert set(ids) == gained[0] | gained[1] and not gained[0] & gained[1]
    assert len(gained[0]) >= 5 and len(gained[1]) >= 5, [len(g) for g in gained]  # round_robin: ~10 each
    assert remote.list_devices()  # reads answer through either kernel (they forward to the driver-manager)


@pytest.mark.parametrize(
    "sig",
    [signal.SIGTERM, signal.SIGKILL],
    ids=["sigterm", "kill-9"],
)
def test_a_kernel_stopped_under_load_fails_no_keyed_or_idempotent_call(
    cluster: Cluster, remote: RemoteKernel, sig: signal.Signals
) -> None:
    first, second = cluster.kernels
    await_both_connected(remote, cluster)
    with Load(remote) as load:
        load.wait_for(10)
        stopped_at = time.monotonic()
        first.stop(sig)
        down_at = time.monotonic()
        load.wait_for(20)
    assert not load.errors, f"{len(load.errors)} calls failed, first: {load.errors[0]!r}"
    after = [job_id for at, job_id in load.submitted if at > down_at]
    assert len(after) >= 20
    survivor = second.job_ids()
    assert set(after) <= survivor  # with the first kernel gone, every submission reached the second
    for job_id in after[:5]:  # and the reads of its jobs answer (through the one kernel left)
        assert remote.get(job_id).id == job_id
    assert load.reads > 0 and down_at - stopped_at < GRACE_S + 15
    # a call cut by the stop is answered by the other kernel within the retry backoff (or
    # finished by the stopping one within its grace), never left to its 60 s deadline
    assert load.slowest < GRACE_S + 5, f"slowest submission: {load.slowest:.2f} s"
    print(f"{sig.name}: {len(load.submitted)} submissions, slowest {load.slowest:.3f} s")
    first.start()  # back in the rotation for the next test: it rejoins on its own
    await_both_connected(remote, cluster)


# --- the policy, against kernels whose answers the test chooses --------------------------


class ScriptedKernel(kernel_pb2_grpc.KernelServiceServicer):
    """A KernelService that answers UNAVAILABLE (``refuse``) or a job; it counts every
    attempt it receives, with the gRPC retry attempt number of each."""

    def __init__(
        self,
        name: str,
        *,
        refuse: bool = False,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        cut_watch_after: int | None = None,
    ) -> None:
        self.name = name
        self.refuse = refuse
        self.code = code  # of a refusal
        self.cut_watch_after = cut_watch_after
        self.calls: list[tuple[str, str, int]] = []  # (method, idempotency key, previous attempts)
        self.lock = threading.Lock()

    def record(self, method: str, context: grpc.ServicerContext, key: str = "") -> None:
        metadata = dict(context.invocation_metadata())
        with self.lock:
            self.calls.append((method, key, int(metadata.get("grpc-previous-rpc-attempts", 0))))

    def seen(self, method: str) -> list[str]:
        return [k for m, k, _ in self.calls if m == method]

    def Enqueue(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.record("Enqueue", context, request.idempotency_key)
        if self.refuse:
            context.abort(self.code, f"{self.name} is going away")
        job = pb.Job(id=f"{self.name}-{len(self.calls)}", state=pb.JOB_STATE_QUEUED)
        return jobs_pb2.SubmitJobResponse(job=job)

    def EnqueueBatch(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.record("EnqueueBatch", context, request.idempotency_key)
        if self.refuse:
            context.abort(self.code, f"{self.name} is going away")
        jobs = [pb.Job(id=f"{self.name}-b{i}", state=pb.JOB_STATE_QUEUED) for i in range(len(request.jobs))]
        return kernel_pb2.EnqueueBatchResponse(jobs=jobs)

    def GetJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.record("GetJob", context)
        if self.refuse:
            context.abort(self.code, f"{self.name} is going away")
        return pb.Job(id=request.job_id, state=pb.JOB_STATE_QUEUED)

    def WatchJob(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        if self.refuse:
            context.abort(self.code, f"{self.name} is going away")
        for seq in range(request.after_seq + 1, request.after_seq + 4):
            if self.cut_watch_after is not None and seq > request.after_seq + self.cut_watch_after:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.name} is going away")
            yield pb.JobEvent(job_id=request.job_id, event_seq=seq, state=pb.JOB_STATE_QUEUED, kind="state")


@contextlib.contextmanager
def scripted(*kernels: ScriptedKernel) -> Iterator[RemoteKernel]:
    servers = []
    addresses = []
    try:
        for kernel in kernels:
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            kernel_pb2_grpc.add_KernelServiceServicer_to_server(kernel, server)
            addresses.append(f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}")
            server.start()
            servers.append(server)
        port = RemoteKernel(addresses)
        try:
            yield port
        finally:
            port.close()
    finally:
        for server in servers:
            server.stop(0)


def test_a_keyed_submission_fails_over_an_unkeyed_one_is_sent_once() -> None:
    going = ScriptedKernel("going", refuse=True)
    staying = ScriptedKernel("staying")
    with scripted(going, staying) as port:
        port.get("warm-up")  # both connections up: round_robin alternates from now on
        keys = [key() for _ in range(10)]
        for k in keys:
            job, _ = port.submit(bell(), idempotency_key=k)
            assert job.id.startswith("staying")
        assert set(going.seen("Enqueue")) & set(keys), "no keyed submission met the refusing kernel"
        assert sorted(staying.seen("Enqueue")) == sorted(keys)  # each one reached the other

        going.calls.clear()
        staying.calls.clear()
        refused = 0
        for _ in range(10):
            try:
                port.submit(bell())
            except Unavailable:
                refused += 1
        # every unkeyed submission was sent once: the refused ones surfaced, none went on
        assert refused == len(going.seen("Enqueue")) >= 1
        assert len(going.seen("Enqueue")) + len(staying.seen("Enqueue")) == 10
        batches = 0
        with pytest.raises(Unavailable):  # an unkeyed batch is not sent again either
            for _ in range(4):
                batches += 1
                port.submit_batch([bell(), bell()])
        assert len(going.seen("EnqueueBatch")) == 1
        assert len(going.seen("EnqueueBatch")) + len(staying.seen("EnqueueBatch")) == batches
        unkeyed = going.calls + staying.calls

        going.calls.clear()
        staying.calls.clear()
        batch_keys = [key() for _ in range(6)]
        for k in batch_keys:  # a keyed batch fails over, as a keyed submission does
            jobs, _ = port.submit_batch([bell(), bell()], idempotency_key=k)
            assert [job.id for job in jobs] == ["staying-b0", "staying-b1"]
        assert set(going.seen("EnqueueBatch")) & set(batch_keys), "no keyed batch met the refusing kernel"
        assert sorted(staying.seen("EnqueueBatch")) == sorted(batch_keys)
    assert all(attempt == 0 for method, _, attempt in unkeyed if method != "GetJob")


def test_a_stopping_kernels_cancelled_fails_over_and_reads_as_unavailable() -> None:
    """A kernel that cancels the calls it cannot finish while it stops (a bare CANCELLED):
    keyed and idempotent calls go to the other kernel; an unkeyed one surfaces once, as
    Unavailable (transient, what the SDK retries with its key), not as an internal error."""
    going = ScriptedKernel("going", refuse=True, code=grpc.StatusCode.CANCELLED)
    staying = ScriptedKernel("staying")
    with scripted(going, staying) as port:
        port.get("warm-up")
        for _ in range(6):
            assert port.get("job-1").id == "job-1"
            assert port.submit(bell(), idempotency_key=key())[0].id.startswith("staying")
        assert going.seen("GetJob") and going.seen("Enqueue")
        going.calls.clear()
        refused = 0
        for _ in range(6):
            try:
                port.submit(bell())
            except Unavailable:
                refused += 1
        assert refused == len(going.seen("Enqueue")) >= 1


def test_idempotent_reads_fail_over_and_a_cut_watch_surfaces_unavailable() -> None:
    going = ScriptedKernel("going", refuse=True)
    cutting = ScriptedKernel("cutting", cut_watch_after=1)
    with scripted(going, cutting) as port:
        port.get("warm-up")
        for _ in range(6):
            assert port.get("job-1").id == "job-1"  # refused by one kernel, answered by the other
        # a watch refused before its first event is sent again (from the same after_seq) ...
        events = port.watch("job-1", after_seq=4)
        assert next(events).seq == 5
        # ... but once an event arrived gRPC has committed the call: the cut surfaces
        with pytest.raises(Unavailable):
            next(events)


def test_several_addresses_make_one_static_target() -> None:
    assert kernel_target(["127.0.0.1:50052"]) == "127.0.0.1:50052"  # one name: gRPC's DNS resolver
    assert kernel_target(["127.0.0.1:1", "127.0.0.2:2"]) == "ipv4:127.0.0.1:1,127.0.0.2:2"
    assert kernel_target(["[::1]:1", "[::2]:2"]) == "ipv6:[::1]:1,[::2]:2"
    assert kernel_target(["localhost:1", "127.0.0.2:2"]).startswith("ipv4:127.0.0.1:1,")
    for bad, says in (
        (["127.0.0.1", "127.0.0.1:2"], "is not host:port"),
        (["127.0.0.1:1", "[::1]:2"], "mix IPv4 and IPv6"),
        (["no-such-host.invalid:1", "127.0.0.1:2"], "cannot resolve"),
        ([], "at least one"),
    ):
        with pytest.raises(InvalidSetting, match=says):
            kernel_target(bad)


def test_an_unknown_job_is_not_found_not_retried() -> None:
    """Only UNAVAILABLE fails over: a kernel's NOT_FOUND is the answer."""

    class Missing(ScriptedKernel):
        def GetJob(self, request: Any, context: grpc.ServicerContext) -> Any:
            self.record("GetJob", context)
            context.abort_with_status(to_status(NotFound(f"no job {request.job_id}")))

    kernels = (Missing("a"), Missing("b"))
    with scripted(*kernels) as port, pytest.raises(NotFound):
        port.get("nope")
    assert sum(len(k.seen("GetJob")) for k in kernels) == 1
