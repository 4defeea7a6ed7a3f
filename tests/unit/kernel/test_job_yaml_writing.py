"""job.yaml as the kernel writes it (:class:`eigen.kernel.qfs.writer.Yaml`): a long table of
bindings takes the flow-style fast path and reads back as the same request."""

from __future__ import annotations

import random
import time

import yaml

from eigen.kernel.qfs.writer import NUMBER_TABLE_ROWS, Yaml
from eigen.models.job import JobRequest
from eigen.models.jobspec import document_of, parse_jobspec
from eigen.models.program import ProgramLanguage

PROGRAM = 'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float a;\nqubit[1] q;\nrx(a) q[0];\n'


def sweep(rows: int, names: list[str]) -> JobRequest:
    rng = random.Random(rows)
    values = [1e-05, -2.5e20, 0.0, 3.0, 1.0 / 3.0, 7e-300]
    bindings = [
        {n: (values[i % len(values)] if i < 6 else rng.uniform(-9, 9)) for n in names} for i in range(rows)
    ]
    return JobRequest(
        program=PROGRAM,
        language=ProgramLanguage.QASM3,
        parameter_bindings=bindings,
        labels={"note": "eigen-number-table-0"},  # what a placeholder looks like: left alone
    )


def test_a_long_sweep_reads_back_equal_and_is_written_fast() -> None:
    names = ["a", "on", "null", "yes"]  # YAML 1.1 would read these unquoted as bool/None keys
    request = sweep(2_000, names)
    document = document_of(request, "program.qasm")
    start = time.perf_counter()
    text = Yaml(document).encode().decode()
    took = time.perf_counter() - start
    assert "parameters: [{" in text  # the fast path, not one line per value
    loaded = yaml.safe_load(text)
    assert loaded["spec"]["parameters"] == [dict(b) for b in request.parameter_bindings]
    assert loaded["metadata"]["labels"] == {"note": "eigen-number-table-0"}
    assert parse_jobspec(loaded).to_request(PROGRAM) == request
    block = yaml.dump(document, Dumper=yaml.SafeDumper, sort_keys=False)
    assert yaml.safe_load(block) == loaded  # the same document as PyYAML's own writing
    assert took < 2.0  # generous: it is milliseconds; the block writing took seconds


def test_a_short_table_stays_block_yaml() -> None:
    request = sweep(NUMBER_TABLE_ROWS - 1, ["a"])
    text = Yaml(document_of(request, "p.qasm")).encode().decode()
    assert "parameters:\n" in text and "[{" not in text
    assert yaml.safe_load(text)["spec"]["parameters"] == [dict(b) for b in request.parameter_bindings]
