"""Singleton duties: the work that one node of a cluster does for all of them.

The lease sweep, result retention and the queue-depth gauges must run somewhere, but not on
every kernel node at once. :class:`Duties` runs them on the node that holds a PostgreSQL
advisory lock (``pg_try_advisory_lock``), taken on a connection of its own and held for as
long as that connection lives. PostgreSQL releases the lock when the session ends: the
node stops, its process is killed, or (with the keepalives set on the connection) its host
vanishes. The other nodes try for the lock every half lease (at most half a second apart),
so one of them takes the duties over within a lease. The advisory lock is the whole
mechanism: no election here.

A holder checks its connection at every turn; when it finds it gone (PostgreSQL restarted,
the network dropped) it stops running the duties and tries for the lock again like any
other node. Between the server ending the session and the holder's next check a duty can
run on two nodes for a moment, so a duty must be safe to run twice (the sweeps are
compare-and-set on the jobs).

A duty registered with ``settle_s`` (the lease sweep: one lease) waits that long after
this node finds the database again once it could not reach it (its lock's connection
dropped, a try for the lock could not connect, or a duty failed with ``Unavailable``),
before its next run, on whichever node of those takes the lock: the other nodes could not
reach the database either, and get that long to catch up (renew the leases that lapsed
while it was down) before the sweep judges them. A node that takes the duties over from
one that died, with the database answering all along, runs every duty at once.

On SQLite, or without a database, there is one kernel per data folder (the folder's lock
says so), and the duties are always held.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from eigen.errors import Unavailable
from eigen.kernel.store.engine import masked, normalize_url

log = logging.getLogger(__name__)

TRY_EVERY_MAX_S = 0.5  # the longest a free lock waits for a node to take it

# the advisory lock's key: "eigen-d" in ASCII, apart from the migrations' key
DUTIES_LOCK_KEY = 0x65_69_67_65_6E_2D_64


@dataclass
class _Duty:
    name: str
    interval_s: float
    fn: Callable[[], None]
    due: float = 0.0  # monotonic clock; 0: at once
    settle_s: float = 0.0  # how long it waits once the database answers again after an outage


class Duties:
    """Runs registered duties, each every ``interval_s``, on a thread of its own, while
    this node holds the duties' lock (see the module docstring).

    ``database_url``: the store's URL; PostgreSQL means the advisory lock, anything else
    (SQLite, None) means always held. ``lease_s``: a node that dies loses the duties to
    another within this long (the others try every half of it).
    """

    def __init__(
        self,
        database_url: str | None,
        *,
        lease_s: float,
        key: int = DUTIES_LOCK_KEY,
        node: str = "",
    ) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self._lease_s = lease_s
        self._key = key
        self._node = node
        self._duties: list[_Duty] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: Connection | None = None
        self._holding = False
        self._lock_problem: str | None = None
        self._failures: dict[str, str] = {}
        self._unreached = False  # this node last found the database unreachable
        self._back_at = -math.inf  # when (monotonic) the database answered again after that
        self._engine: Engine | None = None
        if database_url is not None:
            url = normalize_url(database_url)
            if url.get_backend_name() == "postgresql":
                self._engine = sa.create_engine(
                    url,
                    poolclass=NullPool,
                    isolation_level="AUTOCOMMIT",  # a held lock, never an open transaction
                    connect_args=_keepalives(lease_s),
                )
        self._shown = masked(self._engine.url) if self._engine is not None else "(local)"
        if self._engine is None:
            self._holding = True

    def __repr__(self) -> str:
        return f"Duties({self._shown!r}, holding={self._holding})"

    @property
    def try_every_s(self) -> float:
        """How often a node that does not hold the lock tries for it: half a lease, at most
        ``TRY_EVERY_MAX_S`` (a long lease must not slow a takeover down)."""
        return min(self._lease_s / 2, TRY_EVERY_MAX_S)

    def register(
        self, name: str, interval_s: float, fn: Callable[[], None], *, settle_s: float = 0.0
    ) -> None:
        """Run ``fn`` every ``interval_s`` while this node holds the duties (the first
        run as soon as it holds them; ``settle_s`` after the database answers again,
        when this node could not reach it: see the module docstring)."""
        if interval_s <= 0:
            raise ValueError(f"duty {name!r}: interval_s must be positive")
        if settle_s < 0:
            raise ValueError(f"duty {name!r}: settle_s must not be negative")
        with self._lock:
            if any(duty.name == name for duty in self._duties):
                raise ValueError(f"duty {name!r} is registered already")
            self._duties.append(_Duty(name, interval_s, fn, settle_s=settle_s))

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="eigen-duties", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop running duties and give the lock up (another node takes it at its next
        try). Waits up to ``timeout_s`` for a duty that is running to return."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self._release()
        if self._engine is not None:
            self._engine.dispose()

    def holding(self) -> bool:
        """Whether this node holds the duties now."""
        return self._holding

    def problem(self) -> str | None:
        """Why the duties may not be running as they should (the lock's database cannot be
        reached, a duty failed its last run); None when all is well."""
        with self._lock:
            problems = ([self._lock_problem] if self._lock_problem else []) + [
                f"duty {name} failed: {why}" for name, why in sorted(self._failures.items())
            ]
        return "; ".join(problems) or None

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            # the next duty, or the next look at the lock, whichever comes first
            wake = self._run_due() if self._holding_checked() else math.inf
            check = time.monotonic() + self.try_every_s
            self._stopping.wait(max(0.0, min(wake, check) - time.monotonic()))

    def _holding_checked(self) -> bool:
        """Keep or take the lock: on a live connection a session lock stays held, so a
        holder only checks that its connection still answers; others try for the lock."""
        if self._engine is None:
            self._answered()
            return True
        if self._connection is not None:
            try:
                self._connection.execute(sa.text("SELECT 1"))
            except sa.exc.SQLAlchemyError as exc:
                self._lost(f"the duties' connection to {self._shown} dropped: {_first_line(exc)}")
            else:
                self._answered()
                return True
        return self._try_acquire()

    def _try_acquire(self) -> bool:
        assert self._engine is not None
        connection: Connection | None = None
        try:
            connection = self._engine.connect()
            got = bool(
                connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}).scalar()
            )
        except sa.exc.SQLAlchemyError as exc:
            if connection is not None:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    connection.close()
            with self._lock:
                self._lock_problem = f"cannot reach {self._shown} for the duties' lock: {_first_line(exc)}"
            self._unreached = True
            return False
        with self._lock:
            self._lock_problem = None
        self._answered()
        if not got:
            connection.close()  # another node holds it
            return False
        self._connection = connection
        with self._lock:
            for duty in self._duties:
                duty.due = 0.0  # a new holder runs every duty at once
        self._holding = True
        self._settle()  # but those that settle, if the database has just come back
        log.info("this node (%s) holds the singleton duties now", self._node or "unnamed")
        return True

    def _answered(self) -> None:
        """The database answered this node: if it had not before, it is back from now on
        (a holder's settling duties wait ``settle_s`` from now)."""
        if not self._unreached:
            return
        self._unreached = False
        self._back_at = time.monotonic()
        if self._holding:
            self._settle()

    def _settle(self) -> None:
        """Hold the settling duties back until ``settle_s`` after the database came back."""
        now = time.monotonic()
        with self._lock:
            for duty in self._duties:
                until = self._back_at + duty.settle_s
                if duty.settle_s > 0 and until > now and until > duty.due:
                    duty.due = until
                    log.info(
                        "singleton duty %s waits %.1f s: the database has just come back",
                        duty.name,
                        until - now,
                    )

    def _lost(self, why: str) -> None:
        self._unreached = True
        self._holding = False
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                connection.close()
        with self._lock:
            self._lock_problem = why
        log.warning("%s: this node no longer runs the singleton duties", why)

    def _run_due(self) -> float:
        """Run the duties that are due; the monotonic time the next one is."""
        with self._lock:
            duties = list(self._duties)
        for duty in duties:
            if self._stopping.is_set():
                break
            if time.monotonic() < duty.due:
                continue
            try:
                duty.fn()
            except Exception as exc:  # a failing duty must not stop the others
                log.exception("singleton duty %s failed", duty.name)
                with self._lock:
                    self._failures[duty.name] = _first_line(exc)
                if isinstance(exc, Unavailable):  # the store's database: as if the lock's dropped
                    self._unreached = True
            else:
                with self._lock:
                    self._failures.pop(duty.name, None)
            duty.due = time.monotonic() + duty.interval_s
        return min((duty.due for duty in duties), default=time.monotonic() + self.try_every_s)

    def _release(self) -> None:
        connection, self._connection = self._connection, None
        self._holding = False
        if connection is None:
            return
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            connection.close()


def _keepalives(lease_s: float) -> dict[str, object]:
    """TCP keepalives on the lock's connection, on both ends, so that a host that vanishes
    without closing its connection (power, network) loses the lock within about a lease:
    the server ends the session, and the client learns its connection is gone."""
    idle = max(1, int(lease_s / 2))
    return {
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "connect_timeout": max(2, int(lease_s)),
        "options": f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval=1 -c tcp_keepalives_count=3",
    }


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
