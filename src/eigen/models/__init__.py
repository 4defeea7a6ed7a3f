"""Pure types of Eigen: no I/O, no services.

The names below load on first use (PEP 562): ``eigen.models.state`` alone (an enum) does not
pay for pydantic and every request model, which a command that only prints a state needs not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eigen.models.job import Job, JobEvent, JobRequest
    from eigen.models.program import ProgramLanguage
    from eigen.models.result import ExecutionResult, Experiment, JobResult
    from eigen.models.state import TERMINAL_STATES, TRANSITIONS, JobState
    from eigen.models.target import Calibration, DeviceInfo, DeviceStatus

_LAZY: dict[str, str] = {
    "Job": "eigen.models.job",
    "JobEvent": "eigen.models.job",
    "JobRequest": "eigen.models.job",
    "ProgramLanguage": "eigen.models.program",
    "ExecutionResult": "eigen.models.result",
    "Experiment": "eigen.models.result",
    "JobResult": "eigen.models.result",
    "TERMINAL_STATES": "eigen.models.state",
    "TRANSITIONS": "eigen.models.state",
    "JobState": "eigen.models.state",
    "Calibration": "eigen.models.target",
    "DeviceInfo": "eigen.models.target",
    "DeviceStatus": "eigen.models.target",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Calibration",
    "DeviceInfo",
    "DeviceStatus",
    "ExecutionResult",
    "Experiment",
    "Job",
    "JobEvent",
    "JobRequest",
    "JobResult",
    "JobState",
    "ProgramLanguage",
]
