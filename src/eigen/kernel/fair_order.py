"""The order of the queues: one integer rank per entry, computed once at enqueue, higher
first, that every dispatch and every node honours (docs/scheduling.md).

An entry's rank comes from a key in seconds, smaller first:

    key = start - priority * aging_step_s

- ``fifo``: start is the job's arrival (its submission) and priority is not counted.
- ``priority``: start is the arrival. Aging is in the key: a job that waited
  ``aging_step_s`` longer counts as one priority point higher, so a job of priority ``p``
  is overtaken only by jobs of priority ``q > p`` that arrive less than
  ``(q - p) * aging_step_s`` after it (its wait is bounded by that window's work plus the
  backlog already ahead of it): nothing starves.
- ``fair_share``: start-time fair queueing per tenant. Each tenant has a virtual time V;
  a job's start is ``max(arrival, V)``, then ``V = start + cost / share``, the cost being
  its device's mean run time as measured on this node (:mod:`eigen.kernel.run_times`;
  ``scheduling_job_cost_s`` until one ran): device seconds. A tenant's
  backlog pushes its own later jobs back, not others': a tenant that submits one job
  while another has a thousand queued goes after the jobs already started, about one
  job's run time per device slot. V falls behind the clock while a tenant is idle, which
  is the decay: past use is forgotten once the clock has caught up with it.

A job in a session (:mod:`eigen.kernel.sessions`) is keyed ``arrival - SESSION_LEAD_S``:
ahead of every job outside a session, in arrival order, charged nothing by fair share.

The rank is the key in tenths of a second since a fixed epoch, negated and clamped into
PostgreSQL's ``integer`` (pgqueuer's priority column), so that the cluster's queue orders
by it as it is: ties (the same tenth of a second) go first come first served.

A tenant's share comes from a :class:`Shares` (asked at every enqueue, so a new share
counts for the jobs queued after it changed): :class:`StaticShares` is the
``tenant_shares`` setting; the server wires one that reads the policy file's
``fair_share`` first (:class:`eigen.security.policy.PolicyShares`).

The virtual times live behind :class:`VirtualClock`: in memory for one kernel, in the job
store's database for a cluster (:mod:`eigen.kernel.store.fair_share`), updated in the
transaction that enqueues the entries.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from eigen.kernel.dispatch.port import Entry
from eigen.kernel.run_times import RunTimes

if TYPE_CHECKING:
    from eigen.config.settings import Settings

Policy = Literal["fifo", "priority", "fair_share"]
POLICIES: tuple[Policy, ...] = ("fifo", "priority", "fair_share")

RANK_EPOCH_S = 1_798_761_600.0  # 2027-01-01T00:00:00Z: ranks are exact within about 6.8 years of it
RANK_UNIT_S = 0.1
RANK_MIN, RANK_MAX = -(2**31), 2**31 - 1
DEFAULT_AGING_STEP_S = 10.0
DEFAULT_COST_S = 1.0
# how far ahead a session's job is put: more than any priority and aging can lift a job
# outside a session (100 x aging step), so a session's jobs go first, in arrival order
SESSION_LEAD_S = 1_000_000.0


def rank_of(key_s: float) -> int:
    """The rank (higher first) of ``key_s`` (seconds, smaller first)."""
    return max(RANK_MIN, min(RANK_MAX, -round((key_s - RANK_EPOCH_S) / RANK_UNIT_S)))


class VirtualClock(Protocol):
    """The fair-share virtual time of each tenant."""

    def starts(
        self, tenant: str, arrivals: Sequence[float], step_s: float, *, within: Any = None
    ) -> list[float]:
        """The start time of each of ``tenant``'s ``arrivals`` (in that order), each advancing
        the tenant's virtual time by ``step_s``; atomically, in ``within`` (the enqueue's
        transaction) where the clock lives in a database."""


class MemoryVirtualClock:
    """Virtual times of one process (one kernel per store: nothing else enqueues)."""

    def __init__(self) -> None:
        self._times: dict[str, float] = {}
        self._lock = threading.Lock()

    def starts(
        self, tenant: str, arrivals: Sequence[float], step_s: float, *, within: Any = None
    ) -> list[float]:
        with self._lock:
            found, virtual = advance(self._times.get(tenant, 0.0), arrivals, step_s)
            self._times[tenant] = virtual
        return found


class Shares(Protocol):
    """The fair share of each tenant: a positive weight, relative to the others (1: the
    default); asked each time a tenant's jobs are queued for execution."""

    def share(self, tenant: str) -> float:
        """``tenant``'s share (positive)."""
        ...


@dataclass(frozen=True)
class StaticShares:
    """Shares from a mapping (the ``tenant_shares`` setting); a tenant it lacks has 1."""

    values: Mapping[str, float] = field(default_factory=dict)

    def share(self, tenant: str) -> float:
        return self.values.get(tenant, 1.0)


def advance(virtual: float, arrivals: Sequence[float], step_s: float) -> tuple[list[float], float]:
    """Start-time fair queueing: the starts of ``arrivals`` from the virtual time
    ``virtual``, and the virtual time after them."""
    found: list[float] = []
    for arrival in arrivals:
        start = max(arrival, virtual)
        found.append(start)
        virtual = start + step_s
    return found, virtual


def policy_of(settings: Settings) -> Policy:
    """The ``scheduling_policy`` setting; unset: fair share once authentication is on (tenants
    are then real), else priority."""
    if settings.scheduling_policy is not None:
        return settings.scheduling_policy
    return "fair_share" if settings.auth_required else "priority"


@dataclass(frozen=True)
class FairOrder:
    """Ranks entries by the policy (see the module docstring)."""

    policy: Policy = "priority"
    aging_step_s: float = DEFAULT_AGING_STEP_S
    cost_s: float = DEFAULT_COST_S
    shares: Shares = field(default_factory=StaticShares)
    clock: VirtualClock = field(default_factory=MemoryVirtualClock)
    now: Callable[[], float] = time.time
    # a job's cost: its device's measured mean run time (``cost_s`` until one ran); the
    # pipeline feeds it as executions end
    run_times: RunTimes | None = None

    def __post_init__(self) -> None:
        if self.run_times is None:
            object.__setattr__(self, "run_times", RunTimes(self.cost_s))

    def cost_of(self, device: str) -> float:
        """Fair share's cost of a job on ``device``, in seconds."""
        return self.run_times.of(device) if self.run_times is not None else self.cost_s

    @classmethod
    def of(
        cls, settings: Settings, clock: VirtualClock | None = None, shares: Shares | None = None
    ) -> FairOrder:
        """The order the settings name, its virtual times on ``clock`` (default in memory),
        the tenants' weights from ``shares`` (default: the ``tenant_shares`` setting)."""
        return cls(
            policy=policy_of(settings),
            aging_step_s=settings.scheduling_aging_step_s,
            cost_s=settings.scheduling_job_cost_s,
            shares=shares if shares is not None else StaticShares(dict(settings.tenant_shares)),
            clock=clock or MemoryVirtualClock(),
        )

    def key(self, start_s: float, priority: int) -> float:
        """The order key (seconds, smaller first) of a job starting at ``start_s``."""
        return start_s if self.policy == "fifo" else start_s - priority * self.aging_step_s

    def start_of(self, rank: int, priority: int) -> float:
        """The start (epoch seconds) an entry of ``priority`` was given, from its ``rank``:
        its arrival, or later where fair share put it back (to a tenth of a second)."""
        key = RANK_EPOCH_S - rank * RANK_UNIT_S
        return key if self.policy == "fifo" else key + priority * self.aging_step_s

    def ranked(self, entries: Sequence[Entry], *, within: Any = None, share: bool = True) -> list[Entry]:
        """``entries`` with their rank; those ranked already (an entry given back) keep
        theirs. ``within``: the enqueue's transaction (the virtual times' too); ``share``
        False: no fair share (the compile stage, which uses no device time), by priority
        unless the policy is fifo."""
        now = self.now()
        starts: dict[int, float] = {}
        waiting = [(i, e) for i, e in enumerate(entries) if e.rank is None and not e.session]
        ahead = {
            i: _arrival(e, now) - SESSION_LEAD_S
            for i, e in enumerate(entries)
            if e.rank is None and e.session
        }
        starts.update(ahead)
        if self.policy == "fair_share" and share:
            tenants = sorted({e.tenant for _, e in waiting})  # one lock order everywhere
            for tenant in tenants:
                weight = self.shares.share(tenant)
                for device in sorted({e.target for _, e in waiting if e.tenant == tenant}):
                    mine = sorted(
                        (
                            (i, _arrival(e, now))
                            for i, e in waiting
                            if (e.tenant, e.target) == (tenant, device)
                        ),
                        key=lambda p: p[1],
                    )
                    step = self.cost_of(device) / weight
                    found = self.clock.starts(tenant, [a for _, a in mine], step, within=within)
                    starts.update((i, start) for (i, _), start in zip(mine, found, strict=True))
        else:
            starts.update((i, _arrival(e, now)) for i, e in waiting)
        return [
            e
            if e.rank is not None
            else dataclasses.replace(
                e, rank=rank_of(starts[i] if i in ahead else self.key(starts[i], e.priority))
            )
            for i, e in enumerate(entries)
        ]


def _arrival(entry: Entry, now: float) -> float:
    """When the entry's job came (its submission), never later than now."""
    return min(entry.arrival, now) if entry.arrival > 0 else now
