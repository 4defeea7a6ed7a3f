"""A two-qubit VQE on a noisy simulator, in the style of the original Eigen stack.

The Hamiltonian H = Z0 + X1 (``Observable(Z=0, X=1)``: each keyword a Pauli letter on
that qubit, weight 1) has the exact ground-state energy -2: qubit 0 in |1> (Z = -1) and
qubit 1 in |-> (X = -1). After ry(0, theta), ry(1, phi) and cx(0, 1) the energy is
cos(theta) + sin(phi) (X on the target commutes with the cx), minimal at theta = pi,
phi = -pi/2.

The decorator asks for a depolarizing noise model of strength 0.001 and 8192 shots per
measurement basis, so the energy is estimated from noisy measurements and lands a little
above -2. Eigen reads this file as an AST; it is never run as Python.
"""

from eigen_lang import ExpectationValue, Observable, Param, QubitRegister, cx, hybrid_program, ry
from eigen_lang.optimizers import minimize


@hybrid_program(noise_model="depolarizing:0.001", shots=8192, seed=5)
def main():
    q = QubitRegister(2)
    theta = Param("theta", 0.1)
    phi = Param("phi", 0.2)
    ry(q[0], theta=theta)
    ry(q[1], theta=phi)
    cx(q[0], q[1])
    energy = ExpectationValue("energy", observable=Observable(Z=0, X=1))
    optimum = minimize(energy, initial_params=[0.1, 0.2], method="COBYLA", max_iters=80)
    return {"energy": optimum.fun, "parameters": optimum.x}
