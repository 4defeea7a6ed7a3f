"""A session from the SDK: ``with client.session("sim:aer") as session: session.submit(...)``.

The jobs submitted through the session run back to back on its device, ahead of the queue,
while it is ACTIVE (docs/scheduling.md, "Sessions"). Leaving the ``with`` block closes it:
it takes no more jobs, and those already in it finish. ``cancel`` also cancels its jobs
that have not ended.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self, Unpack

from eigen.models.session import Session

if TYPE_CHECKING:
    from eigen.client.client import Client
    from eigen.client.futures import JobFuture
    from eigen.client.inputs import SubmitOptions, Submittable


class ClientSession:
    def __init__(self, client: Client, opened: Session) -> None:
        self.client = client
        self.info = opened

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def target(self) -> str:
        return self.info.target

    def submit(
        self, job: Submittable, idempotency_key: str = "", **options: Unpack[SubmitOptions]
    ) -> JobFuture:
        """:meth:`Client.submit` in this session, on its device."""
        options.setdefault("target", self.target)
        options["session_id"] = self.id
        return self.client.submit(job, idempotency_key, **options)

    def status(self) -> Session:
        """The session as the server has it now (its state, last activity, end)."""
        self.info = self.client.get_session(self.id)
        return self.info

    def close(self) -> Session:
        self.info = self.client.close_session(self.id)
        return self.info

    def cancel(self) -> Session:
        self.info = self.client.cancel_session(self.id)
        return self.info

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
