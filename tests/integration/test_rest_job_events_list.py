"""``GET /v1/jobs:events``, the stream of every job the caller may see, against real servers:
it opens with a resync, then carries each job's created and state events (no progress);
with authentication on, two tenants' streams never carry each other's jobs and an admin's
carries both; a reader that falls behind gets one ``resync`` instead of an unbounded
backlog; two kernel nodes on one PostgreSQL database carry each other's events (the
fan-out); a server whose kernel is another process answers 501."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from eigen.kernel.events import EventBus
from eigen.kernel.fanout.postgres import PostgresFanout
from eigen.kernel.fanout.redis import RedisFanout
from eigen.models.job import JobEvent
from eigen.models.state import JobState
from eigen.server.embedded import EmbeddedServer
from eigen.server.remote import RemoteKernel
from eigen.system_api.ports import KernelPort
from eigen.system_api.rest import create_app, job_events
from eigen.system_api.service import JobApi
from tests.integration.rest_helpers import job, parse_sse, problem, rest_server, submit
from tests.integration.secured import Secured, secured_server
from tests.integration.test_fanout_redis import channel  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

WAIT_S = 60.0
STATES = ["PENDING", "COMPILING", "QUEUED", "RUNNING", "DONE"]


class Stream:
    """An open ``GET /v1/jobs:events``, read on a thread of its own into a queue."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=120.0))
        self.events: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.response: httpx.Response | None = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(headers or {},), daemon=True)
        self._thread.start()
        assert self._opened.wait(WAIT_S), "the stream did not open"
        assert self.response is not None and self.response.status_code == 200
        assert self.response.headers["content-type"].startswith("text/event-stream")

    def _read(self, headers: dict[str, str]) -> None:
        try:
            with self.client.stream("GET", "/v1/jobs:events", headers=headers) as response:
                self.response = response
                self._opened.set()
                for event in parse_sse(response.iter_lines()):
                    self.events.put(event)
        except BaseException as exc:  # the client closed it, or the server went away
            self.events.put(exc)
        finally:
            self._opened.set()

    def until(self, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Every event up to the first that ``done`` accepts (kept in ``seen`` too)."""
        got: list[dict[str, Any]] = []
        while True:
            try:
                item = self.events.get(timeout=WAIT_S)
            except queue.Empty:
                raise AssertionError(f"no event in {WAIT_S:g} s; had {got}") from None
            if isinstance(item, BaseException):
                raise AssertionError(f"the stream ended: {item!r}; had {got}")
            got.append(item)
            self.seen.append(item)
            if done(item):
                return got

    def until_ended(self, job_id: str) -> list[dict[str, Any]]:
        """Until the job's terminal event (at once when it came while waiting for another)."""
        ended = [e for e in self.seen if is_event(e, job_id) and e["data"]["terminal"]]
        return ended or self.until(lambda e: is_event(e, job_id) and e["data"]["terminal"])

    def close(self) -> None:
        self.client.close()
        self._thread.join(10.0)


def is_event(event: dict[str, Any], job_id: str) -> bool:
    """Whether ``event`` is a created or state event of the job."""
    return event["event"] in ("created", "state") and event["data"]["job_id"] == job_id


def states_of(events: list[dict[str, Any]], job_id: str) -> list[str]:
    return [e["data"]["state"] for e in events if is_event(e, job_id)]


def job_ids(events: list[dict[str, Any]]) -> set[str]:
    return {e["data"]["job_id"] for e in events if e["event"] in ("created", "state")}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with rest_server(tmp_path_factory.mktemp("jobs-events")) as running:
        yield running


@pytest.fixture
def stream_of() -> Iterator[Callable[..., Stream]]:
    opened: list[Stream] = []

    def open_stream(base_url: str, headers: dict[str, str] | None = None) -> Stream:
        stream = Stream(base_url, headers)
        opened.append(stream)
        return stream

    yield open_stream
    for stream in opened:
        stream.close()


def test_the_stream_opens_with_a_resync_then_carries_each_jobs_state_changes(
    server: EmbeddedServer, stream_of: Callable[..., Stream]
) -> None:
    stream = stream_of(server.http_address)
    first = stream.until(lambda e: True)[0]
    assert first["event"] == "resync" and first["data"]["reason"] == "subscribed", first
    with httpx.Client(base_url=server.http_address, timeout=60) as client:
        made = [submit(client, job(name=f"listed-{n}")) for n in range(3)]
    for accepted in made:
        stream.until_ended(accepted["id"])
    for accepted in made:
        assert states_of(stream.seen, accepted["id"]) == STATES
        created = next(
            e for e in stream.seen if e["event"] == "created" and e["data"]["job_id"] == accepted["id"]
        )
        assert created["data"]["event_seq"] == 1 and created["data"]["state"] == "PENDING"
    assert all(e["event"] != "progress" and e["data"].get("kind", "state") == "state" for e in stream.seen)


def test_a_hybrid_jobs_progress_events_stay_on_its_own_stream(
    server: EmbeddedServer, stream_of: Callable[..., Stream]
) -> None:
    from tests.integration.test_dashboard import vqe_body

    stream = stream_of(server.http_address)
    stream.until(lambda e: e["event"] == "resync")
    with httpx.Client(base_url=server.http_address, timeout=60) as client:
        body = vqe_body("sim:statevector")
        accepted = submit(client, body)
        stream.until_ended(accepted["id"])
        watched = client.get(f"/v1/jobs/{accepted['id']}/events").text
    assert "event: progress" in watched  # the job had progress events; the list stream has none
    assert states_of(stream.seen, accepted["id"]) == STATES


# -- tenancy ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_server(tmp_path_factory.mktemp("jobs-events-secured")) as running:
        running.add_key("a", tenant="alpha", role="submitter")
        running.add_key("b", tenant="beta", role="submitter")
        running.add_key("viewer-b", tenant="beta", role="viewer")
        running.add_key("admin", tenant="ops", role="admin")
        yield running


def test_another_tenants_events_never_reach_a_stream(
    secured: Secured, stream_of: Callable[..., Stream]
) -> None:
    base = secured.server.http_address
    a_stream = stream_of(base, secured.headers("a"))
    b_stream = stream_of(base, secured.headers("viewer-b"))  # a viewer may read the list too
    admin_stream = stream_of(base, secured.headers("admin"))
    for stream in (a_stream, b_stream, admin_stream):
        stream.until(lambda e: e["event"] == "resync")
    with httpx.Client(base_url=base, timeout=60) as client:
        alpha = [submit(client, job(name=f"alpha-{n}"), headers=secured.headers("a")) for n in range(2)]
        for accepted in alpha:
            a_stream.until_ended(accepted["id"])
            admin_stream.until_ended(accepted["id"])
        # every alpha event was published before beta's job existed: had one leaked into
        # beta's stream, it would come before beta's own
        beta = submit(client, job(name="beta-0"), headers=secured.headers("b"))
        b_stream.until_ended(beta["id"])
        admin_stream.until_ended(beta["id"])
        alpha_late = submit(client, job(name="alpha-late"), headers=secured.headers("a"))
        a_stream.until_ended(alpha_late["id"])
        admin_stream.until_ended(alpha_late["id"])
        beta_last = submit(client, job(name="beta-last"), headers=secured.headers("b"))
        b_stream.until_ended(beta_last["id"])
        a_stream.until_ended(submit(client, job(name="alpha-last"), headers=secured.headers("a"))["id"])
    alpha_ids = {made["id"] for made in [*alpha, alpha_late]}
    assert job_ids(b_stream.seen) == {beta["id"], beta_last["id"]}
    assert not job_ids(a_stream.seen) & {beta["id"], beta_last["id"]}
    assert job_ids(admin_stream.seen) >= alpha_ids | {beta["id"]}
    assert states_of(b_stream.seen, beta["id"]) == STATES


def test_a_stream_needs_a_credential(secured: Secured) -> None:
    base = secured.server.http_address
    with httpx.Client(base_url=base, timeout=30) as client:
        problem(client.get("/v1/jobs:events"), 401, "EIGEN_UNAUTHENTICATED")
        problem(client.get("/v1/jobs:events", headers=secured.headers("bad")), 401, "EIGEN_UNAUTHENTICATED")
        problem(client.post("/v1/jobs:events", headers=secured.headers("a")), 405, "EIGEN_METHOD_NOT_ALLOWED")


def test_a_reader_that_falls_behind_gets_one_resync_not_a_backlog(
    secured: Secured, stream_of: Callable[..., Stream], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream's sender is held (as a reader too slow to take its events would hold
    it) while a batch makes more events than a stream keeps: they are dropped, and the
    reader is told to read the list again."""
    entered, gate = threading.Event(), threading.Event()
    visible = job_events._visible

    async def held_back(feed: job_events.Feed, tenant: str, events: list[JobEvent]) -> list[JobEvent]:
        entered.set()
        await asyncio.to_thread(gate.wait, WAIT_S)
        return await visible(feed, tenant, events)

    monkeypatch.setattr(job_events, "_visible", held_back)
    base = secured.server.http_address
    stream = stream_of(base, secured.headers("a"))
    stream.until(lambda e: e["event"] == "resync")
    with httpx.Client(base_url=base, timeout=60) as client:
        first = submit(client, job(name="before-the-burst"), headers=secured.headers("a"))
        assert entered.wait(WAIT_S)
        count = job_events.MAX_PENDING + 50
        response = client.post(
            "/v1/jobs:batch",
            json={"jobs": [job(name=f"burst-{n}", target="sim:stabilizer", shots=1) for n in range(count)]},
            headers=secured.headers("a"),
        )
        assert response.status_code == 201, response.text
        gate.set()
        got = stream.until(lambda e: e["event"] == "resync")
        assert got[-1]["data"]["reason"] == "overflow", got[-1]
        assert "read the list" in got[-1]["data"]["detail"]
        assert first["id"] in job_ids(got)  # what the sender held when it fell behind
        assert len(got) <= job_events.MAX_PENDING + 1
        last = response.json()["job_ids"][-1]
        client.get(f"/v1/jobs/{last}/results", params={"wait_seconds": 60}, headers=secured.headers("a"))
    # and the stream goes on with what came after
    with httpx.Client(base_url=base, timeout=60) as client:
        later = submit(client, job(name="after"), headers=secured.headers("a"))
    stream.until_ended(later["id"])


def test_a_streams_backlog_is_bounded() -> None:
    """The bound itself, on a bus: what waits for one stream never exceeds MAX_PENDING."""
    bus = EventBus()
    feed = job_events.Feed(bus, lambda job_id: "default")

    async def scenario() -> tuple[int, tuple[str | None, list[JobEvent]], tuple[str | None, list[JobEvent]]]:
        subscription = feed.open(None)
        assert subscription.take() == ("subscribed", [])
        for n in range(3 * job_events.MAX_PENDING):
            bus.publish(JobEvent(f"job-{n}", 1, JobState.PENDING, "state", 0.0))
            bus.publish(JobEvent(f"job-{n}", 2, JobState.COMPILING, "progress", 0.0))  # not listed
        pending = subscription.pending()
        overflowed = subscription.take()
        bus.publish(JobEvent("after", 1, JobState.PENDING, "state", 0.0))
        bus.lost()
        lost = subscription.take()
        feed.close(subscription)
        return pending, overflowed, lost

    pending, overflowed, lost = asyncio.run(scenario())
    assert pending <= job_events.MAX_PENDING
    assert overflowed[0] == "overflow" and len(overflowed[1]) <= job_events.MAX_PENDING
    assert lost == ("lost", [])
    assert feed.open_streams() == 0
    bus.publish(JobEvent("unheard", 1, JobState.PENDING, "state", 0.0))  # nobody listens now


# -- topologies ------------------------------------------------------------------------------
@pytest.mark.parametrize("broker", ["postgres", "redis"])
def test_two_kernel_nodes_carry_each_others_events(
    tmp_path: Path, stream_of: Callable[..., Stream], broker: str, request: pytest.FixtureRequest
) -> None:
    """Two kernel nodes (each with the API) on one PostgreSQL database: a stream on node A
    carries the jobs submitted on node B, through the fan-out of PostgreSQL LISTEN/NOTIFY
    (the default for kernels sharing a database) or Redis pub/sub (``redis_url``)."""
    from tests.integration.test_fanout_redis import REDIS_URL
    from tests.integration.test_kernel_postgres_leases import node
    from tests.unit.store.postgres import fresh_database

    extra: dict[str, object] = {}
    if broker == "redis":
        request.getfixturevalue("channel")  # skips without a reachable Redis (fails under EIGEN_CI=1)
        extra["redis_url"] = REDIS_URL
    with (
        fresh_database() as url,
        node(url, tmp_path, "node-a", http_port=0, **extra) as a,
        node(url, tmp_path, "node-b", http_port=0, **extra) as b,
    ):
        assert a.stack is not None and a.stack.kernel is not None
        fanout = a.stack.kernel.bus.fanout
        assert isinstance(fanout, RedisFanout if broker == "redis" else PostgresFanout)
        assert fanout.subscribed(WAIT_S)  # node A hears the other nodes (readiness says so too)
        stream = stream_of(a.http_address)
        stream.until(lambda e: e["event"] == "resync")
        with httpx.Client(base_url=b.http_address, timeout=60) as client:
            made = [submit(client, job(name=f"on-b-{n}", target="sim:stabilizer")) for n in range(3)]
        for accepted in made:
            stream.until_ended(accepted["id"])
            # across nodes a job's events may arrive out of order (node A's own COMPILING
            # before node B's PENDING came over the fan-out): event_seq gives the order
            events = [e["data"] for e in stream.seen if is_event(e, accepted["id"])]
            assert [e["state"] for e in sorted(events, key=lambda e: e["event_seq"])] == STATES


def test_a_server_whose_kernel_is_another_process_answers_501() -> None:
    kernel = RemoteKernel.__new__(RemoteKernel)  # never called: the route needs a bus first
    app = create_app(JobApi(cast(KernelPort, kernel)))
    transport = httpx.ASGITransport(app=app)

    async def ask() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/v1/jobs:events")

    answer = asyncio.run(ask())
    body = problem(answer, 501, "EIGEN_UNIMPLEMENTED")
    assert "GET /v1/jobs" in body["detail"]


def test_an_api_node_in_front_of_a_kernel_node_follows_its_fan_out(
    tmp_path: Path, stream_of: Callable[..., Stream]
) -> None:
    """An api-only node (``eigen-server serve --role api``, its kernel another process on
    PostgreSQL) follows the kernels' fan-out with a bus of its own: its stream carries the
    jobs the kernel runs (the events come back over the fan-out, not over gRPC)."""
    from tests.integration.cluster import Cluster
    from tests.integration.test_four_processes import free_port
    from tests.unit.store.postgres import fresh_database

    with fresh_database() as url:
        cluster = Cluster(tmp_path, url)
        try:
            kernel = cluster.kernel("kernel-1")
            api = cluster.api("api-1", [kernel], EIGEN_HTTP_PORT=str(free_port()))
            api_http = f"http://127.0.0.1:{api.env['EIGEN_HTTP_PORT']}"
            stream = stream_of(api_http)
            stream.until(lambda e: e["event"] == "resync")
            with httpx.Client(base_url=api_http, timeout=60) as client:
                made = [
                    submit(client, job(name=f"through-api-{n}", target="sim:stabilizer")) for n in range(2)
                ]
            for accepted in made:
                stream.until_ended(accepted["id"])
                events = [e["data"] for e in stream.seen if is_event(e, accepted["id"])]
                assert [e["state"] for e in sorted(events, key=lambda e: e["event_seq"])] == STATES
        finally:
            cluster.close()
