from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from eigen.drivers import counts
from eigen.drivers.binding import bind_all, check_binding, sweep_table
from eigen.drivers.seeding import DRAWN_SEED_BOUND, MAX_SEED, choose_seed
from eigen.errors import InvalidArgument


def circuit_with(*names: str) -> QuantumCircuit:
    qc = QuantumCircuit(1)
    for name in names:
        qc.rz(Parameter(name), 0)
    return qc


def test_binding_reports_missing_and_unknown_names_with_index() -> None:
    qc = circuit_with("a", "b")
    with pytest.raises(InvalidArgument) as err:
        check_binding(qc, {"a": 1.0, "zeta": 2.0}, index=4)
    message = str(err.value)
    assert message.startswith("parameter_bindings[4]: ")
    assert "missing value for parameter(s) 'b'" in message
    assert "unknown parameter(s) 'zeta'" in message
    assert err.value.violations[0].field == "parameter_bindings[4]"


@pytest.mark.parametrize("value", [math.nan, math.inf, "1.0", True])
def test_binding_needs_finite_real_values(value: object) -> None:
    with pytest.raises(InvalidArgument, match="'a' need a finite real value"):
        check_binding(circuit_with("a"), {"a": value})  # type: ignore[dict-item]


def test_bind_all_and_sweep_table() -> None:
    qc = circuit_with("a")
    bound = bind_all(qc, [{"a": 0.5}, {"a": 1.5}])
    assert [c.num_parameters for c in bound] == [0, 0]
    [(param, values)] = sweep_table(qc, [{"a": 0.5}, {"a": 1.5}]).items()
    assert param.name == "a" and values == [0.5, 1.5]
    plain = QuantumCircuit(1)
    assert bind_all(plain, []) == [plain]
    assert sweep_table(plain, []) == {}


def test_choose_seed() -> None:
    assert choose_seed(0) == 0
    assert choose_seed(MAX_SEED) == MAX_SEED
    drawn = {choose_seed(None) for _ in range(20)}
    assert all(0 <= s < DRAWN_SEED_BOUND for s in drawn) and len(drawn) > 1
    for bad in (-1, MAX_SEED + 1, 1.5, True):
        with pytest.raises(InvalidArgument, match="seed"):
            choose_seed(bad)  # type: ignore[arg-type]


def test_counts_from_hex() -> None:
    assert counts.from_hex({"0x5": 3, "0x0": 1}, 3) == {"101": 3, "000": 1}


@pytest.mark.parametrize("width", [1, 3, 8, 12, 16, 17, 40, 64, 65, 130])
def test_counts_from_bits_any_width(width: int) -> None:
    rng = np.random.default_rng(width)
    rows = rng.integers(0, 2, size=(3, width), dtype=np.uint8).astype(bool)
    bits = np.concatenate([rows[[0, 0, 1, 2, 2, 2]]])
    expected: dict[str, int] = {}
    for row in bits:
        key = "".join("1" if b else "0" for b in row[::-1])  # clbit 0 rightmost
        expected[key] = expected.get(key, 0) + 1
    assert counts.from_bits(bits) == expected


def test_counts_without_clbits_are_empty() -> None:
    assert counts.from_bits(np.zeros((5, 0), dtype=bool)) == {}
