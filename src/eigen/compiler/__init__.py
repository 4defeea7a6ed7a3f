"""eigen.compiler: the CompilationService (Validate, Compile, Optimize).

Parses OpenQASM 2/3, AQO JSON and Eigen-Lang programs, checks them against a device and
transpiles them with cached qiskit preset pass managers. Importing it loads qiskit.
"""

from __future__ import annotations

from eigen.compiler.aqo import AQO_FORMAT, canonical_json, fingerprint, from_aqo, to_aqo
from eigen.compiler.parse import ParsedProgram, parse_program
from eigen.compiler.passes import (
    DEFAULT_OPTIMIZATION_LEVEL,
    OPTIMIZE_LEVEL,
    PassManagerCache,
    default_cache,
    warm_up,
)
from eigen.compiler.qasm import parse_qasm, parse_qasm2, parse_qasm3
from eigen.compiler.service import CompilationService

__all__ = [
    "AQO_FORMAT",
    "DEFAULT_OPTIMIZATION_LEVEL",
    "OPTIMIZE_LEVEL",
    "CompilationService",
    "ParsedProgram",
    "PassManagerCache",
    "canonical_json",
    "default_cache",
    "fingerprint",
    "from_aqo",
    "parse_program",
    "parse_qasm",
    "parse_qasm2",
    "parse_qasm3",
    "to_aqo",
    "warm_up",
]
