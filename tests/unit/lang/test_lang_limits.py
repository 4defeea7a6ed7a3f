"""Values and circuits of an Eigen-Lang program stay bounded while it is read, whatever
its names expand to (issue 14: a 400-byte program of nested list aliases stalled 6.85 s)."""

from __future__ import annotations

import time

import pytest
from lang_helpers import HEADER, error_line, marked_line, program, rejected

from eigen.lang import read_program
from eigen.lang.rules import MAX_OPERATIONS, MAX_VALUE_ITEMS


def doubling(levels: int) -> str:
    """``a0 = [0, 1]`` and ``a{i} = [a{i-1}, a{i-1}]``: ``a{n}`` has 2**(n+1) leaves."""
    return "a0 = [0, 1]\n" + "".join(f"a{i} = [a{i - 1}, a{i - 1}]\n" for i in range(1, levels))


@pytest.mark.parametrize(
    ("decorator", "body"),
    [
        ("@hybrid_program", "measure(a{last})"),
        ('@hybrid_program(metadata={{"k": a{last}}})', "h(0)"),
        ("@hybrid_program", "z = [a{last}, 1]\nh(0)"),
    ],
    ids=["qubit-list", "decorator-metadata", "assignment"],
)
def test_nested_list_aliases_are_refused_at_once(decorator: str, body: str) -> None:
    levels = 22  # 8 million leaves when expanded
    last = levels - 1
    function = program(body.format(last=last), decorator.format(last=last))
    source = HEADER + doubling(levels) + function[len(HEADER) :]
    started = time.perf_counter()
    error = rejected(source)
    assert time.perf_counter() - started < 0.5
    assert f"more than {MAX_VALUE_ITEMS} items" in error.message
    assert error_line(error) == marked_line(source, "a14 = ")  # the first value past the limit


def test_small_nested_lists_still_read() -> None:
    source = HEADER + doubling(3) + program("measure(a0)")[len(HEADER) :]
    assert read_program(source).circuit.num_qubits == 2


def test_operations_are_counted_while_reading() -> None:
    source = program("q = QubitRegister(1000)\n" + "reset(q)\n" * (MAX_OPERATIONS // 1000 + 1))
    started = time.perf_counter()
    error = rejected(source)
    assert time.perf_counter() - started < 2.0
    assert f"more than {MAX_OPERATIONS} operations" in error.message


def test_a_long_name_is_quoted_short() -> None:
    name = "x" * 5000
    error = rejected(program(f"h({name})"))
    assert "unknown name 'xxxx" in error.message and "(5000 chars)" in error.message
    assert len(error.message) < 300
