"""eigen.lang: the AST-only reader of Eigen-Lang programs (``program.eigen.py``).

Programs are Python syntax written against the :mod:`eigen_lang` names. They are parsed
with :mod:`ast` and interpreted form by form; they are never imported, executed or
``eval``'d. :func:`read_program` returns a :class:`LangProgram` (the logical qiskit
circuit, Param defaults, the hybrid spec, the decorator options) or raises
:class:`eigen.errors.InvalidArgument` whose message names the line.

Pauli labels are in Qiskit order (the rightmost character acts on qubit 0); counts put
classical bit 0 rightmost.
"""

from __future__ import annotations

from eigen.lang.program import LangProgram
from eigen.lang.reader import read_program
from eigen.lang.rules import MAX_AST_DEPTH, MAX_AST_NODES, MAX_QUBITS, MAX_SOURCE_BYTES

__all__ = [
    "MAX_AST_DEPTH",
    "MAX_AST_NODES",
    "MAX_QUBITS",
    "MAX_SOURCE_BYTES",
    "LangProgram",
    "read_program",
]
