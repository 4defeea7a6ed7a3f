"""How job events travel between nodes: the messages both brokers carry (JSON, orjson),
and how a receiver notices that some never came.

A message is ``{"n": node, "k": sender, "i": number, "e": [event, ...], "p": [[job_id,
seq], ...]}``: ``k`` names one fan-out (a node that restarts is a new sender) and ``i``
counts its messages, so a receiver that sees a number skipped knows that messages were
lost (a publish that failed, a buffer that overflowed) and that its bus must read the
store (:class:`Arrivals`). Each event is a compact array (job id, seq, state, kind,
timestamp, message, data); ``p`` points at events too large for the broker (PostgreSQL's
NOTIFY payload), which the receiver reads from the store. Events are encoded one by one
(:func:`encode_event`) so that a sender can pack them into messages of a bounded size
(:func:`message`) without encoding twice.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

import orjson

from eigen.models.job import JobEvent
from eigen.models.state import JobState

log = logging.getLogger(__name__)

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_SENDERS = 1024  # senders whose last message number a receiver remembers


@dataclass
class Message:
    node: str
    sender: str
    number: int
    events: list[JobEvent] = field(default_factory=list)
    pointers: list[tuple[str, int]] = field(default_factory=list)


def encode_event(event: JobEvent) -> bytes | None:
    """The event as a message element; None (logged) when its data is not JSON: the
    store has it, and receivers find it there through the gap it leaves."""
    try:
        return orjson.dumps(
            [
                event.job_id,
                event.seq,
                event.state.value,
                event.kind,
                event.timestamp,
                event.message,
                event.data,
            ],
            option=_OPTIONS,
        )
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        log.warning(
            "job event not sent to other nodes: %s", exc, extra={"job_id": event.job_id, "seq": event.seq}
        )
        return None


class Sender:
    """One fan-out's name and message numbers."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.name = uuid.uuid4().hex[:16]
        self._head = b'{"n":' + orjson.dumps(node) + b',"k":' + orjson.dumps(self.name) + b',"i":'
        self._number = 0

    def skip(self) -> None:
        """Messages were lost before they were sent: the next number says so."""
        self._number += 1

    def message(self, events: list[bytes], pointers: list[tuple[str, int]] | None = None) -> bytes:
        """The next message: events encoded by :func:`encode_event`, and pointers."""
        self._number += 1
        return self.render(self._number, events, pointers)

    def render(
        self, number: int, events: list[bytes], pointers: list[tuple[str, int]] | None = None
    ) -> bytes:
        tail = b',"p":' + orjson.dumps(pointers) if pointers else b""
        return self._head + str(number).encode() + b',"e":[' + b",".join(events) + b"]" + tail + b"}"

    def overhead(self) -> int:
        """The most bytes a message without events takes (events add their length plus
        one), for numbers up to 10**15."""
        return len(self.render(10**15, []))


def decode(payload: bytes | str) -> Message | None:
    """The message, or None (logged) when it is not one of ours."""
    try:
        body = orjson.loads(payload)
        events = [
            JobEvent(str(e[0]), int(e[1]), JobState(e[2]), str(e[3]), float(e[4]), str(e[5]), dict(e[6]))
            for e in body.get("e", ())
        ]
        pointers = [(str(job_id), int(seq)) for job_id, seq in body.get("p", ())]
        return Message(str(body["n"]), str(body["k"]), int(body["i"]), events, pointers)
    except (orjson.JSONDecodeError, AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        log.warning("fan-out message ignored (not a job event message): %s", exc)
        return None


class Arrivals:
    """The last message number from each sender: a number skipped means messages lost."""

    def __init__(self) -> None:
        self._last: OrderedDict[str, int] = OrderedDict()

    def missed(self, message: Message) -> bool:
        """Whether messages of this sender were lost before ``message`` (never for its
        first: the receiver was not listening before)."""
        last = self._last.pop(message.sender, None)
        self._last[message.sender] = message.number
        if len(self._last) > _SENDERS:
            self._last.popitem(last=False)
        return last is not None and message.number != last + 1
