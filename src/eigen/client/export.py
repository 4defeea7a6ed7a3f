"""Results as tables: pandas, polars, Arrow, Parquet and CSV.

One row per outcome per experiment (long format), with the columns of :data:`COLUMNS`:
``job_id, backend, experiment, outcome, count, shots, probability`` and, for parameter
sweeps, one ``param.<name>`` column per bound parameter. Outcomes are bitstrings in
Qiskit order (classical bit 0 is the rightmost character) and stay strings in every
format. pyarrow, pandas and polars are imported only by the function that needs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eigen.models.result import Experiment, JobResult

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

COLUMNS = ("job_id", "backend", "experiment", "outcome", "count", "shots", "probability")
PARAM_PREFIX = "param."

Results = JobResult | Iterable[JobResult]


def _as_list(results: Results) -> list[JobResult]:
    return [results] if isinstance(results, JobResult) else list(results)


def counts_columns(results: Results) -> dict[str, list[Any]]:
    """The table as plain Python columns (no third-party library needed)."""
    listed = _as_list(results)
    params = sorted({name for r in listed for e in r.experiments for name in e.bindings})
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    columns.update({PARAM_PREFIX + name: [] for name in params})
    for result in listed:
        for index, experiment in enumerate(result.experiments):
            shots = experiment.shots or sum(experiment.counts.values())
            for outcome in sorted(experiment.counts):
                count = experiment.counts[outcome]
                columns["job_id"].append(result.job_id)
                columns["backend"].append(result.backend)
                columns["experiment"].append(index)
                columns["outcome"].append(outcome)
                columns["count"].append(int(count))
                columns["shots"].append(int(shots))
                columns["probability"].append(count / shots if shots else 0.0)
                for name in params:
                    columns[PARAM_PREFIX + name].append(experiment.bindings.get(name))
    return columns


def _schema(names: Iterable[str]) -> pyarrow.Schema:
    import pyarrow as pa

    types = {
        "job_id": pa.string(),
        "backend": pa.string(),
        "experiment": pa.int32(),
        "outcome": pa.string(),
        "count": pa.int64(),
        "shots": pa.int64(),
        "probability": pa.float64(),
    }
    return pa.schema([(name, types.get(name, pa.float64())) for name in names])


def to_arrow(results: Results) -> pyarrow.Table:
    """A ``pyarrow.Table`` of the counts."""
    import pyarrow as pa

    columns = counts_columns(results)
    return pa.table(columns, schema=_schema(columns))


def to_pandas(results: Results) -> pandas.DataFrame:
    """A ``pandas.DataFrame`` of the counts (``outcome`` as strings)."""
    import pandas as pd

    columns = counts_columns(results)
    frame = pd.DataFrame(columns)
    return frame.astype({"outcome": "string", "job_id": "string", "backend": "string"})


def to_polars(results: Results) -> polars.DataFrame:
    """A ``polars.DataFrame`` of the counts."""
    import polars as pl

    return pl.from_arrow(to_arrow(results))  # type: ignore[return-value]


def write_parquet(results: Results, path: str | Path) -> Path:
    """Write the counts as Parquet; returns the path."""
    import pyarrow.parquet as pq

    target = Path(path)
    pq.write_table(to_arrow(results), target)
    return target


def write_csv(results: Results, path: str | Path) -> Path:
    """Write the counts as CSV (with a header row); returns the path."""
    import pyarrow.csv as pcsv

    target = Path(path)
    pcsv.write_csv(to_arrow(results), target)
    return target


def read_parquet(path: str | Path) -> list[JobResult]:
    """Results (counts, shots, bindings) back from :func:`write_parquet`."""
    import pyarrow.parquet as pq

    return from_table(pq.read_table(Path(path)))


def read_csv(path: str | Path) -> list[JobResult]:
    """Results back from :func:`write_csv` (outcomes read as strings)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    types = {"outcome": pa.string(), "job_id": pa.string(), "backend": pa.string()}
    table = pcsv.read_csv(Path(path), convert_options=pcsv.ConvertOptions(column_types=types))
    return from_table(table)


def from_table(table: Any) -> list[JobResult]:
    """Results from a counts table: a pyarrow Table, a pandas or a polars DataFrame.

    Only what the table holds comes back: job id, backend, and per experiment the
    counts, shots and bindings (not seeds, timings or summaries).
    """
    columns = _columns_of(table)
    missing = [name for name in COLUMNS if name not in columns and name != "probability"]
    if missing:
        raise ValueError(f"not a counts table: missing column(s) {', '.join(missing)}")
    params = [name for name in columns if name.startswith(PARAM_PREFIX)]
    order: list[str] = []
    backends: dict[str, str] = {}
    experiments: dict[str, dict[int, Experiment]] = {}
    for row in range(len(columns["job_id"])):
        job_id = str(columns["job_id"][row])
        if job_id not in experiments:
            order.append(job_id)
            experiments[job_id] = {}
            backends[job_id] = str(columns["backend"][row] or "")
        index = int(columns["experiment"][row])
        experiment = experiments[job_id].get(index)
        if experiment is None:
            bindings = {
                name.removeprefix(PARAM_PREFIX): float(columns[name][row])
                for name in params
                if columns[name][row] is not None and columns[name][row] == columns[name][row]  # not NaN
            }
            experiment = Experiment(counts={}, shots=int(columns["shots"][row]), bindings=bindings)
            experiments[job_id][index] = experiment
        experiment.counts[str(columns["outcome"][row])] = int(columns["count"][row])
    return [
        JobResult(
            job_id=job_id,
            backend=backends[job_id],
            experiments=[experiments[job_id][i] for i in sorted(experiments[job_id])],
        )
        for job_id in order
    ]


def _columns_of(table: Any) -> Mapping[str, list[Any]]:
    """Plain Python columns of a pyarrow Table, a pandas or a polars DataFrame."""
    module = type(table).__module__
    if module.startswith("pandas"):
        return {str(name): table[name].tolist() for name in table.columns}
    if module.startswith("polars"):
        return {str(name): table.get_column(name).to_list() for name in table.columns}
    if hasattr(table, "to_pydict"):
        return dict(table.to_pydict())
    raise TypeError(f"expected a pyarrow Table or a pandas/polars DataFrame, got {type(table).__name__}")
