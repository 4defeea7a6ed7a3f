"""Readiness of a server process (``/health/ready``), by the roles it hosts.

A process with the API checks the store and the drivers through the service layer (the
REST app's own checks). Any other role checks what it owns or depends on: a kernel its
job store and the driver-manager it dispatches to, a driver-manager its devices. A
compiler process needs nothing beyond answering. A process that hosts a kernel also
checks the kernel itself (``kernel``): it fails naming a worker thread that died until
the kernel's supervisor has replaced it, and naming a data folder that is full or
cannot be written until a probe write succeeds again (:meth:`Kernel.problems`).
:func:`follow_kernel_health` keeps gRPC health checking in step with the same problems.

A server started with ``--insecure`` on a public address (no TLS or no authentication)
says so in an entry ``security``, which passes (the operator chose it) but is there for
every probe and dashboard to read.

What a node can serve without, it reports without failing (``degraded: ...``, the check
passes): the event fan-out's broker (watchers elsewhere then read the store), the singleton
duties' lock or a duty's last run (another node may hold them), the Redis of the shared
rate limits (each process counts its own callers meanwhile). A job store that does not
answer fails ``store`` naming the database, and makes gRPC health NOT_SERVING too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from grpc_health.v1 import health, health_pb2

from eigen.config.settings import Settings
from eigen.errors import Unavailable
from eigen.kernel.ports import DriverPort
from eigen.kernel.service import Kernel
from eigen.kernel.store.base import JobStore
from eigen.kernel.store.engine import masked
from eigen.security import tls
from eigen.server.build import Stack
from eigen.system_api.rest.health import ReadyCheck, api_checks

log = logging.getLogger(__name__)

_PROBE_JOB_ID = "readiness-probe"


def ready_checks(stack: Stack, settings: Settings | None = None) -> dict[str, ReadyCheck] | None:
    """The checks for ``stack``'s roles (and ``security``, see :func:`security_check`);
    None: the API's default checks apply."""
    security = security_check(settings) if settings is not None else None
    extra = {"security": security} if security is not None else {}
    limiter = stack.security.rate_limiter if stack.security is not None else None
    if limiter is not None:
        extra["rate_limits"] = degraded_check(limiter.problem)
    if stack.api is not None:
        if stack.kernel is None:
            return {**api_checks(stack.api), **extra} if extra else None
        return {**api_checks(stack.api), **_kernel_checks(stack.kernel), **extra}
    checks: dict[str, ReadyCheck] = dict(extra)
    if stack.kernel is not None:
        checks["store"] = _store_check(stack.kernel.store)
        checks.update(_kernel_checks(stack.kernel))
    if stack.drivers is not None:
        checks["backends"] = _backends_check(stack.drivers)
    return checks


def insecure_note(settings: Settings) -> str | None:
    """The words of the warning a server started with ``insecure`` on a public address
    gives (at start and in readiness); None when it is not exposed that way."""
    missing = tls.exposure(settings)
    if missing is None or not settings.insecure:
        return None
    return f"insecure: serving {settings.host} without {missing} (--insecure)"


def security_check(settings: Settings) -> ReadyCheck | None:
    """An entry that passes and says the server is insecure, or None when it is not."""
    note = insecure_note(settings)
    if note is None:
        return None
    return lambda: note


def kernel_check(kernel: Kernel) -> ReadyCheck:
    """Fails with what :meth:`Kernel.problems` names (a dead worker, a full disk)."""

    def check() -> str:
        problems = kernel.problems()
        if problems:
            raise Unavailable("; ".join(problems))
        return "ok"

    return check


def degraded_check(problem: Callable[[], str | None]) -> ReadyCheck:
    """Passes: ``ok``, or ``degraded: <problem>`` while ``problem`` names one."""

    def check() -> str:
        found = problem()
        return f"degraded: {found}" if found else "ok"

    return check


def _kernel_checks(kernel: Kernel) -> dict[str, ReadyCheck]:
    """The kernel itself, and what it works without for a while (see the module docstring)."""
    checks = {"kernel": kernel_check(kernel), "duties": degraded_check(kernel.duties.problem)}
    fanout = kernel.bus.fanout
    if fanout is not None:
        checks["fanout"] = degraded_check(fanout.problem)
    return checks


def store_problem(store: JobStore) -> str | None:
    """Why the job store does not answer one indexed read (its database named), or None."""
    try:
        store.head(_PROBE_JOB_ID)
    except Unavailable as exc:  # a server database that cannot be reached names itself
        return exc.message
    except sa.exc.SQLAlchemyError as exc:
        engine = getattr(store, "engine", None)
        where = f" at {masked(engine.url)}" if isinstance(engine, sa.Engine) else ""
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"job store{where} fails: {reason[0] if reason else type(exc).__name__}"
    return None


def _store_check(store: JobStore) -> ReadyCheck:
    def check() -> str:
        problem = store_problem(store)
        if problem is not None:
            raise Unavailable(problem)
        return "ok"

    return check


def _backends_check(drivers: DriverPort) -> ReadyCheck:
    def check() -> str:
        count = len(drivers.list_devices())
        if count == 0:
            raise Unavailable("no backends")
        return f"ok ({count} backends)"

    return check


async def follow_kernel_health(
    kernel: Kernel,
    servicer: health.aio.HealthServicer,
    services: Sequence[str],
    interval_s: float = 1.0,
    store: JobStore | None = None,
) -> None:
    """Set ``services`` (``""`` for the whole server) NOT_SERVING on ``servicer`` while
    :meth:`Kernel.problems` names something (a dead worker, a data folder that cannot be
    written) or ``store`` (the kernel's job store) does not answer, and SERVING again once
    all is well; runs until cancelled."""
    serving = True

    def problems_now() -> list[str]:
        found = kernel.problems()
        missing = store_problem(store) if store is not None else None
        return [*found, missing] if missing is not None else found

    while True:
        problems = await asyncio.to_thread(problems_now)
        if serving == bool(problems):
            serving = not problems
            status = (
                health_pb2.HealthCheckResponse.SERVING
                if serving
                else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in services:
                await servicer.set(name, status)
            log.warning("gRPC health changed", extra={"serving": serving, "problems": problems})
        await asyncio.sleep(interval_s)
