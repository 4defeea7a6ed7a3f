"""Results as pandas, polars and Arrow tables, and Parquet / CSV round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from eigen.client import export
from eigen.models.result import Experiment, JobResult

BELL = JobResult("job-a", "sim:stabilizer", [Experiment({"00": 48, "11": 52}, 100)])
SWEEP = JobResult(
    "job-b",
    "sim:statevector",
    [
        Experiment({"0": 90, "1": 10}, 100, bindings={"theta": 0.1}),
        Experiment({"0": 10, "1": 90}, 100, bindings={"theta": 3.0}),
    ],
)


def _counts(results: list[JobResult]) -> list[tuple[str, list[tuple[dict[str, int], int]]]]:
    return [(r.job_id, [(e.counts, e.shots) for e in r.experiments]) for r in results]


def test_pandas_frame_has_one_row_per_outcome_per_experiment() -> None:
    frame = export.to_pandas([BELL, SWEEP])
    assert list(frame.columns[:7]) == list(export.COLUMNS)
    assert len(frame) == 2 + 4
    assert frame["outcome"].tolist()[:2] == ["00", "11"]  # strings, leading zeros kept
    sweep = frame[frame["job_id"] == "job-b"]
    assert sweep["experiment"].tolist() == [0, 0, 1, 1]
    assert sweep["param.theta"].tolist() == [0.1, 0.1, 3.0, 3.0]
    assert frame.loc[0, "probability"] == pytest.approx(0.48)
    assert frame["count"].sum() == 300


def test_polars_and_arrow_agree_with_pandas() -> None:
    table = export.to_arrow([BELL, SWEEP])
    polars_frame = export.to_polars([BELL, SWEEP])
    assert table.num_rows == polars_frame.height == 6
    assert str(table.schema.field("outcome").type) == "string"
    assert polars_frame["outcome"].to_list() == table.column("outcome").to_pylist()
    assert polars_frame["count"].sum() == 300


def test_frames_round_trip_to_results() -> None:
    for frame in (export.to_pandas([BELL, SWEEP]), export.to_polars([BELL, SWEEP]), export.to_arrow(SWEEP)):
        back = export.from_table(frame)
        expected = [SWEEP] if len(back) == 1 else [BELL, SWEEP]
        assert _counts(back) == _counts(expected)
    assert export.from_table(export.to_pandas(SWEEP))[0].experiments[1].bindings == {"theta": 3.0}


def test_parquet_round_trip(tmp_path: Path) -> None:
    path = export.write_parquet([BELL, SWEEP], tmp_path / "counts.parquet")
    back = export.read_parquet(path)
    assert _counts(back) == _counts([BELL, SWEEP])
    assert [r.backend for r in back] == ["sim:stabilizer", "sim:statevector"]
    assert back[1].experiments[0].bindings == {"theta": 0.1}


def test_csv_round_trip_keeps_bitstrings(tmp_path: Path) -> None:
    path = export.write_csv(BELL, tmp_path / "counts.csv")
    text = path.read_text()
    assert text.splitlines()[0].replace('"', "") == ",".join(export.COLUMNS)
    back = export.read_csv(path)
    assert back[0].experiments[0].counts == {"00": 48, "11": 52}


def test_from_table_rejects_other_tables() -> None:
    import pandas as pd

    with pytest.raises(ValueError, match="missing column"):
        export.from_table(pd.DataFrame({"x": [1]}))
    with pytest.raises(TypeError):
        export.from_table([1, 2])


def test_empty_results_give_an_empty_table() -> None:
    assert export.to_arrow([]).num_rows == 0
    assert len(export.to_pandas([])) == 0
