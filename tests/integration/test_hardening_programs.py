"""Poison programs at the gRPC edge of a real server (issue 14, items 1, 2, 4 and 8).

Each program below once crashed a thread, hung a call, stalled the server or flooded its
output; now each is INVALID_ARGUMENT on ``program`` from SubmitJob, SubmitBatch and
SubmitBatchStream, other calls are answered while a slow one is refused (it is parsed in
the program sandbox's worker process), nothing reaches the server's stdout, and good
jobs submitted around them run.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from tests.integration.helpers import BELL, details, job, submit, wait
from tests.integration.rest_helpers import job as rest_job
from tests.integration.rest_helpers import problem, rest_client

pytestmark = pytest.mark.integration

LATENCY_LIMIT_S = 0.05


def nested_gates(levels: int) -> str:
    """Gate definitions each calling the previous one twice: 2**(levels-1) operations."""
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', "gate g0 a { h a; }"]
    lines += [f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}" for i in range(1, levels)]
    return "\n".join([*lines, "qubit[1] q;", f"g{levels - 1} q[0];", ""])


def aliases(levels: int) -> str:
    """An Eigen-Lang program whose list ``a{n}`` expands to 2**(n+1) qubit indices."""
    lines = ["from eigen_lang import *", "a0 = [0, 1]"]
    lines += [f"a{i} = [a{i - 1}, a{i - 1}]" for i in range(1, levels)]
    return "\n".join([*lines, "@hybrid_program", "def main():", f"    measure(a{levels - 1})", ""])


POISON = {
    "repeated-operand": 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\ncx q[0], q[0];\n',
    "const-designator": "OPENQASM 3.0;\nconst uint n = 2;\nqubit[n] q;\n",
    "no-version-line": 'include "qelib1.inc";\nqreg q[1];\n',
    "exponential-gates": nested_gates(24),
    "16-nested-gates": nested_gates(16),  # 545 bytes that once held the server 14.7 s
    "register-underscores": "OPENQASM 3.0;\nqubit[4_000_000] q;\n",
    "register-hex": "OPENQASM 3.0;\nqubit[0xF4240] q;\n",
    "register-comment": "qreg q//\n[4000000];\n",
    "long-include": 'OPENQASM 3.0;\ninclude "' + "a" * 5000 + '";\n',
    "syntax-error": "OPENQASM 3.0;\nqubit[2] q;\nh q[0]\ncx q[0] q[1];\n",
}
LANG_POISON = aliases(22)


def poison_job(name: str) -> pb.JobRequest:
    if name == "lang-aliases":
        request = job(LANG_POISON)
        request.program.language = pb.PROGRAM_LANGUAGE_EIGEN_LANG
        return request
    return job(POISON[name])


NAMES = [*POISON, "lang-aliases"]


def refusal(call: grpc.RpcError) -> tuple[str, list[str], str]:
    assert call.code() == grpc.StatusCode.INVALID_ARGUMENT, call.details()
    reason, fields = details(call)
    return reason, fields, call.details() or ""


@pytest.mark.parametrize("name", NAMES)
def test_submit_job_refuses_a_poison_program(jobs: jobs_pb2_grpc.JobServiceStub, name: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        submit(jobs, poison_job(name))
    reason, fields, message = refusal(caught.value)
    assert reason == "EIGEN_INVALID_ARGUMENT"
    assert fields == ["program"]
    assert len(message) < 400  # user text is quoted cut short


@pytest.mark.parametrize("name", NAMES)
def test_submit_batch_refuses_a_poison_program_naming_its_item(
    jobs: jobs_pb2_grpc.JobServiceStub, name: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        jobs.SubmitBatch(jobs_pb2.SubmitBatchRequest(jobs=[job(), poison_job(name), job()]), timeout=60)
    reason, fields, _ = refusal(caught.value)
    assert (reason, fields) == ("EIGEN_INVALID_ARGUMENT", ["jobs[1].program"])


def test_a_batch_stream_reports_every_item_around_poison(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    items = [jobs_pb2.BatchStreamRequest(client_request_id="bell1", job=job())]
    items += [jobs_pb2.BatchStreamRequest(client_request_id=name, job=poison_job(name)) for name in NAMES]
    items.append(jobs_pb2.BatchStreamRequest(client_request_id="bell2", job=job()))
    outcomes: dict[str, list[str]] = {}
    for response in jobs.SubmitBatchStream(iter(items), timeout=120):
        outcomes.setdefault(response.client_request_id, []).append(response.WhichOneof("outcome") or "")
        if response.WhichOneof("outcome") == "error":
            assert response.error.reason == "EIGEN_INVALID_ARGUMENT"
    assert outcomes.pop("bell1") == ["submitted_job_id", "completed"]
    assert outcomes.pop("bell2") == ["submitted_job_id", "completed"]
    assert outcomes == {name: ["error"] for name in NAMES}


def test_good_jobs_run_after_poison_was_refused(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    for name in NAMES:
        with pytest.raises(grpc.RpcError):
            submit(jobs, poison_job(name))
    events = wait(jobs, submit(jobs, job(BELL)).id)
    assert events[-1].state == pb.JOB_STATE_DONE


def test_other_calls_are_answered_while_a_slow_program_is_refused(
    jobs: jobs_pb2_grpc.JobServiceStub, backends: jobs_pb2_grpc.BackendServiceStub
) -> None:
    """A program that takes the fallback importer seconds (16,384 operations through gate
    definitions, within its bound) and then fails: the sandbox's worker spends that time
    on it while the server answers everyone else."""
    known = submit(jobs, job(BELL)).id
    slow = job(nested_gates(15) + "undefined_gate q[0];\n")
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        refused = pool.submit(lambda: submit(jobs, slow))
        latencies: list[float] = []
        while not refused.done() and len(latencies) < 80:
            started = time.perf_counter()
            jobs.GetJob(jobs_pb2.GetJobRequest(job_id=known), timeout=5)
            answered = time.perf_counter()
            backends.ListBackends(jobs_pb2.ListBackendsRequest(), timeout=5)
            latencies += [answered - started, time.perf_counter() - answered]
            concurrent.futures.wait([refused], timeout=0.1)  # ends early once it is refused
        with pytest.raises(grpc.RpcError) as caught:
            refused.result(timeout=120)
    assert len(latencies) >= 10, "the slow program was refused before the probes ran"
    assert max(latencies) < LATENCY_LIMIT_S, latencies
    reason, fields, message = refusal(caught.value)
    assert (reason, fields) == ("EIGEN_INVALID_ARGUMENT", ["program"])
    assert "undefined_gate" in message, message


def test_nothing_reaches_the_server_stdout(
    jobs: jobs_pb2_grpc.JobServiceStub, capfd: pytest.CaptureFixture[str]
) -> None:
    """The native parser printed its diagnostics (with the program) to stdout, and Rust
    panics to stderr; the server is in this process, so its output is this process's."""
    capfd.readouterr()
    for name in ("syntax-error", "const-designator", "no-version-line"):
        with pytest.raises(grpc.RpcError):
            submit(jobs, poison_job(name))
    out, err = capfd.readouterr()
    assert out == ""
    assert "panicked" not in err and "cx q[0] q[1]" not in err


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with rest_client(tmp_path_factory.mktemp("rest-poison")) as client:
        yield client


@pytest.mark.parametrize("name", NAMES)
def test_rest_answers_a_poison_program_with_a_400_problem(rest: httpx.Client, name: str) -> None:
    """REST answered a plain-text 500 for some of these (32 of 4,025 fuzzed requests)."""
    language = "EIGEN_LANG" if name == "lang-aliases" else "QASM3"
    source = LANG_POISON if name == "lang-aliases" else POISON[name]
    body = rest_job(source)
    body["program"]["language"] = language
    refused = problem(rest.post("/v1/jobs", json={"job": body}), 400, "EIGEN_INVALID_ARGUMENT")
    assert [v["field"] for v in refused["violations"]] == ["program"], refused  # as on gRPC
    assert len(refused["detail"]) < 2_000
