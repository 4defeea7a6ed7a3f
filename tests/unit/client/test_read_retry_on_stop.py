"""Issue 18: an idempotent read that a server stopping gracefully cuts (the grace runs out
while the call is in flight: grpc.aio ends it with UNAVAILABLE "Cancelling all calls",
after the server's headers, so gRPC's own retry policy has committed the call and does
not retry it) is sent again by the SDK under its retry policy, and answered by another
node.

Two api nodes of one kernel: the embedded stack's JobService served again on two free
ports (real grpc.aio servers, as `eigen-server serve` runs them), the client given both
(``ipv4:a,b``, as docs/cluster.md tells clients to). A long poll (GetJobResults with a
wait) on a job held RUNNING is in flight on the first node when it stops with a short
grace; the job is released once the call has moved to the second node.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from eigen.client import AsyncClient, ChannelOptions, Client, RetryPolicy, Unavailable
from eigen.proto.api.v1 import jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from eigen.system_api.grpc.jobs import BackendServicer, JobServicer
from tests.integration.held import HELD, holding

pytestmark = pytest.mark.integration

BELL = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nh q[0];\nc[0] = measure q[0];\n'
RESULTS = "/eigen.api.v1.JobService/GetJobResults"
GRACE_S = 0.5


@dataclass
class Calls(grpc.aio.ServerInterceptor):
    """The GetJobResults calls a node received: the attempt each was (0: the first)."""

    attempts: list[int] = field(default_factory=list)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if handler_call_details.method == RESULTS:
            metadata = dict(handler_call_details.invocation_metadata or ())
            self.attempts.append(int(metadata.get("grpc-previous-rpc-attempts", 0)))
        return await continuation(handler_call_details)


@dataclass
class Nodes:
    stack: EmbeddedServer
    target: str
    calls: list[Calls]
    stop_first: Callable[[float], None]


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="api-nodes", daemon=True)
    thread.start()
    calls = [Calls(), Calls()]
    with EmbeddedServer(data_dir=tmp_path) as embedded:
        assert embedded.stack is not None and embedded.stack.api is not None
        api = embedded.stack.api

        async def start(interceptor: Calls) -> tuple[grpc.aio.Server, int]:
            server = grpc.aio.server(interceptors=[interceptor])
            jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(api, local=True), server)
            jobs_pb2_grpc.add_BackendServiceServicer_to_server(BackendServicer(api), server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            return server, port

        started = [asyncio.run_coroutine_threadsafe(start(c), loop).result(30) for c in calls]
        target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for _, port in started)

        def stop_first(grace: float) -> None:
            asyncio.run_coroutine_threadsafe(started[0][0].stop(grace), loop)

        try:
            yield Nodes(embedded, target, calls, stop_first)
        finally:
            for server, _ in started:
                asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()


def long_poll_cut_by_a_stop(nodes: Nodes, client: Client) -> tuple[list[Any], float]:
    """A long poll on a held job, on the first node, which stops with a short grace; the
    job is released a while after the grace ran out. The outcome ([result] or [error])
    and how long the call took."""
    outcome: list[Any] = []
    with holding(nodes.stack) as held:
        job = client.submit(BELL, target=HELD, shots=8)
        held.wait_held()
        began = time.monotonic()

        def poll() -> None:
            try:
                outcome.append(client.results(job.id, wait=30))
            except Exception as exc:
                outcome.append(exc)

        poller = threading.Thread(target=poll)
        poller.start()
        deadline = time.monotonic() + 10
        while not nodes.calls[0].attempts and time.monotonic() < deadline:
            time.sleep(0.01)
        assert nodes.calls[0].attempts == [0], "the long poll did not reach the first node"
        nodes.stop_first(GRACE_S)
        time.sleep(GRACE_S + 1.0)  # the grace ran out: the first node cancelled the call
        held.release()
        poller.join(30)
    return outcome, time.monotonic() - began


def test_a_read_cut_by_a_graceful_stop_is_retried_on_another_node(nodes: Nodes) -> None:
    assert "CANCELLED" in RetryPolicy().retryable_status_codes  # the SDK's default
    with Client(nodes.target) as client:
        client.backends()  # connected to the first node (pick_first)
        (result,), took = long_poll_cut_by_a_stop(nodes, client)
    assert not isinstance(result, Exception), f"the read failed: {result!r}"
    assert sum(result.counts.values()) == 8
    # sent again by the SDK (a new call, not one of gRPC's attempts), to the other node
    assert nodes.calls[0].attempts == [0] and nodes.calls[1].attempts == [0]
    assert took > GRACE_S + 1.0  # answered once the job ended, by the long poll sent again


def test_without_a_retry_policy_the_cut_read_fails(nodes: Nodes) -> None:
    """What every read did before (gRPC had committed the call: its headers had come)."""
    with Client(nodes.target, options=ChannelOptions(retry=None)) as client:
        client.backends()
        (error,), _ = long_poll_cut_by_a_stop(nodes, client)
    assert isinstance(error, Unavailable) and "Cancelling all calls" in str(error)
    assert nodes.calls[1].attempts == []  # never sent again


def test_the_async_client_sends_a_cut_read_again(nodes: Nodes) -> None:
    with Client(nodes.target) as client:
        client.backends()
        job = None
        with holding(nodes.stack) as held:
            job = client.submit(BELL, target=HELD, shots=4)
            held.wait_held()

            async def poll() -> int:
                async with AsyncClient(nodes.target) as aclient:
                    await aclient.backends()
                    task = asyncio.ensure_future(aclient.results(job.id, wait=30))
                    while not nodes.calls[0].attempts:
                        await asyncio.sleep(0.01)
                    nodes.stop_first(GRACE_S)
                    await asyncio.sleep(GRACE_S + 1.0)
                    held.release()
                    return sum((await task).counts.values())

            assert asyncio.run(poll()) == 4
    assert nodes.calls[0].attempts == [0] and nodes.calls[1].attempts == [0]
