"""OpenQASM 2 and 3 text to a qiskit ``QuantumCircuit``.

* OpenQASM 2: ``qiskit.qasm2.loads`` with the legacy custom instructions, so the
  ``qelib1.inc`` gates become qiskit's standard gates (``u3``, ``cu1``, ...).
* OpenQASM 3: the fast native ``qiskit.qasm3.loads_experimental`` (about 0.1 ms for a
  small circuit, straight-line standard gates only) first; when it fails, the
  full-featured qiskit-qasm3-import (``gate`` definitions, ``input float[64] theta;``
  parameters, ``if``) as fallback: ``openqasm3.parse`` to an AST, then
  ``qiskit_qasm3_import.convert`` (what ``qiskit.qasm3.loads`` does). Its first call in a
  process costs ~100 ms (see :func:`warm_up`). When both fail, the fallback's error is
  reported, because it carries the line and column.

The native parser declines some programs by panicking (``pyo3_runtime.PanicException``,
a ``BaseException``: ``qubit[n] q;`` with a ``const``, a program without a version
line): a panic is a decline like any other error (:mod:`eigen.models.panics`). The
fallback copies a gate's whole definition at each call, so gate definitions that call
each other cost time and memory exponential in their nesting: before converting, the
AST's calls are counted with each user gate weighted by the operations its definition
expands to, and a program past :data:`MAX_CONVERTED_OPERATIONS` is refused without being
converted. That bound is lower than the one for any parsed circuit
(:data:`~eigen.compiler.checks.MAX_EXPANDED_OPERATIONS`) because the converter is Python
that copies each expanded operation (a quarter of a millisecond each): 20,000 of them stay
well inside the sandbox's time limit.

A converted circuit then has its copies merged (:func:`share_definitions`): every call of
a user gate with the same name and parameters gets one definition object, so the circuit
holds objects in proportion to its text, not to its expansion. Everything downstream
walks or copies that object graph in the server's process with the interpreter lock held
(the sandbox's result is unpickled there, cached, copied, collected by the garbage
collector), so an expanded copy would stall every other request for as long.

Every failure is an :class:`~eigen.errors.InvalidArgument` on the field ``program`` with a
message such as ``program: OpenQASM 3 parse error: line 3, column 1: gate 'foo' is not
defined.``. Columns are 1-based.

Known noise: on a syntax error the native parser prints its diagnostics to the process's
stdout (from Rust, so it cannot be captured without redirecting the file descriptor), a
panic's message goes to stderr, and the ANTLR parser behind the fallback prints a line to
stderr. Servers parse in the program sandbox (:mod:`eigen.compiler.sandbox`), whose
workers point both descriptors at ``/dev/null``.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Hashable, Iterator, Sequence

import openqasm3
import qiskit.qasm2
import qiskit.qasm3
import qiskit_qasm3_import
from openqasm3 import ast
from qiskit.circuit import ControlFlowOp, QuantumCircuit
from qiskit.exceptions import ExperimentalWarning

from eigen.compiler.source import check_qasm_text, program_error
from eigen.errors import InvalidArgument, bounded, quote
from eigen.models.panics import must_escape

#: expanded operations the fallback importer may be given (see the module docs)
MAX_CONVERTED_OPERATIONS = 20_000
REASON_LIMIT = 300  # bytes of a parser's reason kept in an error: it may quote the program

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
    except MemoryError:  # the caller knows which limit the parse ran into
        raise
    except BaseException as exc:  # a foreign panic too (see the module docs)
        if must_escape(exc):
            raise
        raise program_error(f"OpenQASM 2 parse error: {_describe(exc)}") from None


def parse_qasm3(source: str) -> QuantumCircuit:
    check_qasm_text(source)
    try:
        return qiskit.qasm3.loads_experimental(source, include_path=[])
    except MemoryError:
        raise
    except BaseException as fast_exc:  # a panic is a decline too (see the module docs)
        if must_escape(fast_exc):
            raise
        fast_reason = _describe(fast_exc)
    logger.debug("native OpenQASM 3 importer declined (%s); using qiskit-qasm3-import", fast_reason)
    try:
        tree = openqasm3.parse(source)
    except MemoryError:
        raise
    except BaseException as exc:
        if must_escape(exc):
            raise
        raise program_error(f"OpenQASM 3 parse error: {_describe(exc) or fast_reason}") from None
    check_expansion(tree)
    try:
        return share_definitions(qiskit_qasm3_import.convert(tree))
    except (MemoryError, RecursionError):  # nesting past Python's stack: say so below
        raise
    except BaseException as exc:
        if must_escape(exc):
            raise
        raise program_error(f"OpenQASM 3 parse error: {_describe(exc) or fast_reason}") from None


def share_definitions(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` with every call of a user gate of the same name, size and parameters
    given one definition object (in place; see the module docs). In OpenQASM 3 a gate name
    is defined once, so such calls have equal definitions; the first one's is kept. Only
    the first call of each is walked, so this costs the program's size, not its expansion."""
    shared: dict[Hashable, QuantumCircuit] = {}
    walked: set[int] = set()
    pending: list[QuantumCircuit] = [circuit]
    while pending:
        body = pending.pop()
        if id(body) in walked:
            continue
        walked.add(id(body))
        for item in body.data:
            operation = item.operation
            if isinstance(operation, ControlFlowOp):
                pending.extend(operation.blocks)
                continue
            if getattr(operation, "_standard_gate", None) is not None:
                continue
            definition = getattr(operation, "_definition", None)
            if not isinstance(definition, QuantumCircuit):
                continue
            try:
                key: Hashable = (
                    type(operation),
                    operation.name,
                    operation.num_qubits,
                    operation.num_clbits,
                    tuple(operation.params),
                )
                first = shared.setdefault(key, definition)
            except TypeError:  # a parameter that does not hash: keep this call's own copy
                first = definition
            if first is definition:
                pending.append(definition)
            else:
                operation.definition = first
    return circuit


def check_expansion(program: ast.Program) -> None:
    """Refuse a program whose gate calls expand to more than
    :data:`MAX_CONVERTED_OPERATIONS` operations (loops not unrolled:
    the converter keeps them as loops), counting each call of a user gate as the
    operations of its definition; built-in gates count one."""
    costs: dict[str, int] = {}
    total = 0
    for statement in program.statements:
        if isinstance(statement, ast.QuantumGateDefinition):
            size = sum(_cost(call, costs) for call in _calls(statement.body))
            costs[statement.name.name] = min(size, MAX_CONVERTED_OPERATIONS + 1)
            continue
        for call in _calls([statement]):
            total += _cost(call, costs)
            if total > MAX_CONVERTED_OPERATIONS:
                line = call.span.start_line if call.span is not None else None
                where = f"line {line}: " if line is not None else ""
                raise program_error(
                    f"{where}the program expands to more than {MAX_CONVERTED_OPERATIONS:,} "
                    "operations (each gate replaced by its definition), the most that programs with "
                    "gate definitions, inputs or control flow may have; simplify it"
                )


def _cost(call: ast.QuantumGate, costs: dict[str, int]) -> int:
    return max(costs.get(call.name.name, 1), 1)


def _calls(nodes: Sequence[object]) -> Iterator[ast.QuantumGate]:
    """Every gate call in ``nodes`` and in the blocks nested in them, in no set order."""
    stack: list[object] = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.QuantumGate):
            yield node
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, ast.QASMNode):
            stack.extend(
                value
                for name, value in vars(node).items()
                if name != "span" and isinstance(value, ast.QASMNode | list)
            )


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
            return bounded(f"line {line}, column {int(column) + 1}: {rest}", REASON_LIMIT)
    token = _offending_token(exc)
    if token is not None:
        line, column, found = token
        what = "unexpected end of input" if found == "<EOF>" else f"unexpected {quote(found, 40)}"
        described = f"line {line}, column {column + 1}: {what}" + (f" ({text})" if text else "")
        return bounded(described, REASON_LIMIT)
    if not text:
        return f"{type(exc).__name__} (no details from the parser)"
    return bounded(text, REASON_LIMIT)


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
