"""A session from the SDK: ``with client.session("sim:aer") as session: session.submit(...)``,
and from the asyncio client: ``async with aclient.session("sim:aer") as session: await
session.submit(...)``.

The jobs submitted through the session run back to back on its device, ahead of the queue,
while it is ACTIVE (docs/scheduling.md, "Sessions"). Leaving the ``with`` block closes it:
it takes no more jobs, and those already in it finish. ``cancel`` also cancels its jobs
that have not ended.

Both clients build their session calls here (:func:`open_request`, :func:`session_request`)
and read the answers with :func:`~eigen.proto.convert.session_from_pb`; both handles share
:class:`SessionHandle` (its id, target, and how a submission joins the session).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, Unpack

from eigen.models.session import Session
from eigen.proto.api.v1 import jobs_pb2

if TYPE_CHECKING:
    from eigen.client.aio import AsyncClient, AsyncJobFuture
    from eigen.client.client import Client
    from eigen.client.futures import JobFuture
    from eigen.client.inputs import SubmitOptions, Submittable

C = TypeVar("C")


def open_request(target: str, max_time: float = 0.0, idle: float = 0.0) -> jobs_pb2.OpenSessionRequest:
    """The OpenSession request of a session on ``target`` (``max_time`` and ``idle`` in
    seconds; 0: the server's defaults, 8 h and 300 s)."""
    return jobs_pb2.OpenSessionRequest(target=target, max_time_s=max_time, idle_s=idle)


def session_request(session_id: str) -> jobs_pb2.SessionRequest:
    """The request of GetSession, CloseSession and CancelSession."""
    return jobs_pb2.SessionRequest(session_id=session_id)


class SessionHandle(Generic[C]):
    """What both clients' sessions are: the session as last seen (``info``) and the client
    that opened it."""

    def __init__(self, client: C, opened: Session) -> None:
        self.client = client
        self.info = opened

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def target(self) -> str:
        return self.info.target

    def _joined(self, options: SubmitOptions) -> SubmitOptions:
        """``options`` of a submission in this session: its ``session_id``, and its device
        unless the options name a target."""
        options.setdefault("target", self.target)
        options["session_id"] = self.id
        return options


class ClientSession(SessionHandle["Client"]):
    client: Client

    def submit(
        self, job: Submittable, idempotency_key: str = "", **options: Unpack[SubmitOptions]
    ) -> JobFuture:
        """:meth:`Client.submit` in this session, on its device."""
        return self.client.submit(job, idempotency_key, **self._joined(options))

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


class AsyncClientSession(SessionHandle["AsyncClient"]):
    """A session of :class:`~eigen.client.aio.AsyncClient`: :class:`ClientSession`'s
    methods, awaitable."""

    client: AsyncClient

    async def submit(
        self, job: Submittable, idempotency_key: str = "", **options: Unpack[SubmitOptions]
    ) -> AsyncJobFuture:
        """:meth:`AsyncClient.submit <eigen.client.aio.AsyncClient.submit>` in this session,
        on its device."""
        return await self.client.submit(job, idempotency_key, **self._joined(options))

    async def status(self) -> Session:
        """The session as the server has it now (its state, last activity, end)."""
        self.info = await self.client.get_session(self.id)
        return self.info

    async def close(self) -> Session:
        self.info = await self.client.close_session(self.id)
        return self.info

    async def cancel(self) -> Session:
        self.info = await self.client.cancel_session(self.id)
        return self.info

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()


class OpeningSession:
    """What :meth:`AsyncClient.session <eigen.client.aio.AsyncClient.session>` returns:
    ``await`` it for the open :class:`AsyncClientSession`, or use it in ``async with``,
    which opens the session on entry and closes it on exit."""

    def __init__(self, opening: Callable[[], Awaitable[AsyncClientSession]]) -> None:
        self._opening = opening
        self._opened: AsyncClientSession | None = None

    async def _open(self) -> AsyncClientSession:
        if self._opened is None:
            self._opened = await self._opening()
        return self._opened

    def __await__(self) -> Generator[Any, None, AsyncClientSession]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncClientSession:
        return await self._open()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._opened is not None:
            await self._opened.close()
