"""Cached preset pass managers: one per (device, basis gates, coupling map, level, seed).

Building a preset pass manager costs milliseconds (the very first one in a process
~0.75 s of one-time qiskit initialisation, and its first ``run`` on a coupled device
another ~75 ms), running a cached one on a small circuit ~0.2-1 ms. So
:class:`PassManagerCache` builds each pass manager once and keeps it (bounded LRU).

Thread safety: a qiskit ``PassManager`` keeps per-run state on itself and its passes
(``property_set``), so it is not safe to ``run`` from two threads at once. Each cache
entry carries its own lock held around ``run``; different devices compile in parallel.

Seeds: the seed only matters where layout and routing run (a device with a coupling
map). For all-to-all devices it is normalised to :data:`DEFAULT_SEED`, so every job on a
simulator shares one pass manager. For coupled devices ``seed`` (default
:data:`DEFAULT_SEED`) is part of the key: compilation is deterministic, but every
distinct seed costs one more pass manager.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from qiskit.circuit import QuantumCircuit
from qiskit.transpiler import CouplingMap, generate_preset_pass_manager
from qiskit.transpiler.passmanager import StagedPassManager

from eigen.errors import CompilationFailed, FieldViolation, InvalidArgument
from eigen.models.target import DeviceInfo

logger = logging.getLogger(__name__)

DEFAULT_OPTIMIZATION_LEVEL = 1
OPTIMIZE_LEVEL = 3
DEFAULT_SEED = 1
DEFAULT_CACHE_SIZE = 64

Edges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class PassManagerKey:
    device: str
    basis_gates: tuple[str, ...]
    coupling_map: Edges | None
    num_qubits: int
    optimization_level: int
    seed: int


@dataclass
class _Entry:
    pass_manager: StagedPassManager
    lock: threading.Lock = field(default_factory=threading.Lock)


def check_level(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 3:
        description = f"must be 0, 1, 2 or 3, got {level!r}"
        raise InvalidArgument(
            f"optimization_level: {description}",
            [FieldViolation("optimization_level", description)],
        )
    return level


def key_for(device: DeviceInfo, optimization_level: int, seed: int | None = None) -> PassManagerKey:
    """The cache key of ``device`` at a level; ``seed`` only counts on coupled devices."""
    edges = _edges(device.coupling_map)
    effective_seed = DEFAULT_SEED if edges is None or seed is None else int(seed)
    return PassManagerKey(
        device=device.name,
        basis_gates=tuple(device.basis_gates),
        coupling_map=edges,
        num_qubits=device.num_qubits,
        optimization_level=check_level(optimization_level),
        seed=effective_seed,
    )


def build_pass_manager(key: PassManagerKey) -> StagedPassManager:
    """A fresh preset pass manager for ``key`` (uncached; prefer :class:`PassManagerCache`)."""
    coupling = None
    if key.coupling_map is not None:
        coupling = CouplingMap([list(edge) for edge in key.coupling_map])
        for qubit in range(key.num_qubits):  # isolated qubits are still qubits of the device
            if qubit not in coupling.physical_qubits:
                coupling.add_physical_qubit(qubit)
    return generate_preset_pass_manager(
        optimization_level=key.optimization_level,
        basis_gates=list(key.basis_gates) or None,
        coupling_map=coupling,
        seed_transpiler=key.seed,
    )


class PassManagerCache:
    """Thread-safe bounded LRU of preset pass managers, see the module docstring."""

    def __init__(self, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        self._maxsize = max(1, maxsize)
        self._entries: OrderedDict[PassManagerKey, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def pass_manager(self, key: PassManagerKey) -> StagedPassManager:
        """The cached pass manager for ``key`` (built on first use)."""
        return self._entry(key).pass_manager

    def transpile(
        self,
        circuit: QuantumCircuit,
        device: DeviceInfo,
        optimization_level: int = DEFAULT_OPTIMIZATION_LEVEL,
        seed: int | None = None,
    ) -> QuantumCircuit:
        """``circuit`` on ``device``'s basis and coupling map; CompilationFailed on failure."""
        entry = self._entry(key_for(device, optimization_level, seed))
        try:
            with entry.lock:
                result: QuantumCircuit = entry.pass_manager.run(circuit)
        except Exception as exc:
            reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise CompilationFailed(
                f"cannot compile for {device.name} at optimization level {optimization_level}: {reason}"
            ) from exc
        return result

    def _entry(self, key: PassManagerKey) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        started = time.perf_counter()
        try:
            built = _Entry(build_pass_manager(key))  # outside the lock: builds can be slow
        except Exception as exc:
            raise CompilationFailed(f"cannot build a pass manager for {key.device}: {exc}") from exc
        logger.debug(
            "built pass manager for %s level %d in %.1f ms",
            key.device,
            key.optimization_level,
            (time.perf_counter() - started) * 1e3,
        )
        with self._lock:
            entry = self._entries.setdefault(key, built)  # a racing builder's entry wins
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
            return entry


_default_cache = PassManagerCache()


def default_cache() -> PassManagerCache:
    """The process-wide pass-manager cache."""
    return _default_cache


GENERIC_DEVICE = DeviceInfo(name="warm-up", num_qubits=3, basis_gates=("rz", "sx", "x", "cx"))
_WARM_UP_LINE = DeviceInfo(
    name="warm-up-line",
    num_qubits=3,
    basis_gates=("rz", "sx", "x", "cx"),
    coupling_map=((0, 1), (1, 0), (1, 2), (2, 1)),
)


def warm_up(
    devices: Iterable[DeviceInfo] = (),
    levels: Iterable[int] = (DEFAULT_OPTIMIZATION_LEVEL,),
    cache: PassManagerCache | None = None,
) -> float:
    """Pay qiskit's one-time transpiler start-up (~1 s) now; returns the seconds spent.

    Builds and runs the pass managers of ``devices`` (a generic all-to-all and a coupled
    device when none are given) at ``levels`` on a tiny circuit, so a server's first job
    does not pay for it. Call it at server start.
    """
    started = time.perf_counter()
    target = cache if cache is not None else _default_cache
    chosen = list(devices) or [GENERIC_DEVICE, _WARM_UP_LINE]
    tiny = QuantumCircuit(2, 2)
    tiny.h(0)
    tiny.cx(0, 1)
    tiny.measure([0, 1], [0, 1])
    for device in chosen:
        if device.num_qubits < 2:
            continue
        for level in levels:
            try:
                target.transpile(tiny, device, level)
            except CompilationFailed as exc:  # e.g. a basis that cannot express h/cx
                logger.info("warm-up skipped %s level %d: %s", device.name, level, exc)
    elapsed = time.perf_counter() - started
    logger.info("transpiler warm-up took %.0f ms", elapsed * 1e3)
    return elapsed


def _edges(coupling_map: Iterable[Iterable[int]] | None) -> Edges | None:
    if coupling_map is None:
        return None
    if isinstance(coupling_map, tuple) and all(type(edge) is tuple for edge in coupling_map):
        return coupling_map  # the usual DeviceInfo form: already hashable
    pairs: list[tuple[int, int]] = []
    for edge in coupling_map:
        a, b = edge
        pairs.append((int(a), int(b)))
    return tuple(pairs)
