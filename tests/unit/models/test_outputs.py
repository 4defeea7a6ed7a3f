"""Result outputs: the request field, the size limits checked at submission, and results
with large outputs cut into chunks and merged back."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eigen.errors import InvalidArgument
from eigen.models.chunks import merge, split
from eigen.models.job import JobRequest
from eigen.models.outputs import (
    DENSE_MAX_QUBITS,
    DENSE_MAX_VALUES,
    MEMORY_MAX_SHOTS,
    Output,
    check_outputs,
)
from eigen.models.program import ProgramLanguage
from eigen.models.result import Experiment, JobResult


def a_request(**fields: object) -> JobRequest:
    return JobRequest(program="OPENQASM 3.0;", language=ProgramLanguage.QASM3, **fields)  # type: ignore[arg-type]


def test_outputs_default_to_counts_and_are_kept_once_in_order() -> None:
    assert a_request().outputs == (Output.COUNTS,)
    assert a_request(outputs=[]).outputs == (Output.COUNTS,)
    assert a_request(outputs="statevector, memory,memory").outputs == (Output.MEMORY, Output.STATEVECTOR)


def test_an_unknown_output_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError, match="'counts', 'memory', 'probabilities' or 'statevector'"):
        a_request(outputs=["counts", "amplitudes"])


def test_memory_over_its_limit_is_refused_with_the_figures() -> None:
    check_outputs((Output.MEMORY,), width=20, shots=MEMORY_MAX_SHOTS, runs=1)
    with pytest.raises(InvalidArgument, match="memory of 1,048,577 shots") as caught:
        check_outputs((Output.MEMORY,), width=2, shots=MEMORY_MAX_SHOTS + 1, runs=1)
    assert caught.value.violations[0].field == "outputs"
    with pytest.raises(InvalidArgument, match=r"2 experiments x 600000"):
        check_outputs((Output.MEMORY,), width=2, shots=600_000, runs=2)


def test_dense_outputs_over_their_width_or_size_are_refused() -> None:
    check_outputs((Output.PROBABILITIES, Output.STATEVECTOR), width=DENSE_MAX_QUBITS, shots=1, runs=1)
    with pytest.raises(InvalidArgument, match="statevector of a 21-qubit circuit: at most 20 qubits"):
        check_outputs((Output.STATEVECTOR,), width=DENSE_MAX_QUBITS + 1, shots=1, runs=1)
    runs = DENSE_MAX_VALUES // (1 << 10) + 1
    with pytest.raises(InvalidArgument, match="use fewer bindings"):
        check_outputs((Output.PROBABILITIES,), width=10, shots=1, runs=runs)
    check_outputs((Output.COUNTS,), width=28, shots=10**6, runs=10)  # counts have no such limit


def big_result() -> JobResult:
    return JobResult(
        job_id="j",
        backend="sim:statevector",
        engine="aer",
        seed=3,
        experiments=[
            Experiment(
                counts={format(i, "04b"): i + 1 for i in range(16)},
                shots=136,
                memory=[format(i % 16, "04b") for i in range(136)],
                probabilities=[1 / 16] * 16,
                statevector=[complex(0.25, 0.0)] * 8 + [complex(0.0, 0.25)] * 8,
            ),
            Experiment(counts={}, shots=0, expectation_values=[0.5]),
            Experiment(counts={"1": 5}, shots=5, memory=["1"] * 5),
        ],
    )


@pytest.mark.parametrize("size", [1, 7, 16, 50, 10_000])
def test_chunks_hold_at_most_size_values_and_merge_back(size: int) -> None:
    result = big_result()
    chunks = list(split(result, size))
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.total == len(chunks) for c in chunks) and chunks[-1].is_final
    for chunk in chunks:
        values = sum(
            len(e.counts) + len(e.memory) + len(e.probabilities) + len(e.statevector)
            for e in chunk.result.experiments
        )
        assert values <= size
    assert chunks[0].result.engine == "aer" and chunks[0].result.seed == 3
    assert merge(chunks) == result


def test_appending_fragments_in_order_rebuilds_each_list() -> None:
    # what a reader that never holds the whole result does: append each fragment as it comes
    memory: list[str] = []
    for chunk in split(big_result(), 10):
        for position, fragment in zip(chunk.experiment_indices, chunk.result.experiments, strict=True):
            if position == 0:
                memory.extend(fragment.memory)
    assert memory == big_result().experiments[0].memory
