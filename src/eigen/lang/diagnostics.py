"""How the Eigen-Lang reader reports a bad program.

Every problem is an :class:`~eigen.errors.InvalidArgument` on the field ``program`` whose
message starts with ``line N:``; the line is also in the error's metadata (``line``).
"""

from __future__ import annotations

import ast
from typing import NoReturn

from eigen.errors import FieldViolation, InvalidArgument

PROGRAM_FIELD = "program"

Where = ast.AST | int | None


def line_of(where: Where) -> int:
    """The 1-based line of a node (or a line number as is); 1 when unknown."""
    if isinstance(where, int):
        return max(where, 1)
    line = getattr(where, "lineno", None) if where is not None else None
    return line if isinstance(line, int) and line > 0 else 1


def lang_error(where: Where, message: str) -> InvalidArgument:
    """An INVALID_ARGUMENT error about the program at ``where``."""
    line = line_of(where)
    text = f"line {line}: {message}"
    return InvalidArgument(
        f"{PROGRAM_FIELD}: {text}",
        [FieldViolation(PROGRAM_FIELD, text)],
        {"line": str(line)},
    )


def fail(where: Where, message: str) -> NoReturn:
    """Raise :func:`lang_error`."""
    raise lang_error(where, message)
