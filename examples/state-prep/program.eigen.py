"""State preparation: the three-qubit W state (|001> + |010> + |100>) / sqrt(3).

Each basis state with exactly one qubit in |1> gets amplitude 1/sqrt(3), so the counts
hold only the outcomes 001, 010 and 100 (classical bit 0 rightmost), about a third each.

1. ry on qubit 0 by 2*acos(1/sqrt(3)) leaves amplitude 1/sqrt(3) on |0> and sqrt(2/3) on |1>.
2. A controlled ry(pi/2) (two ry and two cx) splits the |1> branch evenly over qubit 1.
3. cx(1, 0) moves the branch where qubit 1 is 1 to qubit 0 = 0.
4. A Toffoli on the negated controls sets qubit 2 where qubits 0 and 1 are both 0.

Eigen reads this file as an AST; it is never run as Python.
"""

from eigen_lang import ClassicalRegister, QubitRegister, ccx, cx, hybrid_program, measure, pi, ry, x

SPLIT = 1.9106332362490186  # 2 * acos(1 / sqrt(3))


@hybrid_program
def main():
    q = QubitRegister(3)
    c = ClassicalRegister(3)
    ry(q[0], SPLIT)
    ry(q[1], pi / 4)
    cx(q[0], q[1])
    ry(q[1], -pi / 4)
    cx(q[0], q[1])
    cx(q[1], q[0])
    x(q[0])
    x(q[1])
    ccx(q[0], q[1], q[2])
    x(q[0])
    x(q[1])
    measure(q[0], q[1], q[2], c=[c[0], c[1], c[2]])
