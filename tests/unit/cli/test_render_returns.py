"""``eigen-cli results`` shows what a program returned: the keys of a dict, or the one
value that is not a dict, with JSON types."""

from __future__ import annotations

import io

from rich.console import Console

from eigen.cli.render import print_results
from eigen.models.result import JobResult


def shown(summary: dict[str, object]) -> str:
    buffer = io.StringIO()
    print_results(
        Console(file=buffer, width=100),
        JobResult(job_id="j", backend="sim:local", experiments=[], summary=summary),
    )
    return buffer.getvalue()


def test_a_returned_value_that_is_not_a_dict_is_shown() -> None:
    text = shown({"returned": [1, "two", None]})
    assert "returns" in text and '[1, "two", null]' in text


def test_a_returned_dict_shows_each_key() -> None:
    text = shown({"returns": {"qubits": 2, "label": "x"}})
    assert "qubits" in text and " 2 " in text and "label" in text
