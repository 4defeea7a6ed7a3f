"""OpenQASM 2 and 3 text to a qiskit ``QuantumCircuit``.

* OpenQASM 2: ``qiskit.qasm2.loads`` with the legacy custom instructions, so the
  ``qelib1.inc`` gates become qiskit's standard gates (``u3``, ``cu1``, ...).
* OpenQASM 3: the fast native ``qiskit.qasm3.loads_experimental`` (about 0.1 ms for a
  small circuit, straight-line standard gates only) first; when it fails, the
  full-featured ``qiskit.qasm3.loads`` (qiskit-qasm3-import: ``gate`` definitions,
  ``input float[64] theta;`` parameters, ``if``) as fallback. Its first call in a process
  costs ~100 ms (see :func:`warm_up`). When both fail, the fallback's error is reported,
  because it carries the line and column.

Every failure is an :class:`~eigen.errors.InvalidArgument` on the field ``program`` with a
message such as ``program: OpenQASM 3 parse error: line 3, column 1: gate 'foo' is not
defined.``. Columns are 1-based.

Known noise: on a syntax error the native parser prints its diagnostics to the process's
stdout (from Rust, so it cannot be captured without redirecting the file descriptor),
and the ANTLR parser behind the fallback prints a line to stderr.
"""

from __future__ import annotations

import logging
import re
import warnings

import qiskit.qasm2
import qiskit.qasm3
from qiskit.circuit import QuantumCircuit
from qiskit.exceptions import ExperimentalWarning

from eigen.compiler.source import check_qasm_text, program_error
from eigen.errors import InvalidArgument

logger = logging.getLogger(__name__)

# Installed once (warnings.catch_warnings per call is not thread-safe): silence only the
# "experimental native importer" notice of loads_experimental.
warnings.filterwarnings(
    "ignore",
    message=r"This is an experimental native version of the OpenQASM 3 importer",
    category=ExperimentalWarning,
)

_HEADER = re.compile(r"\A(?:\s|//[^\n]*\n|/\*.*?\*/)*OPENQASM\s+(\d+)", re.DOTALL)
# "<input>:4,0: msg" (qasm2), "3,0: msg" (qiskit-qasm3-import), "L1:C0: msg" (openqasm3 lexer)
_LOCATED = (
    re.compile(r"\A<input>:(\d+),(\d+):\s*(.*)\Z", re.DOTALL),
    re.compile(r"\A(\d+),(\d+):\s*(.*)\Z", re.DOTALL),
    re.compile(r"\AL(\d+):C(\d+):\s*(.*)\Z", re.DOTALL),
)


def qasm_version(source: str) -> int | None:
    """The major version in the ``OPENQASM x.y;`` header, or ``None`` without a header."""
    match = _HEADER.match(source)
    return int(match.group(1)) if match else None


def parse_qasm(source: str, default_version: int = 3) -> QuantumCircuit:
    """Parse OpenQASM text; the header's version wins over ``default_version``."""
    version = qasm_version(source) or default_version
    if version == 2:
        return parse_qasm2(source)
    if version == 3:
        return parse_qasm3(source)
    raise program_error(f"unsupported OpenQASM version {version} (supported: 2, 3)")


def parse_qasm2(source: str) -> QuantumCircuit:
    check_qasm_text(source)
    try:
        return qiskit.qasm2.loads(
            source,
            include_path=(),  # qelib1.inc is built in; never read files of the server
            custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS,
        )
    except Exception as exc:
        raise program_error(f"OpenQASM 2 parse error: {_describe(exc)}") from None


def parse_qasm3(source: str) -> QuantumCircuit:
    check_qasm_text(source)
    try:
        return qiskit.qasm3.loads_experimental(source, include_path=[])
    except Exception as fast_exc:
        fast_reason = _describe(fast_exc)
    logger.debug("native OpenQASM 3 importer declined (%s); using qiskit-qasm3-import", fast_reason)
    try:
        return qiskit.qasm3.loads(source)
    except Exception as exc:
        reason = _describe(exc) or fast_reason
        raise program_error(f"OpenQASM 3 parse error: {reason}") from None


def _describe(exc: BaseException) -> str:
    """A one-line reason with ``line L, column C`` where the parser told us."""
    if isinstance(exc, InvalidArgument):
        return exc.violations[0].description if exc.violations else exc.message
    message = getattr(exc, "message", None)
    text = str(message if isinstance(message, str) else exc).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    for pattern in _LOCATED:
        match = pattern.match(text)
        if match:
            line, column, rest = match.groups()
            return f"line {line}, column {int(column) + 1}: {rest}"
    token = _offending_token(exc)
    if token is not None:
        line, column, found = token
        what = "unexpected end of input" if found == "<EOF>" else f"unexpected {found!r}"
        return f"line {line}, column {column + 1}: {what}" + (f" ({text})" if text else "")
    if not text:
        return f"{type(exc).__name__} (no details from the parser)"
    return text


def _offending_token(exc: BaseException) -> tuple[int, int, str] | None:
    """Line, 0-based column and text of the token an ANTLR parser stopped at."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for candidate in (current, *current.args):
            token = getattr(candidate, "offendingToken", None)
            if token is not None and getattr(token, "line", None) is not None:
                return int(token.line), int(token.column), str(token.text)
        current = current.__cause__ or current.__context__
    return None
