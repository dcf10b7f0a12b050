"""Where agent notifications go (API.md §8): the durable topic exchange, or an in-process hub.

The notify actor publishes; the gateway's SSE bridge subscribes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Protocol

import pika
import pika.exceptions

from chatpay.errors import BrokerUnavailable

#: The durable topic exchange agent UIs and contact centres bind to.
EXCHANGE = "chatpay.agent-events"
#: AMQP header with the notification's per-agent sequence number (1, 2, 3… in commit order).
SEQ_HEADER = "chatpay-seq"


def routing_key(agent_id: str) -> str:
    return f"agent.{agent_id}"


class EventSink(Protocol):
    def publish(self, agent_id: str, event_id: str, seq: int, body: bytes) -> None:
        """Publish the agent's notification number ``seq``; return only once it is confirmed."""


class AmqpEventSink:
    """Confirmed, persistent publishes to the topic exchange; one pika connection per thread."""

    def __init__(self, url: str) -> None:
        self.parameters = pika.URLParameters(url)
        self._local = threading.local()

    def _channel(self) -> pika.adapters.blocking_connection.BlockingChannel:
        channel = getattr(self._local, "channel", None)
        if channel is None or channel.is_closed:
            conn = pika.BlockingConnection(self.parameters)
            channel = conn.channel()
            channel.confirm_delivery()
            channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
            self._local.conn, self._local.channel = conn, channel
        return channel

    def publish(self, agent_id: str, event_id: str, seq: int, body: bytes) -> None:
        for attempt in range(2):
            try:
                self._channel().basic_publish(
                    EXCHANGE,
                    routing_key(agent_id),
                    body,
                    pika.BasicProperties(
                        delivery_mode=2,
                        message_id=event_id,
                        content_type="application/json",
                        headers={SEQ_HEADER: seq},
                    ),
                )
                return
            except pika.exceptions.AMQPError as exc:
                self.close()  # a fresh connection and channel on the next attempt
                if attempt:
                    raise BrokerUnavailable(f"agent event not confirmed: {type(exc).__name__}") from None

    def close(self) -> None:
        """Close this thread's connection (if any)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = self._local.channel = None
        if conn is not None and conn.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                conn.close()


#: ``callback(seq, event_id, body)``
Subscriber = Callable[[int, str, bytes], None]


class LocalEventHub:
    """In-process fan-out for the embedded single-node mode (no RabbitMQ)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[Subscriber]] = {}

    def publish(self, agent_id: str, event_id: str, seq: int, body: bytes) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(agent_id, ()))
        for callback in subscribers:
            callback(seq, event_id, body)

    def subscribe(self, agent_id: str, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(seq, event_id, body)`` for each of the agent's events; returns the unsubscriber."""
        with self._lock:
            self._subscribers.setdefault(agent_id, []).append(callback)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._subscribers.get(agent_id, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._subscribers.pop(agent_id, None)

        return unsubscribe
