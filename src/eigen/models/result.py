"""Results of executing compiled circuits, and the stored result of a job."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Experiment:
    """The outcome of one circuit (one parameter binding) of a job."""

    counts: dict[str, int]
    shots: int
    bindings: dict[str, float] = field(default_factory=dict)
    expectation_values: list[float] = field(default_factory=list)
    standard_errors: list[float] = field(default_factory=list)


@dataclass
class ExecutionResult:
    """What a driver returns for one Execute call."""

    backend: str
    experiments: list[Experiment]
    seed: int | None
    calibration_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class JobResult:
    """Everything a finished job hands back to its user."""

    job_id: str
    backend: str
    experiments: list[Experiment]
    seed: int | None = None
    calibration_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    compile_report: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return self.experiments[0].counts if self.experiments else {}


def result_to_dict(result: JobResult) -> dict[str, Any]:
    """A JSON-ready copy (``dataclasses.asdict`` spelled out: it is on every job's path)."""
    return {
        "job_id": result.job_id,
        "backend": result.backend,
        "experiments": [
            {
                "counts": dict(e.counts),
                "shots": e.shots,
                "bindings": dict(e.bindings),
                "expectation_values": list(e.expectation_values),
                "standard_errors": list(e.standard_errors),
            }
            for e in result.experiments
        ],
        "seed": result.seed,
        "calibration_id": result.calibration_id,
        "timings": dict(result.timings),
        "compile_report": copy.deepcopy(result.compile_report),
        "summary": copy.deepcopy(result.summary),
    }


def result_from_dict(data: dict[str, Any]) -> JobResult:
    experiments = [Experiment(**item) for item in data.get("experiments", [])]
    return JobResult(**{**data, "experiments": experiments})
