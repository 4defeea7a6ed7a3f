"""The artifact folder: atomic batch writes, in this process and in a writer process."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from eigen.errors import InvalidArgument
from eigen.kernel.qfs.artifacts import Artifact, ArtifactStore, encode_json, published_name
from eigen.kernel.qfs.writer import WriterError, WriterProcess


@pytest.fixture
def writer() -> Iterator[WriterProcess]:
    process = WriterProcess()
    yield process
    process.close()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "writer-process"])
def test_a_batch_is_written_whole_and_leaves_no_temporary_file(
    tmp_path: Path, in_process: bool, request: pytest.FixtureRequest
) -> None:
    writer = None if in_process else request.getfixturevalue("writer")
    store = ArtifactStore(tmp_path / "artifacts", writer)
    errors = store.put_many(
        [
            Artifact.of("job_1", "program.qasm", "OPENQASM 3.0;"),
            Artifact.json("job_1", "results.json", {"b": 1, "a": [1, 2]}),
            Artifact.of("job_2", "job.yaml", b"kind: QuantumJob\n"),
            Artifact.yaml("job_2", "doc.yaml", {"kind": "QuantumJob", "spec": {"shots": 10, "name": "é"}}),
            Artifact.yaml("job_2", "bad.yaml", {"x": object()}),  # YAML has no form for it
        ]
    )
    assert errors[:4] == [None, None, None, None]
    assert errors[4] is not None and "cannot encode artifact 'bad.yaml'" in errors[4]
    assert files_in(store.folder("job_1")) == ["program.qasm", "results.json"]
    assert files_in(store.folder("job_2")) == ["doc.yaml", "job.yaml"]
    assert store.get("job_2", "doc.yaml").decode() == "kind: QuantumJob\nspec:\n  shots: 10\n  name: é\n"
    assert store.get("job_1", "program.qasm") == b"OPENQASM 3.0;"
    assert json.loads(store.get("job_1", "results.json")) == {"a": [1, 2], "b": 1}
    # rewriting replaces the file (a job run again after a restart)
    store.put("job_2", "job.yaml", "kind: Other\n")
    assert store.get("job_2", "job.yaml") == b"kind: Other\n"


def test_a_file_that_cannot_be_written_fails_alone(tmp_path: Path, writer: WriterProcess) -> None:
    store = ArtifactStore(tmp_path / "artifacts", writer)
    (tmp_path / "artifacts" / "job_bad").write_text("a file where the job's folder should be")
    errors = store.put_many(
        [
            Artifact.of("job_ok", "a.txt", "1"),
            Artifact.of("job_bad", "a.txt", "2"),
            Artifact.of("job_ok", "b.txt", "3"),
        ]
    )
    assert errors[0] is None and errors[2] is None
    assert errors[1] is not None and "cannot write artifact 'a.txt'" in errors[1]
    assert store.names("job_ok") == ["a.txt", "b.txt"]
    with pytest.raises(OSError, match="cannot write artifact"):
        store.put("job_bad", "c.txt", "4")


def test_bad_names_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    with pytest.raises(InvalidArgument, match="bad artifact name"):
        store.put_many([Artifact.of("job_1", "ok.txt", "1"), Artifact.of("job_1", "../escape", "2")])
    with pytest.raises(InvalidArgument, match="job_id"):
        store.put_many([Artifact.of("../job", "ok.txt", "1")])
    assert store.names("job_1") == []


def test_json_artifacts_are_indented_sorted_and_take_numpy_values() -> None:
    text = encode_json({"z": np.float64(0.25), "a": {"n": np.int64(3)}, "p": Path("/x")}).decode()
    assert text.splitlines()[:3] == ["{", '  "a": {', '    "n": 3']
    assert json.loads(text) == {"a": {"n": 3}, "p": "/x", "z": 0.25}


def test_the_writer_is_another_process_and_a_dead_one_is_replaced(
    tmp_path: Path, writer: WriterProcess
) -> None:
    store = ArtifactStore(tmp_path / "artifacts", writer)
    first = writer.pid
    assert first != os.getpid()
    assert store.put_many([Artifact.of("job_1", "a.txt", "1")]) == [None]
    os.kill(first, signal.SIGKILL)
    os.waitpid(first, 0)
    # the next batch finds the writer dead, starts another and is written by it
    assert store.put_many([Artifact.of("job_1", "b.txt", "2")]) == [None]
    assert writer.pid != first
    assert store.names("job_1") == ["a.txt", "b.txt"]


def test_the_writer_outlives_signals_to_the_process_group_and_stops_on_close(tmp_path: Path) -> None:
    writer = WriterProcess()
    store = ArtifactStore(tmp_path / "artifacts", writer)
    assert store.put_many([Artifact.of("job_1", "a.txt", "1")]) == [None]  # it is serving
    os.kill(writer.pid, signal.SIGTERM)  # what a service manager sends the whole group
    os.kill(writer.pid, signal.SIGINT)  # what Ctrl-C sends
    assert store.put_many([Artifact.of("job_1", "b.txt", "2")]) == [None]
    assert writer.running
    store.close()
    assert not writer.running
    with pytest.raises(WriterError, match="stopped"):
        store.put_many([Artifact.of("job_1", "c.txt", "3")])
    assert store.names("job_1") == ["a.txt", "b.txt"]


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "writer-process"])
def test_staged_artifacts_are_hidden_until_published_and_discarded_without_a_trace(
    tmp_path: Path, in_process: bool, request: pytest.FixtureRequest
) -> None:
    """A run's outcome files (issue 18): written staged, renamed by the move that records
    the outcome; a refused outcome's staged files are removed, the live ones untouched."""
    writer = None if in_process else request.getfixturevalue("writer")
    store = ArtifactStore(tmp_path / "artifacts", writer)
    store.put_json("job_1", "results.json", {"live": True})
    mine = store.stage(
        [Artifact.json("job_1", "results.json", {"live": False}), Artifact.of("job_1", "out.json", "1")]
    )
    theirs = store.stage([Artifact.json("job_1", "results.json", {"live": "later"})])
    assert mine[0].name != theirs[0].name and mine[0].name.startswith(".results.json.staged-")
    assert store.put_many([*mine, *theirs]) == [None, None, None]
    assert store.names("job_1") == ["results.json"]  # staged files are not listed
    assert json.loads(store.get("job_1", "results.json")) == {"live": True}
    store.discard(mine)  # refused
    assert json.loads(store.get("job_1", "results.json")) == {"live": True}
    store.publish(theirs)
    store.publish(theirs)  # once more (a retried transaction): nothing left to rename
    assert json.loads(store.get("job_1", "results.json")) == {"live": "later"}
    assert files_in(store.folder("job_1")) == ["results.json"]
    assert published_name(theirs[0].name) == "results.json" and published_name("x.json") == "x.json"
    for bad in (".results.json.staged-zz", "../results.json", ".x"):
        with pytest.raises(InvalidArgument):
            store.put_many([Artifact.of("job_1", bad, "x")])
