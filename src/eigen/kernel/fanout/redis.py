"""The event fan-out over Redis pub/sub: every node publishes the events it stores on one
channel and subscribes to it.

Two connections: one subscribed (its own thread, :meth:`start`), one to publish (the
:class:`~eigen.kernel.fanout.outbox.Outbox`'s sender thread, so a worker that stores an
event never waits on Redis). Reconnecting is redis-py's: its ``Retry`` with exponential
backoff reconnects the subscription and subscribes again; while the subscription is down
:meth:`problem` says so, and once it is back ``on_lost`` tells the bus that messages sent
meanwhile never came (its watchers read the store). A publish that fails (Redis down, or
slower than ``timeout_s``) drops its events with a log line: the store has them.
"""

from __future__ import annotations

import logging

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from eigen.kernel.fanout import wire
from eigen.kernel.fanout.broker import WAKE_S, BrokerFanout
from eigen.models.job import JobEvent
from eigen.observability.redact import redact_text

log = logging.getLogger(__name__)

CHANNEL = "eigen:events"


class RedisFanout(BrokerFanout):
    def __init__(self, url: str, node_id: str, *, channel: str = CHANNEL, timeout_s: float = 1.0) -> None:
        self._shown = redact_text(url)
        # Publishing (on the sender thread): one retry, so a pooled connection Redis closed
        # is reopened; its backoff paces the sender while Redis is down (events meanwhile
        # wait in the buffer, or are dropped when it is full).
        self._publisher = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(ExponentialWithJitterBackoff(base=0.1, cap=1.0), 1),
        )
        # Subscribed: a few tries with backoff per call, so the loop below neither spins
        # on a Redis that is down nor takes long to notice it; health checks find a
        # connection that died without closing.
        self._subscriber = redis.Redis.from_url(
            url,
            socket_timeout=max(timeout_s, WAKE_S) * 5,
            socket_connect_timeout=timeout_s,
            health_check_interval=5,
            retry=Retry(ExponentialWithJitterBackoff(base=0.25, cap=2.0), 2),
        )
        self._pubsub = self._subscriber.pubsub()
        super().__init__(node_id, channel, f"Redis at {self._shown}", "eigen-fanout-redis")

    def close(self) -> None:
        self._stop_listening()
        self._pubsub.close()
        self._publisher.close()
        self._subscriber.close()

    def _send(self, events: list[JobEvent]) -> None:
        if self._outbox.dropped != self._dropped:  # events lost on the way: say so
            self._dropped = self._outbox.dropped
            self._sender.skip()
        encoded = [e for e in map(wire.encode_event, events) if e is not None]
        if len(encoded) < len(events):
            self._sender.skip()
        if not encoded:
            return
        try:
            self._publisher.publish(self.channel, self._sender.message(encoded))
        except redis.RedisError as exc:
            if self._sending is None:
                log.warning("job events not sent to other nodes: Redis at %s: %s", self._shown, exc)
            self._sending = f"cannot publish job events to Redis at {self._shown}: {exc}"
            return
        self._sending = None

    def _listen(self) -> None:
        while not self._closing.is_set():
            try:
                if not self._pubsub.channels:  # not subscribed yet (Redis was down at start)
                    self._pubsub.subscribe(self.channel)
                found = self._pubsub.get_message(timeout=WAKE_S)
            except redis.RedisError as exc:
                self._cut_off(exc)
                continue
            if found is None:
                continue
            if found["type"] == "subscribe":
                self._joined()
            elif found["type"] == "message":
                self._receive(found["data"])

    def _joined(self) -> None:
        self._receiving = None
        self._sending = None  # the broker answers again; a publish that still fails says so
        self._subscribed.set()
        if self._was_subscribed:
            log.info("job events from other nodes: Redis at %s reached again", self._shown)
            if self.on_lost is not None:
                self.on_lost()
        self._was_subscribed = True

    def _cut_off(self, exc: Exception) -> None:
        if self._receiving is None:
            log.warning("job events from other nodes: Redis at %s unreachable: %s", self._shown, exc)
        self._subscribed.clear()
        self._receiving = f"not receiving other nodes' job events from Redis at {self._shown}: {exc}"

    def _receive(self, payload: bytes) -> None:
        found = wire.decode(payload)
        if found is None or found.node == self.node_id or self._deliver is None:
            return
        if self._arrivals.missed(found) and self.on_lost is not None:
            self.on_lost()
        for event in found.events:
            try:
                self._deliver(event)
            except Exception:  # a bad watcher callback must not stop the fan-out
                log.exception("delivering a job event from another node failed")
