"""Workload kinds on the in-memory kernel: programs by reference (``program_uri``),
ReplayJob (inputs and recorded seed of the original, bit-for-bit comparison), the
BenchmarkJob execution context, and the submission checks by kind."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from eigen.errors import EigenError, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from eigen.jobfile import load_job_file
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.replay import compare, transpile_seed
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.workloads import needs_resolving
from eigen.models.compiled import CompiledProgram, CompileRequest, ExecutionRequest, HybridSpec
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import ExecutionResult, Experiment, JobResult
from eigen.models.state import JobState
from eigen.models.workload import REPLAY_OF, WorkloadKind
from tests.unit.kernel.conftest import DEVICE, FakeCompiler, FakeDrivers, job_request

PROGRAM = "OPENQASM 3.0; qubit[2] q; // the original"
EIGEN = "@hybrid_program\ndef main():\n    return 1\n"


class SeedCompiler(FakeCompiler):
    """Records the seed of each compile; a program with 'minimize' is a hybrid program."""

    def __init__(self) -> None:
        super().__init__()
        self.seeds: list[int | None] = []

    def compile(self, request: CompileRequest) -> CompiledProgram:
        self.seeds.append(request.seed)
        return super().compile(request)

    def _program(self, request: CompileRequest) -> CompiledProgram:
        program = super()._program(request)
        if "minimize" in request.program:
            program.hybrid = HybridSpec(observables={"e": [("ZZ", 1.0)]}, objective="e")
        return program


class ShiftingDrivers(FakeDrivers):
    """Counts that change from one run to the next (a backend that does not reproduce)."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = itertools.count()

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        run = next(self.runs)
        ones = min(run, request.shots)
        counts = {"00": request.shots - ones, **({"11": ones} if ones else {})}
        return ExecutionResult(request.device, [Experiment(counts, request.shots)], request.seed or 1)


@pytest.fixture
def compiler() -> SeedCompiler:
    return SeedCompiler()


def finished(kernel: Kernel, job: Job) -> Job:
    for _ in kernel.watch(job.id):
        pass
    return kernel.get(job.id)


def done(kernel: Kernel, request: JobRequest) -> Job:
    job, _ = kernel.submit(request)
    ended = finished(kernel, job)
    assert ended.state is JobState.DONE, ended.error_summary
    return ended


def field_of(error: EigenError) -> str:
    return error.violations[0].field


def replay_of(job_id: str, program: str = "OPENQASM 3.0; qubit[1] ignored;", **fields: object) -> JobRequest:
    """A ReplayJob as a job file gives it: some program of its own, the job it replays."""
    return job_request(
        program,
        workload=WorkloadKind.REPLAY_JOB,
        options={REPLAY_OF: job_id},
        **fields,
    )


# -- programs by reference ---------------------------------------------------------------
def test_a_program_uri_reads_the_stored_program_and_its_language(kernel: Kernel) -> None:
    source = done(kernel, job_request(EIGEN, language=ProgramLanguage.EIGEN_LANG))
    request = job_request("", program_uri=f"qfs://{source.id}", language=ProgramLanguage.QASM3)
    assert needs_resolving(request)
    job = done(kernel, request)
    assert job.request.program == EIGEN
    assert job.request.language is ProgramLanguage.EIGEN_LANG
    assert job.request.program_uri == f"qfs://{source.id}"
    assert kernel.pipeline.artifacts.get(job.id, "program.eigen.py").decode() == EIGEN


def test_a_program_uri_names_an_artifact_of_a_job(kernel: Kernel) -> None:
    source = done(kernel, job_request(PROGRAM))
    named = done(kernel, job_request("", program_uri=f"qfs://{source.id}/program.qasm"))
    assert named.request.program == PROGRAM
    compiled = done(kernel, job_request("", program_uri=f"qfs://{source.id}/compiled.qasm"))
    assert compiled.request.program == "OPENQASM 3.0;"  # the fake compiler's compiled form
    assert compiled.request.language is ProgramLanguage.QASM3


def test_a_program_uri_to_a_pending_job_reads_its_program(kernel: Kernel, drivers: FakeDrivers) -> None:
    """Its files may not be written yet; the stored request has the same text."""
    stored = Job("pending_1", job_request(PROGRAM), JobState.PENDING, time.time(), time.time())
    kernel.store.create(stored, accepted(stored))
    resolved = kernel.validate(job_request("", program_uri="qfs://pending_1"))
    assert resolved.program == PROGRAM


def accepted(job: Job) -> JobEvent:
    """The first event of a job stored directly (not through the kernel)."""
    return JobEvent(job.id, 1, job.state, "state", job.created_at, "accepted")


def test_unknown_jobs_and_files_name_program_uri(kernel: Kernel) -> None:
    with pytest.raises(NotFound) as missing_job:
        kernel.submit(job_request("", program_uri="qfs://nosuchjob"))
    assert field_of(missing_job.value) == "program.uri"
    source = done(kernel, job_request(PROGRAM))
    with pytest.raises(InvalidArgument) as missing_file:
        kernel.submit(job_request("", program_uri=f"qfs://{source.id}/nothing.qasm"))
    assert field_of(missing_file.value) == "program.uri"
    assert "nothing.qasm" in missing_file.value.message
    with pytest.raises(InvalidArgument) as dots:
        kernel.submit(job_request("", program_uri=f"qfs://{source.id}/.."))
    assert field_of(dots.value) == "program.uri"
    assert kernel.store.in_states((JobState.PENDING,)) == []


def test_batch_and_async_submissions_read_program_uris(kernel: Kernel) -> None:
    source = done(kernel, job_request(PROGRAM))
    jobs, _ = kernel.submit_batch([job_request(), job_request("", program_uri=f"qfs://{source.id}")])
    assert jobs[1].request.program == PROGRAM
    with pytest.raises(NotFound) as caught:
        kernel.submit_batch([job_request(), job_request("", program_uri="qfs://gone")])
    assert field_of(caught.value) == "jobs[1].program.uri"
    job, _ = asyncio.run(kernel.submit_async(job_request("", program_uri=f"qfs://{source.id}")))
    assert job.request.program == PROGRAM
    assert finished(kernel, job).state is JobState.DONE


# -- ReplayJob ---------------------------------------------------------------------------
def benchmark(**fields: object) -> JobRequest:
    return job_request(PROGRAM, workload=WorkloadKind.BENCHMARK_JOB, seed=7, **fields)


def test_a_replay_takes_the_original_inputs_and_matches_bit_for_bit(kernel: Kernel) -> None:
    original = done(
        kernel,
        benchmark(shots=321, optimization_level=2, options={"note": "kept"}, parameter_bindings=[{}]),
    )
    replay = done(kernel, replay_of(original.id, name="again", labels={"who": "me"}))
    request = replay.request
    assert request.workload is WorkloadKind.REPLAY_JOB
    assert (request.program, request.language) == (PROGRAM, ProgramLanguage.QASM3)
    assert request.target == DEVICE.name
    assert (request.shots, request.seed, request.optimization_level) == (321, 7, 2)
    assert request.parameter_bindings == [{}]
    assert request.options == {"note": "kept", REPLAY_OF: original.id}
    assert (request.name, request.labels) == ("again", {"who": "me"})
    assert request.program_uri == f"qfs://{original.id}/program.qasm"
    summary = kernel.results(replay.id).summary
    assert summary["replay"]["of"] == original.id
    assert summary["replay"]["matched"] is True
    assert summary["replay"]["seed"] == 7
    assert summary["replay"]["differences"] == []
    assert summary["execution_context"]["seed"] == 7


def test_a_replay_uses_the_recorded_seed_and_compiles_like_the_original(
    kernel: Kernel, compiler: SeedCompiler
) -> None:
    """An original without a seed ran with the seed its driver drew (recorded in its
    result); the replay runs with it, and compiles with the original's (none) seed."""
    original = done(kernel, job_request(PROGRAM))
    assert kernel.results(original.id).seed == 1  # the fake driver's "drawn" seed
    replay = done(kernel, replay_of(f"qfs://{original.id}"))  # the qfs:// form names it too
    assert replay.request.seed == 1
    assert compiler.seeds[-1] is None  # compiled as the original was
    assert kernel.results(replay.id).summary["execution_context"]["compiler"]["transpile_seed"] is None
    again = done(kernel, replay_of(replay.id))  # a replay of the replay
    assert again.request.seed == 1 and compiler.seeds[-1] is None
    assert kernel.results(again.id).summary["replay"]["matched"] is True


def test_a_replay_that_differs_says_where(tmp_path: Path, compiler: SeedCompiler) -> None:
    drivers = ShiftingDrivers()
    kernel = Kernel(MemoryJobStore(), ArtifactStore(tmp_path / "a"), compiler, drivers, KernelSettings())
    kernel.start()
    try:
        original = done(kernel, benchmark())
        replay = done(kernel, replay_of(original.id))
        found = kernel.results(replay.id).summary["replay"]
    finally:
        kernel.stop()
    assert found["matched"] is False
    assert found["differing_experiments"] == 1
    assert found["differences"] == [
        {
            "experiment": 0,
            "outcomes": 2,
            "examples": {"00": {"original": 100, "replay": 99}, "11": {"original": 0, "replay": 1}},
        }
    ]


def test_a_replay_needs_an_original_that_ended_done_with_its_result(kernel: Kernel) -> None:
    with pytest.raises(NotFound) as unknown:
        kernel.submit(replay_of("nosuchjob"))
    assert field_of(unknown.value) == "spec.metadata.replay_of"
    with pytest.raises(InvalidArgument) as bad:
        kernel.submit(replay_of("not a job id!"))
    assert field_of(bad.value) == "spec.metadata.replay_of"
    failed, _ = kernel.submit(job_request("explode"))  # the compiler fails it
    assert finished(kernel, failed).state is JobState.ERROR
    with pytest.raises(FailedPrecondition) as not_done:
        kernel.submit(replay_of(failed.id))
    assert field_of(not_done.value) == "spec.metadata.replay_of"
    assert failed.id in not_done.value.message and "ERROR" in not_done.value.message
    original = done(kernel, benchmark())
    kernel.store.expire_results(time.time() + 1)
    with pytest.raises(FailedPrecondition) as expired:
        kernel.submit(replay_of(original.id))
    assert "no result" in expired.value.message and original.id in expired.value.message


def test_transpile_seed_follows_the_job_seed_and_a_replay_chain(tmp_path: Path) -> None:
    store = MemoryJobStore()
    assert transpile_seed(job_request(seed=5), store) == 5
    assert transpile_seed(job_request(), store) is None
    root = Job("root", job_request(seed=None), JobState.DONE, 0.0, 0.0)
    store.create(root, accepted(root))
    first = Job("first", replay_of("root", seed=9), JobState.DONE, 0.0, 0.0)
    store.create(first, accepted(first))
    assert transpile_seed(replay_of("first", seed=9), store) is None  # the root's seed
    assert transpile_seed(replay_of("gone", seed=9), store) == 9


def test_compare_counts_missing_experiments_and_values() -> None:
    a = JobResult("a", "dev", [Experiment({"0": 5}, 5, expectation_values=[0.5])], seed=3)
    b = JobResult("b", "dev", [Experiment({"0": 5}, 5, expectation_values=[0.25]), Experiment({}, 0)], seed=3)
    found = compare("a", a, b)
    assert found["matched"] is False and found["experiments"] == 2
    assert found["differences"] == [
        {
            "experiment": 0,
            "outcomes": 0,
            "examples": {},
            "expectation_values": {"original": [0.5], "replay": [0.25]},
        },
        {"experiment": 1, "missing_in": "original"},
    ]
    assert compare("a", a, a)["matched"] is True


# -- BenchmarkJob ------------------------------------------------------------------------
def test_a_benchmark_records_its_execution_context(kernel: Kernel, compiler: SeedCompiler) -> None:
    first = done(kernel, benchmark(optimization_level=1))
    second = done(kernel, benchmark(optimization_level=1))
    one, two = kernel.results(first.id), kernel.results(second.id)
    assert one.counts == two.counts
    context = one.summary["execution_context"]
    assert context == two.summary["execution_context"]
    assert context["seed"] == 7 and context["requested_seed"] == 7
    assert context["target"] == DEVICE.name and context["backend"] == DEVICE.name
    assert context["shots"] == 100
    assert context["compiler"]["transpile_seed"] == 7 and compiler.seeds[-2:] == [7, 7]
    assert context["compiler"]["requested_optimization_level"] == 1
    packages = {"eigen", "qiskit", "qiskit-aer", "stim", "numpy", "python", "platform"}
    assert set(context["packages"]) == packages
    assert context["packages"]["qiskit"]
    plain = done(kernel, job_request(seed=7))
    assert "execution_context" not in kernel.results(plain.id).summary  # only where asked for


# -- submission checks by kind -----------------------------------------------------------
def test_a_kind_must_match_what_the_program_is(kernel: Kernel) -> None:
    hybrid = "OPENQASM 3.0; qubit[2] q; // minimize"
    with pytest.raises(InvalidArgument) as quantum:
        kernel.submit(job_request(hybrid, workload=WorkloadKind.QUANTUM_JOB))
    assert field_of(quantum.value) == "spec.workload.kind"
    assert "hybrid program" in quantum.value.message
    with pytest.raises(InvalidArgument) as workflow:
        kernel.submit(job_request(PROGRAM, workload=WorkloadKind.HYBRID_WORKFLOW))
    assert field_of(workflow.value) == "spec.workload.kind"
    assert "plain circuit" in workflow.value.message
    kernel.validate(job_request(hybrid, workload=WorkloadKind.HYBRID_WORKFLOW))
    kernel.validate(job_request(PROGRAM, workload=WorkloadKind.QUANTUM_JOB))
    assert kernel.store.in_states(tuple(JobState)) == []


def test_resources_must_fit_the_target(kernel: Kernel) -> None:
    kernel.validate(job_request(extensions={"resources": {"quantum": {"qubits": 4}, "gpu": {"count": 0}}}))
    kernel.validate(job_request(extensions={"resources": {"quantum": {"qubits": "3"}, "cpu": 2}}))
    with pytest.raises(InvalidArgument) as qubits:
        kernel.submit(job_request(extensions={"resources": {"quantum": {"qubits": 5}}}))
    assert field_of(qubits.value) == "resources.quantum.qubits"
    assert "test:device has 4" in qubits.value.message
    with pytest.raises(ResourceExhausted) as gpu:
        kernel.submit(job_request(extensions={"resources": {"gpu": {"count": 1}}}))
    assert field_of(gpu.value) == "resources.gpu.count"
    assert "has no GPU" in gpu.value.message
    with pytest.raises(InvalidArgument) as bad:
        kernel.submit(job_request(extensions={"resources": {"quantum": {"qubits": "many"}}}))
    assert field_of(bad.value) == "resources.quantum.qubits"


def test_a_noise_model_is_checked_at_submission(kernel: Kernel) -> None:
    kernel.validate(job_request(options={"noise_model": "depolarizing:0.001"}))
    with pytest.raises(InvalidArgument) as unknown:
        kernel.submit(job_request(options={"noise_model": "thermal-gremlins"}))
    assert field_of(unknown.value) == "spec.metadata.noise_model"


# -- the job.yaml artifact ---------------------------------------------------------------
def test_job_yaml_resubmits_the_job_with_its_jobspec_fields(kernel: Kernel) -> None:
    request = benchmark(
        namespace="team-a",
        annotations={"owner": "research"},
        extensions={"resources": {"quantum": {"qubits": 2}}, "scheduling": {"queue": "interactive"}},
    )
    job = done(kernel, request)
    folder = kernel.pipeline.artifacts.folder(job.id)
    again = load_job_file(folder / "job.yaml")
    assert (again.namespace, again.annotations) == ("team-a", {"owner": "research"})
    assert again.workload is WorkloadKind.BENCHMARK_JOB
    assert again.extensions["resources"] == {"quantum": {"qubits": 2}}
    assert again.extensions["scheduling"] == {"queue": "interactive"}
    assert (again.program, again.seed, again.target) == (PROGRAM, 7, DEVICE.name)


def test_a_replay_naming_the_original_program_by_uri_still_replays(kernel: Kernel) -> None:
    """``program: {uri: qfs://<original>/program.qasm}`` in a replay's job file: the
    program is read, and the seed and settings still come from the original."""
    original = done(kernel, benchmark(shots=50))
    uri = f"qfs://{original.id}/program.qasm"
    replay = done(kernel, replay_of(original.id, program="", program_uri=uri, shots=None, seed=None))
    assert (replay.request.seed, replay.request.shots) == (7, 50)
    assert kernel.results(replay.id).summary["replay"]["matched"] is True
