"""CompilationService: Validate, Compile and Optimize (the in-process CompilerPort).

Steps of ``compile``:

1. parse by language (:mod:`eigen.compiler.parse`: OpenQASM 2/3, AQO, Eigen-Lang) and
   the device-independent checks of the parsed circuit (expanded size, repeated
   operands), through the service's :class:`~eigen.compiler.sandbox.ProgramParser`: in
   process by default, in the program sandbox's worker processes in a server;
2. checks (:mod:`eigen.compiler.checks`): at least one qubit, no wider than the device,
   Clifford-only gates on a ``clifford_only`` device, and ``measure_all`` for a
   non-hybrid circuit without measurements (its counts then cover every qubit);
3. transpile to the device's basis gates and coupling map (``None``: all-to-all) with a
   cached preset pass manager (:mod:`eigen.compiler.passes`), default level 1;
   ``optimize`` uses level 3 unless the request names one; for an Eigen-Lang program
   without a level in the request, its ``@hybrid_program(optimization_level=...)`` is
   used (the report records the decorator's settings as ``decorator``);
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
compilation's (its ``duration_ms`` is not the hit's). Parses are cached too (as many,
keyed by the program's sha256, language and entrypoint), so the compile that follows a
validation, or a compile of the same program for another device or level, does not parse
again. :meth:`CompilationService.validated` is the validation cache's lookup alone: it
never parses, so a caller on an event loop may use it and validate elsewhere on a miss.

Native code (qiskit's transpiler, its OpenQASM 3 exporter, Clifford synthesis) can panic
(``pyo3_runtime.PanicException``, a ``BaseException``); a panic, like any error of the
transpiler, ends that compile in ``CompilationFailed`` with its reason, never the thread
(:mod:`eigen.models.panics`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import qiskit.qasm3
from qiskit.circuit import QuantumCircuit
from qiskit.transpiler.exceptions import TranspilerError

from eigen.compiler.aqo import fingerprint, to_aqo
from eigen.compiler.bases import measured_in_basis
from eigen.compiler.cache import LRUCache
from eigen.compiler.checks import check_clifford, check_width, ensure_measured, has_measurements
from eigen.compiler.parse import ParsedProgram, resolve_language
from eigen.compiler.passes import (
    DEFAULT_OPTIMIZATION_LEVEL,
    OPTIMIZE_LEVEL,
    PassManagerCache,
    check_level,
    default_cache,
    key_for,
)
from eigen.compiler.passes import warm_up as warm_up_passes
from eigen.compiler.report import compile_report
from eigen.compiler.sandbox import InProcessParser, ProgramParser
from eigen.compiler.source import check_source, program_error, source_digest
from eigen.errors import CompilationFailed, EigenError, quote
from eigen.models.compiled import CompiledProgram, CompileRequest
from eigen.models.panics import describe, is_foreign_panic, must_escape
from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo

logger = logging.getLogger(__name__)

DEFAULT_RESULT_CACHE_SIZE = 256


class CompilationService:
    """The compiler behind :class:`eigen.kernel.ports.CompilerPort`, see the module docs."""

    def __init__(
        self,
        *,
        pass_managers: PassManagerCache | None = None,
        cache_size: int = DEFAULT_RESULT_CACHE_SIZE,
        default_optimization_level: int = DEFAULT_OPTIMIZATION_LEVEL,
        optimize_level: int = OPTIMIZE_LEVEL,
        parser: ProgramParser | None = None,
    ) -> None:
        self._pass_managers = pass_managers if pass_managers is not None else default_cache()
        self._parser: ProgramParser = parser if parser is not None else InProcessParser()
        self._results: LRUCache[Hashable, CompiledProgram] = LRUCache(cache_size)
        self._parsed: LRUCache[Hashable, ParsedProgram] = LRUCache(cache_size)
        self._default_level = check_level(default_optimization_level)
        self._optimize_level = check_level(optimize_level)

    # -- CompilerPort ------------------------------------------------------------------

    def validate(self, request: CompileRequest) -> CompiledProgram:
        """Parse and check without transpiling; ``circuit`` is the logical circuit."""
        digest, key = self._validate_key(request)
        return self._cached_result(
            key,
            lambda: self._validate(request, digest),
            lambda reason: program_error(f"cannot be checked: {reason}"),
        )

    def _cached_result(
        self,
        key: Hashable,
        make: Callable[[], CompiledProgram],
        failure: Callable[[str], EigenError],
    ) -> CompiledProgram:
        """The result cache's entry for ``key``, else ``make()`` stored there. A panic of
        native code that ``make`` did not expect becomes ``failure(reason)``."""
        cached = self._results.get(key)
        if cached is not None:
            return cached
        try:
            made = make()
        except BaseException as exc:
            if isinstance(exc, EigenError) or not is_foreign_panic(exc):
                raise
            raise failure(describe(exc)) from None
        self._results.put(key, made)
        return made

    def _validate(self, request: CompileRequest, digest: str) -> CompiledProgram:
        device = request.device
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
            parameters=parsed.parameters,
        )
        _record_program_settings(report, parsed)
        return CompiledProgram(
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
            returns=parsed.returns,
            empty=parsed.empty,
        )

    def compile(self, request: CompileRequest) -> CompiledProgram:
        return self._compile(request, self._level(request, self._default_level))

    def optimize(self, request: CompileRequest) -> CompiledProgram:
        return self._compile(request, self._level(request, self._optimize_level))

    def validated(self, request: CompileRequest) -> CompiledProgram | None:
        """What :meth:`validate` returns for ``request`` when it is in the cache, else None
        (also for a request that :meth:`validate` refuses); never parses."""
        try:
            _, key = self._validate_key(request)
        except EigenError:
            return None
        return self._results.hit(key)

    def cached(self, request: CompileRequest) -> CompiledProgram | None:
        """What :meth:`compile` returns for ``request`` when it is in the result cache."""
        parsed = None
        if request.optimization_level is None and self._is_lang(request):
            language, entrypoint = self._program_key(request)
            digest = source_digest(check_source(request.program))
            parsed = self._parsed.get((digest, language, entrypoint), count=False)
            if parsed is None:
                return None  # the program's own level is not known without parsing it
        _, key = self._compile_key(request, self._level(request, self._default_level, parsed))
        return self._results.get(key, count=False)

    # -- operations --------------------------------------------------------------------

    def warm_up(self, devices: Iterable[DeviceInfo] = ()) -> float:
        """Pay one-time start-up costs (transpiler ~1 s, OpenQASM 3 fallback ~0.1 s, the
        sandbox's workers) now."""
        started = time.perf_counter()
        warm_up_passes(devices, (self._default_level,), self._pass_managers)
        self._parser.warm_up()
        return time.perf_counter() - started

    def close(self) -> None:
        """Release the parser's workers (a server's program sandbox)."""
        self._parser.close()

    def cache_info(self) -> dict[str, int]:
        return {**self._results.info(), "pass_managers": len(self._pass_managers)}

    def clear_cache(self) -> None:
        self._results.clear()
        self._parsed.clear()

    # -- internals ---------------------------------------------------------------------

    def _level(self, request: CompileRequest, default: int, parsed: ParsedProgram | None = None) -> int:
        """The transpiler level: the request's, else an Eigen-Lang program's
        ``@hybrid_program(optimization_level=...)`` (from ``parsed``, else a parse), else
        ``default``."""
        if request.optimization_level is not None:
            return request.optimization_level
        if not self._is_lang(request):
            return default
        level = (parsed or self._parse(request)).decorator.get("optimization_level")
        if isinstance(level, int | float) and not isinstance(level, bool):
            return check_level(int(level))
        return default

    @staticmethod
    def _is_lang(request: CompileRequest) -> bool:
        return resolve_language(request.language) is ProgramLanguage.EIGEN_LANG

    def _validate_key(self, request: CompileRequest) -> tuple[str, Hashable]:
        """The program's sha256 and the result cache key of validating it."""
        if request.optimization_level is not None:
            check_level(request.optimization_level)
        device = request.device
        digest = source_digest(check_source(request.program))
        return digest, (
            "validate",
            digest,
            *self._program_key(request),
            device.name,
            device.num_qubits,
            device.clifford_only,
        )

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
        digest, key = self._compile_key(request, level)
        return self._cached_result(
            key,
            lambda: self._compile_uncached(request, level, digest),
            lambda reason: CompilationFailed(f"program: compiling it failed: {reason}"),
        )

    def _compile_uncached(self, request: CompileRequest, level: int, digest: str) -> CompiledProgram:
        device = request.device
        started = time.perf_counter()
        parsed, logical, executable, added = self._prepare(request)
        parsed_at = time.perf_counter()
        transpiled, bases = self._transpile(executable, request, level)
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
            parameters=parsed.parameters,
        )
        report.update(artifacts)
        _record_program_settings(report, parsed)
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
            returns=parsed.returns,
            empty=parsed.empty,
            basis_circuits=bases,
        )
        logger.debug(
            "compiled %s program for %s at level %d in %.3f ms",
            parsed.language.value,
            device.name,
            level,
            report["duration_ms"],
        )
        return compiled

    def _transpile(
        self, executable: QuantumCircuit, request: CompileRequest, level: int
    ) -> tuple[QuantumCircuit, dict[str, QuantumCircuit]]:
        """The circuit and its measurement-basis variants on the device; whatever the
        transpiler raises (a panic too) is a CompilationFailed with its reason."""
        device, seed = request.device, request.seed
        try:
            transpiled = self._pass_managers.transpile(executable, device, level, seed)
            bases = {
                basis: self._pass_managers.transpile(
                    measured_in_basis(executable, basis), device, level, seed
                )
                for basis in request.measurement_bases
            }
        except EigenError:
            raise
        except BaseException as exc:
            if must_escape(exc):
                raise
            kind = "cannot be compiled" if isinstance(exc, TranspilerError) else "made the transpiler fail"
            logger.warning(
                "transpiling a program failed: %s", describe(exc), extra={"device": quote(device.name)}
            )
            raise CompilationFailed(f"program: {kind} for {device.name}: {describe(exc)}") from None
        return transpiled, bases

    def _parse(self, request: CompileRequest) -> ParsedProgram:
        """The parsed and checked program, from the parse cache or the parser."""
        language, entrypoint = self._program_key(request)
        key = (source_digest(check_source(request.program)), language, entrypoint)
        parsed = self._parsed.get(key, count=False)
        if parsed is None:
            # the device's width is checked where the program is parsed: a circuit too wide
            # never comes back (its pickle grows with its width); it is checked again below,
            # for a parse cached from a wider device
            parsed = self._parser.parse(request.program, language, request.entrypoint, request.device)
            self._parsed.put(key, parsed)
        return parsed

    def _prepare(self, request: CompileRequest) -> tuple[ParsedProgram, QuantumCircuit, QuantumCircuit, bool]:
        """Parse and check: (parsed, logical circuit, circuit to transpile, measures added).

        The parsed circuit is shared by the parse cache: measurements are added to a copy."""
        parsed = self._parse(request)
        circuit = parsed.circuit
        device = request.device
        check_width(circuit, device)
        executable = check_clifford(circuit, device) if device.clifford_only else circuit
        added = parsed.hybrid is None and not has_measurements(circuit)
        if added:
            copied = executable is circuit
            circuit = circuit.copy()
            ensure_measured(circuit)
            if copied:
                executable = circuit
            else:
                ensure_measured(executable)  # check_clifford's own rewritten copy
        return parsed, circuit, executable, added

    @staticmethod
    def _program_key(request: CompileRequest) -> tuple[str, str]:
        language = resolve_language(request.language)
        is_lang = language is ProgramLanguage.EIGEN_LANG
        return language.value, (request.entrypoint if is_lang else "")


def _record_program_settings(report: dict[str, Any], parsed: ParsedProgram) -> None:
    """An Eigen-Lang program's ``@hybrid_program(...)`` settings in its compile report
    (``compiler`` and ``target`` are only recorded: the job's target runs it)."""
    if parsed.decorator:
        report["decorator"] = dict(parsed.decorator)


def _parameter_names(circuit: QuantumCircuit) -> list[str]:
    return sorted(parameter.name for parameter in circuit.parameters)


def _export_qasm3(circuit: QuantumCircuit, problems: dict[str, Any]) -> str:
    try:
        text: str = qiskit.qasm3.dumps(circuit)
    except BaseException as exc:  # the circuit still runs; only the artifact form is missing
        if must_escape(exc):
            raise
        logger.warning("cannot export compiled circuit as OpenQASM 3: %s", describe(exc))
        problems["qasm3_error"] = describe(exc)
        return ""
    return text


def _export_aqo(circuit: QuantumCircuit, problems: dict[str, Any]) -> str:
    try:
        return to_aqo(circuit)
    except EigenError as exc:
        logger.warning("cannot export compiled circuit as AQO: %s", exc)
        problems["aqo_error"] = exc.message
        return ""
