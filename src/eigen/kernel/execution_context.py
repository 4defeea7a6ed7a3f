"""The exact execution context of a run, recorded in the result of a BenchmarkJob (and a
ReplayJob), so that two runs can be compared and a difference explained.

``summary["execution_context"]`` holds::

    {"seed": <seed the driver used>, "requested_seed": <the job's seed>,
     "target": <the job's target>, "backend": <the device that ran it>,
     "calibration_id": ..., "noise_model": <by name, or null>,
     "shots": <shots per experiment>, "language": ..., "entrypoint": ...,
     "device": {"num_qubits", "basis_gates", "coupled", "simulator", "noisy"},
     "compiler": {"optimization_level": <level used>, "requested_optimization_level",
                  "transpile_seed": <seed compiled with; null: the compiler's fixed default>,
                  "program_sha256", "aqo_fingerprint"},
     "packages": {"eigen", "qiskit", "qiskit-aer", "stim", "numpy", "python", "platform"}}

Nothing in it depends on the time of the run: two runs of the same job in the same
installation record the same context.
"""

from __future__ import annotations

import functools
import platform
from importlib import metadata
from typing import Any

from eigen.models.compiled import CompiledProgram
from eigen.models.job import JobRequest
from eigen.models.noise import chosen_noise_model
from eigen.models.result import JobResult
from eigen.models.target import DeviceInfo

PACKAGES = ("eigen", "qiskit", "qiskit-aer", "stim", "numpy")


@functools.cache
def package_versions() -> dict[str, str | None]:
    """The versions of the packages a run depends on, and of Python and the platform."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    versions["platform"] = platform.platform()
    return versions


def execution_context(
    request: JobRequest,
    compiled: CompiledProgram,
    device: DeviceInfo,
    result: JobResult,
    transpile_seed: int | None,
) -> dict[str, Any]:
    """The context of the run of ``request`` that produced ``result`` (module docstring)."""
    report = compiled.report
    shots = sorted({experiment.shots for experiment in result.experiments})
    return {
        "seed": result.seed,
        "requested_seed": request.seed,
        "target": request.target,
        "backend": result.backend,
        "calibration_id": result.calibration_id or device.calibration_id,
        "noise_model": chosen_noise_model(request.options, compiled.decorator),
        "shots": shots[0] if len(shots) == 1 else (shots or request.shots),
        "language": request.language.value,
        "entrypoint": request.entrypoint,
        "device": {
            "num_qubits": device.num_qubits,
            "basis_gates": list(device.basis_gates),
            "coupled": device.coupling_map is not None,
            "simulator": device.simulator,
            "noisy": device.noisy,
        },
        "compiler": {
            "optimization_level": report.get("optimization_level", request.optimization_level),
            "requested_optimization_level": request.optimization_level,
            "transpile_seed": transpile_seed,
            "program_sha256": report.get("program_sha256"),
            "aqo_fingerprint": report.get("aqo_fingerprint"),
        },
        "packages": dict(package_versions()),
    }
