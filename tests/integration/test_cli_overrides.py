"""``eigen-cli submit`` flags override the job file (the real CLI process against a real
server): the job runs with the flags' target, shots, seed, level and priority, and a bad
flag value is exit code 2 naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eigen.server.embedded import EmbeddedServer
from tests.integration.test_hardening_cli import assert_user_error, job_file, run_cli

pytestmark = pytest.mark.integration


def test_flags_win_over_the_job_file(server: EmbeddedServer, tmp_path: Path) -> None:
    path = job_file(
        tmp_path, "  target: sim:statevector\n  priority: 10\n  metadata: {shots: 500, seed: 1}\n"
    )
    flags = ["--target", "sim:stabilizer", "--shots", "33", "--seed", "8", "-O", "0", "--priority", "90"]
    done = run_cli(server, "submit", "--job", str(path), "--watch", "--json", *flags)
    assert done.returncode == 0, done.stdout + done.stderr
    job = json.loads(done.stdout)
    assert (job["state"], job["target"], job["shots"], job["priority"]) == ("DONE", "sim:stabilizer", 33, 90)
    results = run_cli(server, "results", job["id"], "--json")
    result = json.loads(results.stdout)
    assert result["seed"] == 8
    assert sum(result["experiments"][0]["counts"].values()) == 33


def test_a_bad_flag_value_is_exit_2_naming_the_field(server: EmbeddedServer, tmp_path: Path) -> None:
    path = job_file(tmp_path, "")
    assert_user_error(run_cli(server, "submit", "--job", str(path), "--priority", "101"), "priority")
