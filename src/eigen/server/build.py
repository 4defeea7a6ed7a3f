"""Composition root: wires the services of the requested roles, in process or over gRPC.

``build(settings, roles)`` gives each role the in-process implementation of what it hosts
and a gRPC adapter for what another process hosts. The embedded default hosts all four.
A process with the api role also gets the guard of its public edges
(:func:`eigen.server.security.guard_from`: authentication, policy, audit).

:func:`start` (build, then run) is the one path of ``eigen-server serve`` and of
:class:`~eigen.server.embedded.EmbeddedServer`. A kernel gets its dispatch from the
``dispatch`` setting (memory: one kernel per store; postgres: the PostgreSQL job queue of
a cluster, whose kernels then only take over jobs whose lease lapsed), its event fan-out
(:func:`~eigen.kernel.fanout.factory.fanout_from`) and its singleton duties (the lease
sweep, the store's overdue jobs, result retention: :mod:`eigen.kernel.duties`). The
performance variants stay behind their ports: the intake's group commit, batched
execution, the artifact writer process (``artifact_writer``).

A kernel with a ``policy_file`` weighs the tenants' fair shares by its ``fair_share`` keys
(:class:`~eigen.security.policy.PolicyShares`; ``tenant_shares`` where a tenant's rule has
none), a kernel-only node of a cluster too: it reads the file itself. A process that also
has the api role reads one :class:`~eigen.security.policy.PolicyFile` for both, so a
reload (the file changed, or SIGHUP) moves the guard's rules and the shares together; on
a kernel-only node ``stack.security`` holds the file only, for the SIGHUP handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine, make_url

from eigen.config.settings import ROLES, Settings
from eigen.config.worker_memory import worker_memory_limit
from eigen.errors import InvalidArgument
from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Dispatch
from eigen.kernel.duties import Duties
from eigen.kernel.events import EventBus
from eigen.kernel.fair_order import Shares
from eigen.kernel.fanout.factory import fanout_from
from eigen.kernel.ports import CompilerPort, DriverPort
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.qfs.writer import WriterProcess
from eigen.kernel.service import Kernel, KernelSettings, default_node_id
from eigen.kernel.store.base import JobStore
from eigen.kernel.store.factory import open_store
from eigen.kernel.store.retention import RetentionSweeper, retention_cutoff
from eigen.kernel.store.sessions import SessionStore, SqlSessionStore
from eigen.security.guard import Guard
from eigen.security.policy import PolicyFile, PolicyShares
from eigen.server.datalock import DataLock
from eigen.server.security import Security, guard_from
from eigen.system_api.ports import KernelPort
from eigen.system_api.service import JobApi

if TYPE_CHECKING:
    from eigen.drivers.processes import DriverProcesses
    from eigen.server.remote import RemoteKernel

log = logging.getLogger(__name__)


@dataclass
class Stack:
    roles: frozenset[str]
    drivers: DriverPort | None = None
    compiler: CompilerPort | None = None
    kernel: Kernel | None = None
    kernel_port: KernelPort | None = None
    api: JobApi | None = None
    retention: RetentionSweeper | None = None
    driver_processes: DriverProcesses | None = None
    data_lock: DataLock | None = None  # held while a kernel runs on settings.data_dir
    # the api role's guard, policy and audit log; a kernel-only node's policy file (its
    # fair shares), for the SIGHUP handler
    security: Security | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> None:
        """Pay one-time costs before the first job (first transpile ~1 s), then run."""
        warm_up = getattr(self.compiler, "warm_up", None)
        if warm_up is not None:
            local = self.drivers is not None and "driver-manager" in self.roles
            warm_up(self.drivers.list_devices() if local and self.drivers is not None else [])
        if self.driver_processes is not None:
            self.driver_processes.warm_up()  # they started with the pool, alongside the above
        if self.kernel is not None:
            self.kernel.start()  # with its duties: the retention sweep among them

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()


def build(
    settings: Settings,
    roles: Iterable[str] = ROLES,
    *,
    owner_role: str | None = None,
    guard: Guard | None = None,
) -> Stack:
    """The stack of ``roles``. With the kernel role it first takes the data folder's lock
    (``owner_role`` is what the holder record says: ``all`` or ``kernel`` unless given), so a
    second kernel on the folder raises :class:`~eigen.server.datalock.DataFolderInUse`.
    ``guard`` replaces the one the settings describe (a test's authenticator)."""
    wanted = frozenset(roles)
    stack = Stack(roles=wanted)
    if "kernel" in wanted and _dispatch_name(settings) == "memory":
        # One kernel per store: the memory dispatch (a shared database's kernels are kept
        # apart by their leases instead, and may share one artifact folder).
        # Before anything opens the store: the kernel resumes the RUNNING jobs it finds there,
        # which must never be another live kernel's. Released last (closers run in reverse).
        stack.data_lock = DataLock(settings.data_dir)
        stack.data_lock.acquire(owner_role or ("all" if wanted == frozenset(ROLES) else "kernel"))
        stack.closers.append(stack.data_lock.release)
    try:
        _wire(settings, wanted, stack, guard)
    except BaseException:
        stack.close()
        raise
    return stack


def start(
    settings: Settings,
    roles: Iterable[str] = ROLES,
    *,
    owner_role: str | None = None,
    guard: Guard | None = None,
) -> Stack:
    """:func:`build` the stack of ``roles`` and start it (closed again if it cannot
    start): what ``eigen-server serve`` and the embedded server both run."""
    stack = build(settings, roles, owner_role=owner_role, guard=guard)
    try:
        stack.start()
    except BaseException:
        stack.close()
        raise
    return stack


def _wire(settings: Settings, wanted: frozenset[str], stack: Stack, guard: Guard | None) -> None:
    if "driver-manager" in wanted:
        from eigen.drivers.processes import DriverProcesses
        from eigen.drivers.registry import GROUP, DriverRegistry

        workers = settings.driver_processes or 0  # unset: the embedded default (serve sets 1)
        memory_limit = worker_memory_limit(settings.worker_memory_bytes)
        stack.driver_processes = DriverProcesses(workers, GROUP, memory_limit) if workers else None
        stack.drivers = DriverRegistry(processes=stack.driver_processes, memory_limit=memory_limit)
        if stack.driver_processes is not None:
            stack.closers.append(stack.driver_processes.close)
    elif "kernel" in wanted:
        from eigen.server.remote import RemoteDrivers

        remote_drivers = RemoteDrivers(settings.driver_manager_address)
        stack.drivers = remote_drivers
        stack.closers.append(remote_drivers.close)
    if "compiler" in wanted:
        from eigen.compiler.sandbox import ProgramSandbox
        from eigen.compiler.service import CompilationService

        sandbox = ProgramSandbox(  # program text is parsed off-process, within limits
            workers=settings.program_check_workers,
            time_limit_s=settings.program_check_timeout_s,
            memory_limit_mib=settings.program_check_memory_mib,
        )
        compiler = CompilationService(parser=sandbox)
        stack.compiler = compiler
        stack.closers.append(compiler.close)
    elif "kernel" in wanted:
        from eigen.server.remote import RemoteCompiler

        remote_compiler = RemoteCompiler(settings.compiler_address)
        stack.compiler = remote_compiler
        stack.closers.append(remote_compiler.close)
    shares = _policy_shares(settings) if "kernel" in wanted else None
    if "kernel" in wanted:
        assert stack.compiler is not None and stack.drivers is not None
        stack.kernel = _kernel(settings, stack.compiler, stack.drivers, shares)
        stack.kernel_port = stack.kernel
        stack.closers.append(stack.kernel.store.close)
        stack.closers.append(stack.kernel.pipeline.artifacts.close)
        stack.closers.append(stack.kernel.stop)
        stack.retention = RetentionSweeper(
            stack.kernel.store, settings.result_retention_days, settings.result_retention_interval_s
        )
        if retention_cutoff(settings.result_retention_days, 0.0) is not None:
            retention = stack.retention
            stack.kernel.duties.register(
                "result-retention", settings.result_retention_interval_s, lambda: _count(retention.sweep())
            )
        else:
            log.info("result retention is off: results are kept forever")
    elif "api" in wanted:
        from eigen.server.remote import RemoteKernel

        remote_kernel = RemoteKernel(settings.kernel_addresses or settings.kernel_address)
        stack.kernel_port = remote_kernel
        stack.closers.append(remote_kernel.close)
        _follow_fanout(settings, stack, remote_kernel)
    if "api" in wanted:
        assert stack.kernel_port is not None
        if guard is None:
            stack.security = guard_from(settings, _security_engine(settings, stack))
            stack.closers.append(stack.security.close)
            guard = stack.security.guard
        stack.api = JobApi(stack.kernel_port, guard, local=stack.kernel is not None)
    if shares is not None:
        _share_policy_file(stack, shares)


def _follow_fanout(settings: Settings, stack: Stack, kernel: RemoteKernel) -> None:
    """An api node whose kernels run a fan-out (Redis, or PostgreSQL NOTIFY) follows it with
    an event bus of its own: the REST stream of all jobs (``GET /v1/jobs:events``) listens
    to it. Without a fan-out (one kernel on SQLite) it has none, and that stream is 501.
    Only events small enough for a message arrive (a NOTIFY's pointer to a larger one would
    need the store): the stream carries state changes, which are."""
    fanout = fanout_from(settings)
    if fanout is None:
        return
    bus = EventBus(fanout)
    bus.start()
    kernel.bus = bus
    stack.closers.append(bus.close)


def _policy_shares(settings: Settings) -> PolicyShares | None:
    """The kernel's fair shares from the policy file (None without one: the
    ``tenant_shares`` setting); InvalidSetting when the file is missing or wrong."""
    if settings.policy_file is None:
        return None
    return PolicyShares(PolicyFile(settings.policy_file), settings.tenant_shares)


def _share_policy_file(stack: Stack, shares: PolicyShares) -> None:
    """One policy file object per process: the guard's where the api role has one (the
    shares then follow its reloads, SIGHUP's included); else the shares' own, kept in
    ``stack.security`` (a kernel-only node) so that SIGHUP reloads it."""
    if stack.security is not None and stack.security.policy is not None:
        shares.source = stack.security.policy
    elif "api" not in stack.roles:
        stack.security = Security(Guard(), policy=shares.source)


def _security_engine(settings: Settings, stack: Stack) -> Engine | None:
    """The database of API keys and audit rows: the kernel's store's, or (an api role
    beside a remote kernel, with security configured) the store's database opened for
    them alone; None when nothing needs one."""
    if stack.kernel is not None:
        engine = getattr(stack.kernel.store, "engine", None)
        return engine if isinstance(engine, Engine) else None
    if not (settings.auth_required or settings.policy_file is not None):
        return None
    from eigen.kernel.store.engine import make_engine
    from eigen.kernel.store.factory import pool_options

    opened = make_engine(settings.store_url, pool_options(settings))
    stack.closers.append(opened.dispose)
    return opened


def _kernel(
    settings: Settings, compiler: CompilerPort, drivers: DriverPort, shares: Shares | None = None
) -> Kernel:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    artifacts = ArtifactStore(
        settings.data_dir / "artifacts", WriterProcess() if settings.artifact_writer else None
    )
    node_id = settings.node_id or default_node_id()
    dispatch, shared = _dispatch(settings, store, shares)
    postgres = _is_postgres(settings)
    kernel_settings = KernelSettings(
        compile_workers=settings.compile_workers,
        execute_workers=settings.execute_workers,
        queue_capacity=settings.queue_capacity,
        default_timeout_s=settings.default_timeout_s,
        compile_timeout_s=settings.compile_timeout_s,
        lease_s=settings.lease_s,
        max_attempts=settings.max_attempts,
        node_id=node_id,
        shared_store=shared,
        worker_memory_bytes=worker_memory_limit(settings.worker_memory_bytes),
        session_hold_s=settings.session_hold_s,
    )
    return Kernel(
        store,
        artifacts,
        compiler,
        drivers,
        kernel_settings,
        dispatch=dispatch,
        fanout=fanout_from(settings, store.events),
        duties=Duties(settings.store_url if postgres else None, lease_s=settings.lease_s, node=node_id),
        sessions=_sessions(store),
    )


def _sessions(store: JobStore) -> SessionStore | None:
    """Sessions in the store's database (any node sees them); None: in memory."""
    engine = getattr(store, "engine", None)
    return SqlSessionStore(engine) if isinstance(engine, Engine) else None


def _count(swept: int) -> None:
    """A duty's result, logged (duties return nothing)."""
    if swept:
        log.info("results expired", extra={"count": swept})


def _is_postgres(settings: Settings) -> bool:
    return make_url(settings.store_url).get_backend_name() == "postgresql"


def _dispatch_name(settings: Settings) -> str:
    """memory or postgres: what ``dispatch`` names (auto: postgres on a PostgreSQL store)."""
    if settings.dispatch == "auto":
        return "postgres" if _is_postgres(settings) else "memory"
    return settings.dispatch


def _dispatch(settings: Settings, store: JobStore, shares: Shares | None = None) -> tuple[Dispatch, bool]:
    """The dispatch the ``dispatch`` setting names (auto: postgres on a PostgreSQL store),
    and whether the store is shared with other kernels (the postgres dispatch); ``shares``:
    the tenants' fair shares (default: the ``tenant_shares`` setting)."""
    wanted = _dispatch_name(settings)
    if wanted == "memory":
        return MemoryDispatch.of(settings, shares), False
    from eigen.kernel.dispatch.postgres import PostgresDispatch  # the cluster's: its libraries on demand

    engine = getattr(store, "engine", None)
    if not isinstance(engine, Engine):
        raise InvalidArgument.for_field("dispatch", "the postgres dispatch needs a PostgreSQL job store")
    return PostgresDispatch(engine, settings, shares), True
