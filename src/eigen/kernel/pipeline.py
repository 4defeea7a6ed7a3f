"""The execution pipeline: compile -> queue -> execute -> persist, with per-stage timings.

Each stage moves the job through :class:`~eigen.kernel.lifecycle.Lifecycle`; when a move
is refused (the job was cancelled or timed out meanwhile) the stage drops the job.
Errors end the job in ERROR with the error's code and summary, and an ``error.json``
artifact; nothing a job does can stop a worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import yaml

from eigen.errors import Cancelled, EigenError
from eigen.kernel.hybrid.runner import HybridRunner, Interrupted
from eigen.kernel.lifecycle import Lifecycle
from eigen.kernel.ports import CompilerPort, DriverPort
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.scheduler import PriorityScheduler
from eigen.models.compiled import CompiledProgram, CompileRequest, ExecutionRequest
from eigen.models.job import Job
from eigen.models.program import ProgramLanguage
from eigen.models.result import JobResult, result_to_dict
from eigen.models.state import JobState
from eigen.models.target import DeviceInfo
from eigen.observability import context as call_context

log = logging.getLogger(__name__)

PROGRAM_FILES = {
    ProgramLanguage.QASM2: "program.qasm",
    ProgramLanguage.QASM3: "program.qasm",
    ProgramLanguage.EIGEN_LANG: "program.eigen.py",
    ProgramLanguage.AQO: "program.aqo.json",
}


class Pipeline:
    def __init__(
        self,
        lifecycle: Lifecycle,
        compiler: CompilerPort,
        drivers: DriverPort,
        artifacts: ArtifactStore,
        scheduler: PriorityScheduler[str],
        devices: Callable[[str], DeviceInfo],
        stopping: threading.Event | None = None,
    ) -> None:
        self.lifecycle = lifecycle
        self.compiler = compiler
        self.drivers = drivers
        self.artifacts = artifacts
        self.scheduler = scheduler
        self.devices = devices
        self.hybrid = HybridRunner(lifecycle, compiler, drivers, stopping or threading.Event())
        self._compiled: dict[str, CompiledProgram] = {}
        self._lock = threading.Lock()

    # -- stage 1: compile, then queue ----------------------------------------------------
    def compile(self, job_id: str) -> None:
        job = self.lifecycle.store.get(job_id)
        if job is None or job.terminal:
            return
        if job.state is JobState.PENDING:
            moved = self.lifecycle.move(job_id, JobState.COMPILING, "compiling")
            if moved is None:
                return
            job = moved
        self._guard(job, self._compile_and_queue)

    def _compile_and_queue(self, job: Job) -> None:
        started = time.perf_counter()
        self._write_inputs(job)
        compiled = self._compile(job)
        compile_s = time.perf_counter() - started
        self.artifacts.put(job.id, "compiled.qasm", compiled.qasm3)
        self.artifacts.put(job.id, "compiled.aqo.json", compiled.aqo_json)
        self.artifacts.put_json(job.id, "compile_report.json", compiled.report)
        with self._lock:
            self._compiled[job.id] = compiled
        timings = {**job.timings, "compile_s": compile_s}
        moved = job.state is not JobState.COMPILING or self.lifecycle.move(
            job.id, JobState.QUEUED, "queued", timings=timings
        )
        if not moved:
            self._forget(job.id)
            return
        self.scheduler.push(job.id, job.request.priority)

    def _compile(self, job: Job) -> CompiledProgram:
        request = job.request
        return self.compiler.compile(
            CompileRequest(
                program=request.program,
                language=request.language,
                device=self.devices(request.target),
                entrypoint=request.entrypoint,
                optimization_level=request.optimization_level,
                seed=request.seed,
            )
        )

    def _write_inputs(self, job: Job) -> None:
        request = job.request
        self.artifacts.put(job.id, PROGRAM_FILES[request.language], request.program)
        spec = request.model_dump(mode="json", exclude={"program"}, exclude_defaults=True)
        document = {
            "apiVersion": "eigen.os/v1",
            "kind": "QuantumJob",
            "metadata": {"name": request.name, "labels": request.labels},
            "spec": {"program": {"path": PROGRAM_FILES[request.language]}, **spec},
        }
        self.artifacts.put(job.id, "job.yaml", yaml.safe_dump(document, sort_keys=False))

    # -- stage 2: execute, then persist --------------------------------------------------
    def execute(self, job_id: str) -> None:
        job = self.lifecycle.store.get(job_id)
        if job is None or job.state is not JobState.QUEUED:
            self._forget(job_id)
            return
        self._guard(job, self._run)

    def _run(self, job: Job) -> None:
        with self._lock:
            compiled = self._compiled.pop(job.id, None)
        if compiled is None:  # e.g. resumed after a restart: compile again, quietly
            compiled = self._compile(job)
        running = self.lifecycle.move(job.id, JobState.RUNNING, "running", attempt=job.attempt + 1)
        if running is None:
            return
        started = time.perf_counter()
        device = self.devices(job.request.target)
        if compiled.hybrid is not None:
            result = self.hybrid.run_program(running, compiled, device)
        elif job.request.observables:
            result = self.hybrid.run_sweep(running, compiled, device)
        else:
            result = self._execute_circuit(running, compiled)
        result.timings["execute_s"] = time.perf_counter() - started
        result.compile_report = compiled.report
        self.lifecycle.store.save_result(job.id, result)
        self.artifacts.put_json(job.id, "results.json", result_to_dict(result))
        timings = {**running.timings, "execute_s": result.timings["execute_s"]}
        self.lifecycle.move(job.id, JobState.DONE, "done", timings=timings)

    def _execute_circuit(self, job: Job, compiled: CompiledProgram) -> JobResult:
        request = job.request
        bindings = list(request.parameter_bindings)
        if not bindings and compiled.parameters:
            bindings = [dict(compiled.defaults)]
        executed = self.drivers.execute(
            ExecutionRequest(
                device=request.target,
                circuit=compiled.circuit,
                shots=request.shots_or_default,
                seed=request.seed,
                parameter_bindings=bindings,
            )
        )
        return JobResult(
            job_id=job.id,
            backend=executed.backend,
            experiments=executed.experiments,
            seed=executed.seed,
            calibration_id=executed.calibration_id,
            timings=dict(executed.timings),
        )

    # -- failure handling ----------------------------------------------------------------
    def _guard(self, job: Job, stage: Callable[[Job], None]) -> None:
        # The job's submitter and trace travel with every call this stage makes.
        token = call_context.activate(
            call_context.CallContext(request_id=job.id, caller=job.owner, traceparent=job.traceparent)
        )
        try:
            stage(job)
        except Cancelled:
            return  # the job was cancelled or timed out meanwhile: its state says so already
        except Interrupted:
            # The kernel is stopping: the job stays RUNNING with its last checkpoint, and the
            # next kernel to start on this store re-queues and resumes it.
            log.info("job interrupted by shutdown", extra={"job_id": job.id})
            return
        except EigenError as exc:
            self.fail(job.id, exc.code, exc.message)
        except Exception as exc:  # a bug must end the job, never the worker
            log.exception("stage failed", extra={"job_id": job.id})
            self.fail(job.id, "EIGEN_INTERNAL", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            call_context.deactivate(token)

    def fail(self, job_id: str, code: str, summary: str) -> None:
        self._forget(job_id)
        error: dict[str, Any] = {"error_code": code, "error_summary": summary}
        try:
            self.artifacts.put_json(job_id, "error.json", error)
        finally:
            self.lifecycle.move(job_id, JobState.ERROR, summary, data=error, **error)

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._compiled.pop(job_id, None)
