"""What the fan-out sends between nodes: messages that decode to the events sent, numbers
that show a message lost, and a buffer that never blocks the publishing thread."""

from __future__ import annotations

import threading
import time

import orjson

from eigen.kernel.fanout import wire
from eigen.kernel.fanout.outbox import Outbox
from eigen.models.job import JobEvent
from eigen.models.state import JobState


def event(seq: int, data: dict[str, object] | None = None) -> JobEvent:
    return JobEvent("j1", seq, JobState.RUNNING, "progress", 1234.5, "iteration", dict(data or {}))


def test_a_message_decodes_to_the_events_and_pointers_sent() -> None:
    sender = wire.Sender("node-a")
    events = [event(1, {"energy": -1.1, "nested": [1, {"x": "é"}]}), event(2)]
    encoded = [wire.encode_event(e) for e in events]
    assert all(e is not None for e in encoded)
    payload = sender.message([e for e in encoded if e is not None], [("j2", 7)])
    found = wire.decode(payload)
    assert found is not None
    assert (found.node, found.sender, found.number) == ("node-a", sender.name, 1)
    assert found.events == events and found.pointers == [("j2", 7)]
    assert len(sender.render(10**15, [])) <= sender.overhead()


def test_what_is_not_a_message_is_ignored() -> None:
    bad_event = orjson.dumps({"n": "a", "k": "s", "i": 1, "e": [[1]]})
    for payload in (b"not json", b"[]", b'{"n": "a"}', bad_event):
        assert wire.decode(payload) is None


def test_an_event_whose_data_is_not_json_is_not_sent() -> None:
    assert wire.encode_event(event(1, {"bad": object()})) is None


def test_a_skipped_number_shows_lost_messages() -> None:
    sender, other = wire.Sender("a"), wire.Sender("b")
    arrivals = wire.Arrivals()

    def arrive(source: wire.Sender) -> bool:
        found = wire.decode(source.message([]))
        assert found is not None
        return arrivals.missed(found)

    assert not arrive(sender)  # the first of a sender: nothing known before it
    assert not arrive(sender) and not arrive(other)
    sender.skip()  # e.g. a publish that failed
    assert arrive(sender)
    assert not arrive(sender) and not arrive(other)


def test_the_outbox_batches_and_drops_when_full_without_blocking() -> None:
    release = threading.Event()
    sent: list[list[int]] = []

    def send(batch: list[JobEvent]) -> None:
        release.wait(5.0)  # a broker that hangs
        sent.append([e.seq for e in batch])

    outbox = Outbox(send, name="test-outbox", capacity=10)
    outbox.put([event(1)])
    started = time.perf_counter()
    outbox.put([event(seq) for seq in range(2, 30)])  # more than it holds
    assert time.perf_counter() - started < 0.1  # never waits for the sender
    assert outbox.dropped >= 28 - 10
    release.set()
    assert outbox.flush(5.0)
    assert sum(len(batch) for batch in sent) + outbox.dropped == 29
    assert len(sent) <= 3  # what waited went in one batch, not one call per event
    outbox.close()
