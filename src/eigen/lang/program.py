"""What reading an Eigen-Lang program gives: :class:`LangProgram`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qiskit.circuit import QuantumCircuit

from eigen.models.compiled import HybridSpec, ProgramReturns


@dataclass
class LangProgram:
    """A program read from ``program.eigen.py`` (never executed).

    ``circuit``: the logical circuit, one qubit register ``q``; free qiskit ``Parameter`` s
    named after each ``Param`` used by a gate. A plain program's circuit is measured (its
    own measurements into register ``c``, else a ``measure_all`` into ``meas``, one bit per
    qubit); a hybrid program's circuit is the unmeasured ansatz.
    ``defaults``: ``Param`` name -> default (Params without a default are left out).
    ``hybrid``: the classical part, ``None`` for a program without
    ``ExpectationValue``/``minimize``.
    ``decorator``: the literal keyword arguments of ``@hybrid_program(...)``.
    ``parameters``: every ``Param`` name in declaration order (used or not).
    ``datasets``: ``{"source": ..., "format": ...}`` for each ``load_dataset``/``DatasetRef``.
    ``returns``: what the function returns (None: nothing), see :mod:`eigen.lang.returns`.
    ``empty``: a plain program with no gate, reset or measurement (nothing runs).
    """

    circuit: QuantumCircuit
    defaults: dict[str, float]
    hybrid: HybridSpec | None
    entrypoint: str
    decorator: dict[str, Any] = field(default_factory=dict)
    parameters: list[str] = field(default_factory=list)
    datasets: list[dict[str, str | None]] = field(default_factory=list)
    returns: ProgramReturns | None = None
    empty: bool = False
