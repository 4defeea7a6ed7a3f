"""The execution pipeline: compile -> queue -> execute -> persist, with per-stage timings.

Each stage moves the job through :class:`~eigen.kernel.lifecycle.Lifecycle`; when a move
is refused (the job was cancelled or timed out meanwhile) the stage drops the job.
Errors end the job in ERROR with the error's code and summary, and an ``error.json``
artifact; nothing a job does can stop a worker: a stage catches every exception, a
foreign panic (``pyo3_runtime.PanicException``, a ``BaseException``) included, and lets
only the interpreter's own signals through (:mod:`eigen.models.panics`). A compile that
runs past its limit ends the job in TIMEOUT (:mod:`eigen.kernel.timeouts`). A job whose
files or state cannot be written because the data folder is full or unwritable does not fail: it is
handed to ``strand`` (the kernel puts it back on the queue once the folder can be
written again) and the condition is recorded in ``data`` (readiness, submissions). A
stage's outcome that the store cannot take because its database cannot be reached
(``Unavailable``: a restart, an outage) is held by the worker, whose heartbeat keeps the
jobs' leases meanwhile, and stored once the database answers (:meth:`Pipeline._move_batch`):
a job that ran during an outage is not run again.

Each stage runs in a span (``kernel.compile``, ``kernel.queue_wait``, ``kernel.execute``)
whose parent is the job's traceparent, so the whole job is one trace, and feeds the stage
histograms of :mod:`eigen.observability.metrics`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from eigen.errors import Cancelled, EigenError, ExecutionFailed, InternalError, NotFound, Unavailable
from eigen.kernel import stages
from eigen.kernel.compiled_codec import compiled_from_bytes, compiled_to_bytes
from eigen.kernel.dispatch.port import Entry, Stage
from eigen.kernel.handoff import Handoff
from eigen.kernel.held import held
from eigen.kernel.hybrid.runner import HybridRunner, Interrupted
from eigen.kernel.hybrid.settings import circuit_seed, circuit_shots
from eigen.kernel.lifecycle import Lifecycle, Move, job_context
from eigen.kernel.ports import CompilerPort, DriverPort
from eigen.kernel.qfs.artifacts import Artifact, ArtifactStore
from eigen.kernel.qfs.health import DataHealth, storage_error
from eigen.kernel.qfs.programs import PROGRAM_FILES
from eigen.kernel.queueing import Queueing
from eigen.kernel.replay import transpile_seed
from eigen.kernel.run_times import COMPILE_DEFAULT_S, RunTimes
from eigen.kernel.timeouts import StageTimeout, Timeouts
from eigen.kernel.workloads import annotate
from eigen.models.compiled import CompiledProgram, CompileRequest, ExecutionRequest
from eigen.models.job import Job
from eigen.models.jobspec import document_of
from eigen.models.noise import chosen_noise_model
from eigen.models.panics import describe, must_escape
from eigen.models.result import ExecutionResult, JobResult, result_to_dict
from eigen.models.state import JobState
from eigen.models.target import DeviceInfo
from eigen.observability import metrics, tracing

log = logging.getLogger(__name__)

COMPILED_ARTIFACT = "compiled.pb"  # the compiled program, as the execute stage reads it
R = TypeVar("R")
T = TypeVar("T")
# what a batch finished (compiled, executed) waits at most this long to be recorded
RECORD_AFTER_S = 0.01
# how often a held outcome tries the store again while its database cannot be reached
# (well within the lease the sweep waits after an outage: eigen.kernel.recovery)
# what counts as a small circuit (see Pipeline.batchable)
SMALL_QUBITS = 12
SMALL_GATES = 2_000
SMALL_SHOTS = 100_000


class Pipeline:
    def __init__(
        self,
        lifecycle: Lifecycle,
        compiler: CompilerPort,
        drivers: DriverPort,
        artifacts: ArtifactStore,
        queueing: Queueing,
        devices: Callable[[str], DeviceInfo],
        timeouts: Timeouts,
        stopping: threading.Event | None = None,
        data: DataHealth | None = None,
        strand: Callable[[str, EigenError], None] | None = None,
        claim: Callable[[Job, bool], dict[str, Any]] | None = None,
        run_times: RunTimes | None = None,
        compile_times: RunTimes | None = None,
    ) -> None:
        """``claim(job, run)``: the changes of the move that starts a stage (this worker's
        lease, :mod:`eigen.kernel.leases`; ``run``: a run, which counts an attempt);
        ``run_times`` / ``compile_times``: where the stages' durations are counted (the
        queue's estimated starts, :mod:`eigen.kernel.placement`)."""
        self.run_times = run_times or RunTimes(1.0)
        self.compile_times = compile_times or RunTimes(COMPILE_DEFAULT_S)
        self.lifecycle = lifecycle
        self.data = data or DataHealth(artifacts.root)
        self.strand = strand or (lambda job_id, problem: None)
        self.timeouts = timeouts
        self.compiler = compiler
        self.drivers = drivers
        self.artifacts = artifacts
        self.queueing = queueing
        self.claim = claim or (lambda job, run: {"attempt": job.attempt + 1} if run else {})
        self.devices = devices
        self.stopping = stopping or threading.Event()
        self.hybrid = HybridRunner(lifecycle, compiler, drivers, self.stopping)
        # compiled and queued here, waiting for an executor: the job as queued and its
        # program (an executor that finds nothing here reads the program's artifact; this
        # only spares that read, and the snapshot spares one of the job)
        self._compiled: Handoff[tuple[Job, CompiledProgram]] = Handoff()

    # -- stage 1: compile, then queue ----------------------------------------------------
    def compile(self, jobs: Sequence[Job]) -> None:
        """Compile ``jobs`` (as accepted or resumed: snapshots that may be stale, e.g.
        cancelled since; the first move sees it) and queue them.

        A batch shares its transactions: every job moves to COMPILING in one, and the
        compiled ones to QUEUED in another, or in several when compiling the batch takes
        longer than ``RECORD_AFTER_S`` (a slow compile never holds back the jobs compiled
        before it)."""
        live = [job for job in jobs if not job.terminal]
        starting = self._move_batch(
            [
                Move(job, JobState.COMPILING, "compiling", changes=self.claim(job, False))
                for job in live
                if job.state is JobState.PENDING
            ]
        )
        moved = iter(starting)
        ready = _Recorder(self._queue)
        for job in live:
            compiling = next(moved) if job.state is JobState.PENDING else job
            if self.stopping.is_set():
                break  # the rest stay COMPILING: the next start compiles them again
            if compiling is None:
                continue  # cancelled or timed out meanwhile
            with job_context(compiling):
                compiled = self._guard(compiling, self._compile_stage, "compile")
            ready.add(None if compiled is None else (compiling, *compiled))
        ready.flush()

    def _compile_stage(self, job: Job) -> tuple[CompiledProgram, float, list[Artifact]]:
        """Compile; the program, the seconds it took, and the artifacts to write (the
        inputs and the compiled forms). A job that fails to compile keeps its inputs."""
        started = time.perf_counter()
        inputs = self._inputs(job)
        try:
            compiled = self._compile(job)
        except BaseException as exc:
            if must_escape(exc):
                raise
            with contextlib.suppress(Exception):  # the compile error is the one to report
                self.artifacts.put_many(inputs)
            raise
        compile_s = time.perf_counter() - started
        metrics.stage_seconds("compile", compile_s)
        self.compile_times.observe("", compile_s)
        artifacts = [
            *inputs,
            Artifact.of(job.id, "compiled.qasm", compiled.qasm3),
            Artifact.of(job.id, "compiled.aqo.json", compiled.aqo_json),
            Artifact.json(job.id, "compile_report.json", compiled.report),
            Artifact.of(job.id, COMPILED_ARTIFACT, compiled_to_bytes(compiled)),  # what any node runs
        ]
        return compiled, compile_s, artifacts

    def _queue(self, ready: list[tuple[Job, CompiledProgram, float, list[Artifact]]]) -> None:
        """Write the artifacts of compiled jobs (one batch), move them to QUEUED (one
        transaction) and put them on the execute queue."""
        written = self._write([(job, artifacts) for job, _, _, artifacts in ready])
        ready = [entry for entry in ready if entry[0].id in written]
        compiling = [(job, seconds) for job, _, seconds, _ in ready if job.state is JobState.COMPILING]
        moves = [
            Move(
                job,
                JobState.QUEUED,
                "queued",
                changes={"timings": {**job.timings, "compile_s": seconds}},
                then=self.queueing.within(Stage.EXECUTE, [job]),  # its entry commits with it
                fenced=True,  # only while the job is still in this worker's compile claim
            )
            for job, seconds in compiling
        ]
        queued = dict(zip((job.id for job, _ in compiling), self._move_batch(moves), strict=True))
        due: list[Job] = []
        for job, compiled, _, _ in ready:
            now = queued.get(job.id, job)
            if now is None:
                continue  # cancelled or timed out meanwhile
            self._compiled.put(job.id, (now, compiled))
            due.append(now)
        self.queueing.after(Stage.EXECUTE, due)

    def _compile(self, job: Job) -> CompiledProgram:
        request = job.request
        compile_request = CompileRequest(
            program=request.program,
            language=request.language,
            device=self.devices(request.target),
            entrypoint=request.entrypoint,
            optimization_level=request.optimization_level,
            seed=transpile_seed(request, self.lifecycle.store),  # the job's seed (a replay: its original's)
        )
        limited = bool(self.timeouts.compile_timeout_s)
        compiled = self.compiler.cached(compile_request) if limited else None
        if compiled is not None:
            return compiled
        return self.timeouts.compile(lambda: self.compiler.compile(compile_request))

    def _compiled_program(self, job: Job) -> CompiledProgram:
        """The program the compile stage stored for ``job`` (whichever node compiled it);
        compiled again, quietly, when there is none (a job compiled before this artifact
        existed) or it cannot be read."""
        try:
            return compiled_from_bytes(self.artifacts.get(job.id, COMPILED_ARTIFACT))
        except (NotFound, InternalError) as exc:
            log.info("compiling a queued job again", extra={"job_id": job.id, "why": exc.message})
            return self._compile(job)

    @staticmethod
    def _inputs(job: Job) -> list[Artifact]:
        """The program and a job.yaml that resubmits the same job (eigen.os/v1): its
        namespace, annotations, workload and kept sections too (``document_of``)."""
        request = job.request
        program_file = PROGRAM_FILES[request.language]
        return [
            Artifact.of(job.id, program_file, request.program),
            Artifact.yaml(job.id, "job.yaml", document_of(request, program_file)),  # encoded by the writer
        ]

    # -- stage 2: execute, then persist --------------------------------------------------
    def batchable(self, entry: Entry) -> bool:
        """Whether a queued job may share an execute batch (the ``together`` of an execute
        claim): a small plain circuit (no sweep, no hybrid loop), which runs in
        milliseconds, so the jobs after it in its batch barely wait for it. A job compiled
        elsewhere (not at hand) runs alone."""
        held = self._compiled.peek(entry.job_id)
        if held is None:
            return False
        job, compiled = held
        request = job.request
        after = compiled.report.get("after") or {}
        return (
            compiled.hybrid is None
            and not request.observables
            and len(request.parameter_bindings) <= 1
            and compiled.num_qubits <= SMALL_QUBITS
            and int(after.get("size", SMALL_GATES + 1)) <= SMALL_GATES
            and request.shots_or_default <= SMALL_SHOTS
        )

    def execute(self, job_ids: Sequence[str]) -> None:
        """Run queued jobs, one after another. A batch shares its transactions: every job
        moves to RUNNING in one, and the finished ones to DONE in another, or in several
        when running the batch takes longer than ``RECORD_AFTER_S``."""
        waiting = [(job_id, self._compiled.take(job_id)) for job_id in job_ids]
        queued: list[tuple[Job, CompiledProgram]] = []
        for job_id, entry in waiting:
            # The job as queued (the move to RUNNING sees a cancel since), else as stored.
            job, compiled = entry if entry is not None else (self.lifecycle.store.get(job_id), None)
            if job is None or job.state is not JobState.QUEUED:
                continue
            if compiled is None:  # compiled elsewhere, or before a restart: its artifact
                with job_context(job):
                    compiled = self._guard(job, self._compiled_program, "compile")
                if compiled is None:
                    continue
            queued.append((job, compiled))
        moves = [Move(job, JobState.RUNNING, "running", changes=self.claim(job, True)) for job, _ in queued]
        started = [
            (job, compiled, running)
            for (job, compiled), running in zip(queued, self._move_batch(moves), strict=True)
            if running is not None  # else cancelled or timed out meanwhile
        ]
        for job, _, running in started:
            self._queue_waited(job, running)
        executed = self._execute_together([(running, compiled) for _, compiled, running in started])
        finished = _Recorder(self._finish)
        for _, compiled, running in started:
            run = functools.partial(self._run, compiled=compiled, executed=executed.get(running.id))
            with job_context(running):
                finished.add(self._guard(running, run, "execute"))
        finished.flush()

    def _execute_together(
        self, started: list[tuple[Job, CompiledProgram]]
    ) -> dict[str, ExecutionResult | EigenError]:
        """The plain circuits of a batch executed in one driver-manager call (one hand-off
        to a driver process for them all), by job id; nothing for a batch of one."""
        plain = [(job, compiled) for job, compiled in started if _plain(job, compiled)]
        if len(plain) < 2:
            return {}
        try:
            outcomes = self.drivers.execute_many([self._request(job, compiled) for job, compiled in plain])
        except EigenError as exc:  # the call itself failed (e.g. the driver-manager is gone)
            outcomes = [exc] * len(plain)
        except BaseException as exc:  # a bug or a foreign panic: each job hears it
            if must_escape(exc):
                raise
            log.exception("executing a batch failed", extra={"jobs": len(plain)})
            outcomes = [ExecutionFailed(f"the driver call failed: {describe(exc)}")] * len(plain)
        return {job.id: outcome for (job, _), outcome in zip(plain, outcomes, strict=True)}

    def _run(
        self, running: Job, compiled: CompiledProgram, executed: ExecutionResult | EigenError | None = None
    ) -> tuple[Move, list[Artifact]] | None:
        """Execute a RUNNING job (or take its execution from ``executed``, run with its
        batch); the move to DONE that records its results and their artifact (None when
        the job ran past its timeout: it is TIMEOUT now). A PipelineJob stage runs with its
        inputs bound and publishes its outputs with its results (:mod:`eigen.kernel.stages`)."""
        started = time.perf_counter()
        running, lineage = stages.bind(running, compiled, self.lifecycle.store, self.artifacts)
        device = self.devices(running.request.target)
        if compiled.hybrid is not None:
            result = self.hybrid.run_program(running, compiled, device)
        elif running.request.observables:
            result = self.hybrid.run_sweep(running, compiled, device)
        else:
            result = self._execute_circuit(running, compiled, executed)
        took = time.perf_counter() - started
        # with its batch: the driver-manager's time for this circuit
        result.timings["execute_s"] = (
            float(result.timings.get("driver_s", took)) if executed is not None else took
        )
        result.compile_report = compiled.report
        annotate(running.request, compiled, device, result, self.lifecycle.store)  # by workload kind
        if self.timeouts.overdue(running):  # finished, but too late: the timeout wins
            self.timeouts.time_out(running)
            return None
        outputs = stages.publish(running, result, lineage)  # before results.json: it records them
        artifact = Artifact.json(running.id, "results.json", result_to_dict(result))
        timings = {**running.timings, "execute_s": result.timings["execute_s"]}
        # written staged, published in the move's transaction once its fence passed: a run
        # whose claim moved on never overwrites the live attempt's files (_finish drops them)
        staged = self.artifacts.stage([artifact, *outputs])
        changes = {"timings": timings}
        publish = functools.partial(_publish, self.artifacts, staged)
        done = Move(running, JobState.DONE, "done", changes=changes, result=result, then=publish, fenced=True)
        return done, staged

    def _finish(self, finished: list[tuple[Move, list[Artifact]]]) -> None:
        """Write the results of executed jobs (one batch, staged), then move them to DONE
        with their results (one transaction, which publishes the staged files): a DONE job
        always has its ``results.json`` (and a stage its outputs), and a refused move's
        files are removed, never published over the live attempt's."""
        written = self._write([(move.job, artifacts) for move, artifacts in finished])
        moves = [move for move, _ in finished if move.job.id in written]
        outcomes = self._move_batch(moves)
        published = {done.id for done in outcomes if done is not None}
        for move, artifacts in finished:  # staged files whose move was refused, or not made
            if move.job.id not in published:
                self._discard(artifacts)
        for move, done in zip(moves, outcomes, strict=True):
            if done is not None and move.result is not None:  # its run is counted by the move
                self.run_times.observe(done.request.target, move.result.timings["execute_s"])

    def _discard(self, staged: list[Artifact]) -> None:
        try:
            self.artifacts.discard(staged)
        except Exception:  # a file left behind is hidden, and harmless
            log.warning("staged artifacts not removed", exc_info=True)

    def _write(self, batch: list[tuple[Job, list[Artifact]]]) -> set[str]:
        """Write the artifacts of a batch of jobs in one go; the ids of the jobs whose
        artifacts were all written. A job with one that was not ends in ERROR."""
        files = [artifact for _, artifacts in batch for artifact in artifacts]
        try:
            errors = self.artifacts.put_many(files)
        except BaseException as exc:  # e.g. the writer process could not be replaced
            if must_escape(exc):
                raise
            log.exception("writing a batch of artifacts failed", extra={"files": len(files)})
            problem = storage_error(exc)
            errors = [problem.message if problem is not None else describe(exc)] * len(files)
        failed: dict[str, str] = {}
        for artifact, error in zip(files, errors, strict=True):
            if error is not None:
                failed.setdefault(artifact.job_id, error)
        jobs = {job.id: job for job, _ in batch}
        for job_id, error in failed.items():
            log.error("artifacts not written", extra={"job_id": job_id, "error": error})
            problem = storage_error(error)
            if problem is not None:  # the folder is full or unwritable: retried once it is not
                self.data.failed(problem)
                self.strand(job_id, problem)
                continue
            with contextlib.suppress(Exception):
                self.fail(job_id, "EIGEN_INTERNAL", f"internal error: {error}", claim=jobs[job_id])
        return {job.id for job, _ in batch if job.id not in failed}

    def _move_batch(self, moves: list[Move]) -> list[Job | None]:
        """``move_many``; when the store fails it, each job ends in ERROR on its own (a
        failing store never stops a worker). A stage's outcomes (fenced moves) that meet
        an unreachable database are held until it answers (:mod:`eigen.kernel.held`)."""
        try:
            try:
                return self.lifecycle.move_many(moves)
            except Unavailable as exc:
                if not moves or not all(move.fenced for move in moves):
                    raise
                # held until the store answers (eigen.kernel.held); each move stays fenced,
                # so a job that changed hands meanwhile is left alone, and one applied
                # before the answer was lost is found applied, not made twice
                stored, moved = held(
                    lambda: self.lifecycle.move_many(moves),
                    exc,
                    self.stopping,
                    "outcomes",
                    {"jobs": len(moves)},
                )
                return moved if stored and moved is not None else [None] * len(moves)
        except BaseException as exc:
            if must_escape(exc):
                raise
            log.exception("moving a batch of jobs failed", extra={"jobs": len(moves)})
            problem = storage_error(exc)
            for move in moves:
                if problem is not None:  # the store cannot write now: retried once it can
                    self.data.failed(problem)
                    self.strand(move.job.id, problem)
                    continue
                with contextlib.suppress(Exception):
                    summary = f"internal error: {describe(exc)}"
                    self.fail(move.job.id, "EIGEN_INTERNAL", summary, claim=move.job if move.fenced else None)
            return [None] * len(moves)

    @staticmethod
    def _queue_waited(queued: Job, running: Job) -> None:
        """The queue wait (QUEUED -> RUNNING) as a metric and as a span of the job's trace."""
        started = running.started_at or time.time()
        metrics.stage_seconds("queue_wait", started - queued.updated_at)
        span = tracing.start_span(
            "kernel.queue_wait",
            parent=queued.traceparent,
            role="kernel",
            attributes={"eigen.job_id": queued.id},
            start_time=min(queued.updated_at, started),
        )
        span.end(end_time=int(started * 1e9))

    @staticmethod
    def _request(job: Job, compiled: CompiledProgram) -> ExecutionRequest:
        request = job.request
        bindings = list(request.parameter_bindings)
        if not bindings and compiled.parameters:
            bindings = [dict(compiled.defaults)]
        return ExecutionRequest(
            device=request.target,
            circuit=compiled.circuit,
            shots=circuit_shots(request, compiled.decorator),
            seed=circuit_seed(request, compiled.decorator),
            parameter_bindings=bindings,
            noise_model=chosen_noise_model(request.options, compiled.decorator),
            outputs=request.outputs,
        )

    def _execute_circuit(
        self, job: Job, compiled: CompiledProgram, executed: ExecutionResult | EigenError | None = None
    ) -> JobResult:
        from eigen.kernel.hybrid.returns import circuit_summary  # local: used only here

        request = self._request(job, compiled)
        summary = circuit_summary(compiled, request.parameter_bindings)  # the program's returns
        if compiled.empty:  # an Eigen-Lang program with no gates: nothing runs, no experiments
            return JobResult(job.id, job.request.target, [], request.seed, summary=summary)
        if executed is None:
            executed = self.drivers.execute(request)
        elif isinstance(executed, EigenError):
            raise executed  # this job's circuit failed in its batch
        return JobResult(
            job_id=job.id,
            backend=executed.backend,
            experiments=executed.experiments,
            seed=executed.seed,
            calibration_id=executed.calibration_id,
            timings=dict(executed.timings),
            summary=summary,
            engine=executed.engine,
        )

    # -- failure handling ----------------------------------------------------------------
    def _guard(self, job: Job, stage: Callable[[Job], R], name: str) -> R | None:
        """Run one stage of ``job``; what it returns, or None when it ended the job (error,
        timeout) or gave it up (cancelled meanwhile, shutdown)."""
        try:
            with tracing.span(
                f"kernel.{name}",
                role="kernel",
                attributes={"eigen.job_id": job.id, "eigen.backend": job.request.target},
                expected=(Cancelled, Interrupted),
            ):
                return stage(job)
        except Cancelled:
            return None  # the job was cancelled or timed out meanwhile: its state says so already
        except Interrupted:
            # The kernel is stopping: the job stays RUNNING with its last checkpoint, and the
            # next kernel to start on this store re-queues and resumes it.
            log.info("job interrupted by shutdown", extra={"job_id": job.id})
            return None
        except StageTimeout as exc:
            log.warning(exc.message, extra={"job_id": job.id})
            self.fail(job.id, exc.code, exc.message, JobState.TIMEOUT, claim=job)
        except EigenError as exc:
            if isinstance(exc, ExecutionFailed) and self.stopping.is_set():
                # e.g. the driver processes were stopped under it: the next start re-runs it
                log.info("job interrupted by shutdown", extra={"job_id": job.id, "error": exc.message})
                return None
            self.fail(job.id, exc.code, exc.message, claim=job)
        except BaseException as exc:  # a bug or a foreign panic ends the job, never the worker
            if must_escape(exc):
                raise
            problem = storage_error(exc)
            if problem is not None:  # the data folder is full or unwritable: retried later
                self.data.failed(problem)
                self.strand(job.id, problem)
                return None
            extra = {"job_id": job.id, "stage": name, "error": describe(exc)}
            log.error("stage failed", extra=extra, exc_info=exc)
            summary = f"internal error in the {name} stage: {describe(exc)}"
            self.fail(job.id, "EIGEN_INTERNAL", summary, claim=job)
        return None

    def fail(
        self,
        job_id: str,
        code: str,
        summary: str,
        state: JobState = JobState.ERROR,
        *,
        claim: Job | None = None,
    ) -> None:
        """End the job in ``state`` (ERROR) with its ``error.json``. When the store cannot
        record it for want of space or permission, the job is stranded instead (retried
        once the data folder can be written: it never stays RUNNING unseen).

        ``claim``: the job as the failing stage had it; the failure is then fenced (see
        :mod:`eigen.kernel.lifecycle`): a job no longer in that claim (its lease lapsed
        and another worker has it) is left alone, its ``error.json`` not written."""
        error: dict[str, Any] = {"error_code": code, "error_summary": summary}
        if claim is not None and self.lifecycle.claimed(claim) is None:
            return  # a stale worker's failure (logged): the job's current run decides
        try:
            self.artifacts.put_json(job_id, "error.json", error)
        except OSError as exc:  # the state is what matters; the file is its copy
            log.warning("error.json not written", extra={"job_id": job_id, "error": describe(exc)})
        try:
            if claim is None:
                self.lifecycle.move(job_id, state, summary, data=error, **error)
            else:
                self.lifecycle.move(job_id, state, summary, data=error, snapshot=claim, fenced=True, **error)
        except BaseException as exc:
            problem = None if must_escape(exc) else storage_error(exc)
            if problem is None:
                raise
            self.data.failed(problem)
            self.strand(job_id, problem)


class _Recorder(Generic[T]):
    """What a batch has finished so far, recorded together by ``record`` (one store
    transaction), and never held back longer than ``RECORD_AFTER_S``."""

    def __init__(self, record: Callable[[list[T]], None]) -> None:
        self._record = record
        self._items: list[T] = []
        self._due = time.monotonic() + RECORD_AFTER_S

    def add(self, item: T | None) -> None:
        """Note ``item`` (None: nothing to note this time); record now if it is time."""
        if item is not None:
            self._items.append(item)
        if self._items and time.monotonic() >= self._due:
            self.flush()

    def flush(self) -> None:
        items, self._items = self._items, []
        self._due = time.monotonic() + RECORD_AFTER_S
        if items:
            self._record(items)


def _plain(job: Job, compiled: CompiledProgram) -> bool:
    """A circuit run by one ``Execute`` (no hybrid loop, no observables, no stage inputs
    to bind first)."""
    return (
        compiled.hybrid is None
        and not job.request.observables
        and not compiled.empty
        and not stages.takes_inputs(job.request)
    )


def _publish(artifacts: ArtifactStore, staged: list[Artifact], _transaction: object) -> None:
    """A run's ``then``: its staged files under their names (in the move's transaction)."""
    artifacts.publish(staged)
