"""``eigen-cli results ID --plot FILE.png``: the convergence curve of a hybrid job."""

from __future__ import annotations

from pathlib import Path

from eigen.errors import FailedPrecondition
from eigen.models.result import JobResult


def plot_convergence(result: JobResult, path: Path) -> None:
    history = result.summary.get("history") or []
    if not history:
        raise FailedPrecondition(f"job {result.job_id} has no convergence history (not a hybrid job)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iterations = [int(h["iteration"]) for h in history]
    energies = [float(h["energy"]) for h in history]
    errors = [float(h.get("std_error", 0.0)) for h in history]
    figure, axes = plt.subplots(figsize=(7, 4))
    if any(errors):
        axes.errorbar(iterations, energies, yerr=errors, fmt="-o", markersize=3, capsize=2)
    else:
        axes.plot(iterations, energies, "-o", markersize=3)
    final = float(result.summary.get("energy", energies[-1]))
    axes.axhline(final, linestyle="--", linewidth=1, label=f"final {final:.6f}")
    axes.set_xlabel("iteration")
    axes.set_ylabel(str(result.summary.get("objective", "objective")))
    axes.set_title(f"job {result.job_id[:12]}: {result.summary.get('method', '')} convergence")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
