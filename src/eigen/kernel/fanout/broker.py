"""What the Redis and PostgreSQL fan-outs share: the outbox their events leave by, the
listener thread that receives the other nodes' messages, and what each side knows of its
broker (``problem``). A broker's fan-out supplies ``_listen`` (runs on the listener
thread until ``_closing`` is set) and ``_send`` (the outbox's sender)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from eigen.kernel.fanout import wire
from eigen.kernel.fanout.outbox import Outbox
from eigen.models.job import JobEvent

WAKE_S = 0.5  # how often a listener looks up from its socket to see if it is closing


class BrokerFanout:
    def __init__(self, node_id: str, channel: str, broker: str, thread_name: str) -> None:
        self.node_id = node_id
        self.channel = channel
        self.on_lost: Callable[[], None] | None = None  # after a reconnection (EventBus.lost)
        self._deliver: Callable[[JobEvent], None] | None = None
        self._receiving: str | None = f"not receiving other nodes' job events from {broker} yet"
        self._sending: str | None = None
        self._subscribed = threading.Event()
        self._was_subscribed = False
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_name = thread_name
        self._sender = wire.Sender(node_id)
        self._arrivals = wire.Arrivals()
        self._dropped = 0  # the outbox's count when the last message was sent
        self._outbox = Outbox(self._send, name=f"{thread_name}-send")

    def start(self, deliver: Callable[[JobEvent], None], lost: Callable[[], None]) -> None:
        self._deliver = deliver
        self.on_lost = lost
        self._opening()
        self._thread = threading.Thread(target=self._listen, name=self._thread_name, daemon=True)
        self._thread.start()

    def publish(self, events: list[JobEvent]) -> None:
        self._outbox.put(events)

    def problem(self) -> str | None:
        return self._receiving or self._sending

    def subscribed(self, timeout: float) -> bool:
        """Wait until this node receives the other nodes' messages (True), or timeout."""
        return self._subscribed.wait(timeout)

    def flush(self, timeout: float) -> bool:
        """Wait until every event published so far was sent (or dropped)."""
        return self._outbox.flush(timeout)

    @property
    def dropped(self) -> int:
        """Events never sent because the buffer was full."""
        return self._outbox.dropped

    def _stop_listening(self) -> None:
        """Stop sending, then end the listener thread (the start of ``close``)."""
        self._outbox.close()
        self._closing.set()
        if self._thread is not None:
            self._thread.join(WAKE_S * 4)

    def _opening(self) -> None:
        """Before the listener thread starts (a broker's connections to open)."""

    def _listen(self) -> None:
        raise NotImplementedError

    def _send(self, events: list[JobEvent]) -> None:
        raise NotImplementedError
