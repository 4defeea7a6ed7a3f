"""Small-budget fuzzing of the public edges (issue 14): gRPC submissions of fuzzed programs
and options against a real ``eigen-server`` process, and fuzzed job.yaml files read as the
CLI reads them. No crash, no hang, no INTERNAL, every refusal names its field, every
accepted job ends (never in EIGEN_INTERNAL), and the server's output stays bounded.
``benchmarks/fuzz.py`` runs the same fuzzers with large budgets.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import grpc
import pytest

from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from tests import fuzzing

pytestmark = pytest.mark.integration

SUBMISSIONS = 150
JOB_FILES = 400
# what the server may write per fuzzed input on stderr (WARNING and above), on average
STDERR_BYTES_PER_INPUT = 2_000


def test_fuzzed_submissions_are_answered_and_refusals_name_a_field(tmp_path: Path) -> None:
    with fuzzing.served(tmp_path) as server, grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        started_out, started_err = server.output_bytes()
        tally = fuzzing.fuzz_submissions(stub, random.Random(14), SUBMISSIONS)
        states = fuzzing.settle(stub, tally.accepted, tally, timeout_s=240)
        probe = time.monotonic()
        stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=1), timeout=10)
        assert time.monotonic() - probe < 5, "the server is still busy after the fuzzing"
        assert server.process.poll() is None, "the server died"
        out, err = server.output_bytes()
        written = server.stdout.read_bytes()[started_out : started_out + 2000]
    assert tally.failures == {}, tally.as_dict()
    assert tally.codes["INVALID_ARGUMENT"] > 0 and tally.codes["OK"] > 0, tally.codes
    assert sum(states.values()) == len(tally.accepted)
    assert out == started_out, f"the server wrote to stdout while fuzzed: {written!r}"
    assert err - started_err < STDERR_BYTES_PER_INPUT * SUBMISSIONS, err - started_err


def test_fuzzed_job_files_are_requests_or_refusals_naming_a_field(tmp_path: Path) -> None:
    tally = fuzzing.fuzz_job_files(random.Random(14), JOB_FILES, tmp_path)
    assert tally.failures == {}, tally.as_dict()
    assert tally.codes["INVALID_ARGUMENT"] > 0 and tally.codes["OK"] > 0, tally.codes
