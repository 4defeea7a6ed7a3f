"""A variational program in the original Eigen stack's style (runs unchanged on Eigen)."""

from eigen_lang import ExpectationValue, Observable, Param, QubitRegister, cx, hybrid_program, ry
from eigen_lang.optimizers import minimize


@hybrid_program(shots=2048, seed=11)
def vqe_main():
    theta = Param("theta", 0.1)
    phi = Param("phi", 0.2)
    q = QubitRegister(2)
    ry(0, theta=theta)
    ry(1, theta=phi)
    cx(0, 1)
    energy = ExpectationValue("energy", observable=Observable(Z=0, X=1))
    optimum = minimize(energy, initial_params=[0.1, 0.2], method="COBYLA", max_iters=60)
    return {"energy": optimum.fun, "parameters": optimum.x}
