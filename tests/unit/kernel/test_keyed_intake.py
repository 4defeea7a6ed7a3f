"""Keyed submissions from an event loop go through the intake's group commit like the
others: a used key answers its job, two calls racing with one key store one job, and a key
used for another payload is FAILED_PRECONDITION."""

from __future__ import annotations

import asyncio

import pytest

from eigen.errors import FailedPrecondition
from eigen.kernel.service import Kernel
from tests.unit.kernel.conftest import job_request


def counting_batches(kernel: Kernel) -> list[int]:
    batches: list[int] = []
    create_many = kernel.store.create_many
    kernel.store.create_many = lambda batch: batches.append(len(batch)) or create_many(batch)  # type: ignore[method-assign]
    return batches


def test_keyed_submissions_are_stored_together(kernel: Kernel) -> None:
    batches = counting_batches(kernel)

    async def submit_many() -> list[tuple[str, bool]]:
        calls = (kernel.submit_async(job_request(), owner="me", idempotency_key=f"k{i}") for i in range(20))
        return [(job.id, deduplicated) for job, deduplicated in await asyncio.gather(*calls)]

    answers = asyncio.run(submit_many())
    assert len({job_id for job_id, _ in answers}) == 20 and not any(d for _, d in answers)
    assert sum(batches) == 20 and len(batches) < 20  # grouped, not one transaction each


def test_a_used_key_answers_its_job_without_storing_another(kernel: Kernel) -> None:
    first, deduplicated = asyncio.run(kernel.submit_async(job_request(), owner="me", idempotency_key="once"))
    assert not deduplicated
    batches = counting_batches(kernel)
    again, deduplicated = asyncio.run(kernel.submit_async(job_request(), owner="me", idempotency_key="once"))
    assert (again.id, deduplicated, batches) == (first.id, True, [])
    other, deduplicated = asyncio.run(kernel.submit_async(job_request(), owner="you", idempotency_key="once"))
    assert other.id != first.id and not deduplicated  # a key is its owner's


def test_calls_racing_with_one_key_store_one_job(kernel: Kernel) -> None:
    async def race() -> list[tuple[str, bool]]:
        calls = (kernel.submit_async(job_request(), owner="me", idempotency_key="same") for _ in range(8))
        return [(job.id, deduplicated) for job, deduplicated in await asyncio.gather(*calls)]

    answers = asyncio.run(race())
    assert len({job_id for job_id, _ in answers}) == 1
    assert [deduplicated for _, deduplicated in answers].count(False) == 1


def test_a_key_used_for_another_payload_is_refused(kernel: Kernel) -> None:
    asyncio.run(kernel.submit_async(job_request(), owner="me", idempotency_key="mine"))
    with pytest.raises(FailedPrecondition, match="different job payload"):
        asyncio.run(kernel.submit_async(job_request(shots=7), owner="me", idempotency_key="mine"))
