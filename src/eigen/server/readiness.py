"""Readiness of a server process (``/health/ready``), by the roles it hosts.

A process with the API checks the store and the drivers through the service layer (the
REST app's own checks). Any other role checks what it owns or depends on: a kernel its
job store and the driver-manager it dispatches to, a driver-manager its devices. A
compiler process needs nothing beyond answering.
"""

from __future__ import annotations

from eigen.errors import Unavailable
from eigen.kernel.ports import DriverPort
from eigen.kernel.store.base import JobStore
from eigen.server.build import Stack
from eigen.system_api.rest.health import ReadyCheck

_PROBE_JOB_ID = "readiness-probe"


def ready_checks(stack: Stack) -> dict[str, ReadyCheck] | None:
    """The checks for ``stack``'s roles; None: the API's default checks apply."""
    if stack.api is not None:
        return None
    checks: dict[str, ReadyCheck] = {}
    if stack.kernel is not None:
        checks["store"] = _store_check(stack.kernel.store)
    if stack.drivers is not None:
        checks["backends"] = _backends_check(stack.drivers)
    return checks


def _store_check(store: JobStore) -> ReadyCheck:
    def check() -> str:
        store.head(_PROBE_JOB_ID)  # one indexed read: the store answers
        return "ok"

    return check


def _backends_check(drivers: DriverPort) -> ReadyCheck:
    def check() -> str:
        count = len(drivers.list_devices())
        if count == 0:
            raise Unavailable("no backends")
        return f"ok ({count} backends)"

    return check
