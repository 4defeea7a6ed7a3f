"""Plots of results: a counts histogram and the convergence curve of a hybrid job.

matplotlib is imported only when a plot is drawn. Each function draws on ``ax`` when
given, else on a new figure (``matplotlib.pyplot.subplots``), and returns the Axes;
save it with ``ax.figure.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eigen.models.result import JobResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, created = plt.subplots(figsize=figsize)
    return created


def plot_counts(
    data: JobResult | Mapping[str, int] | Mapping[str, float],
    ax: Axes | None = None,
    *,
    experiment: int = 0,
    sort: str = "outcome",
    top: int | None = None,
    probabilities: bool = False,
    title: str | None = None,
) -> Axes:
    """A bar chart of counts (or probabilities) per outcome.

    ``data`` is a JobResult (``experiment`` picks which) or a counts mapping; ``sort`` is
    ``"outcome"`` or ``"count"``; ``top`` keeps the most frequent outcomes only.
    """
    if sort not in ("outcome", "count"):
        raise ValueError("sort must be 'outcome' or 'count'")
    if isinstance(data, JobResult):
        counts: Mapping[str, float] = data.experiments[experiment].counts
        label = title or f"job {data.job_id[:12]} on {data.backend}"
    else:
        counts = data
        label = title or "counts"
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if top is not None:
        items = items[:top]
    if sort == "outcome":
        items.sort(key=lambda kv: kv[0])
    total = sum(counts.values()) or 1
    outcomes = [k for k, _ in items]
    values = [v / total if probabilities else v for _, v in items]
    axes = _axes(ax, (max(4.0, 0.5 * len(outcomes) + 2), 4.0))
    bars = axes.bar(outcomes, values)
    axes.bar_label(bars, fmt="%.3f" if probabilities else "%g", fontsize=8)
    axes.set_xlabel("outcome (bit 0 rightmost)")
    axes.set_ylabel("probability" if probabilities else "count")
    axes.set_title(label)
    if len(outcomes) > 8:
        axes.tick_params(axis="x", labelrotation=90)
    return axes


def plot_convergence(
    data: JobResult | Sequence[Mapping[str, Any]],
    ax: Axes | None = None,
    *,
    key: str = "energy",
    title: str | None = None,
) -> Axes:
    """The value of ``key`` per iteration of a hybrid job (``summary["history"]``),
    with error bars when the history carries ``std_error``."""
    if isinstance(data, JobResult):
        history = data.summary.get("history") or []
        label = title or f"job {data.job_id[:12]}: {data.summary.get('method', '')} convergence"
        final = data.summary.get(key)
    else:
        history, label, final = list(data), title or "convergence", None
    if not history:
        raise ValueError("no convergence history (is this a hybrid job?)")
    iterations = [int(h.get("iteration", i + 1)) for i, h in enumerate(history)]
    values = [float(h[key]) for h in history]
    errors = [float(h.get("std_error") or 0.0) for h in history]
    axes = _axes(ax, (7.0, 4.0))
    if any(errors):
        axes.errorbar(iterations, values, yerr=errors, fmt="-o", markersize=3, capsize=2)
    else:
        axes.plot(iterations, values, "-o", markersize=3)
    if final is not None:
        axes.axhline(float(final), linestyle="--", linewidth=1, label=f"final {float(final):.6f}")
        axes.legend()
    axes.set_xlabel("iteration")
    axes.set_ylabel(key)
    axes.set_title(label)
    return axes
