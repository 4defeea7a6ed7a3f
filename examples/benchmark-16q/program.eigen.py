"""A 16-qubit benchmark circuit: three layers over 16 qubits, measured at the end.

The program has no measurement, so Eigen measures every qubit at the end (one classical
bit per qubit, bit 0 rightmost). The outcome distribution spreads over many of the 65,536
bitstrings, so identical counts from two runs mean the runs really were the same.

Eigen reads this file as an AST; it is never run as Python.
"""

from eigen_lang import QubitRegister, cx, h, hybrid_program, ry, rz


@hybrid_program
def main():
    q = QubitRegister(16)
    # layer 1: a different rotation on every qubit
    ry(q[0], 0.20)
    ry(q[1], 0.35)
    ry(q[2], 0.50)
    ry(q[3], 0.65)
    ry(q[4], 0.80)
    ry(q[5], 0.95)
    ry(q[6], 1.10)
    ry(q[7], 1.25)
    ry(q[8], 1.40)
    ry(q[9], 1.55)
    ry(q[10], 1.70)
    ry(q[11], 1.85)
    ry(q[12], 2.00)
    ry(q[13], 2.15)
    ry(q[14], 2.30)
    ry(q[15], 2.45)
    # layer 2: an entangling ladder
    cx(q[0], q[1])
    cx(q[1], q[2])
    cx(q[2], q[3])
    cx(q[3], q[4])
    cx(q[4], q[5])
    cx(q[5], q[6])
    cx(q[6], q[7])
    cx(q[7], q[8])
    cx(q[8], q[9])
    cx(q[9], q[10])
    cx(q[10], q[11])
    cx(q[11], q[12])
    cx(q[12], q[13])
    cx(q[13], q[14])
    cx(q[14], q[15])
    # layer 3: phases, then a basis change, so the outcome distribution is wide
    rz(q[0], 0.30)
    rz(q[1], 0.40)
    rz(q[2], 0.50)
    rz(q[3], 0.60)
    rz(q[4], 0.70)
    rz(q[5], 0.80)
    rz(q[6], 0.90)
    rz(q[7], 1.00)
    rz(q[8], 1.10)
    rz(q[9], 1.20)
    rz(q[10], 1.30)
    rz(q[11], 1.40)
    rz(q[12], 1.50)
    rz(q[13], 1.60)
    rz(q[14], 1.70)
    rz(q[15], 1.80)
    h(q[0])
    h(q[1])
    h(q[2])
    h(q[3])
    h(q[4])
    h(q[5])
    h(q[6])
    h(q[7])
    h(q[8])
    h(q[9])
    h(q[10])
    h(q[11])
    h(q[12])
    h(q[13])
    h(q[14])
    h(q[15])
