"""Grouping of Pauli terms and estimation from counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

from eigen.errors import InvalidArgument
from eigen.kernel.hybrid.gradients import combine, shift_rule_applies, shifted_points
from eigen.kernel.hybrid.observables import check_observable, estimate, plan
from eigen.kernel.hybrid.optimizers import canonical_method, minimize

H2 = [("II", -1.052373245772859), ("IZ", 0.39793742484318045), ("ZI", -0.39793742484318045),
      ("ZZ", -0.01128010425623538), ("XX", 0.18093119978423156)]  # fmt: skip


def test_h2_groups_into_two_bases_with_identity_offset() -> None:
    measured = plan([H2], 2)
    assert sorted(measured.bases) == ["XX", "ZZ"]
    assert measured.offsets == (pytest.approx(-1.052373245772859),)


def test_qubit_wise_commuting_groups_do_not_mix_bases() -> None:
    measured = plan([[("XI", 1.0), ("ZI", 1.0), ("IZ", 1.0), ("XZ", 1.0)]], 2)
    for group in measured.groups:
        for label in group.labels:
            assert all(b == letter or letter == "I" for b, letter in zip(group.basis, label, strict=True))
    assert len(measured.groups) == 2


def test_estimate_matches_hand_computation() -> None:
    measured = plan([H2], 2)
    counts = {"ZZ": {"01": 1000}, "XX": {"00": 500, "11": 500}}
    ((value, error),) = estimate([H2], measured, counts)
    assert value == pytest.approx(-1.052373245772859 - 0.39793742484318045 * 2 + 0.01128010425623538
                                  + 0.18093119978423156)  # fmt: skip
    assert error == 0.0  # every shot gave the same value


def test_standard_error_of_a_fair_coin() -> None:
    observable = [[("Z", 1.0)]]
    ((value, error),) = estimate(observable, plan(observable, 1), {"Z": {"0": 500, "1": 500}})
    assert value == pytest.approx(0.0)
    assert error == pytest.approx(1 / math.sqrt(1000))


def test_counts_bit_order_is_qiskit_order() -> None:
    observable = [[("IZ", 1.0)], [("ZI", 1.0)]]  # IZ reads qubit 0 = rightmost bit
    values = estimate(observable, plan(observable, 2), {"ZZ": {"01": 10}})
    assert [v for v, _ in values] == [pytest.approx(-1.0), pytest.approx(1.0)]


@pytest.mark.parametrize("label", ["ZZZ", "Z", "ZA", ""])
def test_bad_labels_are_rejected(label: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_observable([(label, 1.0)], 2, "observables[0]")
    assert caught.value.violations[0].field == "observables[0]"


def test_parameter_shift_gradient_is_exact_for_rotations() -> None:
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    circuit = QuantumCircuit(1)
    circuit.ry(theta, 0)
    assert shift_rule_applies(circuit, ["theta"])
    x = np.array([0.3])
    energy = [
        Statevector(circuit.assign_parameters({theta: p[0]})).expectation_value(SparsePauliOp("Z")).real
        for p in shifted_points(x, math.pi / 2)
    ]
    assert combine(energy, True, math.pi / 2)[0] == pytest.approx(-math.sin(0.3))
    doubled = QuantumCircuit(1)
    doubled.ry(2 * theta, 0)
    assert not shift_rule_applies(doubled, ["theta"])


@pytest.mark.parametrize("method", ["COBYLA", "nelder-mead", "Powell", "L-BFGS-B", "spsa"])
def test_optimizers_find_a_minimum(method: str) -> None:
    seen: list[float] = []

    def objective(x: np.ndarray) -> float:
        return float(np.sum((x - 0.5) ** 2))

    outcome = minimize(
        method, objective, np.zeros(2), 200, {}, lambda _x, fx: seen.append(fx),
        lambda x: 2 * (x - 0.5),
    )  # fmt: skip
    assert outcome.fun < 1e-3 and seen and outcome.iterations == len(seen)


def test_unknown_optimizer_names_the_choices() -> None:
    with pytest.raises(InvalidArgument, match="COBYLA"):
        canonical_method("gradient-descent-deluxe")
