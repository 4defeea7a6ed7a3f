"""The JobSpec 1.0 fields of a request (namespace, annotations, workload, kept sections,
program uri) and the JSON types of a result summary, through every conversion of the
gRPC (proto) and REST edges: nothing is dropped, nothing changes type."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eigen.errors import InvalidArgument, Unimplemented
from eigen.models.job import Job, JobRequest
from eigen.models.limits import EXTENSIONS_BYTES_MAX
from eigen.models.result import Experiment, JobResult
from eigen.models.state import JobState
from eigen.models.workload import WorkloadKind
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.system_api.rest import convert as rest_convert
from eigen.system_api.rest import schemas as rest

BELL = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
    "h q[0];\ncx q[0], q[1];\nc = measure q;\n"
)
EXTENSIONS: dict[str, Any] = {
    "runtime": {"timeout": "30s", "retries": 2},
    "scheduling": {"queue": "batch", "preemptible": True},
    "observability": {"trace": None, "levels": [1, 2.5, "x"]},
    "spec.compiler": {"passes": "default", "seed": 11},
}
ANNOTATIONS = {"owner.team": "chemistry", "note": "line one\nline two"}


def full_request(**changes: Any) -> JobRequest:
    fields: dict[str, Any] = {
        "name": "vqe-h2",
        "namespace": "research",
        "program": BELL,
        "language": "qasm3",
        "target": "sim:statevector",
        "shots": 100,
        "seed": 3,
        "labels": {"team": "q"},
        "annotations": ANNOTATIONS,
        "workload": WorkloadKind.QUANTUM_JOB,
        "extensions": EXTENSIONS,
        **changes,
    }
    return JobRequest(**fields)


def a_job(request: JobRequest) -> Job:
    return Job(id="job-1", request=request, state=JobState.PENDING, created_at=1.0, updated_at=2.0)


# -- gRPC: requests ----------------------------------------------------------------------
def test_every_new_request_field_round_trips_through_the_proto() -> None:
    request = full_request()
    message = convert.request_to_pb(request)
    assert message.namespace == "research"
    assert dict(message.annotations) == ANNOTATIONS
    assert message.workload == "QuantumJob"
    assert json.loads(message.extensions_json) == EXTENSIONS
    back = convert.request_from_pb(pb.JobRequest.FromString(message.SerializeToString()))
    assert back == request
    assert back.extensions["runtime"]["retries"] == 2 and isinstance(
        back.extensions["runtime"]["retries"], int
    )


def test_unset_fields_take_the_defaults() -> None:
    request = convert.request_from_pb(pb.JobRequest(program=pb.Program(source=BELL)))
    assert (request.namespace, request.annotations, request.workload, request.extensions) == (
        "default",
        {},
        None,
        {},
    )
    assert request.program_uri is None
    message = convert.request_to_pb(request)
    assert (message.workload, message.extensions_json, message.program.uri) == ("", "", "")


def test_a_program_uri_travels_without_source() -> None:
    request = full_request(program="", program_uri="qfs://job-0/main.qasm")
    message = convert.request_to_pb(request)
    assert message.program.uri == "qfs://job-0/main.qasm"
    back = convert.request_from_pb(message)
    assert back.program_uri == "qfs://job-0/main.qasm" and back.program == ""


def test_a_bad_program_uri_names_program_uri() -> None:
    message = pb.JobRequest(program=pb.Program(uri="http://elsewhere/x"))
    with pytest.raises(InvalidArgument) as caught:
        convert.request_from_pb(message)
    assert "job.program.uri" in [v.field for v in caught.value.violations]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('"text"', "JSON object"),
        ('{"a": NaN}', "not valid JSON"),
        ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "not valid JSON"),
        (json.dumps({"big": "x" * EXTENSIONS_BYTES_MAX}), "32 KiB"),
    ],
)
def test_bad_extensions_json_is_refused_naming_the_field(text: str, words: str) -> None:
    message = pb.JobRequest(program=pb.Program(source=BELL), extensions_json=text)
    with pytest.raises(InvalidArgument) as caught:
        convert.request_from_pb(message)
    assert [v.field for v in caught.value.violations] == ["job.extensions_json"]
    assert words in caught.value.message


def test_a_batch_item_names_its_index() -> None:
    message = pb.JobRequest(program=pb.Program(source=BELL), extensions_json="[]")
    with pytest.raises(InvalidArgument) as caught:
        convert.request_from_pb(message, "jobs[3]")
    assert [v.field for v in caught.value.violations] == ["jobs[3].extensions_json"]


def test_workload_kinds_follow_their_rules() -> None:
    with pytest.raises(InvalidArgument) as unknown:
        convert.request_from_pb(pb.JobRequest(program=pb.Program(source=BELL), workload="MagicJob"))
    assert [v.field for v in unknown.value.violations] == ["job.workload"]
    with pytest.raises(Unimplemented) as later:
        convert.request_from_pb(pb.JobRequest(program=pb.Program(source=BELL), workload="DistributedJob"))
    assert "DistributedJob" in later.value.message
    with pytest.raises(InvalidArgument) as benchmark:
        convert.request_from_pb(
            pb.JobRequest(program=pb.Program(source=BELL), workload="BenchmarkJob", target="sim:statevector")
        )
    assert [v.field for v in benchmark.value.violations] == ["job.seed"]


# -- gRPC: jobs --------------------------------------------------------------------------
def test_a_job_message_shows_the_new_fields_and_a_remote_reader_rebuilds_them() -> None:
    request = full_request(program_uri="qfs://job-0")
    message = convert.job_to_pb(a_job(request))
    assert (message.namespace, message.workload, message.program_uri) == (
        "research",
        "QuantumJob",
        "qfs://job-0",
    )
    assert dict(message.annotations) == ANNOTATIONS
    assert json.loads(message.extensions_json) == EXTENSIONS
    # the remote kernel's answers carry no program: the request is rebuilt from the message
    rebuilt = convert.job_from_pb(pb.Job.FromString(message.SerializeToString())).request
    assert rebuilt.namespace == "research"
    assert rebuilt.annotations == ANNOTATIONS
    assert rebuilt.workload is WorkloadKind.QUANTUM_JOB
    assert rebuilt.extensions == EXTENSIONS
    assert rebuilt.program_uri == "qfs://job-0"
    again = convert.job_to_pb(convert.job_from_pb(message))
    assert again == message  # system-api passes the kernel's job on unchanged


def test_a_job_message_of_an_older_server_reads_with_defaults() -> None:
    job = convert.job_from_pb(pb.Job(id="old", name="old", state=pb.JOB_STATE_DONE, shots=10))
    assert (job.request.namespace, job.request.workload, job.request.extensions) == ("default", None, {})


# -- gRPC: results -----------------------------------------------------------------------
def a_result(summary: dict[str, Any]) -> JobResult:
    return JobResult(
        job_id="job-1",
        backend="sim:statevector",
        experiments=[Experiment(counts={"00": 3}, shots=3)],
        seed=4,
        summary=summary,
    )


def test_an_int_in_a_summary_stays_an_int() -> None:
    summary = {"returns": {"n_qubits": 2, "energy": -1.5, "ok": True, "name": "h2", "sizes": [2, 3]}}
    message = convert.result_to_pb(a_result(summary))
    wire = pb.JobResults.FromString(message.SerializeToString())
    back = convert.result_from_pb(wire)
    assert back.summary == summary
    assert type(back.summary["returns"]["n_qubits"]) is int
    assert [type(v) for v in back.summary["returns"]["sizes"]] == [int, int]
    # the Struct is still there for older clients (with every number a double)
    assert convert.plain(wire.summary)["returns"]["n_qubits"] == 2.0


def test_a_summary_from_an_older_server_is_read_from_the_struct() -> None:
    message = convert.result_to_pb(a_result({"energy": -1.0}))
    message.ClearField("summary_json")
    assert convert.result_from_pb(message).summary == {"energy": -1.0}


def test_an_empty_summary_is_empty_on_both_sides() -> None:
    message = convert.result_to_pb(a_result({}))
    assert message.summary_json == ""
    assert convert.result_from_pb(message).summary == {}


# -- REST --------------------------------------------------------------------------------
def rest_body(**changes: Any) -> rest.JobRequest:
    body: dict[str, Any] = {
        "name": "vqe-h2",
        "program": {"source": BELL},
        "namespace": "research",
        "annotations": ANNOTATIONS,
        "workload": "QuantumJob",
        "extensions": EXTENSIONS,
        "seed": 3,
        **changes,
    }
    return rest.JobRequest.model_validate_json(json.dumps(body))


def test_every_new_request_field_is_read_from_a_rest_body() -> None:
    request = rest_convert.request_from_rest(rest_body())
    assert request.namespace == "research"
    assert request.annotations == ANNOTATIONS
    assert request.workload is WorkloadKind.QUANTUM_JOB
    assert request.extensions == EXTENSIONS
    # the same request as over gRPC
    assert request == convert.request_from_pb(convert.request_to_pb(request))


def test_a_rest_body_may_name_a_program_uri_instead_of_source() -> None:
    request = rest_convert.request_from_rest(rest_body(program={"uri": "qfs://job-0/main.qasm"}))
    assert request.program_uri == "qfs://job-0/main.qasm"
    with pytest.raises(InvalidArgument) as caught:
        rest_convert.request_from_rest(rest_body(program={}))
    assert [v.field for v in caught.value.violations] == ["job.program.source"]


def test_rest_errors_name_the_rest_fields() -> None:
    with pytest.raises(InvalidArgument) as workload:
        rest_convert.request_from_rest(rest_body(workload="MagicJob"))
    assert [v.field for v in workload.value.violations] == ["job.workload"]
    with pytest.raises(InvalidArgument) as big:
        rest_convert.request_from_rest(rest_body(extensions={"big": "x" * EXTENSIONS_BYTES_MAX}))
    assert [v.field for v in big.value.violations] == ["job.extensions"]
    with pytest.raises(InvalidArgument) as annotations:
        rest_convert.request_from_rest(rest_body(annotations={"k": "v\x00"}))
    assert all(v.field.startswith("job.annotations") for v in annotations.value.violations)


def test_the_rest_job_view_shows_the_new_fields() -> None:
    view = rest_convert.job_to_rest(a_job(full_request(program_uri="qfs://job-0")))
    shown = json.loads(view.model_dump_json())
    assert shown["namespace"] == "research"
    assert shown["annotations"] == ANNOTATIONS
    assert shown["workload"] == "QuantumJob"
    assert shown["extensions"] == EXTENSIONS
    assert shown["program_uri"] == "qfs://job-0"
    plain = json.loads(rest_convert.job_to_rest(a_job(full_request(workload=None))).model_dump_json())
    assert plain["workload"] == ""


def test_rest_results_keep_json_types() -> None:
    summary = {"returns": {"n_qubits": 2, "energy": -1.5}}
    shown = json.loads(rest_convert.result_to_rest(a_result(summary)).model_dump_json())
    assert shown["summary"] == summary
    assert type(shown["summary"]["returns"]["n_qubits"]) is int


# -- SDK ---------------------------------------------------------------------------------
def test_sdk_submit_options_carry_the_new_fields_to_the_wire() -> None:
    from eigen.client.inputs import to_request

    request = to_request(
        BELL, namespace="research", annotations=ANNOTATIONS, workload="QuantumJob", extensions=EXTENSIONS
    )
    message = convert.request_to_pb(request)
    assert (message.namespace, message.workload) == ("research", "QuantumJob")
    assert dict(message.annotations) == ANNOTATIONS
    assert json.loads(message.extensions_json) == EXTENSIONS
    with pytest.raises(InvalidArgument) as caught:
        to_request(BELL, workload="MagicJob")
    assert [v.field for v in caught.value.violations] == ["workload"]
