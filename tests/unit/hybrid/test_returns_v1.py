"""What a job's result summary shows of its program's ``return`` (plain, hybrid, sweep), a
program with no gates, the measure-all default, and the precedence of the decorator's
settings, through a kernel with a memory store, the real compiler and the simulators."""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from eigen.compiler.service import CompilationService
from eigen.drivers.registry import DriverRegistry
from eigen.errors import EigenError, InvalidArgument
from eigen.kernel.hybrid.returns import bound_lookup, circuit_summary
from eigen.kernel.hybrid.settings import circuit_seed, circuit_shots, job_options
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel
from eigen.kernel.store.memory import MemoryJobStore
from eigen.models.compiled import CompiledProgram, ExecutionRequest, ProgramReturns, ReturnRef
from eigen.models.job import JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import ExecutionResult, JobResult, result_to_dict
from eigen.models.state import JobState

HEADER = "from eigen_lang import *\nfrom eigen_lang.optimizers import minimize\n\n"


def source(body: str, decorator: str = "@hybrid_program") -> str:
    indented = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return f"{HEADER}{decorator}\ndef main():\n{indented}\n"


class CountingDrivers(DriverRegistry):
    """The real driver-manager, counting the circuits it is asked to run."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ExecutionRequest] = []

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        self.requests.append(request)
        return super().execute(request)

    def execute_many(self, requests: Sequence[ExecutionRequest]) -> list[ExecutionResult | EigenError]:
        self.requests.extend(requests)
        return super().execute_many(requests)


@pytest.fixture(scope="module")
def drivers() -> CountingDrivers:
    return CountingDrivers()


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory, drivers: CountingDrivers) -> Iterator[Kernel]:
    root: Path = tmp_path_factory.mktemp("returns")
    running = Kernel(MemoryJobStore(), ArtifactStore(root / "artifacts"), CompilationService(), drivers)
    running.start()
    yield running
    running.stop()


def run(kernel: Kernel, program: str, **fields: Any) -> tuple[JobState, JobResult]:
    request = JobRequest(
        name="surface",
        program=program,
        language=ProgramLanguage.EIGEN_LANG,
        target="sim:statevector",
        **fields,
    )
    job, _ = kernel.submit(request)
    states = [event.state for event in kernel.watch(job.id) if event.kind == "state"]
    final = states[-1]
    assert final is JobState.DONE, kernel.get(job.id).error_summary
    return final, kernel.results(job.id)


def as_json(result: JobResult) -> dict[str, Any]:
    """The summary as results.json holds it."""
    summary: dict[str, Any] = json.loads(json.dumps(result_to_dict(result)))["summary"]
    return summary


# -- plain programs ----------------------------------------------------------------------


def test_a_plain_program_returns_its_values_with_json_types(kernel: Kernel) -> None:
    program = source(
        """
        q = QubitRegister(2)
        c = ClassicalRegister(2)
        H = Observable({"ZZ": 0.5, "XI": -0.25})
        theta = Param("theta", 0.5)
        ry(q[0], theta)
        cx(q[0], q[1])
        measure(q[0], q[1], c=[c[0], c[1]])
        return {"qubits": q.size, "bits": c.size, "terms": H.terms, "theta": theta, "name": theta.name,
                "tags": ["a", 1, True, None]}
        """
    )
    _, result = run(kernel, program, shots=64, seed=3)
    returns = result.summary["returns"]
    assert returns == {
        "qubits": 2,
        "bits": 2,
        "terms": [["ZZ", 0.5], ["XI", -0.25]],
        "theta": 0.5,
        "name": "theta",
        "tags": ["a", 1, True, None],
    }
    assert type(returns["qubits"]) is int and type(returns["theta"]) is float
    assert as_json(result)["returns"] == returns
    assert sum(result.experiments[0].counts.values()) == 64


def test_a_param_is_its_bound_value_one_per_binding(kernel: Kernel) -> None:
    program = source("a = Param('a', 0.25)\nb = Param('b', 1)\nry(0, a)\nrx(0, b)\nreturn {'a': a, 'b': b}")
    _, defaults = run(kernel, program, shots=10)
    assert defaults.summary["returns"] == {"a": 0.25, "b": 1.0}
    _, one = run(kernel, program, shots=10, parameter_bindings=[{"a": 2.0, "b": 1.5}])
    assert one.summary["returns"] == {"a": 2.0, "b": 1.5}
    bindings = [{"a": 0.0, "b": 1.0}, {"a": 3.0, "b": 2.0}]
    _, two = run(kernel, program, shots=10, parameter_bindings=bindings)
    assert two.summary["returns"] == {"a": [0.0, 3.0], "b": [1.0, 2.0]}


@pytest.mark.parametrize(
    ("returned", "value"),
    [("1", 1), ("'text'", "text"), ("[1, [2.5, 'x'], {'k': None}]", [1, [2.5, "x"], {"k": None}])],
)
def test_a_value_that_is_not_a_dict_is_the_returned_value(kernel: Kernel, returned: str, value: Any) -> None:
    _, result = run(kernel, source(f"h(0)\nreturn {returned}"), shots=8)
    assert result.summary == {"returned": value}
    assert as_json(result) == {"returned": value}
    assert type(result.summary["returned"]) is type(value)


def test_the_minimal_program_runs_nothing_and_ends_done(kernel: Kernel, drivers: CountingDrivers) -> None:
    minimal = "from eigen_lang import hybrid_program\n\n@hybrid_program\ndef main():\n    return 1\n"
    before = len(drivers.requests)
    state, result = run(kernel, minimal)
    assert state is JobState.DONE
    assert result.experiments == [] and result.summary == {"returned": 1}
    assert len(drivers.requests) == before  # nothing was sent to a driver


def test_a_program_with_no_gates_and_no_return_has_an_empty_result(kernel: Kernel) -> None:
    _, result = run(kernel, source("N = 2\npass"))
    assert result.experiments == [] and result.summary == {}


def test_a_program_without_measurement_measures_every_qubit(kernel: Kernel) -> None:
    _, result = run(kernel, source("x(0)\nx(2)"), shots=20, seed=1)
    assert result.experiments[0].counts == {"101": 20}  # bit 0 rightmost, all 3 qubits


def test_a_program_without_a_return_has_no_summary(kernel: Kernel) -> None:
    _, result = run(kernel, source("h(0)"), shots=5)
    assert result.summary == {}


# -- hybrid programs ---------------------------------------------------------------------

VQE = """
q = QubitRegister(2)
H = Observable(Z=0, X=1)
theta = Param("theta", 0.1)
phi = Param("phi", 0.2)
ry(q[0], theta)
ry(q[1], phi)
cx(0, 1)
energy = ExpectationValue("energy", observable=H)
opt = minimize(energy, [0.1, 0.2], method="COBYLA", max_iters=40)
"""


def test_a_hybrid_program_returns_every_attribute(kernel: Kernel) -> None:
    body = VQE + (
        "return {'terms': H.terms, 'n': q.size, 'fun': opt.fun, 'x': opt.x, 'method': opt.method,"
        " 'objective': opt.objective, 'metadata': opt.metadata, 'theta': theta, 'e': energy}"
    )
    _, result = run(kernel, source(body), shots=0)
    summary = result.summary
    returns = summary["returns"]
    assert returns["terms"] == [["IZ", 1.0], ["XI", 1.0]] and returns["n"] == 2
    assert returns["fun"] == summary["energy"] < -1.9  # the exact minimum is -2
    optimum = summary["optimal_parameters"]
    assert returns["x"] == [optimum["theta"], optimum["phi"]]  # declaration order
    assert returns["theta"] == optimum["theta"]
    assert returns["method"] == "COBYLA" and returns["objective"] == "energy"
    assert returns["e"] == summary["expectation_values"]["energy"]
    metadata = returns["metadata"]
    assert metadata["iterations"] == summary["iterations"] and type(metadata["iterations"]) is int
    assert metadata["evaluations"] == summary["evaluations"]
    assert metadata["converged"] is summary["converged"] and metadata["max_iters"] == 40
    assert as_json(result)["returns"]["n"] == 2


def test_a_hybrid_program_may_return_a_value_that_is_not_a_dict(kernel: Kernel) -> None:
    _, result = run(kernel, source(VQE + "return [opt.fun, q.size]"), shots=0)
    assert result.summary["returned"] == [result.summary["energy"], 2]
    assert "returns" not in result.summary


def test_a_sweep_with_observables_returns_its_params(kernel: Kernel) -> None:
    program = source("a = Param('a', 0.0)\nry(0, a)\nreturn {'a': a, 'n': 1}")
    bindings = [{"a": 0.0}, {"a": math.pi}]
    _, result = run(kernel, program, shots=0, parameter_bindings=bindings, observables=[{"Z": 1.0}])
    assert result.summary["returns"] == {"a": [0.0, math.pi], "n": 1}
    assert result.summary["bindings"] == 2


# -- the decorator's settings ------------------------------------------------------------

ONE = """
theta = Param("theta", 0.3)
ry(0, theta)
e = ExpectationValue("e", observable=Observable(Z=0))
opt = minimize(e, max_iters=30)
return {"m": opt.method}
"""


def test_the_decorator_metadata_sits_below_spec_metadata(kernel: Kernel) -> None:
    decorated = source(
        ONE, "@hybrid_program(shots=300, metadata={'optimizer': 'Nelder-Mead', 'max_iters': 4})"
    )
    _, program_set = run(kernel, decorated)
    assert program_set.summary["method"] == "Nelder-Mead" and program_set.summary["max_iters"] == 4
    assert program_set.summary["shots_per_basis"] == 300
    _, job_set = run(kernel, decorated, shots=200, options={"optimizer": "COBYLA", "max_iters": "6"})
    assert job_set.summary["method"] == "COBYLA" and job_set.summary["max_iters"] == 6
    assert job_set.summary["shots_per_basis"] == 200


def test_the_decorator_metadata_fills_shots_and_the_estimator(kernel: Kernel) -> None:
    decorated = source(ONE, "@hybrid_program(metadata={'estimator': 'exact', 'max_iters': 3})")
    _, result = run(kernel, decorated)
    assert result.summary["estimator"] == "exact" and result.summary["shots_per_basis"] == 0


def test_the_decorator_level_compiles_unless_the_job_names_one(kernel: Kernel) -> None:
    decorator = "@hybrid_program(optimization_level=0, target='ibm:x')"
    _, program_level = run(kernel, source("h(0)\ncx(0, 1)\nreturn 1", decorator), shots=4)
    assert program_level.compile_report["optimization_level"] == 0
    assert program_level.compile_report["decorator"]["target"] == "ibm:x"  # recorded, not used
    assert program_level.backend == "sim:statevector"
    _, job_level = run(kernel, source("h(0)\ncx(0, 1)\nreturn 2", decorator), shots=4, optimization_level=2)
    assert job_level.compile_report["optimization_level"] == 2


def test_an_unknown_noise_model_in_the_decorator_is_refused_at_submission(kernel: Kernel) -> None:
    request = JobRequest(
        name="noisy",
        program=source("h(0)", "@hybrid_program(noise_model='gremlins:0.5')"),
        language=ProgramLanguage.EIGEN_LANG,
        target="sim:statevector",
    )
    with pytest.raises(InvalidArgument) as caught:
        kernel.submit(request)
    assert "unknown noise model 'gremlins'" in caught.value.message


# -- the pieces, without a kernel --------------------------------------------------------


def compiled_with(returns: ProgramReturns | None, decorator: dict[str, Any] | None = None) -> CompiledProgram:
    return CompiledProgram(
        None, "d", 1, 1, ["a"], {}, defaults={"a": 0.5}, returns=returns, decorator=decorator or {}
    )


def test_bound_lookup_gives_defaults_bindings_and_nothing_else() -> None:
    compiled = compiled_with(ProgramReturns({"a": ReturnRef("param:a"), "z": ReturnRef("param:z")}))
    assert circuit_summary(compiled, []) == {"returns": {"a": 0.5, "z": None}}
    assert bound_lookup(compiled, [{"a": 1.0}])("fun") is None
    assert circuit_summary(compiled_with(None), []) == {}


def test_plain_shots_and_seed_follow_the_same_precedence() -> None:
    decorator = {"shots": 50, "seed": 7, "metadata": {"max_iters": 5, "optimizer": "SPSA"}}
    plain = JobRequest(name="p", program="x", language=ProgramLanguage.EIGEN_LANG)
    assert (circuit_shots(plain, decorator), circuit_seed(plain, decorator)) == (50, 7)
    assert (circuit_shots(plain, {}), circuit_seed(plain, {})) == (1024, None)
    given = plain.model_copy(update={"shots": 9, "seed": 1, "options": {"max_iters": "8"}})
    assert (circuit_shots(given, decorator), circuit_seed(given, decorator)) == (9, 1)
    assert job_options(given, decorator) == {"max_iters": "8", "optimizer": "SPSA"}


def test_a_plain_program_runs_with_the_decorator_shots_and_seed(kernel: Kernel) -> None:
    program = source("h(0)\ncx(0, 1)", decorator="@hybrid_program(shots=37, seed=5)")
    _, first = run(kernel, program)
    _, again = run(kernel, program)
    assert first.experiments[0].shots == 37 and sum(first.experiments[0].counts.values()) == 37
    assert first.seed == again.seed == 5
    assert first.experiments[0].counts == again.experiments[0].counts
    _, job_wins = run(kernel, program, shots=11)
    assert sum(job_wins.experiments[0].counts.values()) == 11


def test_the_decorator_shots_are_checked_against_the_device_at_submission(kernel: Kernel) -> None:
    program = source("h(0)", decorator="@hybrid_program(shots=5000000)")
    request = JobRequest(program=program, language=ProgramLanguage.EIGEN_LANG, target="sim:statevector")
    with pytest.raises(InvalidArgument, match="above the maximum"):
        kernel.submit(request)
