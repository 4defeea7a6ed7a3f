"""Integers stay integers through the proto edge: a job's progress, an event's data and a
result's compile report travel as JSON text beside their Struct (which holds every number
as a double), and readers prefer the text; a message from an older peer (no text) is read
from the Struct, as before."""

from __future__ import annotations

import math
from typing import Any

from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.result import Experiment, JobResult
from eigen.models.state import JobState
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb

PROGRESS: dict[str, Any] = {"iterations": 27, "energy": -1.137, "best": {"step": 3}, "done": False}
DATA: dict[str, Any] = {"iteration": 4, "evaluations": [1, 2, 3], "attempt": 1, "note": "x"}
REPORT: dict[str, Any] = {"num_qubits": 2, "after": {"depth": 3, "gates": {"cx": 1}}, "seconds": 0.5}


def a_job(progress: dict[str, Any]) -> Job:
    request = JobRequest(
        name="t", program="OPENQASM 3.0; qubit[2] q;", language="qasm3", target="sim:statevector"
    )
    return Job(
        id="job-1", request=request, state=JobState.RUNNING, created_at=1.0, updated_at=2.0, progress=progress
    )


def over_the_wire(message: Any) -> Any:
    return type(message).FromString(message.SerializeToString())


def test_progress_ints_stay_ints() -> None:
    back = convert.job_from_pb(over_the_wire(convert.job_to_pb(a_job(PROGRESS))))
    assert back.progress == PROGRESS
    assert type(back.progress["iterations"]) is int and type(back.progress["best"]["step"]) is int


def test_event_data_ints_stay_ints() -> None:
    event = JobEvent("job-1", 5, JobState.RUNNING, "progress", 3.0, data=DATA)
    back = convert.event_from_pb(over_the_wire(convert.event_to_pb(event)))
    assert back.data == DATA and type(back.data["iteration"]) is int


def test_compile_report_ints_stay_ints() -> None:
    result = JobResult(
        job_id="job-1",
        backend="sim:statevector",
        experiments=[Experiment(counts={"00": 1}, shots=1)],
        compile_report=REPORT,
    )
    back = convert.result_from_pb(over_the_wire(convert.result_to_pb(result)))
    assert back.compile_report == REPORT and type(back.compile_report["num_qubits"]) is int


def test_an_older_peer_is_read_from_the_struct() -> None:
    job = convert.job_to_pb(a_job(PROGRESS))
    job.ClearField("progress_json")
    assert convert.job_from_pb(job).progress["iterations"] == 27.0
    event = convert.event_to_pb(JobEvent("job-1", 5, JobState.RUNNING, "progress", 3.0, data=DATA))
    event.ClearField("data_json")
    assert convert.event_from_pb(event).data["iteration"] == 4.0


def test_the_struct_is_still_filled_for_older_readers() -> None:
    message = convert.job_to_pb(a_job(PROGRESS))
    assert message.progress.fields["iterations"].number_value == 27.0
    assert isinstance(message, pb.Job) and message.progress_json


def test_a_value_json_cannot_hold_falls_back_to_the_struct() -> None:
    message = convert.job_to_pb(a_job({"energy": math.inf, "iterations": 2}))
    assert message.progress_json == ""
    back = convert.job_from_pb(message)
    assert back.progress["energy"] == math.inf and back.progress["iterations"] == 2


def test_empty_is_empty_on_both_sides() -> None:
    message = convert.job_to_pb(a_job({}))
    assert message.progress_json == "" and convert.job_from_pb(message).progress == {}
