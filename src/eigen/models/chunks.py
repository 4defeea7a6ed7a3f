"""Results in pieces: split a job's results into chunks of at most ``size`` values (counts' outcomes,
memory's shots, dense vectors' entries), and merge the chunks back into the whole
(StreamResults and its readers). Fragments of one experiment come in order, so a reader
may append each to what it has."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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


def split(result: JobResult, size: int = DEFAULT_CHUNK_OUTCOMES) -> list[Chunk]:
    """Chunks of at most ``size`` values (outcomes of the counts, shots of the memory,
    entries of the dense vectors); the first also carries the metadata."""
    size = max(1, size)
    fragments: list[tuple[int, Experiment]] = []
    for position, experiment in enumerate(result.experiments):
        fragments.extend((position, fragment) for fragment in _fragments(experiment, size))
    pieces: list[list[tuple[int, Experiment]]] = [[]]
    filled = 0
    for position, fragment in fragments:
        values = _values(fragment)
        if pieces[-1] and filled + values > size:
            pieces.append([])
            filled = 0
        pieces[-1].append((position, fragment))
        filled += values
    chunks = []
    for index, piece in enumerate(pieces):
        if index == 0:
            header = replace(result, experiments=[])
        else:
            header = JobResult(job_id=result.job_id, backend=result.backend, experiments=[])
        header.experiments = [fragment for _, fragment in piece]
        chunks.append(Chunk(index, len(pieces), header, [position for position, _ in piece]))
    return chunks


def _fragments(experiment: Experiment, size: int) -> list[Experiment]:
    """``experiment`` cut into fragments of at most ``size`` values each, in order: its
    counts, then its memory, probabilities and statevector (an empty one: one fragment)."""
    bare = replace(experiment, counts={}, memory=[], probabilities=[], statevector=[])
    items = list(experiment.counts.items())
    fragments = [
        replace(bare, counts=dict(items[start : start + size])) for start in range(0, len(items), size)
    ]
    for name in ("memory", "probabilities", "statevector"):
        values = getattr(experiment, name)
        fragments.extend(
            replace(bare, **{name: values[start : start + size]}) for start in range(0, len(values), size)
        )
    return fragments or [bare]


def _values(fragment: Experiment) -> int:
    return (
        len(fragment.counts) + len(fragment.memory) + len(fragment.probabilities) + len(fragment.statevector)
    )


def merge(chunks: list[Chunk]) -> JobResult:
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
