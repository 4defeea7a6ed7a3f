"""The metrics registry: names, helpers, exposition, and the names listed in the docs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from eigen.observability import metrics

DOCS = Path(__file__).resolve().parents[3] / "docs" / "observability.md"


def exposed_names() -> set[str]:
    """Every name a scrape can show: families, samples, counter and histogram series."""
    names = set()
    for family in metrics.REGISTRY.collect():
        names.add(family.name)
        names |= {sample.name for sample in family.samples}
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
    return names


def test_every_metric_is_prefixed_and_has_no_unbounded_label() -> None:
    for family in metrics.REGISTRY.collect():
        assert family.name.startswith("eigen_"), family.name
        for sample in family.samples:
            assert not {"job_id", "request_id", "caller", "trace_id"} & set(sample.labels)


def test_docs_list_every_metric_and_only_those() -> None:
    documented = set(re.findall(r"`(eigen_[a-z0-9_]+)`", DOCS.read_text()))
    families = {f.name for f in metrics.REGISTRY.collect()}
    missing = {n for n in families if not any(d == n or d.startswith(n + "_") for d in documented)}
    assert not missing, f"not in docs/observability.md: {sorted(missing)}"
    unknown = documented - exposed_names()
    assert not unknown, f"documented but not exposed: {sorted(unknown)}"


def test_job_helpers_move_the_counters() -> None:
    labels = {"backend": "unit:backend"}
    before = {
        name: metrics.value(name, labels)
        for name in ("eigen_jobs_completed_total", "eigen_jobs_cancelled_total")
    }
    failed = {**labels, "code": "EIGEN_DEADLINE_EXCEEDED"}
    failed_before = metrics.value("eigen_jobs_failed_total", failed)
    metrics.job_transition("RUNNING", "DONE", "unit:backend")
    metrics.job_transition("QUEUED", "CANCELLED", "unit:backend")
    metrics.job_transition("RUNNING", "TIMEOUT", "unit:backend")
    metrics.job_transition("PENDING", "COMPILING", "unit:backend")
    assert metrics.value("eigen_jobs_completed_total", labels) == before["eigen_jobs_completed_total"] + 1
    assert metrics.value("eigen_jobs_cancelled_total", labels) == before["eigen_jobs_cancelled_total"] + 1
    assert metrics.value("eigen_jobs_failed_total", failed) == failed_before + 1
    assert (
        metrics.value("eigen_job_state_transitions_total", {"from_state": "PENDING", "to_state": "COMPILING"})
        >= 1
    )


def test_queue_gauges_sum_the_live_kernels() -> None:
    owner_a, owner_b = object(), object()
    base = metrics.value("eigen_queue_size")
    metrics.track_queue(owner_a, lambda: 3, 10)
    metrics.track_queue(owner_b, lambda: 4, 10)
    try:
        assert metrics.value("eigen_queue_size") == base + 7
    finally:
        metrics.untrack_queue(owner_a)
        metrics.untrack_queue(owner_b)
    assert metrics.value("eigen_queue_size") == base


def test_asgi_app_serves_the_registry() -> None:
    metrics.backend_available("unit:asgi", True)

    async def scrape() -> httpx.Response:
        transport = httpx.ASGITransport(app=metrics.metrics_asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/metrics")

    response = asyncio.run(scrape())
    assert response.status_code == 200
    assert 'eigen_backend_available{backend="unit:asgi"} 1.0' in response.text
    assert "eigen_queue_size" in response.text and "eigen_process_cpu_seconds_total" in response.text
    assert metrics.render().startswith(b"# HELP")
