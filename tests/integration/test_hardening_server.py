"""Hardening of the server's edges (issue 14, items 7, 10 and 11), through real servers.

* Optimiser options of a hybrid program are checked by name, type and range at
  submission; garbage QPY sent to DriverManagerService.Execute is INVALID_ARGUMENT.
* The all-in-one server serves no internal service on its public port.
* A SIGTERM to the whole process group of ``eigen-server serve`` (Ctrl-C, systemd) fails
  no job: driver processes ignore it, and every job ends DONE after a restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from eigen.config.settings import Settings
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.proto.internal.v1 import driver_pb2, driver_pb2_grpc, kernel_pb2, kernel_pb2_grpc
from eigen.server.build import build
from eigen.server.embedded import EmbeddedServer
from eigen.server.grpc_server import start_grpc
from eigen.server.wire import circuit_to_qpy
from tests.integration.helpers import BELL, bell_circuit, details, job, wait
from tests.integration.test_shutdown_drill import BUSY, TERMINAL, free_port, history, states, wait_serving

pytestmark = pytest.mark.integration

PUBLIC = {
    "eigen.api.v1.JobService",
    "eigen.api.v1.BackendService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
}


def hybrid(options: str, method: str = "SPSA", max_iters: int = 3) -> pb.JobRequest:
    """A two-Param VQE whose ``minimize`` gets ``options`` (keyword arguments as text)."""
    source = (
        "from eigen_lang import ExpectationValue, Observable, Param, cx, hybrid_program, ry\n"
        "from eigen_lang.optimizers import minimize\n\n"
        "@hybrid_program(seed=5)\n"
        "def main():\n"
        "    theta = Param('theta', 0.1)\n"
        "    phi = Param('phi', 0.2)\n"
        "    ry(0, theta)\n"
        "    ry(1, phi)\n"
        "    cx(0, 1)\n"
        "    energy = ExpectationValue('energy', observable=Observable(Z=0, X=1))\n"
        f"    best = minimize(energy, [0.1, 0.2], method={method!r}, max_iters={max_iters}{options})\n"
        "    return {'energy': best.fun}\n"
    )
    return pb.JobRequest(
        name="options",
        target="sim:statevector",
        program=pb.Program(source=source, language=pb.PROGRAM_LANGUAGE_EIGEN_LANG),
        options={"estimator": "exact"},
    )


def refusal(stub: jobs_pb2_grpc.JobServiceStub, request: pb.JobRequest) -> tuple[str, list[str], str]:
    with pytest.raises(grpc.RpcError) as caught:
        stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=request), timeout=30)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    reason, fields = details(caught.value)
    return reason, fields, caught.value.details() or ""


# -- item 7: optimiser options ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "method", "says"),
    [
        (", learning_rate='os.system', perturbation=0.1", "SPSA", "'learning_rate' of SPSA must be a number"),
        (", resamplings=100000000", "SPSA", "'resamplings' of SPSA must be at least 1 and at most 100"),
        (", learning_rate=0.1", "SPSA", "needs 'perturbation' too"),
        (", perturbation_dims=3", "SPSA", "more than the program's 2 Params"),
        (", unknown_option=1", "COBYLA", "'unknown_option' is not an option of COBYLA"),
        (", maxiter=5", "Nelder-Mead", "the number of iterations is max_iters"),
        (", rhobeg=0", "COBYLA", "'rhobeg' of COBYLA must be above 0"),
        (", xtol=1e7", "Powell", "'xtol' of Powell must be at least 0 and at most 1e+06"),
        (", maxcor=True", "L-BFGS-B", "'maxcor' of L-BFGS-B must be a whole number"),
        (", disp=True", "COBYLA", "'disp' is not an option of COBYLA"),
    ],
    ids=["type", "range", "pair", "dims", "unknown", "maxiter", "positive", "large", "bool", "prints"],
)
def test_bad_optimizer_options_are_refused_at_submit(
    jobs: jobs_pb2_grpc.JobServiceStub, options: str, method: str, says: str
) -> None:
    before = len(states(jobs))
    reason, fields, message = refusal(jobs, hybrid(options, method))
    assert reason == "EIGEN_INVALID_ARGUMENT" and fields == ["program"]
    assert says in message and "minimize option" in message
    assert len(states(jobs)) == before  # refused before any job existed


def test_spsa_options_the_table_allows_run(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    options = ", learning_rate=0.2, perturbation=0.1, resamplings=2, blocking=True, last_avg=2"
    accepted = jobs.SubmitJob(jobs_pb2.SubmitJobRequest(job=hybrid(options)), timeout=30).job
    events = wait(jobs, accepted.id)
    assert events[-1].state == pb.JOB_STATE_DONE, events[-1].message


def test_metadata_optimizer_is_checked_against_the_program_options(
    jobs: jobs_pb2_grpc.JobServiceStub,
) -> None:
    """The options must suit the optimiser the job runs, also when spec.metadata picks it."""
    request = hybrid(", resamplings=2")
    request.options["optimizer"] = "COBYLA"
    _, fields, message = refusal(jobs, request)
    assert fields == ["program"] and "'resamplings' is not an option of COBYLA" in message


def test_garbage_qpy_to_execute_is_invalid_argument(tmp_path: Path) -> None:
    """DriverManagerService.Execute on a driver-manager's own port: bytes that are not a
    QPY circuit are the caller's error, named by field."""
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", port=0, driver_processes=0)
    stack = build(settings, ["driver-manager"])
    stack.start()
    server, port = start_grpc(stack, settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = driver_pb2_grpc.DriverManagerServiceStub(channel)
            for garbage in (b"QISKIT\x0c\xff\xff\xff", b"not qpy at all", b"QISKIT" + bytes(64), b""):
                request = driver_pb2.ExecuteRequest(device="sim:statevector", circuit_qpy=garbage, shots=10)
                with pytest.raises(grpc.RpcError) as caught:
                    stub.Execute(request, timeout=30)
                assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
                assert details(caught.value) == ("EIGEN_INVALID_ARGUMENT", ["circuit_qpy"])
            good = driver_pb2.ExecuteRequest(
                device="sim:statevector", circuit_qpy=circuit_to_qpy(bell_circuit()), shots=10, seed=1
            )
            assert sum(stub.Execute(good, timeout=30).experiments[0].counts.values()) == 10
    finally:
        server.stop(0).wait()
        stack.close()


# -- item 11: no internal service on the public port ------------------------------------------
def test_all_in_one_serves_no_internal_service(server: EmbeddedServer, channel: grpc.Channel) -> None:
    kernel = kernel_pb2_grpc.KernelServiceStub(channel)
    drivers = driver_pb2_grpc.DriverManagerServiceStub(channel)
    calls = [
        lambda: kernel.Enqueue(kernel_pb2.EnqueueRequest(job=job(BELL), owner="someone-else"), timeout=10),
        lambda: kernel.CancelJob(jobs_pb2.CancelJobRequest(job_id="j-0"), timeout=10),
        lambda: drivers.Execute(
            driver_pb2.ExecuteRequest(
                device="sim:statevector", circuit_qpy=circuit_to_qpy(bell_circuit()), shots=10
            ),
            timeout=10,
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    answer = next(iter(reflection.ServerReflectionInfo(iter([request]), timeout=10)))
    assert {s.name for s in answer.list_services_response.service} == PUBLIC


# -- item 10: a signal to the whole process group ---------------------------------------------
DRILL_JOBS = 40  # BUSY takes ~0.1 s to simulate: a few seconds of work for one driver process
DRILL_GRACE_S = 10


@contextmanager
def group_serving(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``eigen-server serve`` (all roles, one driver process) as the leader of a process
    group of its own, so that a signal to the group reaches its children as Ctrl-C or
    systemd's stop would."""
    env = {
        **os.environ,
        "EIGEN_DATA_DIR": str(data_dir),
        "EIGEN_SHUTDOWN_GRACE_S": str(DRILL_GRACE_S),
        "EIGEN_EXECUTE_WORKERS": "2",
        "EIGEN_DRIVER_PROCESSES": "1",
    }
    command = [sys.executable, "-m", "eigen.server", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("a") as stderr:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
    try:
        wait_serving(f"127.0.0.1:{port}", process)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def children(pid: int) -> set[int]:
    """The pids of the direct children of ``pid`` (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_to_the_process_group_fails_no_job(tmp_path: Path, signum: int) -> None:
    data_dir, log, port = tmp_path / "data", tmp_path / "server.log", free_port()
    address = f"127.0.0.1:{port}"
    submitted: list[str] = []
    with group_serving(data_dir, port, log) as process, grpc.insecure_channel(address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:  # item 11 on the real server as well
            kernel_pb2_grpc.KernelServiceStub(channel).Enqueue(
                kernel_pb2.EnqueueRequest(job=job(BELL), owner="someone-else"), timeout=10
            )
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
        workers = children(process.pid)
        assert len(workers) >= 2, "expected a driver process and the artifact writer"
        for index in range(DRILL_JOBS):
            request = jobs_pb2.SubmitJobRequest(job=job(BUSY, name=f"group-{index}", shots=100, seed=index))
            submitted.append(stub.SubmitJob(request, timeout=30).job.id)
        deadline = time.monotonic() + 60
        while True:  # signal while a circuit is in the driver process and others wait
            now = states(stub)
            done = sum(s in TERMINAL for s in now.values())
            if done >= 2 and pb.JOB_STATE_RUNNING in now.values():
                break
            assert done < DRILL_JOBS and time.monotonic() < deadline, "no moment with a job running"
            time.sleep(0.02)
        os.killpg(process.pid, signum)
        assert process.wait(DRILL_GRACE_S + 30) == 0
    assert sum(s in TERMINAL for s in now.values()) < DRILL_JOBS, "the load ended before the signal"

    with group_serving(data_dir, port, log) as process, grpc.insecure_channel(address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        ended = {job_id: history(stub, job_id)[-1] for job_id in submitted}
        failed = {job_id: e.message for job_id, e in ended.items() if e.state != pb.JOB_STATE_DONE}
        assert not failed, f"{len(failed)} of {DRILL_JOBS} jobs did not end DONE: {failed}"
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(DRILL_GRACE_S + 30) == 0
    lines = log.read_text()
    assert "the driver process running this circuit died" not in lines
    assert "Traceback" not in lines, lines[-4000:]
