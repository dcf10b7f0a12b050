"""Publishing from async code (the gateway) without blocking the event loop.

``AmqpPublisher`` pipelines confirmed, persistent, mandatory publishes over one aio-pika channel;
``InProcessPublisher`` hands messages to the in-process Dramatiq broker of ``chatpay up``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import aio_pika
import dramatiq
import msgspec
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL

from chatpay import messaging
from chatpay.broker import dq_name, queue_arguments, xq_name
from chatpay.errors import BrokerUnavailable

log = logging.getLogger(__name__)

#: Seconds to wait for RabbitMQ's publisher confirm before answering 503.
CONFIRM_TIMEOUT = 5.0
#: What aio-pika raises while RabbitMQ is away; aiormq signals a closed connection or channel with
#: ``RuntimeError`` (``ChannelInvalidStateError``) while the robust connection reconnects.
_BROKER_ERRORS = (TimeoutError, OSError, RuntimeError, aio_pika.exceptions.AMQPError)


class Publisher(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, *messages: msgspec.Struct) -> None:
        """Return once every message is durably queued; raise ``BrokerUnavailable`` otherwise."""

    async def ping(self) -> None: ...


class AmqpPublisher:
    def __init__(self, url: str, *, queue_type: str = "classic") -> None:
        self.url = url
        self.queue_type = queue_type
        self._conn: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        try:
            await self._ensure()
        except BrokerUnavailable:
            log.warning("RabbitMQ is not reachable yet; publishing will answer 503 until it is")

    async def _ensure(self) -> AbstractChannel:
        if self._channel is not None and not self._channel.is_closed:
            return self._channel
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            try:
                if self._conn is None or self._conn.is_closed:
                    self._conn = await aio_pika.connect_robust(self.url, timeout=CONFIRM_TIMEOUT)
                channel = await self._conn.channel(publisher_confirms=True, on_return_raises=True)
                await declare_topology(channel, self.queue_type)
            except _BROKER_ERRORS as exc:
                raise BrokerUnavailable(f"RabbitMQ unavailable: {type(exc).__name__}") from None
            self._channel = channel
            return channel

    async def publish(self, *messages: msgspec.Struct) -> None:
        channel = await self._ensure()
        publishes = []
        for message in messages:
            queue, message_id, body = messaging.wire_bytes(message)
            amqp_message = aio_pika.Message(
                body,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
                content_type="application/json",
            )
            publishes.append(
                channel.default_exchange.publish(
                    amqp_message, routing_key=queue, mandatory=True, timeout=CONFIRM_TIMEOUT
                )
            )
        try:
            await asyncio.gather(*publishes)
        except _BROKER_ERRORS as exc:
            raise BrokerUnavailable(f"publish not confirmed: {type(exc).__name__}") from None

    async def ping(self) -> None:
        await self._ensure()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
            self._channel = None


async def declare_topology(channel: AbstractChannel, queue_type: str) -> None:
    """Declare every work queue with Dramatiq's own arguments (and its delay and dead-letter queues)."""
    for actor in messaging.ALL_QUEUES:
        queue = messaging.queue_name(actor)
        args = queue_arguments(queue, queue_type)
        await channel.declare_queue(queue, durable=True, arguments=args)
        await channel.declare_queue(dq_name(queue), durable=True, arguments=args)
        await channel.declare_queue(
            xq_name(queue), durable=True, arguments={"x-message-ttl": DEAD_MESSAGE_TTL}
        )


class InProcessPublisher:
    """For the single-node embedded mode: the stub broker's queues live in this process."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    async def start(self) -> None:
        for actor in messaging.ALL_QUEUES:
            self.broker.declare_queue(messaging.queue_name(actor))

    async def publish(self, *messages: msgspec.Struct) -> None:
        for message in messages:
            self.broker.enqueue(messaging.build(message))

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
