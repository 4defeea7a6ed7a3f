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
    # The outputs a request asked for besides counts (eigen.models.outputs), empty otherwise:
    memory: list[str] = field(default_factory=list)  # each shot's outcome, in shot order
    probabilities: list[float] = field(default_factory=list)  # index = basis state, qubit 0 lowest
    statevector: list[complex] = field(default_factory=list)  # same indexing


@dataclass
class ExecutionResult:
    """What a driver returns for one Execute call."""

    backend: str
    experiments: list[Experiment]
    seed: int | None
    calibration_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    engine: str = ""  # the simulator that ran it ("aer", "qsim", "stim", ...); "" when unknown


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
    engine: str = ""  # as ExecutionResult.engine: which simulator produced the experiments

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
                **_outputs_to_dict(e),
            }
            for e in result.experiments
        ],
        "seed": result.seed,
        "calibration_id": result.calibration_id,
        "timings": dict(result.timings),
        "compile_report": copy.deepcopy(result.compile_report),
        "summary": copy.deepcopy(result.summary),
        "engine": result.engine,
    }


def _outputs_to_dict(experiment: Experiment) -> dict[str, Any]:
    """The outputs besides counts, only those present (a counts-only result stays as it was);
    amplitudes as ``[real, imag]`` pairs, JSON having no complex numbers."""
    data: dict[str, Any] = {}
    if experiment.memory:
        data["memory"] = list(experiment.memory)
    if experiment.probabilities:
        data["probabilities"] = list(experiment.probabilities)
    if experiment.statevector:
        data["statevector"] = [[a.real, a.imag] for a in experiment.statevector]
    return data


def _experiment_from_dict(item: dict[str, Any]) -> Experiment:
    amplitudes = item.get("statevector") or []
    return Experiment(**{**item, "statevector": [complex(re, im) for re, im in amplitudes]})


def result_from_dict(data: dict[str, Any]) -> JobResult:
    """The inverse of :func:`result_to_dict`; results stored before a field existed read too."""
    experiments = [_experiment_from_dict(item) for item in data.get("experiments", [])]
    return JobResult(**{**data, "experiments": experiments})
