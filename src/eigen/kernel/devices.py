"""The driver-manager's devices as the kernel sees them: each device's description, read
once and kept (validation and compilation read it for every job), and the
``eigen_backend_available`` gauge, refreshed from the devices' status."""

from __future__ import annotations

import logging
import threading

from eigen.kernel.ports import DriverPort
from eigen.models.target import DeviceInfo, DeviceStatus
from eigen.observability import metrics

log = logging.getLogger(__name__)


class Devices:
    def __init__(self, drivers: DriverPort, refresh_s: float, stopping: threading.Event) -> None:
        self.drivers = drivers
        self.refresh_s = refresh_s
        self.stopping = stopping
        self._lock = threading.Lock()
        self._devices: dict[str, DeviceInfo] = {}

    def device(self, name: str) -> DeviceInfo:
        with self._lock:
            cached = self._devices.get(name)
        if cached is None:
            cached = self.drivers.device(name)
            with self._lock:
                self._devices[name] = cached
        return cached

    def known(self, name: str) -> DeviceInfo | None:
        """The device when it was read before (no call), else None."""
        with self._lock:
            return self._devices.get(name)

    def refresh(self) -> None:
        """Set ``eigen_backend_available`` from the driver-manager's device status."""
        try:
            names = [device.name for device in self.drivers.list_devices()]
        except Exception as exc:  # e.g. the driver-manager is not reachable
            log.warning("cannot list backends", extra={"error": str(exc)})
            with self._lock:
                names = list(self._devices)
            for name in names:
                metrics.backend_available(name, False)
            return
        for name in names:
            try:
                online = self.drivers.device_status(name) is DeviceStatus.ONLINE
            except Exception:
                online = False
            metrics.backend_available(name, online)

    def loop(self) -> None:
        """The refresh thread: :meth:`refresh` every ``refresh_s`` until the kernel stops."""
        while True:
            self.refresh()
            if self.stopping.wait(self.refresh_s):
                return
