"""Checks on raw program text, done before any parser sees it.

Every program (OpenQASM, AQO JSON, Eigen-Lang) passes through :func:`check_source` so
empty, oversized or binary input gets one clear :class:`~eigen.errors.InvalidArgument`
on the field ``program`` instead of a parser's stack trace. :func:`check_qasm_text`
adds the OpenQASM-only guards: no file includes other than the standard gate libraries
(the parsers would otherwise read files of the server) and no absurd register sizes. The
register-size guard reads the text as the lexer does (comments skipped, every integer
literal form: ``4_000_000``, ``0xF4240``), so it sees literal sizes only (the native
parser accepts no other); it refuses them before a parser allocates the register. A size
given by an expression is bounded by the width of the parsed circuit
(:func:`eigen.compiler.checks.check_width`), and the program sandbox's time and memory
limits while it is parsed (:mod:`eigen.compiler.sandbox`).

Errors quote user text only cut short (:func:`eigen.errors.quote`).
"""

from __future__ import annotations

import hashlib
import re

from eigen.errors import FieldViolation, InvalidArgument, quote
from eigen.models.program import MAX_PROGRAM_BYTES

PROGRAM_FIELD = "program"
MAX_REGISTER_SIZE = 65_536
ALLOWED_INCLUDES = frozenset({"stdgates.inc", "qelib1.inc"})

# C0 controls other than tab, newline, vertical tab, form feed and carriage return;
# DEL; U+FFFD (what a lossy decoder leaves behind for bytes that were not UTF-8).
_BINARY = re.compile("[\x00-\x08\x0e-\x1f\x7f\ufffd]")
_INCLUDE = re.compile(r"""\binclude\s*(["'])(.*?)\1""")
# A register's size as the lexer sees it: OpenQASM 3 integer literals (decimal, 0x, 0o, 0b,
# with "_" between digits), in the text with its comments blanked out.
_LITERAL = (
    r"(0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|0[oO][0-7](?:_?[0-7])*|0[bB][01](?:_?[01])*"
    r"|[0-9](?:_?[0-9])*)"
)
_REGISTER = re.compile(
    rf"\b(?:qreg|creg)\s+[A-Za-z_]\w*\s*\[\s*{_LITERAL}\s*\]|\b(?:qubit|bit)\s*\[\s*{_LITERAL}\s*\]"
)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?(?:\*/|\Z)", re.DOTALL)


def program_error(description: str) -> InvalidArgument:
    """An :class:`InvalidArgument` about the ``program`` field (message starts 'program: ')."""
    return InvalidArgument(f"{PROGRAM_FIELD}: {description}", [FieldViolation(PROGRAM_FIELD, description)])


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset in ``text``."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def check_source(source: object) -> str:
    """Return ``source`` if it is non-empty text within the size limit, else raise."""
    if not isinstance(source, str):
        raise program_error(f"must be text, got {type(source).__name__}")
    if not source.strip():
        raise program_error("is empty")
    if len(source) > MAX_PROGRAM_BYTES:
        raise program_error(f"is larger than the limit of {MAX_PROGRAM_BYTES} bytes")
    try:
        size = len(source.encode("utf-8"))
    except UnicodeEncodeError as exc:
        line, column = line_column(source, exc.start)
        raise program_error(f"is not valid UTF-8 text (line {line}, column {column})") from None
    if size > MAX_PROGRAM_BYTES:
        raise program_error(f"is {size} bytes, larger than the limit of {MAX_PROGRAM_BYTES}")
    match = _BINARY.search(source)
    if match is not None:
        line, column = line_column(source, match.start())
        raise program_error(
            "looks like binary data, not program text: control character "
            f"{match.group()!r} at line {line}, column {column}"
        )
    return source


def check_qasm_text(source: str) -> None:
    """OpenQASM guards: only standard includes, register sizes within the limit."""
    for match in _INCLUDE.finditer(source):
        name = match.group(2)
        if name not in ALLOWED_INCLUDES:
            line, _ = line_column(source, match.start())
            allowed = ", ".join(sorted(ALLOWED_INCLUDES))
            raise program_error(f"line {line}: include {quote(name)} is not allowed (only {allowed})")
    for match in _REGISTER.finditer(_without_comments(source)):
        size = _integer(match.group(1) or match.group(2))
        if size > MAX_REGISTER_SIZE:
            line, _ = line_column(source, match.start())
            raise program_error(
                f"line {line}: register of {size} (qu)bits is larger than the limit of {MAX_REGISTER_SIZE}"
            )


def _without_comments(source: str) -> str:
    """``source`` with each comment replaced by spaces (newlines kept, so lines still count)."""
    return _COMMENT.sub(lambda match: re.sub(r"[^\n]", " ", match.group()), source)


def _integer(literal: str) -> int:
    digits = literal.replace("_", "")
    if digits[:2].lower() in ("0x", "0o", "0b"):
        return int(digits, 0)
    return int(digits, 10)


def source_digest(source: str) -> str:
    """sha256 hex of the program text as UTF-8 (the compile cache's program key)."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()
