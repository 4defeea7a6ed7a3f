"""Open watches hold no server thread: many more of them than ``grpc_workers`` are served
at once, and the server still answers everything else meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from eigen.config.settings import Settings
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, job, submit

pytestmark = pytest.mark.integration
WATCHERS = 100  # against 4 RPC threads


def test_a_hundred_watches_on_four_rpc_threads(tmp_path: Path) -> None:
    with EmbeddedServer(Settings(grpc_workers=4), data_dir=tmp_path) as server, holding(server) as held:
        with grpc.insecure_channel(server.address) as channel:
            accepted = submit(jobs_pb2_grpc.JobServiceStub(channel), job(BELL, target=HELD, shots=10))
        held.wait_held()

        async def watch_all() -> list[list[int]]:
            async with grpc.aio.insecure_channel(server.address) as channel:
                stub = jobs_pb2_grpc.JobServiceStub(channel)
                calls = [stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=accepted.id)) for _ in range(WATCHERS)]
                running = [False] * WATCHERS
                states: list[list[int]] = [[] for _ in range(WATCHERS)]

                async def follow(index: int) -> None:
                    async for event in calls[index]:
                        states[index].append(event.state)
                        running[index] = running[index] or event.state == pb.JOB_STATE_RUNNING

                followers = [asyncio.create_task(follow(i)) for i in range(WATCHERS)]
                while not all(running):  # every watch is open and has caught up
                    await asyncio.sleep(0.02)
                # the server still answers a unary call with every watch open
                status = await stub.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id), timeout=5)
                assert status.state == pb.JOB_STATE_RUNNING
                held.release()
                await asyncio.wait_for(asyncio.gather(*followers), 30)
                return states

        states = asyncio.run(asyncio.wait_for(watch_all(), 60))
    assert all(s[-1] == pb.JOB_STATE_DONE for s in states)
    assert all(s == states[0] for s in states)  # every watcher saw the same events
