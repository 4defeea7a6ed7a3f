"""Issue 16 (safety): every SDK submission carries an idempotency key, and the SDK's
retry after UNAVAILABLE sends the same key again, so a lost answer never makes a second job.
Issue 18: a SubmitBatch too (one key for the whole batch), so a lost answer never makes a
second batch.

A real Eigen stack (SQLite in a tmp folder) is served on a free port by a gRPC server with
a test interceptor that lets SubmitJob or SubmitBatch run (the jobs are accepted and
stored) and then, the first time only, answers UNAVAILABLE as if the answer had been lost
on the way back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from eigen.client import AsyncClient, ChannelOptions, Client, FailedPrecondition, RetryPolicy, Unavailable
from eigen.proto.api.v1 import jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from eigen.system_api.grpc.jobs import JobServicer

pytestmark = pytest.mark.integration

BELL = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nbit[1] c;\nh q[0];\nc[0] = measure q[0];\n'
SUBMIT = "/eigen.api.v1.JobService/SubmitJob"
BATCH = "/eigen.api.v1.JobService/SubmitBatch"
FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)


@dataclass
class LoseFirstAnswers(grpc.aio.ServerInterceptor):
    """Runs SubmitJob or SubmitBatch, then answers UNAVAILABLE for the first ``losses``
    attempts (of both together)."""

    losses: int = 1
    keys: list[str] = field(default_factory=list)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler_call_details.method not in (SUBMIT, BATCH):
            return handler
        inner = handler.unary_unary

        async def lose_the_answer(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            self.keys.append(request.idempotency_key)
            response = await inner(request, context)
            if len(self.keys) <= self.losses:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the answer was lost")
            return response

        return grpc.unary_unary_rpc_method_handler(
            lose_the_answer,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@dataclass
class Front:
    address: str
    interceptor: LoseFirstAnswers
    stack: EmbeddedServer


@pytest.fixture
def front(tmp_path: Path) -> Iterator[Front]:
    """The embedded stack's JobService, served again on a free port through the interceptor."""
    interceptor = LoseFirstAnswers()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="lossy-front", daemon=True)
    thread.start()
    with EmbeddedServer(data_dir=tmp_path) as embedded:
        assert embedded.stack is not None and embedded.stack.api is not None
        api = embedded.stack.api

        async def start() -> tuple[grpc.aio.Server, int]:
            server = grpc.aio.server(interceptors=[interceptor])
            jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(api, local=True), server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            return server, port

        server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
        try:
            yield Front(f"127.0.0.1:{port}", interceptor, embedded)
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
            loop.close()


def job_ids(front: Front) -> list[str]:
    with Client(front.stack.address) as direct:
        found, _ = direct.list_jobs(page_size=100)
    return [job.id for job in found]


def test_a_retry_after_a_lost_answer_returns_the_same_job(front: Front) -> None:
    with Client(front.address, options=ChannelOptions(retry=FAST_RETRY)) as client:
        future = client.submit(BELL, shots=16)
        assert sum(future.result(timeout=60).counts.values()) == 16
    first, second = front.interceptor.keys
    assert first and first == second  # generated once, sent twice
    assert job_ids(front) == [future.id]  # exactly one job


def test_the_async_client_retries_with_the_same_key(front: Front) -> None:
    async def submit() -> str:
        async with AsyncClient(front.address, options=ChannelOptions(retry=FAST_RETRY)) as client:
            future = await client.submit(BELL, shots=8)
            await future.result(timeout=60)
            return future.id

    job_id = asyncio.run(submit())
    assert len(front.interceptor.keys) == 2 and len(set(front.interceptor.keys)) == 1
    assert job_ids(front) == [job_id]


def test_a_given_key_is_sent_as_given_and_each_submission_gets_its_own(front: Front) -> None:
    front.interceptor.losses = 0
    with Client(front.address) as client:
        mine = client.submit(BELL, idempotency_key="my-key-1")
        other = client.submit(BELL)
        again = client.submit(BELL)
    given, generated, generated_again = front.interceptor.keys
    assert given == "my-key-1"
    assert generated and generated_again and generated != generated_again
    assert len({mine.id, other.id, again.id}) == 3


def test_without_a_retry_policy_the_lost_answer_is_final(front: Front) -> None:
    with Client(front.address, options=ChannelOptions(retry=None)) as client, pytest.raises(Unavailable):
        client.submit(BELL)
    assert len(front.interceptor.keys) == 1
    assert len(job_ids(front)) == 1  # accepted, but the caller was told it failed: it may retry


def test_a_batch_retried_after_a_lost_answer_returns_the_same_jobs(front: Front) -> None:
    with Client(front.address, options=ChannelOptions(retry=FAST_RETRY)) as client:
        futures = client.submit_batch([BELL, BELL, BELL], shots=8)
        assert [sum(f.result(timeout=60).counts.values()) for f in futures] == [8, 8, 8]
    first, second = front.interceptor.keys
    assert first and first == second  # one key for the batch, generated once, sent twice
    assert sorted(job_ids(front)) == sorted(f.id for f in futures)  # one batch stored


def test_the_async_client_retries_a_batch_with_the_same_key(front: Front) -> None:
    async def submit() -> list[str]:
        async with AsyncClient(front.address, options=ChannelOptions(retry=FAST_RETRY)) as client:
            futures = await client.submit_batch([BELL, BELL], shots=8)
            for future in futures:
                await future.result(timeout=60)
            return [future.id for future in futures]

    submitted = asyncio.run(submit())
    assert len(front.interceptor.keys) == 2 and len(set(front.interceptor.keys)) == 1
    assert sorted(job_ids(front)) == sorted(submitted)


def test_a_batch_key_given_twice_names_one_batch(front: Front) -> None:
    front.interceptor.losses = 0
    with Client(front.address) as client:
        first = client.submit_batch([BELL, BELL], idempotency_key="nightly-7", shots=8)
        again = client.submit_batch([BELL, BELL], idempotency_key="nightly-7", shots=8)
        assert [f.id for f in again] == [f.id for f in first]
        with pytest.raises(FailedPrecondition, match="different batch"):
            client.submit_batch([BELL, BELL], idempotency_key="nightly-7", shots=9)
        other = client.submit_batch([BELL, BELL], shots=8)  # a key of its own
    assert front.interceptor.keys[:2] == ["nightly-7", "nightly-7"]
    assert front.interceptor.keys[3] not in ("", "nightly-7")
    assert len(set(job_ids(front))) == 4 and not {f.id for f in other} & {f.id for f in first}
