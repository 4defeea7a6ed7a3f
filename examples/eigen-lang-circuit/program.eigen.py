"""A small parametrised circuit: an entangled pair rotated by theta.

Eigen reads this file as an AST; it is never run as Python.
"""

from eigen_lang import ClassicalRegister, Param, QubitRegister, cx, hybrid_program, measure, ry


@hybrid_program
def main():
    q = QubitRegister(2)
    c = ClassicalRegister(2)
    theta = Param("theta", 1.0471975511965976)  # pi/3: P(00) = 0.75, P(11) = 0.25
    ry(q[0], theta)
    cx(q[0], q[1])
    measure(q[0], q[1], c=[c[0], c[1]])
