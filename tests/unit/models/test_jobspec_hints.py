"""The did-you-mean hints of a refused ``job.yaml``: a run setting outside ``spec.metadata``,
a misspelt key, ``program:`` as a bare string, and ``spec.metadata`` keys one letter away
from a setting Eigen reads (free-form keys still pass). Also through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eigen.errors import InvalidArgument
from eigen.models.jobspec import parse_jobspec

SOURCE = "OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\nh q[0];\nc = measure q;\n"


def refused(spec: dict[str, Any], **top: Any) -> dict[str, str]:
    """The violations (field: description) of the document with ``spec``."""
    with pytest.raises(InvalidArgument) as caught:
        parse_jobspec({"apiVersion": "eigen.os/v1", "spec": spec, **top})
    return {v.field: v.description for v in caught.value.violations}


def test_a_run_setting_in_spec_points_to_spec_metadata() -> None:
    violations = refused({"program": {"source": SOURCE}, "shots": 100})
    assert violations["spec.shots"] == "unknown key (did you mean spec.metadata.shots?)"


def test_a_misspelt_spec_key_is_named() -> None:
    violations = refused({"program": {"source": SOURCE}, "tarket": "sim:local"})
    assert violations["spec.tarket"] == "unknown key (did you mean spec.target?)"


def test_a_misspelt_program_key_is_named() -> None:
    violations = refused({"program": {"sourc": SOURCE}})
    assert violations["spec.program.sourc"] == "unknown key (did you mean spec.program.source?)"


def test_a_key_nothing_is_close_to_has_no_hint() -> None:
    violations = refused({"program": {"source": SOURCE}, "surprise": 1})
    assert violations["spec.surprise"] == "unknown key"


def test_program_as_a_string_says_path_or_source() -> None:
    violations = refused({"program": "bell.qasm"})
    assert violations["spec.program"].startswith("needs path: or source:")
    assert len(violations) == 1


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("shot", "shots"),
        ("seeds", "seed"),
        ("maxiter", "max_iters"),
        ("max_iter", "max_iters"),
        ("optimiser", "optimizer"),
        ("Shots", "shots"),
        ("optimisation_level", "optimization_level"),
        ("timeout", "timeout_seconds"),
    ],
)
def test_metadata_keys_close_to_known_ones_are_refused(key: str, meant: str) -> None:
    violations = refused({"program": {"source": SOURCE}, "metadata": {key: 3}})
    assert violations[f"spec.metadata.{key}"] == (
        f"unknown setting '{key}' (did you mean spec.metadata.{meant}?)"
    )


def test_free_form_metadata_keys_stay_allowed() -> None:
    metadata = {"ansatz_depth": 2, "note": "first try", "owner": "ada", "shots": 10, "max_iters": 5}
    spec = parse_jobspec(
        {"apiVersion": "eigen.os/v1", "spec": {"program": {"source": SOURCE}, "metadata": metadata}}
    )
    request = spec.to_request(SOURCE)
    assert request.options["ansatz_depth"] == "2"
    assert request.shots == 10


def test_every_violation_is_listed_with_its_hint() -> None:
    violations = refused({"program": {"source": SOURCE}, "shots": 1, "metadata": {"seeds": 1}})
    assert set(violations) == {"spec.shots", "spec.metadata.seeds"}


def test_the_cli_prints_the_hints_and_exits_2(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("apiVersion: eigen.os/v1\nspec:\n  program: bell.qasm\n  shots: 100\n")
    env = {**os.environ, "COLUMNS": "80", "EIGEN_DATA_DIR": str(tmp_path / "data")}
    env.pop("EIGEN_ENDPOINT", None)
    done = subprocess.run(
        [sys.executable, "-m", "eigen.cli", "submit", "-j", str(job)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "spec.program: needs path: or source:" in done.stderr
    assert "did you mean spec.metadata.shots?" in done.stderr
