"""deploy/grafana/eigen.json is a valid dashboard that uses only metrics Eigen exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from eigen.observability import metrics

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "eigen.json"


def expressions(dashboard: dict[str, Any]) -> list[str]:
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    found += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return found


def test_dashboard_is_grafana_json_with_unique_ids() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "eigen-overview" and dashboard["title"] == "Eigen"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24


def test_dashboard_uses_only_exposed_metrics_and_shows_every_family() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {name for expr in expressions(dashboard) for name in re.findall(r"\beigen_[a-z0-9_]+", expr)}
    samples = {s.name for f in metrics.REGISTRY.collect() for s in f.samples}
    histograms = {
        f"{f.name}_{suffix}"
        for f in metrics.REGISTRY.collect()
        if f.type == "histogram"
        for suffix in ("bucket", "sum", "count")
    }
    counters = {f"{f.name}_total" for f in metrics.REGISTRY.collect() if f.type == "counter"}
    known = samples | histograms | counters | {f.name for f in metrics.REGISTRY.collect()}
    assert used <= known, f"unknown metrics: {sorted(used - known)}"
    job_families = {f.name for f in metrics.REGISTRY.collect() if not f.name.startswith("eigen_process")}
    shown = {f for f in job_families if any(u == f or u.startswith(f + "_") for u in used)}
    assert shown == job_families, f"not on the dashboard: {sorted(job_families - shown)}"
