"""Plots draw what they should; importing the SDK stays light."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from eigen.client import plots
from eigen.models.result import Experiment, JobResult

matplotlib.use("Agg")


def heights(ax: Axes) -> list[float]:
    return [float(p.get_height()) for p in ax.patches if isinstance(p, Rectangle)]


def test_counts_histogram() -> None:
    import matplotlib.pyplot as plt

    result = JobResult("abcdef0123456789", "sim", [Experiment({"11": 30, "00": 70, "01": 1}, 101)])
    ax = plots.plot_counts(result, top=2)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["00", "11"]
    assert heights(ax) == [70, 30]
    assert "abcdef012345" in ax.get_title()
    ax = plots.plot_counts({"0": 1, "1": 3}, sort="count", probabilities=True)
    assert heights(ax) == [0.75, 0.25]
    plt.close("all")
    with pytest.raises(ValueError):
        plots.plot_counts({"0": 1}, sort="size")


def test_convergence_curve_from_the_summary_history() -> None:
    import matplotlib.pyplot as plt

    history = [{"iteration": i + 1, "energy": -1.0 - 0.1 * i, "std_error": 0.01} for i in range(5)]
    result = JobResult("vqe", "sim", [], summary={"history": history, "energy": -1.4, "method": "SPSA"})
    _, ax = plt.subplots()
    assert plots.plot_convergence(result, ax) is ax
    assert ax.get_ylabel() == "energy" and "SPSA" in ax.get_title()
    assert ax.get_legend() is not None  # the final energy line
    plain = plots.plot_convergence([{"energy": 2.0}, {"energy": 1.0}])
    assert np.asarray(plain.lines[0].get_xdata()).tolist() == [1, 2]
    plt.close("all")
    with pytest.raises(ValueError, match="history"):
        plots.plot_convergence(JobResult("x", "sim", []))


def test_import_loads_no_heavy_or_optional_library() -> None:
    code = (
        "import sys, eigen.client\n"
        "names = ('qiskit', 'pandas', 'polars', 'pyarrow', 'matplotlib', 'tqdm', 'sqlalchemy',"
        " 'psycopg', 'eigen.server', 'eigen.kernel', 'eigen.client.qiskit')\n"
        "print(','.join(m for m in names if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""


def test_typed_errors_are_exported() -> None:
    import eigen.client as sdk
    from eigen.errors import ERROR_CLASSES

    for cls in ERROR_CLASSES.values():
        assert getattr(sdk, cls.__name__) is cls
