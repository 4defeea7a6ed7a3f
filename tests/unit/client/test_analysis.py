"""Counts analysis against Qiskit's own implementations and hand-computed values."""

from __future__ import annotations

import math

import pytest
from qiskit.quantum_info import hellinger_fidelity as qiskit_fidelity
from qiskit.result import marginal_distribution

from eigen.client import analysis
from eigen.models.result import Experiment, JobResult

COUNTS = {"000": 100, "001": 50, "010": 25, "011": 10, "100": 5, "101": 5, "110": 3, "111": 2}


def test_marginal_counts_follow_qiskit_bit_order() -> None:
    for bits in ([0], [1], [2], [0, 2], [2, 0], [1, 0, 2]):
        assert analysis.marginal_counts(COUNTS, bits) == marginal_distribution(COUNTS, bits), bits
    # bit 0 is the rightmost character: "001" has bit 0 set
    assert analysis.marginal_counts({"001": 7, "100": 3}, [0]) == {"1": 7, "0": 3}


def test_marginal_counts_keep_integers_and_ignore_register_spaces() -> None:
    marginal = analysis.marginal_counts({"01 10": 4, "11 10": 6}, [3])
    assert marginal == {"0": 4, "1": 6}
    assert all(isinstance(v, int) for v in marginal.values())


def test_marginal_counts_reject_bad_indices() -> None:
    with pytest.raises(ValueError):
        analysis.marginal_counts(COUNTS, [3])
    with pytest.raises(ValueError):
        analysis.marginal_counts(COUNTS, [0, 0])
    with pytest.raises(ValueError):
        analysis.marginal_counts(COUNTS, [])


def test_shannon_entropy() -> None:
    assert analysis.shannon_entropy({"00": 500, "11": 500}) == pytest.approx(1.0)
    assert analysis.shannon_entropy({"0": 10}) == 0.0
    uniform = {format(i, "03b"): 1 for i in range(8)}
    assert analysis.shannon_entropy(uniform) == pytest.approx(3.0)
    assert analysis.shannon_entropy(uniform, base=math.e) == pytest.approx(3 * math.log(2))


def test_total_variation_distance() -> None:
    assert analysis.total_variation_distance({"0": 5}, {"1": 9}) == pytest.approx(1.0)
    assert analysis.total_variation_distance({"00": 1, "11": 1}, {"00": 50, "11": 50}) == pytest.approx(0)
    assert analysis.total_variation_distance({"0": 3, "1": 1}, {"0": 1, "1": 1}) == pytest.approx(0.25)


def test_hellinger_fidelity_matches_qiskit() -> None:
    other = {"000": 80, "001": 60, "011": 30, "111": 30, "110": 1}
    assert analysis.hellinger_fidelity(COUNTS, other) == pytest.approx(qiskit_fidelity(COUNTS, other))
    assert analysis.hellinger_fidelity({"00": 4, "11": 4}, {"00": 1, "11": 1}) == pytest.approx(1.0)
    assert analysis.hellinger_fidelity({"0": 1}, {"1": 1}) == 0.0


def test_expectation_value_of_z_strings() -> None:
    bell = {"00": 500, "11": 500}
    assert analysis.expectation_value(bell, "ZZ") == pytest.approx(1.0)
    assert analysis.expectation_value(bell, "IZ") == pytest.approx(0.0)
    # "01": bit 0 is 1 -> Z on bit 0 is -1, Z on bit 1 is +1
    assert analysis.expectation_value({"01": 10}, "IZ") == pytest.approx(-1.0)
    assert analysis.expectation_value({"01": 10}, "ZI") == pytest.approx(1.0)
    assert analysis.expectation_value({"01": 10}, "Z") == pytest.approx(-1.0)  # short string: bit 0
    assert analysis.expectation_value({"0": 3, "1": 1}, "Z") == pytest.approx(0.5)
    weighted = analysis.expectation_value({"01": 10}, {"ZZ": 2.0, "IZ": 0.5, "II": 1.0})
    assert weighted == pytest.approx(2.0 * -1 + 0.5 * -1 + 1.0)


def test_expectation_value_refuses_x_and_y() -> None:
    with pytest.raises(ValueError, match="only I and Z"):
        analysis.expectation_value({"00": 1}, "XZ")
    with pytest.raises(ValueError):
        analysis.expectation_value({"00": 1}, "ZZZ")


def test_analysis_accepts_a_job_result() -> None:
    result = JobResult("j1", "sim", [Experiment({"00": 6, "11": 2}, 8)])
    assert analysis.expectation_value(result, "ZZ") == pytest.approx(1.0)
    assert analysis.most_frequent(result) == [("00", 6)]
    assert analysis.probabilities(result) == {"00": 0.75, "11": 0.25}
    assert analysis.experiment_summaries(result)[0]["top_outcome"] == "00"
    assert analysis.mean_over([result, result], "IZ") == pytest.approx(0.5)


def test_combine_counts_and_bad_outcomes() -> None:
    assert analysis.combine_counts({"0": 1, "1": 2}, {"1": 3}) == {"0": 1, "1": 5}
    with pytest.raises(ValueError, match="not a bitstring"):
        analysis.probabilities({"0x3": 1})
    with pytest.raises(ValueError, match="empty"):
        analysis.probabilities({})
