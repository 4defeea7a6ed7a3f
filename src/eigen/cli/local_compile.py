"""``eigen-cli compile``: compile a job.yaml for its target in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eigen.jobfile import load_job_file


def compile_to_file(job: Path, out_file: Path) -> dict[str, Any]:
    # The compiler and the device catalogue run locally: no server is needed to compile.
    from eigen.compiler.service import CompilationService
    from eigen.drivers.registry import DriverRegistry
    from eigen.models.compiled import CompileRequest

    request = load_job_file(job)
    device = DriverRegistry().device(request.target)
    compiled = CompilationService().compile(
        CompileRequest(
            program=request.program,
            language=request.language,
            device=device,
            entrypoint=request.entrypoint,
            optimization_level=request.optimization_level,
            seed=request.seed,
        )
    )
    text = compiled.aqo_json if out_file.suffix == ".json" else compiled.qasm3
    out_file.write_text(text, encoding="utf-8")
    return compiled.report
