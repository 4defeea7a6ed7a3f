"""Results in pieces: split a job's results into chunks of at most ``size`` values (counts' outcomes,
memory's shots, dense vectors' entries), and merge the chunks back into the whole
(StreamResults and its readers). Fragments of one experiment come in order, so a reader
may append each to what it has."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice

from eigen.models.result import Experiment, JobResult

DEFAULT_CHUNK_OUTCOMES = 10_000


@dataclass
class Chunk:
    index: int
    total: int
    result: JobResult  # metadata (first chunk only) and experiment fragments
    experiment_indices: list[int] = field(default_factory=list)

    @property
    def is_final(self) -> bool:
        return self.index == self.total - 1


def split(result: JobResult, size: int = DEFAULT_CHUNK_OUTCOMES) -> Iterator[Chunk]:
    """Chunks of at most ``size`` values (outcomes of the counts, shots of the memory,
    entries of the dense vectors); the first also carries the metadata. Lazy: the chunks are
    planned from the lengths alone and each is cut when it is taken, so a reader that sends
    them one by one holds the result and one chunk, never a second copy of the result."""
    size = max(1, size)
    pieces: list[list[tuple[int, str, int, int]]] = [[]]  # per chunk: (experiment, field, start, stop)
    filled = 0
    for position, experiment in enumerate(result.experiments):
        for name, start, stop in _slices(experiment, size):
            if pieces[-1] and filled + (stop - start) > size:
                pieces.append([])
                filled = 0
            pieces[-1].append((position, name, start, stop))
            filled += stop - start
    return _chunks(result, pieces)


def _chunks(result: JobResult, pieces: list[list[tuple[int, str, int, int]]]) -> Iterator[Chunk]:
    counts: dict[int, Iterator[tuple[str, int]]] = {}  # each experiment's counts, read on in order
    for index, piece in enumerate(pieces):
        if index == 0:
            header = replace(result, experiments=[])
        else:
            header = JobResult(job_id=result.job_id, backend=result.backend, experiments=[])
        for position, name, start, stop in piece:
            experiment = result.experiments[position]
            fragment = replace(experiment, counts={}, memory=[], probabilities=[], statevector=[])
            if name == "counts":
                items = counts.setdefault(position, iter(experiment.counts.items()))
                fragment.counts = dict(islice(items, stop - start))
            else:
                setattr(fragment, name, getattr(experiment, name)[start:stop])
            header.experiments.append(fragment)
        yield Chunk(index, len(pieces), header, [position for position, _, _, _ in piece])


_LISTS = ("memory", "probabilities", "statevector")


def _slices(experiment: Experiment, size: int) -> list[tuple[str, int, int]]:
    """``experiment`` cut into fragments of at most ``size`` values each, in order: its
    counts, then its memory, probabilities and statevector (an empty one: one fragment)."""
    slices = [
        ("counts", start, min(start + size, len(experiment.counts)))
        for start in range(0, len(experiment.counts), size)
    ]
    for name in _LISTS:
        length = len(getattr(experiment, name))
        slices.extend((name, start, min(start + size, length)) for start in range(0, length, size))
    return slices or [("counts", 0, 0)]


def merge(chunks: Iterable[Chunk]) -> JobResult:
    ordered = sorted(chunks, key=lambda c: c.index)
    merged = replace(ordered[0].result, experiments=[])
    experiments: dict[int, Experiment] = {}
    for chunk in ordered:
        for position, fragment in zip(chunk.experiment_indices, chunk.result.experiments, strict=True):
            if position in experiments:
                whole = experiments[position]
                whole.counts.update(fragment.counts)
                whole.memory.extend(fragment.memory)
                whole.probabilities.extend(fragment.probabilities)
                whole.statevector.extend(fragment.statevector)
            else:
                experiments[position] = replace(
                    fragment,
                    counts=dict(fragment.counts),
                    memory=list(fragment.memory),
                    probabilities=list(fragment.probabilities),
                    statevector=list(fragment.statevector),
                )
    merged.experiments = [experiments[i] for i in sorted(experiments)]
    return merged
