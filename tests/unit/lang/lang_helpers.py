"""Helpers shared by the Eigen-Lang reader tests."""

from __future__ import annotations

import textwrap

import pytest

from eigen.errors import InvalidArgument
from eigen.lang import LangProgram, read_program

HEADER = "from eigen_lang import *\nfrom eigen_lang.optimizers import minimize\n\n\n"


def program(body: str, decorator: str = "@hybrid_program", name: str = "main") -> str:
    """A program whose @hybrid_program function has ``body`` (dedented) as its body."""
    indented = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return f"{HEADER}{decorator}\ndef {name}():\n{indented}\n"


def read(body: str, **kwargs: str) -> LangProgram:
    return read_program(program(body, **kwargs))


def marked_line(source: str, marker: str = "# HERE") -> int:
    """The 1-based line of ``source`` that carries ``marker``."""
    for number, line in enumerate(source.splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"no {marker!r} in the source")


def rejected(source: str, entrypoint: str = "main") -> InvalidArgument:
    """Read ``source``, expecting INVALID_ARGUMENT on the field ``program``."""
    with pytest.raises(InvalidArgument) as caught:
        read_program(source, entrypoint)
    error = caught.value
    assert error.code == "EIGEN_INVALID_ARGUMENT"
    assert [v.field for v in error.violations] == ["program"]
    return error


def error_line(error: InvalidArgument) -> int:
    line = int(error.metadata["line"])
    assert f"line {line}:" in str(error)
    return line
