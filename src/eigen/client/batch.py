"""Running many jobs: bounded concurrency, a progress bar, and failures kept apart.

:class:`BatchManager` submits the items one by one while at most ``max_in_flight`` of
them are unfinished, so thousands of circuits neither flood the server nor hold thousands
of watch streams. A job that is refused or ends other than DONE becomes a
:class:`BatchFailure` (its index, its error, its job id); the other results are kept.
The progress bar is tqdm's (the ``sdk`` extra; imported only when a bar is shown).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Unpack

from eigen.client.futures import JobFuture
from eigen.client.inputs import SubmitOptions, Submittable
from eigen.errors import EigenError
from eigen.models.result import JobResult

if TYPE_CHECKING:
    from eigen.client.client import Client

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], object]


@dataclass(frozen=True)
class BatchFailure:
    """One item of a batch that did not produce results."""

    index: int
    error: BaseException
    job_id: str | None = None  # None when the job was never accepted


@dataclass
class BatchResult:
    """Results in input order (None where the item failed) and the failures by index."""

    results: list[JobResult | None]
    failures: list[BatchFailure] = field(default_factory=list)
    job_ids: list[str | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def succeeded(self) -> list[JobResult]:
        return [r for r in self.results if r is not None]

    def raise_for_failures(self) -> None:
        """Raise the error of the first failed item, if any."""
        if self.failures:
            raise self.failures[0].error

    def __len__(self) -> int:
        return len(self.results)


class BatchManager:
    """Runs batches of jobs through one :class:`~eigen.client.Client`.

    ``progress`` shows a tqdm bar (``progress_options`` are passed to ``tqdm``, e.g.
    ``file``, ``desc``, ``mininterval``); ``on_progress(finished, total)`` is called after
    every finished item (total is None for an unsized iterable). On ``timeout`` the items
    still unfinished fail with TimeoutError and, when ``cancel_on_timeout``, are cancelled.
    """

    def __init__(
        self,
        client: Client,
        *,
        max_in_flight: int = 32,
        progress: bool = True,
        on_progress: ProgressCallback | None = None,
        progress_options: Mapping[str, Any] | None = None,
        cancel_on_timeout: bool = True,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.client = client
        self.max_in_flight = max_in_flight
        self.progress = progress
        self.on_progress = on_progress
        self.progress_options = dict(progress_options or {})
        self.cancel_on_timeout = cancel_on_timeout

    def run(
        self, jobs: Iterable[Submittable], *, timeout: float | None = None, **options: Unpack[SubmitOptions]
    ) -> BatchResult:
        """Submit every item (``options`` apply to each) and wait for all of them."""
        total = len(jobs) if isinstance(jobs, Sized) else None
        run = _Run(self, total)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            for index, item in enumerate(jobs):
                if not run.take_slot(deadline):
                    run.fail(index, TimeoutError(f"batch timed out after {timeout}s before submitting"))
                    continue
                try:
                    future = self.client.submit(item, **options)
                except EigenError as exc:
                    run.fail(index, exc, release=True)
                    continue
                run.track(index, future)
            run.wait_all(deadline, timeout)
        except BaseException:
            run.cancel_in_flight()
            raise
        finally:
            run.close_bar()
        return run.outcome()


class _Run:
    """The state of one ``BatchManager.run``."""

    def __init__(self, manager: BatchManager, total: int | None) -> None:
        self.manager = manager
        self.total = total
        self.slots = threading.Semaphore(manager.max_in_flight)
        self.changed = threading.Condition()
        self.results: dict[int, JobResult] = {}
        self.failures: dict[int, BatchFailure] = {}
        self.job_ids: dict[int, str] = {}
        self.in_flight: dict[int, JobFuture] = {}
        self.seen = 0
        self.bar = self._open_bar() if manager.progress else None

    def _open_bar(self) -> Any:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # the sdk extra is not installed: run without a bar
            log.info("tqdm is not installed; no progress bar")
            return None
        options = {"total": self.total, "desc": "jobs", "unit": "job", **self.manager.progress_options}
        return tqdm(**options)

    def take_slot(self, deadline: float | None) -> bool:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.slots.acquire(timeout=remaining)

    def track(self, index: int, future: JobFuture) -> None:
        with self.changed:
            self.seen = max(self.seen, index + 1)
            self.job_ids[index] = future.id
            self.in_flight[index] = future
        future.add_done_callback(lambda f: self._finished(index, f))

    def fail(self, index: int, error: BaseException, release: bool = False) -> None:
        with self.changed:
            self.seen = max(self.seen, index + 1)
            self._settle(index, None, error)
        if release:
            self.slots.release()

    def _finished(self, index: int, future: JobFuture) -> None:
        error = future.exception()
        with self.changed:
            if index not in self.in_flight:
                return  # already settled (timed out)
            del self.in_flight[index]
            self._settle(index, None if error is not None else future.result(), error)
        self.slots.release()

    def _settle(self, index: int, result: JobResult | None, error: BaseException | None) -> None:
        """Record one outcome (the lock is held)."""
        if error is not None:
            self.failures[index] = BatchFailure(index, error, self.job_ids.get(index))
        elif result is not None:
            self.results[index] = result
        finished = len(self.results) + len(self.failures)
        if self.bar is not None:
            self.bar.update(1)
        if self.manager.on_progress is not None:
            try:
                self.manager.on_progress(finished, self.total)
            except Exception:
                log.exception("batch progress callback failed")
        self.changed.notify_all()

    def wait_all(self, deadline: float | None, timeout: float | None) -> None:
        with self.changed:
            while self.in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self.changed.wait(remaining)
            late = dict(self.in_flight)
            self.in_flight.clear()
            for index in sorted(late):
                self._settle(index, None, TimeoutError(f"job {late[index].id} did not end within {timeout}s"))
        if self.manager.cancel_on_timeout:
            for future in late.values():
                future.cancel()

    def cancel_in_flight(self) -> None:
        with self.changed:
            pending = list(self.in_flight.values())
        for future in pending:
            future.cancel()

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def outcome(self) -> BatchResult:
        size = self.seen
        return BatchResult(
            results=[self.results.get(i) for i in range(size)],
            failures=[self.failures[i] for i in sorted(self.failures)],
            job_ids=[self.job_ids.get(i) for i in range(size)],
        )
