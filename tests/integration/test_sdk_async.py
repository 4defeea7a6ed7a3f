"""AsyncClient against a real server: submit and await, as_completed, cancel, typed errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from eigen.client import (
    AsyncClient,
    AsyncJobFuture,
    Cancelled,
    FailedPrecondition,
    InvalidArgument,
    JobState,
    NotFound,
    aio,
)
from eigen.client.inputs import SubmitOptions
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, SLOW

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST: SubmitOptions = {"target": "sim:stabilizer", "shots": 32}


def test_submit_and_await(server: EmbeddedServer) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.address) as client:
            future = await client.submit(BELL, **FAST)
            assert isinstance(future, AsyncJobFuture) and not future.done()
            result = await future
            assert future.state is JobState.DONE and result.job_id == future.id
            assert set(result.counts) <= {"00", "11"} and sum(result.counts.values()) == 32
            assert (await future.result(timeout=1)) == result
            from_yaml = await client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=16)
            assert (await from_yaml.result(timeout=60)).experiments[0].shots == 16
            final = await client.wait(future.id)
            assert final.state is JobState.DONE
            assert (await client.results(future.id)) == result
            waited = await client.submit(BELL, **FAST)
            assert (await client.results(waited.id, wait=30)).job_id == waited.id
            jobs, _ = await client.list_jobs(page_size=50)
            assert {future.id, from_yaml.id} <= {j.id for j in jobs}
            assert "sim:stabilizer" in {d.name for d, _ in await client.backends()}
            assert (await client.backend("emu:manila")).num_qubits == 5
            assert (await client.calibration("emu:manila")).device == "emu:manila"

    asyncio.run(scenario())


def test_as_completed_callbacks_and_batch(server: EmbeddedServer) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.address) as client:
            futures = await client.submit_batch([BELL] * 5, **FAST)
            called: list[AsyncJobFuture] = []
            futures[0].add_done_callback(called.append)
            finished = [f async for f in aio.as_completed(futures, timeout=60)]
            assert {f.id for f in finished} == {f.id for f in futures}
            assert called == [futures[0]]
            done, not_done = await aio.wait(futures, timeout=1)
            assert len(done) == 5 and not not_done

    asyncio.run(scenario())


def test_cancel_timeout_and_typed_errors(server: EmbeddedServer) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.address) as client:
            with holding(server):
                slow = await client.submit(BELL, target=HELD, shots=10)
                with pytest.raises(TimeoutError):
                    await slow.result(timeout=0.01)
                assert await slow.cancel() is True
            with pytest.raises(Cancelled):
                await slow
            assert slow.cancelled() and isinstance(await slow.exception(), Cancelled)
            with pytest.raises(NotFound) as caught:
                await client.get("doesnotexist")
            assert caught.value.code == "EIGEN_NOT_FOUND"  # details read from the aio status
            with pytest.raises(InvalidArgument) as invalid:
                await client.submit(BELL, target="sim:stabilizer", shots=-1)
            assert invalid.value.violations[0].field == "shots"
            pending = await client.submit(SLOW, shots=10)
        # closing the client ends futures it was still watching
        with pytest.raises(FailedPrecondition, match="closed"):
            await pending.result(timeout=5)

    asyncio.run(scenario())
