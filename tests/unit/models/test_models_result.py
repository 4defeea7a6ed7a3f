"""The stored form of a result: every field, a copy, and back again."""

from __future__ import annotations

import dataclasses

from eigen.models.result import Experiment, JobResult, result_from_dict, result_to_dict


def a_result() -> JobResult:
    return JobResult(
        job_id="j1",
        backend="sim:statevector",
        experiments=[
            Experiment(counts={"00": 3, "11": 5}, shots=8, bindings={"theta": 0.5}),
            Experiment(counts={}, shots=0, expectation_values=[-1.1], standard_errors=[0.01]),
        ],
        seed=7,
        calibration_id="cal-1",
        timings={"execute_s": 0.002},
        compile_report={"after": {"depth": 3, "ops": {"cx": 1}}},
        summary={"energy": -1.857, "history": [1.0, 0.5]},
    )


def test_to_dict_is_what_asdict_gives() -> None:
    # result_to_dict spells asdict out for speed: a field added to the dataclasses must be
    # added there too, and this test says so.
    result = a_result()
    assert result_to_dict(result) == dataclasses.asdict(result)


def test_to_dict_copies_nested_values() -> None:
    result = a_result()
    data = result_to_dict(result)
    data["experiments"][0]["counts"]["00"] = 99
    data["compile_report"]["after"]["depth"] = 99
    data["summary"]["history"].append(0.0)
    assert result.experiments[0].counts["00"] == 3
    assert result.compile_report["after"]["depth"] == 3
    assert result.summary["history"] == [1.0, 0.5]


def test_round_trip() -> None:
    result = a_result()
    assert result_from_dict(result_to_dict(result)) == result
