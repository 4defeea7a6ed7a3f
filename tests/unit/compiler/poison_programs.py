"""Programs that used to crash, stall or flood the compiler (issue 14), shared by its tests."""

from __future__ import annotations

BELL = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\n'
    "c = measure q;\n"
)
REPEATED = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\ncx q[0], q[0];\n'
CONST_DESIGNATOR = "OPENQASM 3.0;\nconst uint n = 2;\nqubit[n] q;\n"
NO_VERSION = 'include "qelib1.inc";\nqreg q[1];\n'
SYNTAX_ERROR = "OPENQASM 3.0;\nqubit[2] q;\nh q[0]\ncx q[0] q[1];\n"


def nested_gates(levels: int) -> str:
    """Gate definitions each calling the previous one twice: 2**(levels-1) operations."""
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', "gate g0 a { h a; }"]
    lines += [f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}" for i in range(1, levels)]
    return "\n".join([*lines, "qubit[1] q;", f"g{levels - 1} q[0];", ""])
