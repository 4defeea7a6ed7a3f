"""``GET /v1/jobs:events``: the state events of every job the caller may see, as
server-sent events (the per-job stream is ``GET /v1/jobs/{job_id}/events``, events.py).

It is built on the kernel's event bus (:class:`~eigen.kernel.events.EventBus`), which
holds every event this node stores and, with a fan-out (Redis, or PostgreSQL NOTIFY when
several kernels share a database), every event the other nodes store: one
:class:`Feed` per app listens on it (``EventBus.listen``, only while a stream is open) and
hands each state event to the open streams. An api process whose kernels are other
processes (``RemoteKernel``) follows their fan-out with a bus of its own where they run
one (a cluster on PostgreSQL, or with Redis); without one (the four-process topology on
SQLite) it has no bus, and the route answers 501 ``EIGEN_UNIMPLEMENTED`` there (clients
read ``GET /v1/jobs`` instead).

What a stream holds is bounded: at most :data:`MAX_PENDING` events wait for a slow reader;
one more and they are dropped for one ``resync`` event, which tells the client to read the
list again. A stream also starts with a ``resync`` (what happened before it was opened is
not sent) and sends one when the bus says it may have missed events (its fan-out lost
messages). Tenancy: a caller who is not an admin gets only its tenant's jobs; the tenant
of each job is read once (``KernelPort.get``) and kept, shared by the app's streams (a
job's tenant never changes).

Each event::

    event: created | state | resync | error
    data: <JobEvent JSON>      (created: a job's first event; state: a later state change)
          <{"reason": "subscribed" | "overflow" | "lost", "detail": "..."}>   (resync)
          <a problem JSON>     (error)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from eigen.errors import EigenError, NotFound, Unimplemented
from eigen.kernel.events import EventBus
from eigen.models.job import JobEvent
from eigen.models.principal import Principal
from eigen.system_api.rest.convert import event_to_rest
from eigen.system_api.rest.events import KEEP_ALIVE, sse_error
from eigen.system_api.rest.problems import ERRORS
from eigen.system_api.service import JobApi

log = logging.getLogger(__name__)

MAX_PENDING = 256
"""Events a stream holds for a slow reader; past it they are dropped for one resync."""
TENANTS_KEPT = 100_000
"""Jobs whose tenant a feed remembers (an entry is a job id and a tenant name)."""
CLOSING_POLL_S = 1.0  # how soon an open stream notices that the server is stopping

RESYNC_DETAIL = {
    "subscribed": "events before this stream opened were not sent: read the list now",
    "overflow": f"more than {MAX_PENDING} events waited for this reader and were dropped: read the list",
    "lost": "the server may have missed events (a fan-out outage): read the list again",
}

EVENT_SCHEMA: dict[str, object] = {
    "type": "object",
    "description": "one server-sent event (OpenAPI 3.1 reads a stream's schema per event)",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["created", "state", "resync", "error"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "anyOf": [
                    {"$ref": "#/components/schemas/JobEvent"},
                    {
                        "type": "object",
                        "description": "resync: read the list again",
                        "required": ["reason", "detail"],
                        "properties": {
                            "reason": {"type": "string", "enum": sorted(RESYNC_DETAIL)},
                            "detail": {"type": "string"},
                        },
                    },
                    {"$ref": "#/components/schemas/Problem"},
                ]
            },
        },
    },
}
"""The JSON Schema of one event of ``GET /v1/jobs:events``."""


def bus_of(kernel: object) -> EventBus:
    """The event bus of an in-process kernel, or of an api node on its kernels' fan-out;
    UNIMPLEMENTED without one."""
    bus = getattr(kernel, "bus", None)
    if not isinstance(bus, EventBus):
        raise Unimplemented(
            "this server reaches its kernel over gRPC without an event fan-out (a cluster on "
            "PostgreSQL or Redis has one), so it has no stream of all jobs: watch each job "
            "(GET /v1/jobs/{job_id}/events) or read GET /v1/jobs"
        )
    return bus


class Subscription:
    """One open stream's events, handed over from the bus's threads to its event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tenant: str | None, limit: int = MAX_PENDING) -> None:
        self.loop = loop
        self.tenant = tenant  # None: every tenant's jobs (an admin, or authentication off)
        self.limit = limit
        self.news = asyncio.Event()  # set on the loop when something waits in take()
        self._lock = threading.Lock()
        self._events: deque[JobEvent] = deque()
        self._resync: str | None = "subscribed"
        self._signalled = True  # the first take() needs no wake-up

    def push(self, event: JobEvent | None) -> None:
        """From any thread: ``event``, or None when events may have been missed."""
        with self._lock:
            if event is None:
                self._events.clear()
                self._resync = "lost"
            elif len(self._events) >= self.limit:
                self._events.clear()  # the client reads the list again: these are moot
                self._resync = self._resync or "overflow"
            else:
                self._events.append(event)
            if self._signalled:
                return
            self._signalled = True
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening
            self.loop.call_soon_threadsafe(self.news.set)

    def take(self) -> tuple[str | None, list[JobEvent]]:
        """On the loop: the pending resync reason (or None) and the events after it."""
        self.news.clear()
        with self._lock:
            reason, events = self._resync, list(self._events)
            self._resync = None
            self._events.clear()
            self._signalled = False
        return reason, events

    def pending(self) -> int:
        with self._lock:
            return len(self._events)


class Feed:
    """The app's listener on the bus: state events to every open :class:`Subscription`.
    ``tenant_of``: a job's tenant from the store (None: no such job), called off the loop."""

    def __init__(self, bus: EventBus, tenant_of: Callable[[str], str | None]) -> None:
        self.bus = bus
        self.tenant_of = tenant_of
        self._lock = threading.Lock()
        self._subscriptions: tuple[Subscription, ...] = ()
        self._tenants: OrderedDict[str, str] = OrderedDict()
        self._listener = self._hear  # one bound method: what listen() adds, unlisten() removes

    def open(self, tenant: str | None) -> Subscription:
        subscription = Subscription(asyncio.get_running_loop(), tenant)
        with self._lock:
            first = not self._subscriptions
            self._subscriptions = (*self._subscriptions, subscription)
        if first:
            self.bus.listen(self._listener)
        return subscription

    def close(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)
            last = not self._subscriptions
        if last:
            self.bus.unlisten(self._listener)

    def open_streams(self) -> int:
        return len(self._subscriptions)

    def _hear(self, event: JobEvent | None) -> None:
        if event is not None and event.kind != "state":
            return  # progress (a hybrid loop's iterations) is the job page's, not the list's
        owner = None if event is None else self.known_tenant(event.job_id)
        for subscription in self._subscriptions:
            # a job whose tenant is known already never enters another tenant's backlog
            # (so other tenants' traffic does not make a stream overflow); the others are
            # looked up when the stream sends them
            if owner is None or subscription.tenant is None or subscription.tenant == owner:
                subscription.push(event)

    def tenants(self, job_ids: Iterable[str]) -> dict[str, str | None]:
        """The tenant of each job (None: not found), from memory or the store (blocking)."""
        found: dict[str, str | None] = {}
        for job_id in job_ids:
            with self._lock:
                known = self._tenants.get(job_id)
            if known is None:
                known = self.tenant_of(job_id)
                if known is not None:
                    with self._lock:
                        self._tenants[job_id] = known
                        if len(self._tenants) > TENANTS_KEPT:
                            self._tenants.popitem(last=False)
            found[job_id] = known
        return found

    def known_tenant(self, job_id: str) -> str | None:
        with self._lock:
            return self._tenants.get(job_id)


def tenant_reader(get: Callable[[str], object]) -> Callable[[str], str | None]:
    """``tenant_of`` for a :class:`Feed` over ``KernelPort.get``."""

    def tenant_of(job_id: str) -> str | None:
        try:
            job = get(job_id)
        except NotFound:
            return None
        tenant = getattr(job, "tenant", None)
        return tenant if isinstance(tenant, str) else None

    return tenant_of


def resync_event(reason: str) -> bytes:
    data = json.dumps({"reason": reason, "detail": RESYNC_DETAIL[reason]})
    return f"event: resync\ndata: {data}\n\n".encode()


def job_event(event: JobEvent) -> bytes:
    data = event_to_rest(event).model_dump_json()
    name = "created" if event.seq == 1 else "state"
    return f"event: {name}\ndata: {data}\n\n".encode()


def tenant_filter(principal: Principal) -> str | None:
    """Whose jobs a principal's stream carries (None: every tenant's)."""
    return None if principal.admin else principal.tenant


async def list_stream(
    feed: Feed, tenant: str | None, closing: threading.Event, *, keep_alive_s: float = 15.0
) -> AsyncIterator[bytes]:
    """The SSE bytes of a new subscription to ``feed`` (``tenant``'s jobs; None: every
    tenant's), until the client leaves or the server stops. The subscription is made
    when the response begins, so a response never sent holds none."""
    loop = asyncio.get_running_loop()
    subscription = feed.open(tenant)
    idle_since = loop.time()
    try:
        while not closing.is_set() and not feed.bus.closed:
            reason, events = subscription.take()
            if reason is not None:
                yield resync_event(reason)
            if events and subscription.tenant is not None:
                events = await _visible(feed, subscription.tenant, events)
            for event in events:
                yield job_event(event)
            if reason is not None or events:
                idle_since = loop.time()
            if subscription.news.is_set():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscription.news.wait(), CLOSING_POLL_S)
            if not subscription.news.is_set() and loop.time() - idle_since >= keep_alive_s:
                yield KEEP_ALIVE
                idle_since = loop.time()
    except EigenError as exc:
        yield sse_error(exc)
    finally:
        feed.close(subscription)


async def _visible(feed: Feed, tenant: str, events: list[JobEvent]) -> list[JobEvent]:
    """The events of ``tenant``'s jobs (their tenants read off the loop when not known)."""
    unknown = {e.job_id for e in events if feed.known_tenant(e.job_id) is None}
    tenants = await asyncio.to_thread(feed.tenants, unknown) if unknown else {}
    kept = []
    for event in events:
        owner = tenants[event.job_id] if event.job_id in tenants else feed.known_tenant(event.job_id)
        if owner == tenant:
            kept.append(event)
    return kept


_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events (`event: created|state|resync|error`, `data: <JSON>`) "
        "of every job the caller sees, until the client leaves; the first is a resync",
        "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
    }
}


def job_events_router(api: JobApi, *, closing: threading.Event, keep_alive_s: float = 15.0) -> APIRouter:
    """The route of the list stream; its :class:`Feed` is made by the first request."""
    router = APIRouter(prefix="/v1", tags=["jobs"], responses=ERRORS)
    feeds: list[Feed] = []
    making = threading.Lock()

    def feed() -> Feed:
        with making:
            if not feeds:
                feeds.append(Feed(bus_of(api.kernel), tenant_reader(api.kernel.get)))
            return feeds[0]

    @router.get(
        "/jobs:events",
        operation_id="WatchJobs",
        response_class=StreamingResponse,
        responses=_SSE_DOC,
    )
    async def watch_jobs() -> StreamingResponse:
        """The created and state events of every job the caller may see (its tenant's; an
        admin's: every tenant's) as server-sent events, live, with no end: a ``resync``
        event first, and again whenever the client must read ``GET /v1/jobs`` again
        (events dropped for a slow reader, or missed by the server). Needs the permission
        of ListJobs; 501 on a server whose kernel runs in another process."""
        principal = api.authorize("ListJobs")
        source = feed()  # 501 before the stream starts
        return StreamingResponse(
            list_stream(source, tenant_filter(principal), closing, keep_alive_s=keep_alive_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
