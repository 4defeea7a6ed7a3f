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


OUTPUTS = ("memory", "probabilities", "statevector")


def test_to_dict_is_what_asdict_gives() -> None:
    # result_to_dict spells asdict out for speed: a field added to the dataclasses must be
    # added there too, and this test says so. Outputs a result did not ask for are left out.
    result = a_result()
    expected = dataclasses.asdict(result)
    for experiment in expected["experiments"]:
        for name in OUTPUTS:
            assert experiment.pop(name) == []
    assert result_to_dict(result) == expected


def test_outputs_are_stored_when_present_and_read_back() -> None:
    result = a_result()
    result.engine = "qsim"
    result.experiments[0].memory = ["00", "11", "11"]
    result.experiments[0].probabilities = [0.5, 0.0, 0.0, 0.5]
    result.experiments[0].statevector = [complex(0.7071, 0), 0j, 0j, complex(0, -0.7071)]
    data = result_to_dict(result)
    assert data["engine"] == "qsim"
    assert data["experiments"][0]["statevector"][3] == [0.0, -0.7071]  # JSON has no complex
    assert set(OUTPUTS).isdisjoint(data["experiments"][1])
    assert result_from_dict(data) == result


def test_a_result_stored_before_engine_and_outputs_reads() -> None:
    data = result_to_dict(a_result())
    del data["engine"]
    assert result_from_dict(data).engine == ""


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
