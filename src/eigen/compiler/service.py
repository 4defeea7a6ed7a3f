"""CompilationService: Validate, Compile and Optimize (the in-process CompilerPort).

Steps of ``compile``:

1. parse by language (:mod:`eigen.compiler.parse`: OpenQASM 2/3, AQO, Eigen-Lang);
2. checks (:mod:`eigen.compiler.checks`): at least one qubit, no wider than the device,
   Clifford-only gates on a ``clifford_only`` device, and ``measure_all`` for a
   non-hybrid circuit without measurements (its counts then cover every qubit);
3. transpile to the device's basis gates and coupling map (``None``: all-to-all) with a
   cached preset pass manager (:mod:`eigen.compiler.passes`), default level 1;
   ``optimize`` uses level 3 unless the request names one;
4. artifacts: ``qasm3`` (``qiskit.qasm3.dumps``), canonical ``aqo_json`` and its
   fingerprint, and the report (:mod:`eigen.compiler.report`).

``validate`` does steps 1-2 only: its ``CompiledProgram.circuit`` is the logical circuit.

Result cache: a bounded LRU (``cache_size`` entries, 0 disables it) keyed by (sha256 of
the program text, language, entrypoint for Eigen-Lang, the device's name, basis gates,
coupling map and width, optimisation level, effective transpiler seed) returns the very
same ``CompiledProgram`` for a repeated submission (sweeps, benchmarks, VQE restarts),
skipping parse and transpile. Cached programs are shared: callers must treat a
``CompiledProgram`` and its circuits as read-only (bind parameters into a copy, which
``assign_parameters`` does by default). The report of a cache hit is the original
compilation's (its ``duration_ms`` is not the hit's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Iterable
from typing import Any

import qiskit.qasm3
from qiskit.circuit import QuantumCircuit

from eigen.compiler.aqo import fingerprint, to_aqo
from eigen.compiler.bases import measured_in_basis
from eigen.compiler.cache import LRUCache
from eigen.compiler.checks import check_clifford, check_width, ensure_measured
from eigen.compiler.parse import ParsedProgram, parse_program, resolve_language
from eigen.compiler.passes import (
    DEFAULT_OPTIMIZATION_LEVEL,
    OPTIMIZE_LEVEL,
    PassManagerCache,
    check_level,
    default_cache,
    key_for,
)
from eigen.compiler.passes import warm_up as warm_up_passes
from eigen.compiler.qasm import parse_qasm3
from eigen.compiler.report import compile_report
from eigen.compiler.source import check_source, source_digest
from eigen.errors import EigenError
from eigen.models.compiled import CompiledProgram, CompileRequest
from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo

logger = logging.getLogger(__name__)

DEFAULT_RESULT_CACHE_SIZE = 256

_WARM_UP_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
gate warm a, b { h a; cx a, b; }
qubit[2] q;
bit[2] c;
warm q[0], q[1];
rz(theta) q[1];
c = measure q;
"""


class CompilationService:
    """The compiler behind :class:`eigen.kernel.ports.CompilerPort`, see the module docs."""

    def __init__(
        self,
        *,
        pass_managers: PassManagerCache | None = None,
        cache_size: int = DEFAULT_RESULT_CACHE_SIZE,
        default_optimization_level: int = DEFAULT_OPTIMIZATION_LEVEL,
        optimize_level: int = OPTIMIZE_LEVEL,
    ) -> None:
        self._pass_managers = pass_managers if pass_managers is not None else default_cache()
        self._results: LRUCache[Hashable, CompiledProgram] = LRUCache(cache_size)
        self._default_level = check_level(default_optimization_level)
        self._optimize_level = check_level(optimize_level)

    # -- CompilerPort ------------------------------------------------------------------

    def validate(self, request: CompileRequest) -> CompiledProgram:
        """Parse and check without transpiling; ``circuit`` is the logical circuit."""
        if request.optimization_level is not None:
            check_level(request.optimization_level)
        device = request.device
        digest = source_digest(check_source(request.program))
        key = (
            "validate",
            digest,
            *self._program_key(request),
            device.name,
            device.num_qubits,
            device.clifford_only,
        )
        cached = self._results.get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        parsed, logical, _, added = self._prepare(request)
        elapsed_ms = (time.perf_counter() - started) * 1e3
        report = compile_report(
            device=device.name,
            language=parsed.language.value,
            optimization_level=None,
            before=logical,
            after=None,
            duration_ms=elapsed_ms,
            parse_ms=elapsed_ms,
            measurements_added=added,
            program_sha256=digest,
        )
        validated = CompiledProgram(
            circuit=logical,
            device=device.name,
            num_qubits=logical.num_qubits,
            num_clbits=logical.num_clbits,
            parameters=_parameter_names(logical),
            report=report,
            source_circuit=logical,
            defaults=dict(parsed.defaults),
            hybrid=parsed.hybrid,
            decorator=dict(parsed.decorator),
        )
        self._results.put(key, validated)
        return validated

    def compile(self, request: CompileRequest) -> CompiledProgram:
        level = request.optimization_level
        return self._compile(request, self._default_level if level is None else level)

    def optimize(self, request: CompileRequest) -> CompiledProgram:
        level = request.optimization_level
        return self._compile(request, self._optimize_level if level is None else level)

    def cached(self, request: CompileRequest) -> CompiledProgram | None:
        """What :meth:`compile` returns for ``request`` when it is in the result cache."""
        level = request.optimization_level
        _, key = self._compile_key(request, self._default_level if level is None else level)
        return self._results.get(key, count=False)

    # -- operations --------------------------------------------------------------------

    def warm_up(self, devices: Iterable[DeviceInfo] = ()) -> float:
        """Pay one-time start-up costs (transpiler ~1 s, OpenQASM 3 fallback ~0.1 s) now."""
        started = time.perf_counter()
        try:
            parse_qasm3(_WARM_UP_QASM3)  # loads qiskit-qasm3-import and its ANTLR parser
        except EigenError as exc:  # pragma: no cover - only if qiskit-qasm3-import breaks
            logger.warning("OpenQASM 3 fallback importer warm-up failed: %s", exc)
        warm_up_passes(devices, (self._default_level,), self._pass_managers)
        return time.perf_counter() - started

    def cache_info(self) -> dict[str, int]:
        return {**self._results.info(), "pass_managers": len(self._pass_managers)}

    def clear_cache(self) -> None:
        self._results.clear()

    # -- internals ---------------------------------------------------------------------

    def _compile_key(self, request: CompileRequest, level: int) -> tuple[str, Hashable]:
        """The program's sha256 and the result cache key of compiling it at ``level``."""
        device = request.device
        digest = source_digest(check_source(request.program))
        return digest, (
            "compile",
            digest,
            *self._program_key(request),
            key_for(device, level, request.seed),
            device.clifford_only,
            request.measurement_bases,
        )

    def _compile(self, request: CompileRequest, level: int) -> CompiledProgram:
        device = request.device
        digest, key = self._compile_key(request, level)
        cached = self._results.get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        parsed, logical, executable, added = self._prepare(request)
        parsed_at = time.perf_counter()
        transpiled = self._pass_managers.transpile(executable, device, level, request.seed)
        bases = {
            basis: self._pass_managers.transpile(
                measured_in_basis(executable, basis), device, level, request.seed
            )
            for basis in request.measurement_bases
        }
        transpiled_at = time.perf_counter()
        artifacts: dict[str, Any] = {}
        qasm3_text = _export_qasm3(transpiled, artifacts)
        aqo_text = _export_aqo(transpiled, artifacts)
        aqo_fp = fingerprint(aqo_text, canonical=True) if aqo_text else None
        done = time.perf_counter()
        report = compile_report(
            device=device.name,
            language=parsed.language.value,
            optimization_level=level,
            before=logical,
            after=transpiled,
            duration_ms=(done - started) * 1e3,
            parse_ms=(parsed_at - started) * 1e3,
            transpile_ms=(transpiled_at - parsed_at) * 1e3,
            measurements_added=added,
            aqo_fingerprint=aqo_fp,
            program_sha256=digest,
        )
        report.update(artifacts)
        compiled = CompiledProgram(
            circuit=transpiled,
            device=device.name,
            num_qubits=logical.num_qubits,
            num_clbits=transpiled.num_clbits,
            parameters=_parameter_names(logical),
            report=report,
            qasm3=qasm3_text,
            aqo_json=aqo_text,
            source_circuit=logical,
            defaults=dict(parsed.defaults),
            hybrid=parsed.hybrid,
            decorator=dict(parsed.decorator),
            basis_circuits=bases,
        )
        self._results.put(key, compiled)
        logger.debug(
            "compiled %s program for %s at level %d in %.3f ms",
            parsed.language.value,
            device.name,
            level,
            report["duration_ms"],
        )
        return compiled

    def _prepare(self, request: CompileRequest) -> tuple[ParsedProgram, QuantumCircuit, QuantumCircuit, bool]:
        """Parse and check: (parsed, logical circuit, circuit to transpile, measures added)."""
        parsed = parse_program(request.program, request.language, request.entrypoint)
        circuit = parsed.circuit
        device = request.device
        check_width(circuit, device)
        executable = check_clifford(circuit, device) if device.clifford_only else circuit
        added = ensure_measured(circuit, hybrid=parsed.hybrid is not None)
        if added and executable is not circuit:
            ensure_measured(executable)
        return parsed, circuit, executable, added

    @staticmethod
    def _program_key(request: CompileRequest) -> tuple[str, str]:
        language = resolve_language(request.language)
        is_lang = language is ProgramLanguage.EIGEN_LANG
        return language.value, (request.entrypoint if is_lang else "")


def _parameter_names(circuit: QuantumCircuit) -> list[str]:
    return sorted(parameter.name for parameter in circuit.parameters)


def _export_qasm3(circuit: QuantumCircuit, problems: dict[str, Any]) -> str:
    try:
        text: str = qiskit.qasm3.dumps(circuit)
    except Exception as exc:  # the circuit still runs; only the artifact form is missing
        logger.warning("cannot export compiled circuit as OpenQASM 3: %s", exc)
        problems["qasm3_error"] = str(exc)
        return ""
    return text


def _export_aqo(circuit: QuantumCircuit, problems: dict[str, Any]) -> str:
    try:
        return to_aqo(circuit)
    except EigenError as exc:
        logger.warning("cannot export compiled circuit as AQO: %s", exc)
        problems["aqo_error"] = exc.message
        return ""
