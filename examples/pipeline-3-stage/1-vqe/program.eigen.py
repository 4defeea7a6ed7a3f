"""VQE for H2 (STO-3G, 0.735 A, parity mapping with two-qubit reduction).

The Hamiltonian is the electronic part only; its exact ground-state energy is
-1.8572750302 Ha (add the nuclear repulsion +0.719968994449 Ha for the total energy).
Pauli labels are in Qiskit order: the rightmost character acts on qubit 0.

The ansatz (RY layer, CX, RY layer) is hardware-efficient and reaches the exact ground
state: this Hamiltonian is real, so its ground state is a real vector, which RY and CX
suffice to prepare (checked numerically: the minimum over the four angles is the exact
eigenvalue to 1e-12). Eigen reads this file as an AST; it is never run as Python.
"""

from eigen_lang import ExpectationValue, Observable, Param, cx, hybrid_program, ry
from eigen_lang.optimizers import minimize


@hybrid_program
def main():
    hamiltonian = Observable(
        {
            "II": -1.052373245772859,
            "IZ": 0.39793742484318045,
            "ZI": -0.39793742484318045,
            "ZZ": -0.01128010425623538,
            "XX": 0.18093119978423156,
        }
    )
    t0 = Param("t0", 0.0)
    t1 = Param("t1", 0.0)
    t2 = Param("t2", 0.0)
    t3 = Param("t3", 0.0)
    ry(0, t0)
    ry(1, t1)
    cx(0, 1)
    ry(0, t2)
    ry(1, t3)
    energy = ExpectationValue("energy", observable=hamiltonian)
    optimum = minimize(energy, [t0, t1, t2, t3], method="COBYLA", max_iters=200)
    return {"energy": optimum.fun, "parameters": optimum.x}
