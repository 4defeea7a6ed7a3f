"""Cached preset pass managers: keys, reuse, basis and coupling-map compliance."""

from __future__ import annotations

import pytest
from qiskit.circuit import QuantumCircuit

from eigen.compiler.passes import PassManagerCache, check_level, key_for, warm_up
from eigen.errors import CompilationFailed, InvalidArgument
from eigen.models.target import DeviceInfo

BASIS = ("rz", "sx", "x", "cx")
LINE = DeviceInfo("emu:line3", 3, BASIS, coupling_map=((0, 1), (1, 2)))
ALL_TO_ALL = DeviceInfo("sim:all", 5, BASIS)


def far_interaction() -> QuantumCircuit:
    circuit = QuantumCircuit(3, 3)
    circuit.h(0)
    circuit.cx(0, 2)  # not an edge of the line: needs routing
    circuit.cx(2, 1)  # against the edge direction
    circuit.t(1)
    circuit.ccx(0, 1, 2)
    circuit.measure(range(3), range(3))
    return circuit


def test_same_key_returns_the_same_pass_manager() -> None:
    cache = PassManagerCache()
    first = cache.pass_manager(key_for(LINE, 1))
    assert cache.pass_manager(key_for(LINE, 1)) is first
    assert cache.pass_manager(key_for(LINE, 2)) is not first
    assert len(cache) == 2


def test_seed_only_matters_on_coupled_devices() -> None:
    assert key_for(ALL_TO_ALL, 1, seed=5) == key_for(ALL_TO_ALL, 1, seed=None)
    assert key_for(LINE, 1, seed=5) != key_for(LINE, 1, seed=None)


def test_list_coupling_maps_are_normalised() -> None:
    as_lists = DeviceInfo("emu:line3", 3, BASIS, coupling_map=[[0, 1], [1, 2]])  # type: ignore[arg-type]
    assert key_for(as_lists, 1) == key_for(LINE, 1)


def test_cache_is_bounded() -> None:
    cache = PassManagerCache(maxsize=2)
    for level in (0, 1, 2):
        cache.pass_manager(key_for(ALL_TO_ALL, level))
    assert len(cache) == 2


def test_line_coupling_map_yields_basis_ops_on_edges_only() -> None:
    out = PassManagerCache().transpile(far_interaction(), LINE, 1)
    allowed = set(BASIS) | {"measure", "barrier"}
    assert set(out.count_ops()) <= allowed
    edges = set(LINE.coupling_map or ())
    for item in out.data:
        if item.operation.num_qubits == 2:
            pair = tuple(out.find_bit(q).index for q in item.qubits)
            assert pair in edges, f"{item.operation.name} on {pair} is not an edge"


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_every_level_transpiles(level: int) -> None:
    out = PassManagerCache().transpile(far_interaction(), LINE, level)
    assert set(out.count_ops()) <= set(BASIS) | {"measure", "barrier"}


def test_untranslatable_basis_is_a_compilation_failure() -> None:
    only_h = DeviceInfo("odd", 2, ("h",))
    circuit = QuantumCircuit(2)
    circuit.cx(0, 1)
    with pytest.raises(CompilationFailed) as info:
        PassManagerCache().transpile(circuit, only_h, 1)
    assert "odd" in info.value.message


@pytest.mark.parametrize("level", [-1, 4, True, "1"])
def test_invalid_levels_are_rejected(level: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_level(level)  # type: ignore[arg-type]
    assert info.value.violations[0].field == "optimization_level"


def test_warm_up_builds_the_default_pass_managers() -> None:
    cache = PassManagerCache()
    assert warm_up(cache=cache) >= 0
    assert len(cache) == 2
    warm_up([LINE], levels=(1, 3), cache=cache)
    assert len(cache) == 4
