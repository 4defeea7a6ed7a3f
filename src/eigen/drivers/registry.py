"""The driver-manager: every known device, found through entry points.

Drivers come from the entry-point group ``eigen.drivers`` (built-ins register the same
way as plugins, in ``pyproject.toml``) and from :meth:`DriverRegistry.register`. Entry
points are loaded lazily: the first lookup of a name imports and instantiates its driver
(a listing or an alias lookup loads them all). A plugin that fails to load is logged and
skipped; the rest of the registry keeps working.

:class:`DriverRegistry` is the in-process implementation of the kernel's ``DriverPort``.

With a memory limit (``worker_memory_bytes``), every execution and estimate reserves what it
holds from one :class:`~eigen.drivers.memory_budget.MemoryBudget` before its driver call and
releases it after, here where executions are dispatched (in process or to the driver
processes), so that concurrent jobs together stay within the limit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib.metadata import EntryPoint, entry_points
from time import perf_counter
from typing import TYPE_CHECKING

from eigen.drivers.base import Driver
from eigen.drivers.memory_budget import MemoryAware, MemoryBudget, estimate_need, request_need
from eigen.errors import AlreadyExists, EigenError, ExecutionFailed, FieldViolation, NotFound
from eigen.models.state_memory import StateNeed, over_limit

if TYPE_CHECKING:
    from collections.abc import Iterable

    from eigen.drivers.processes import DriverProcesses
    from eigen.models.compiled import EstimationRequest, ExecutionRequest
    from eigen.models.result import ExecutionResult
    from eigen.models.target import Calibration, DeviceInfo, DeviceStatus

logger = logging.getLogger(__name__)

GROUP = "eigen.drivers"


class DriverRegistry:
    """Devices by name and alias; dispatches execution to their drivers."""

    def __init__(
        self,
        drivers: Iterable[Driver] = (),
        *,
        load_entry_points: bool = True,
        group: str = GROUP,
        processes: DriverProcesses | None = None,
        memory_limit: int | None = None,
    ) -> None:
        """``processes``: run the executions of entry-point drivers in these worker
        processes (:mod:`eigen.drivers.processes`); drivers registered here stay here.
        ``memory_limit``: the bytes runs may hold at once (None: not counted)."""
        self._lock = threading.RLock()
        self._processes = processes
        self.memory = MemoryBudget(memory_limit) if memory_limit is not None else None
        self._from_entry_points: set[str] = set()
        self._drivers: dict[str, Driver] = {}
        self._pending: dict[str, EntryPoint] = {}
        self._aliases: dict[str, str] = {}
        self._failed: dict[str, str] = {}
        self._absent: dict[str, str] = {}  # device -> why it cannot exist here (Driver.unavailable)
        if load_entry_points:
            for ep in entry_points(group=group):
                if ep.name in self._pending:
                    logger.warning(
                        "duplicate driver entry point ignored",
                        extra={"device": ep.name, "entry_point": ep.value},
                    )
                    continue
                self._pending[ep.name] = ep
        for driver in drivers:
            self.register(driver)

    # -- registration -----------------------------------------------------------------

    def register(self, driver: Driver, *, replace: bool = False) -> None:
        """Add ``driver`` under its name and aliases (``replace`` to override a device)."""
        with self._lock:
            taken = self._owner(driver.name)
            if taken is not None and not replace:
                raise AlreadyExists(f"device {driver.name!r} is already registered")
            for alias in driver.aliases:
                owner = self._owner(alias)
                if owner not in (None, driver.name) and not replace:
                    raise AlreadyExists(f"alias {alias!r} already names device {owner!r}")
            self._pending.pop(driver.name, None)
            self._from_entry_points.discard(driver.name)
            self._add(driver)

    def _owner(self, name: str) -> str | None:
        if name in self._drivers or name in self._pending:
            return name
        return self._aliases.get(name)

    def _add(self, driver: Driver, *extra_aliases: str) -> None:
        if self.memory is not None and isinstance(driver, MemoryAware):
            driver.memory_limit = self.memory.limit  # it picks engines that fit
        self._drivers[driver.name] = driver
        for alias in (*driver.aliases, *extra_aliases):
            if alias != driver.name:
                self._aliases[alias] = driver.name

    def _load(self, name: str) -> None:
        ep = self._pending.pop(name)
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Driver)):
                raise TypeError(f"{ep.value} is not a Driver subclass")
            absent = cls.unavailable()
            if absent is not None:
                self._absent[name] = absent
                logger.info("device not registered", extra={"device": name, "reason": absent})
                return
            driver = cls()
        except Exception as exc:
            self._failed[name] = repr(exc)
            logger.warning(
                "driver plugin failed to load; skipped",
                extra={"device": name, "entry_point": ep.value, "error": repr(exc)},
                exc_info=True,
            )
            return
        if driver.name in self._drivers:  # registered explicitly meanwhile: that one wins
            return
        if driver.name != name:
            logger.warning(
                "driver name differs from its entry point; both resolve",
                extra={"device": driver.name, "entry_point": name},
            )
        self._add(driver, name)
        self._from_entry_points.add(driver.name)
        logger.debug("driver loaded", extra={"device": driver.name, "entry_point": ep.value})

    def _load_all(self) -> None:
        for name in list(self._pending):
            self._load(name)

    # -- lookup -----------------------------------------------------------------------

    def names(self) -> list[str]:
        """Canonical names of the devices known so far (loaded or not)."""
        with self._lock:
            return sorted({*self._drivers, *self._pending})

    def _find(self, name: str) -> Driver | None:
        canonical = self._aliases.get(name, name)
        if canonical in self._pending:
            self._load(canonical)
        return self._drivers.get(canonical)

    def driver(self, name: str) -> Driver:
        """The driver of device ``name`` (a canonical name or an alias)."""
        with self._lock:
            found = self._find(name)
            if found is None and self._pending:
                self._load_all()  # aliases are only known once drivers are loaded
                found = self._find(name)
            if found is not None:
                return found
            known = ", ".join(sorted(self._drivers)) or "none"
            aliases = ", ".join(f"{a} -> {n}" for a, n in sorted(self._aliases.items()))
            message = f"unknown device {name!r}; known devices: {known}"
            if aliases:
                message += f" (aliases: {aliases})"
            if name in self._failed:
                message = f"device {name!r} failed to load ({self._failed[name]}); {message}"
            elif name in self._absent:
                message = f"device {name!r} is not available here ({self._absent[name]}); {message}"
            raise NotFound(
                message,
                [FieldViolation("device", f"unknown device {name!r}")],
                {"known_devices": known},
            )

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.driver(name)
        except NotFound:
            return False
        return True

    # -- DriverPort -------------------------------------------------------------------

    def list_devices(self) -> list[DeviceInfo]:
        with self._lock:
            self._load_all()
            drivers = sorted(self._drivers.values(), key=lambda d: d.name)
        infos: list[DeviceInfo] = []
        for driver in drivers:
            try:
                infos.append(driver.info)
            except Exception as exc:
                logger.warning(
                    "device description failed; device left out of the listing",
                    extra={"device": driver.name, "error": repr(exc)},
                    exc_info=True,
                )
        return infos

    def device(self, name: str) -> DeviceInfo:
        return self.driver(name).info

    def device_status(self, name: str) -> DeviceStatus:
        return self.driver(name).status()

    def calibrate(self, name: str) -> Calibration:
        return self.driver(name).calibration()

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Run ``request`` on its device; adds ``timings["driver_s"]`` (whole driver call).
        A noise model by name on a driver that does not apply one is INVALID_ARGUMENT."""
        driver = self.driver(request.device)
        elsewhere = self._processes is not None and driver.name in self._from_entry_points
        need = request_need(driver, request, here=not elsewhere) if self.memory else None
        with self._holding(need, driver.name):
            if elsewhere:
                assert self._processes is not None
                return self._processes.execute(request)  # the worker's registry times the call
            return self._run(driver, request)

    @contextlib.contextmanager
    def _holding(self, need: StateNeed | None, device: str) -> Iterator[None]:
        """``need`` reserved from the memory budget for the body (nothing without one)."""
        if self.memory is None or need is None:
            yield
            return
        with self.memory.reserved(need, device):
            yield

    def _run(self, driver: Driver, request: ExecutionRequest) -> ExecutionResult:
        start = perf_counter()
        try:
            driver.check_noise_model(request)  # also for plugin drivers that never look at it
            result = driver.run(request)
        except EigenError:
            raise
        except Exception as exc:
            logger.exception(
                "driver raised an unexpected error",
                extra={"device": driver.name, "error": repr(exc)},
            )
            raise ExecutionFailed(f"{driver.name}: {exc}") from exc
        elapsed = perf_counter() - start
        result.timings["driver_s"] = elapsed
        logger.debug(
            "executed",
            extra={
                "device": driver.name,
                "shots": request.shots,
                "experiments": len(result.experiments),
                "seed": result.seed,
                "duration_s": elapsed,
            },
        )
        return result

    def execute_many(self, requests: Sequence[ExecutionRequest]) -> list[ExecutionResult | EigenError]:
        """:meth:`execute` of each; all in one hand-off when they all go to the driver
        processes."""
        if self._processes is not None and requests and all(map(self._in_processes, requests)):
            if self.memory is None:
                return self._processes.execute_many(requests)
            return self._execute_many_within(self.memory, requests)
        return execute_each(self.execute, requests)

    def _execute_many_within(
        self, memory: MemoryBudget, requests: Sequence[ExecutionRequest]
    ) -> list[ExecutionResult | EigenError]:
        """One hand-off holding the largest need among the requests (the worker runs them
        one at a time); a request that could never fit fails alone, in its place."""
        outcomes: list[ExecutionResult | EigenError | None] = [None] * len(requests)
        fitting: list[int] = []
        largest: StateNeed | None = None
        assert self._processes is not None
        for index, request in enumerate(requests):
            driver = self.driver(request.device)
            need = request_need(driver, request, here=False)
            if need.bytes > memory.limit:
                outcomes[index] = over_limit(driver.name, need, memory.limit, "this run needs")
                continue
            fitting.append(index)
            largest = need if largest is None or need.bytes > largest.bytes else largest
        if fitting:
            devices = ", ".join(sorted({requests[i].device for i in fitting}))
            with self._holding(largest, devices):
                answers = self._processes.execute_many([requests[i] for i in fitting])
            for index, answer in zip(fitting, answers, strict=True):
                outcomes[index] = answer
        return [outcome for outcome in outcomes if outcome is not None]

    def _in_processes(self, request: ExecutionRequest) -> bool:
        try:
            return self.driver(request.device).name in self._from_entry_points
        except EigenError:
            return False  # e.g. an unknown device: its error comes from execute, in process

    def estimate(self, request: EstimationRequest) -> list[list[float]]:
        """Exact expectation values on a device that can compute them (statevector)."""
        driver = self.driver(request.device)
        try:
            with self._holding(estimate_need(driver, request) if self.memory else None, driver.name):
                return driver.estimate(request.circuit, request.observables, request.parameter_bindings)
        except EigenError:
            raise
        except Exception as exc:
            logger.exception("estimate raised an unexpected error", extra={"device": driver.name})
            raise ExecutionFailed(f"{driver.name}: {exc}") from exc


def execute_each(
    execute: Callable[[ExecutionRequest], ExecutionResult], requests: Iterable[ExecutionRequest]
) -> list[ExecutionResult | EigenError]:
    """``execute`` of each request in turn, with the error of one that fails in its place."""
    outcomes: list[ExecutionResult | EigenError] = []
    for request in requests:
        try:
            outcomes.append(execute(request))
        except EigenError as exc:
            outcomes.append(exc)
    return outcomes
