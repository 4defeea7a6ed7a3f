"""``eigen-cli compile``: compile a job.yaml for its target in this process (no server).

The CLI reaches it through :class:`eigen.server.local_stack.LocalStack` (it imports no
compiler or driver itself)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eigen.compiler.service import CompilationService
from eigen.drivers.registry import DriverRegistry
from eigen.jobfile import load_job_file
from eigen.models.compiled import CompileRequest


def compile_to_file(job: Path, out_file: Path) -> dict[str, Any]:
    """Compile ``job`` with the local compiler and device catalogue, write OpenQASM 3 (AQO
    JSON when ``out_file`` ends in .json) and return the compile report."""
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
