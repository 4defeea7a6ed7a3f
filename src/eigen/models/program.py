"""Program languages Eigen accepts and how a language is recognised."""

from __future__ import annotations

from enum import StrEnum

MAX_PROGRAM_BYTES = 256 * 1024


class ProgramLanguage(StrEnum):
    QASM2 = "qasm2"
    QASM3 = "qasm3"
    EIGEN_LANG = "eigen-lang"
    AQO = "aqo"


_ALIASES = {
    "qasm2": ProgramLanguage.QASM2,
    "openqasm2": ProgramLanguage.QASM2,
    "qasm3": ProgramLanguage.QASM3,
    "openqasm3": ProgramLanguage.QASM3,
    "qasm": ProgramLanguage.QASM3,
    "openqasm": ProgramLanguage.QASM3,
    "eigen-lang": ProgramLanguage.EIGEN_LANG,
    "eigen_lang": ProgramLanguage.EIGEN_LANG,
    "eigenlang": ProgramLanguage.EIGEN_LANG,
    "python": ProgramLanguage.EIGEN_LANG,
    "aqo": ProgramLanguage.AQO,
    "aqo-json": ProgramLanguage.AQO,
    "json": ProgramLanguage.AQO,
}


def language_from_name(name: str) -> ProgramLanguage | None:
    return _ALIASES.get(name.strip().lower())


def language_from_path(path: str) -> ProgramLanguage | None:
    lowered = path.lower()
    if lowered.endswith(".py"):
        return ProgramLanguage.EIGEN_LANG
    if lowered.endswith(".json"):
        return ProgramLanguage.AQO
    return None  # .qasm is told apart by its header


def sniff_language(source: str) -> ProgramLanguage:
    """Guess the language of a program from its text (header, JSON, else Eigen-Lang)."""
    head = _first_statement(source)
    if head.startswith("OPENQASM"):
        version = head[len("OPENQASM") :].strip().rstrip(";").strip()
        return ProgramLanguage.QASM2 if version.startswith("2") else ProgramLanguage.QASM3
    if head.startswith("{"):
        return ProgramLanguage.AQO
    if "hybrid_program" in source or "eigen_lang" in source:
        return ProgramLanguage.EIGEN_LANG
    return ProgramLanguage.QASM3


def _first_statement(source: str) -> str:
    for raw in source.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if line and not line.startswith("//"):
            return line
    return ""
