"""AsyncClient sessions through a real server (the sync client's are
tests/integration/test_sessions.py): ``async with client.session(...)`` opens a session
whose jobs run in its lane ahead of the device's queue and closes it at the end of the
block, also when the block raises; ``await client.session(...)`` returns it open; cancel
cancels its unfinished jobs; the typed errors; and GetSession, CloseSession and
CancelSession are sent again when their answer is lost, OpenSession is not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import pytest

from eigen.client import AsyncClient, Cancelled, ChannelOptions, RetryPolicy, Unavailable
from eigen.client.sessions import AsyncClientSession
from eigen.config.settings import Settings
from eigen.errors import FailedPrecondition, InvalidArgument, NotFound
from eigen.models.job import Job
from eigen.models.session import SESSION_LABEL, SessionState
from eigen.models.state import JobState
from eigen.proto.api.v1 import jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from eigen.system_api.grpc.jobs import JobServicer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("async-sessions"), device_capacity={HELD: 1})
    with EmbeddedServer(settings) as running:
        yield running


async def queued(client: AsyncClient, job_id: str) -> Job:
    """The job once it waits on its device's queue (its watch, not a poll)."""
    async with aclosing(client.watch(job_id)) as events:
        async for event in events:
            if event.state is JobState.QUEUED or event.state.terminal:
                break
    return await client.get(job_id)


def test_async_with_runs_the_sessions_jobs_ahead_and_closes_it(one_slot: EmbeddedServer) -> None:
    """The device's one slot is held and two jobs of a higher priority wait for it; the
    session's jobs do not: its lane runs them one after the other."""

    async def scenario() -> None:
        async with AsyncClient(one_slot.address, timeout=60) as client:
            with holding(one_slot) as held:
                blocker = await client.submit(BELL, target=HELD, shots=10)
                await asyncio.to_thread(held.wait_held)
                backlog = [
                    await client.submit(BELL, target=HELD, shots=10, seed=i, priority=90) for i in range(2)
                ]
                for job in backlog:
                    await queued(client, job.id)
                async with client.session(HELD, max_time=600, idle=60) as session:
                    assert isinstance(session, AsyncClientSession)
                    assert session.info.state is SessionState.ACTIVE and session.target == HELD
                    assert session.info.idle_s == 60
                    first = await session.submit(BELL, shots=10, seed=10)
                    await asyncio.to_thread(held.wait_held, 2)  # beside the blocker, in the lane
                    second = await session.submit(BELL, shots=10, seed=11)
                    waiting = await queued(client, second.id)
                    assert waiting.placement is not None and waiting.placement.position == 1
                    assert f"in session {session.id}" in waiting.placement.reason
                    assert waiting.request.labels[SESSION_LABEL] == session.id
                    assert (await session.status()).state is SessionState.ACTIVE
                    assert [(await client.get(job.id)).state for job in backlog] == [JobState.QUEUED] * 2
                assert session.info.state is SessionState.CLOSED  # the block closed it
                assert (await client.get_session(session.id)).state is SessionState.CLOSED
            ended = await asyncio.wait_for(
                asyncio.gather(*(f.result() for f in [blocker, *backlog, first, second])), 120
            )
            assert [r.job_id for r in ended] == [f.id for f in [blocker, *backlog, first, second]]
            started = {f.id: (await client.get(f.id)).started_at or 0.0 for f in [*backlog, first, second]}
            assert max(started[first.id], started[second.id]) < max(started[j.id] for j in backlog)

    asyncio.run(scenario())


def test_await_opens_a_session_and_cancel_cancels_its_jobs(one_slot: EmbeddedServer) -> None:
    async def scenario() -> None:
        async with AsyncClient(one_slot.address, timeout=60) as client:
            with holding(one_slot) as held:
                blocker = await client.submit(BELL, target=HELD, shots=10)
                await asyncio.to_thread(held.wait_held)
                session = await client.session(HELD)
                assert isinstance(session, AsyncClientSession) and session.info.state is SessionState.ACTIVE
                mine = [await session.submit(BELL, shots=10, seed=i) for i in range(2)]
                for job in mine:
                    await queued(client, job.id)
                cancelled = await session.cancel()
                assert cancelled.state is SessionState.CANCELLED and cancelled.ended_at is not None
                assert session.info is cancelled
                for job in mine:
                    with pytest.raises(Cancelled):
                        await asyncio.wait_for(job.result(), 60)
                again = await client.cancel_session(session.id), await client.close_session(session.id)
                assert [s.state for s in again] == [SessionState.CANCELLED] * 2  # an ended one stays
                with pytest.raises(FailedPrecondition):
                    await session.submit(BELL, shots=10)
            assert (await asyncio.wait_for(blocker.result(), 60)).job_id == blocker.id

    asyncio.run(scenario())


def test_typed_errors_and_a_block_that_raises_still_closes(one_slot: EmbeddedServer) -> None:
    async def scenario() -> None:
        async with AsyncClient(one_slot.address, timeout=60) as client:
            with pytest.raises(NotFound):
                await client.get_session("f" * 32)
            with pytest.raises(NotFound):
                await client.session("sim:nowhere")
            with pytest.raises(NotFound):
                async with client.session("sim:nowhere"):
                    raise AssertionError("a session that did not open has no block")
            with pytest.raises(InvalidArgument):
                await client.session(HELD, max_time=-1)
            opened: list[AsyncClientSession] = []
            with pytest.raises(RuntimeError, match="the block failed"):
                async with client.session(HELD) as session:
                    opened.append(session)
                    raise RuntimeError("the block failed")
            assert opened[0].info.state is SessionState.CLOSED
            assert (await client.get_session(opened[0].id)).state is SessionState.CLOSED
            short = await client.session(HELD, max_time=10, idle=20)
            assert short.info.idle_s == 10  # never idle past its end
            async with short as same:  # an open session is its own block
                assert same is short
            assert short.info.state is SessionState.CLOSED

    asyncio.run(scenario())


# --- lost answers -----------------------------------------------------------------------

SESSION_CALLS = ("OpenSession", "GetSession", "CloseSession", "CancelSession")


@dataclass
class LoseFirstSessionAnswer(grpc.aio.ServerInterceptor):
    """Runs each session call, then answers UNAVAILABLE the first time per method (the
    server had taken it: its headers went out)."""

    attempts: dict[str, int] = field(default_factory=dict)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        name = details.method.rpartition("/")[2]
        if name not in SESSION_CALLS:
            return handler
        inner = handler.unary_unary

        async def lose_first(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            self.attempts[name] = self.attempts.get(name, 0) + 1
            response = await inner(request, context)
            if self.attempts[name] == 1:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the answer was lost")
            return response

        return grpc.unary_unary_rpc_method_handler(
            lose_first,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@asynccontextmanager
async def lossy_front(server: EmbeddedServer, interceptor: LoseFirstSessionAnswer) -> AsyncIterator[str]:
    """The server's JobService served again on a free port through ``interceptor``, in this
    event loop."""
    assert server.stack is not None and server.stack.api is not None
    front = grpc.aio.server(interceptors=[interceptor])
    jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(server.stack.api, local=True), front)
    port = front.add_insecure_port("127.0.0.1:0")
    await front.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await front.stop(0)


def test_lost_answers_of_session_calls_are_sent_again_except_open(one_slot: EmbeddedServer) -> None:
    interceptor = LoseFirstSessionAnswer()

    async def scenario() -> None:
        async with (
            lossy_front(one_slot, interceptor) as address,
            AsyncClient(address, options=ChannelOptions(retry=FAST_RETRY)) as client,
        ):
            with pytest.raises(Unavailable):
                await client.session(HELD)  # not idempotent: a second would be another session
            assert interceptor.attempts == {"OpenSession": 1}
            session = await client.session(HELD)
            assert (await session.status()).state is SessionState.ACTIVE
            assert (await session.close()).state is SessionState.CLOSED
            assert (await session.cancel()).state is SessionState.CLOSED  # closed already: stays
            assert interceptor.attempts == {
                "OpenSession": 2,
                "GetSession": 2,
                "CloseSession": 2,
                "CancelSession": 2,
            }

    asyncio.run(scenario())  # the front and the client in one event loop
