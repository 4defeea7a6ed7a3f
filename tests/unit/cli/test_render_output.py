"""How ``eigen-cli`` shows jobs, results and errors (issue 16, Output), at 80 columns:
short ids that are never cut, ISO times, readable timings and progress with integers,
labelled expectation values, titles in declaration order, errors said once with a hint."""

from __future__ import annotations

import io
import time

from rich.console import Console

from eigen.cli import render
from eigen.errors import FieldViolation, InvalidArgument, Unavailable
from eigen.models.job import Job, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import Experiment, JobResult
from eigen.models.state import JobState

JOB_ID = "0123456789abcdef0123456789abcdef"


def shown(draw: object, *args: object) -> str:
    buffer = io.StringIO()
    draw(Console(file=buffer, width=80, no_color=True), *args)  # type: ignore[operator]
    return buffer.getvalue()


def job(**fields: object) -> Job:
    request = JobRequest(
        program="x", language=ProgramLanguage.QASM3, name="a-long-job-name", labels={"k": "v"}
    )
    now = time.time()
    defaults: dict[str, object] = {"id": JOB_ID, "request": request, "state": JobState.DONE}
    defaults |= {"created_at": now, "updated_at": now, "started_at": now, "finished_at": now + 0.3}
    return Job(**(defaults | fields))  # type: ignore[arg-type]


def test_the_jobs_table_never_cuts_the_short_id() -> None:
    request = JobRequest(program="x", language=ProgramLanguage.QASM3, name="prep", namespace="lab")
    text = shown(render.print_jobs, [job(), job(id="f" * 32, state=JobState.CANCELLED, request=request)], "")
    assert all(len(line) <= 80 for line in text.splitlines()) and "lab/prep" in text
    assert JOB_ID[:12] in text and "f" * 12 in text and JOB_ID[12:] not in text and "…" not in text


def test_status_shows_iso_times_readable_timings_and_integer_progress() -> None:
    progress = {"iteration": 27.0, "max_iters": 100.0, "evaluations": 30.0, "energy": -1.5}
    text = shown(render.print_job, job(timings={"execute_s": 0.3, "compile_s": 0.0067}, progress=progress))
    assert "compile 6.7 ms, execute 0.3 s" in text
    assert "iteration 27/100, evaluations 30, energy -1.5" in text and "27.0" not in text
    assert "created " in text and "T" in text.split("created", 1)[1].split()[0]
    assert render.job_dict(job(progress=progress))["progress"] == {
        **progress,
        "iteration": 27,
        "max_iters": 100,
        "evaluations": 30,
    }


def test_durations_read_as_people_write_them() -> None:
    assert [render.duration(s) for s in (0.0067, 0.042, 0.3, 0.367, 12.4, 75)] == [
        "6.7 ms", "42 ms", "0.3 s", "0.37 s", "12 s", "1 min 15 s",
    ]  # fmt: skip


def test_shot_results_are_labelled_with_standard_errors_and_no_seed_when_none() -> None:
    experiment = Experiment(counts={"00": 6, "11": 4}, shots=10, bindings={"phi": 1.0, "theta": 0.5},
                            expectation_values=[0.2, -1.0], standard_errors=[0.31, 0.0])  # fmt: skip
    result = JobResult(job_id=JOB_ID, backend="sim:statevector", experiments=[experiment])
    text = shown(render.print_results, result)
    assert "seed" not in text and "calibration" not in text
    assert "experiment 0 (phi=1, theta=0.5)" in text  # no declaration order known: natural order
    assert "observable 0: 0.2 ± 0.31" in text and "observable 1: -1 ± 0" in text


def test_a_hybrid_title_follows_the_declaration_order_and_exact_mode_has_no_table() -> None:
    experiment = Experiment(
        counts={}, shots=0, bindings={"a": 2.0, "z": 0.123456789}, expectation_values=[-1.0]
    )
    summary = {"energy": -1.0, "estimator": "exact", "optimal_parameters": {"z": 0.1, "a": 2.0},
               "expectation_values": {"energy": -1.0}, "iterations": 27}  # fmt: skip
    result = JobResult(job_id=JOB_ID, backend="b", experiments=[experiment], seed=7, summary=summary)
    text = shown(render.print_results, result)
    assert "experiment 0 (z=0.123457, a=2)" in text and "seed 7" in text
    assert "outcome" not in text and "energy: -1\n" in text and "±" not in text.split("experiment 0")[1]
    assert text.index("parameter z") < text.index("parameter a") and " 27 " in text


def test_an_error_with_its_field_in_the_message_is_said_once() -> None:
    error = InvalidArgument.for_field("spec.shots", "unknown key (did you mean spec.metadata.shots?)")
    error = InvalidArgument(f"invalid job: {error.message}", error.violations)
    lines = render.error_lines(error)
    assert len(lines) == 1 and "".join(lines).count("spec.shots") == 1


def test_field_lines_the_message_does_not_say_are_kept() -> None:
    error = InvalidArgument(
        "invalid job (2 problems)", [FieldViolation("a", "bad"), FieldViolation("b", "worse")]
    )
    assert render.error_lines(error)[1:] == ["  - a: bad", "  - b: worse"]


def test_hints_where_they_are_obvious() -> None:
    shots = InvalidArgument.for_field("spec.shots", "unknown key")
    assert "  hint: did you mean spec.metadata.shots?" in render.error_lines(shots)
    program = InvalidArgument.for_field("spec.program", "must be a map")
    assert "  hint: program needs path: or source:" in render.error_lines(program)
    unreachable = Unavailable("Eigen at http://h:1 is not reachable")
    assert any(
        "use host:port (or https://host:port for TLS)" in line
        for line in render.error_lines(unreachable, "http://h:1")
    )
    assert len(render.error_lines(unreachable, "h:1")) == 1


def test_a_progress_line_has_integer_iterations() -> None:
    text = render.progress_text(
        JOB_ID, JobState.RUNNING, {"iteration": 10.0, "max_iters": 80.0, "energy": -1.0}
    )
    assert text == f"job {JOB_ID[:12]}: RUNNING iteration 10/80 energy -1.000000"
