"""Pure types of Eigen: no I/O, no services."""

from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import ExecutionResult, Experiment, JobResult
from eigen.models.state import TERMINAL_STATES, TRANSITIONS, JobState
from eigen.models.target import Calibration, DeviceInfo, DeviceStatus

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
