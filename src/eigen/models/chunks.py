"""Results in pieces: split a job's results into chunks of at most ``size`` outcomes, and
merge the chunks back into the whole (StreamResults and its readers)."""

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
    """Chunks of at most ``size`` outcomes; the first also carries the metadata."""
    size = max(1, size)
    fragments: list[tuple[int, Experiment]] = []
    for position, experiment in enumerate(result.experiments):
        items = list(experiment.counts.items())
        for start in range(0, max(len(items), 1), size):
            fragments.append((position, replace(experiment, counts=dict(items[start : start + size]))))
    pieces: list[list[tuple[int, Experiment]]] = [[]]
    filled = 0
    for position, fragment in fragments:
        if pieces[-1] and filled + len(fragment.counts) > size:
            pieces.append([])
            filled = 0
        pieces[-1].append((position, fragment))
        filled += len(fragment.counts)
    chunks = []
    for index, piece in enumerate(pieces):
        if index == 0:
            header = replace(result, experiments=[])
        else:
            header = JobResult(job_id=result.job_id, backend=result.backend, experiments=[])
        header.experiments = [fragment for _, fragment in piece]
        chunks.append(Chunk(index, len(pieces), header, [position for position, _ in piece]))
    return chunks


def merge(chunks: list[Chunk]) -> JobResult:
    ordered = sorted(chunks, key=lambda c: c.index)
    merged = replace(ordered[0].result, experiments=[])
    experiments: dict[int, Experiment] = {}
    for chunk in ordered:
        for position, fragment in zip(chunk.experiment_indices, chunk.result.experiments, strict=True):
            if position in experiments:
                experiments[position].counts.update(fragment.counts)
            else:
                experiments[position] = replace(fragment, counts=dict(fragment.counts))
    merged.experiments = [experiments[i] for i in sorted(experiments)]
    return merged
