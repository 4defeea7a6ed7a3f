"""Program text of any accepted language to a logical circuit (the Validate step's parse).

* ``qasm2`` / ``qasm3``: :mod:`eigen.compiler.qasm`; an ``OPENQASM x`` header wins over
  the declared language (``qasm`` is an alias of ``qasm3``, and users send either).
* ``aqo``: :func:`eigen.compiler.aqo.from_aqo`.
* ``eigen-lang``: ``eigen.lang.read_program(source, entrypoint)`` (imported lazily; the
  reader parses the AST and never runs user code). Its ``defaults``, ``hybrid``,
  ``decorator``, ``returns`` and ``empty`` are passed on to the
  :class:`~eigen.models.compiled.CompiledProgram`.

:func:`parse_and_check` is what a program parser runs (:mod:`eigen.compiler.sandbox`):
the parse, then the device-independent checks of the parsed circuit
(:func:`~eigen.compiler.checks.check_structure`), so that nothing past it (the device
checks, the transpiler) meets a circuit of unbounded size or a repeated operand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qiskit.circuit import QuantumCircuit

from eigen.compiler.aqo import from_aqo
from eigen.compiler.checks import check_structure, check_width
from eigen.compiler.qasm import parse_qasm
from eigen.compiler.source import check_source, program_error
from eigen.errors import EigenError, Unimplemented, quote
from eigen.models.compiled import HybridSpec, ProgramReturns
from eigen.models.panics import describe, must_escape
from eigen.models.program import ProgramLanguage, language_from_name
from eigen.models.target import DeviceInfo


@dataclass
class ParsedProgram:
    circuit: QuantumCircuit
    language: ProgramLanguage
    defaults: dict[str, float] = field(default_factory=dict)
    hybrid: HybridSpec | None = None
    decorator: dict[str, Any] = field(default_factory=dict)
    returns: ProgramReturns | None = None
    empty: bool = False
    parameters: list[str] = field(default_factory=list)  # Eigen-Lang: Param names as declared


def parse_program(source: str, language: ProgramLanguage | str, entrypoint: str = "main") -> ParsedProgram:
    """Parse ``source``; every user error is an InvalidArgument on ``program``."""
    check_source(source)
    lang = resolve_language(language)
    if lang is ProgramLanguage.QASM2:
        return ParsedProgram(parse_qasm(source, default_version=2), lang)
    if lang is ProgramLanguage.QASM3:
        return ParsedProgram(parse_qasm(source, default_version=3), lang)
    if lang is ProgramLanguage.AQO:
        return ParsedProgram(from_aqo(source), lang)
    return _parse_eigen_lang(source, entrypoint)


def parse_and_check(
    source: str, language: ProgramLanguage | str, entrypoint: str = "main", device: DeviceInfo | None = None
) -> ParsedProgram:
    """:func:`parse_program`, then :func:`~eigen.compiler.checks.check_width` against
    ``device`` (when given) and :func:`~eigen.compiler.checks.check_structure`."""
    parsed = parse_program(source, language, entrypoint)
    if device is not None:
        check_width(parsed.circuit, device)
    check_structure(parsed.circuit)
    return parsed


def resolve_language(language: ProgramLanguage | str) -> ProgramLanguage:
    if isinstance(language, ProgramLanguage):
        return language
    found = language_from_name(str(language))  # aliases: "qasm", "openqasm2", "json", ...
    if found is None:
        names = ", ".join(member.value for member in ProgramLanguage)
        raise program_error(f"unknown program language {quote(language)} (one of {names})")
    return found


def _parse_eigen_lang(source: str, entrypoint: str) -> ParsedProgram:
    try:  # a plain import, so that the import contracts see compiler -> lang
        from eigen.lang import read_program
    except ImportError:
        raise Unimplemented("Eigen-Lang programs are not supported by this build") from None
    try:
        program = read_program(source, entrypoint=entrypoint)
    except (EigenError, MemoryError):  # MemoryError: the caller knows the limit it hit
        raise
    except BaseException as exc:  # the reader should raise InvalidArgument; never leak a trace
        if must_escape(exc):
            raise
        raise program_error(f"Eigen-Lang error: {describe(exc)}") from None
    circuit = program.circuit
    if not isinstance(circuit, QuantumCircuit):
        raise program_error("Eigen-Lang program produced no circuit")
    return ParsedProgram(
        circuit=circuit,
        language=ProgramLanguage.EIGEN_LANG,
        defaults={str(k): float(v) for k, v in (program.defaults or {}).items()},
        hybrid=program.hybrid,
        decorator=dict(program.decorator or {}),
        returns=getattr(program, "returns", None),
        empty=bool(getattr(program, "empty", False)),
        parameters=[str(name) for name in getattr(program, "parameters", ())],
    )
