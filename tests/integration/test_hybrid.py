"""Hybrid programs through a real server: VQE accuracy, progress, cancel, sweeps, resume."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest

from eigen.client.client import Client
from eigen.errors import InvalidArgument
from eigen.jobfile import load_job_file
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.job import JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.state import JobState
from eigen.server.embedded import EmbeddedServer

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXACT_H2 = -1.8572750302023795
CHEMICAL_ACCURACY = 1.6e-3


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Client:
    return Client(server.address)


def vqe(**changes: object) -> JobRequest:
    request = load_job_file(EXAMPLES / "vqe-h2" / "job.yaml")
    return request.model_copy(update=changes)


def test_vqe_exact_reaches_chemical_accuracy(client: Client) -> None:
    job = client.submit(vqe())
    assert client.wait(job.id).state is JobState.DONE
    summary = client.results(job.id).summary
    assert abs(summary["energy"] - EXACT_H2) < CHEMICAL_ACCURACY
    assert summary["estimator"] == "exact" and summary["std_error"] == 0
    assert (
        summary["iterations"] == len(summary["history"]) and summary["evaluations"] >= summary["iterations"]
    )
    assert summary["returns"]["energy"] == summary["energy"]
    assert len(summary["returns"]["parameters"]) == 4


def test_vqe_with_shots_lands_within_three_standard_errors(client: Client) -> None:
    job = client.submit(vqe(shots=8192, options={"optimizer": "COBYLA", "max_iters": "120"}))
    assert client.wait(job.id).state is JobState.DONE
    result = client.results(job.id)
    summary = result.summary
    assert summary["estimator"] == "shots" and summary["shots_per_basis"] == 8192
    assert sorted(summary["measurement_bases"]) == ["XX", "ZZ"]
    error = summary["std_error"]
    assert 0 < error < 0.01
    assert abs(summary["energy"] - EXACT_H2) <= 3 * error, (summary["energy"], error)
    assert sum(result.counts.values()) == 8192


def test_progress_events_carry_iteration_and_energy(client: Client) -> None:
    job = client.submit(vqe(options={"max_iters": "15"}))
    progress = [e for e in client.watch(job.id) if e.kind == "progress"]
    assert [e.data["iteration"] for e in progress] == list(range(1, len(progress) + 1))
    assert all("energy" in e.data and e.data["max_iters"] == 15 for e in progress)
    assert client.results(job.id).summary["iterations"] == len(progress) <= 15


def test_seed_style_program_improves_its_energy(client: Client) -> None:
    job = client.submit(EXAMPLES / "vqe-seed-style" / "job.yaml")
    assert client.wait(job.id).state is JobState.DONE
    summary = client.results(job.id).summary
    assert summary["energy"] < summary["start_energy"]
    assert summary["method"] == "COBYLA" and summary["iterations"] <= 60
    assert summary["shots_per_basis"] == 2048  # from @hybrid_program(shots=2048)


def test_metadata_overrides_the_program(client: Client) -> None:
    request = load_job_file(EXAMPLES / "vqe-seed-style" / "job.yaml")
    job = client.submit(
        request.model_copy(update={"shots": 100, "options": {"optimizer": "nelder-mead", "max_iters": "5"}})
    )
    client.wait(job.id)
    summary = client.results(job.id).summary
    assert summary["method"] == "Nelder-Mead" and summary["shots_per_basis"] == 100
    assert summary["iterations"] <= 5


def test_cancel_stops_the_loop(client: Client) -> None:
    job = client.submit(vqe(shots=4096, options={"optimizer": "SPSA", "max_iters": "5000"}))
    for event in client.watch(job.id):
        if event.kind == "progress" and event.data["iteration"] >= 2:
            client.cancel(job.id)
    final = client.get(job.id)
    assert final.state is JobState.CANCELLED
    events_then = final.last_seq
    threading.Event().wait(1.0)
    assert client.get(job.id).last_seq == events_then  # no progress after the cancel


def test_exact_estimation_is_refused_on_a_noisy_emulator(client: Client) -> None:
    with pytest.raises(InvalidArgument) as caught:
        client.submit(vqe(target="emu:manila", shots=0))
    assert caught.value.violations[0].field == "spec.metadata.shots"


def test_vqe_on_the_noisy_emulator_shows_the_noise(client: Client) -> None:
    job = client.submit(vqe(target="emu:manila", shots=2000, options={"max_iters": "40"}))
    assert client.wait(job.id).state is JobState.DONE
    summary = client.results(job.id).summary
    assert EXACT_H2 + 0.005 < summary["energy"] < -1.0  # noise keeps it above the exact value


SWEEP = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
qubit[1] q;
bit[1] c;
ry(theta) q[0];
c[0] = measure q[0];
"""


@pytest.mark.parametrize("shots", [0, 4000])
def test_parameter_sweep_gives_one_result_per_binding(client: Client, shots: int) -> None:
    bindings = [{"theta": 0.0}, {"theta": math.pi / 2}, {"theta": math.pi}]
    request = JobRequest(
        name="sweep", program=SWEEP, language=ProgramLanguage.QASM3, shots=shots, seed=3,
        parameter_bindings=bindings, observables=[{"Z": 1.0}],
    )  # fmt: skip
    job = client.submit(request)
    assert client.wait(job.id).state is JobState.DONE
    experiments = client.results(job.id).experiments
    assert [e.bindings for e in experiments] == bindings
    values = [e.expectation_values[0] for e in experiments]
    tolerance = 1e-9 if shots == 0 else 0.06
    assert values == pytest.approx([1.0, 0.0, -1.0], abs=tolerance)
    if shots:
        assert experiments[0].counts == {"0": shots} and experiments[2].counts == {"1": shots}
        assert all(0 < e.standard_errors[0] < 0.02 for e in experiments[1:2])


def test_a_restarted_kernel_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    from eigen.compiler.service import CompilationService
    from eigen.drivers.registry import DriverRegistry

    def kernel() -> Kernel:
        store = SqlJobStore(sqlite_url(tmp_path / "eigen.db"))
        return Kernel(store, ArtifactStore(tmp_path / "artifacts"), CompilationService(), DriverRegistry())

    first = kernel()
    first.start()
    job, _ = first.submit(vqe(shots=2000, options={"optimizer": "SPSA", "max_iters": "40"}))
    for event in first.watch(job.id):
        if event.kind == "progress" and event.data["iteration"] >= 5:
            break
    first.stop()
    stopped = first.get(job.id)
    assert stopped.state is JobState.RUNNING
    done_before = int((first.store.checkpoint(job.id) or {})["iterations"])
    assert done_before >= 5
    second = kernel()
    second.start()
    try:
        assert [e.state for e in second.watch(job.id) if e.kind == "state"][-1] is JobState.DONE
        summary = second.results(job.id).summary
        assert summary["resumed"] is True
        assert summary["iterations"] <= 40
        history = [h["iteration"] for h in summary["history"]]
        assert history == list(range(1, len(history) + 1)) and len(history) > done_before
        assert second.get(job.id).attempt == 2
    finally:
        second.stop()


def test_a_loop_whose_progress_meets_an_unreachable_store_waits_and_runs_once(tmp_path: Path) -> None:
    """The store goes down mid-loop (PostgreSQL restarting): the loop holds its progress
    and checkpoint until the store answers and goes on, in the same run (attempt 1), its
    history unbroken; nothing leaves it RUNNING for a second run."""
    from eigen.compiler.service import CompilationService
    from eigen.drivers.registry import DriverRegistry
    from eigen.kernel.kernel_settings import KernelSettings
    from tests.unit.kernel.test_store_outage import OutageStore

    store = OutageStore()
    settings = KernelSettings(lease_s=1.0)
    kernel = Kernel(
        store, ArtifactStore(tmp_path / "artifacts"), CompilationService(), DriverRegistry(), settings
    )
    kernel.start()
    try:
        job, _ = kernel.submit(vqe(shots=2000, options={"optimizer": "SPSA", "max_iters": "30"}))
        for event in kernel.watch(job.id):
            if event.kind == "progress" and event.data["iteration"] >= 3:
                break
        store.down.set()
        assert store.wait_refused("append_event", 1)  # an iteration's progress met the outage
        assert store.wait_refused("get", 3)  # and is tried again (its claim read first) meanwhile
        store.down.clear()
        ended: list[JobState] = []
        watching = threading.Thread(
            target=lambda: ended.extend(e.state for e in kernel.watch(job.id) if e.kind == "state"),
            daemon=True,
        )
        watching.start()
        watching.join(120)
        assert ended and ended[-1] is JobState.DONE, ended
        done = store.stored(job.id)
        assert done is not None and done.attempt == 1
        summary = kernel.results(job.id).summary
        history = [h["iteration"] for h in summary["history"]]
        assert history == list(range(1, len(history) + 1)) and not summary.get("resumed")
    finally:
        kernel.stop()


NO_PARAMS = """from eigen_lang import ExpectationValue, Observable, h, hybrid_program
from eigen_lang.optimizers import minimize


@hybrid_program
def main():
    h(0)
    value = ExpectationValue("x", observable=Observable(X=0))
    best = minimize(value, [])
    return {"x": best.fun}
"""


def test_a_program_without_parameters_returns_its_values(client: Client) -> None:
    request = JobRequest(name="fixed", program=NO_PARAMS, language=ProgramLanguage.EIGEN_LANG, shots=0)
    job = client.submit(request)
    assert client.wait(job.id).state is JobState.DONE
    summary = client.results(job.id).summary
    assert summary["energy"] == pytest.approx(1.0) and summary["iterations"] == 0
    assert summary["returns"] == {"x": pytest.approx(1.0)}


def test_returned_parameters_follow_declaration_order(client: Client) -> None:
    job = client.submit(EXAMPLES / "vqe-seed-style" / "job.yaml")
    client.wait(job.id)
    summary = client.results(job.id).summary
    optimum = summary["optimal_parameters"]
    assert summary["returns"]["parameters"] == [optimum["theta"], optimum["phi"]]


def test_eigen_lang_params_sweep_in_one_job(client: Client) -> None:
    request = load_job_file(EXAMPLES / "eigen-lang-circuit" / "job.yaml")
    bindings = [{"theta": 0.0}, {"theta": math.pi}]
    job = client.submit(request.model_copy(update={"parameter_bindings": bindings, "shots": 200}))
    assert client.wait(job.id).state is JobState.DONE
    experiments = client.results(job.id).experiments
    assert [e.bindings for e in experiments] == bindings
    assert [e.counts for e in experiments] == [{"00": 200}, {"11": 200}]  # shots are per binding
