"""The SSE bridge (API.md §4 ``/v1/agents/me/events``): agent notifications to browsers.

One AMQP queue per gateway process (exclusive, auto-delete), bound to ``agent.<id>`` while at
least one of that agent's streams is open, fans out to in-memory queues, one per connection.
Reconnection with ``Last-Event-ID`` replays the event log kept by the notify actor.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from chatpay.agent_events import EXCHANGE, LocalEventHub, routing_key
from chatpay.store import repo
from gateway import auth
from gateway.context import gw

log = logging.getLogger("chatpay.sse")

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE = 15.0
#: Events a slow connection may fall behind before it is closed (it reconnects and replays).
CONNECTION_BUFFER = 1000
#: Most events one reconnection replays.
REPLAY_LIMIT = 5000

Event = tuple[str, bytes]


class _Fanout:
    """Per-agent sets of connection queues."""

    def __init__(self) -> None:
        self.listeners: dict[str, set[asyncio.Queue[Event | None]]] = {}

    def deliver(self, agent_id: str, event: Event) -> None:
        for queue in list(self.listeners.get(agent_id, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                queue.put_nowait(None) if queue.empty() else None
                self.listeners[agent_id].discard(queue)

    def add(self, agent_id: str) -> tuple[asyncio.Queue[Event | None], bool]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(CONNECTION_BUFFER)
        first = agent_id not in self.listeners
        self.listeners.setdefault(agent_id, set()).add(queue)
        return queue, first

    def remove(self, agent_id: str, queue: asyncio.Queue[Event | None]) -> bool:
        """Forget a connection; True when it was the agent's last."""
        queues = self.listeners.get(agent_id)
        if queues is None:
            return False
        queues.discard(queue)
        if not queues:
            del self.listeners[agent_id]
            return True
        return False


class AmqpBridge:
    def __init__(self, url: str) -> None:
        self.url = url
        self.fanout = _Fanout()
        self._conn: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        try:
            await self._ensure()
        except (OSError, aio_pika.exceptions.AMQPError, asyncio.TimeoutError):
            log.warning("RabbitMQ not reachable: agent event streams start when it is")

    async def _ensure(self) -> AbstractQueue:
        async with self._lock:
            if self._queue is not None and self._channel is not None and not self._channel.is_closed:
                return self._queue
            if self._conn is None:
                self._conn = await aio_pika.connect_robust(self.url, timeout=5)
            self._channel = await self._conn.channel()
            self._exchange = await self._channel.declare_exchange(
                EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await self._channel.declare_queue(
                f"chatpay.sse.{uuid.uuid4().hex[:12]}", exclusive=True, auto_delete=True,
                arguments={"x-queue-type": "classic"})
            await queue.consume(self._on_message, no_ack=True)
            for agent_id in self.fanout.listeners:
                await queue.bind(self._exchange, routing_key(agent_id))
            self._queue = queue
            return queue

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        agent_id = (message.routing_key or "").removeprefix("agent.")
        self.fanout.deliver(agent_id, (message.message_id or "", message.body))

    async def subscribe(self, agent_id: str) -> tuple[asyncio.Queue[Event | None], Callable[[], object]]:
        queue, first = self.fanout.add(agent_id)
        if first:
            try:
                amqp_queue = await self._ensure()
                await amqp_queue.bind(self._exchange, routing_key(agent_id))  # type: ignore[arg-type]
            except BaseException:
                self.fanout.remove(agent_id, queue)
                raise

        async def unsubscribe() -> None:
            if self.fanout.remove(agent_id, queue) and self._queue is not None:
                try:
                    await self._queue.unbind(self._exchange, routing_key(agent_id))  # type: ignore[arg-type]
                except (aio_pika.exceptions.AMQPError, RuntimeError):
                    pass

        return queue, unsubscribe

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


class LocalBridge:
    """For the embedded mode: the notify actor runs in this process and calls the hub directly."""

    def __init__(self, hub: LocalEventHub) -> None:
        self.hub = hub
        self.fanout = _Fanout()

    async def start(self) -> None:
        return None

    async def subscribe(self, agent_id: str) -> tuple[asyncio.Queue[Event | None], Callable[[], object]]:
        loop = asyncio.get_running_loop()
        queue, _ = self.fanout.add(agent_id)

        def callback(event_id: str, body: bytes) -> None:
            loop.call_soon_threadsafe(self.fanout.deliver, agent_id, (event_id, body))

        stop = self.hub.subscribe(agent_id, callback)

        def unsubscribe() -> None:
            stop()
            self.fanout.remove(agent_id, queue)

        return queue, unsubscribe

    async def close(self) -> None:
        return None


async def stream(request: Request) -> Response:
    g = gw(request)
    agent = auth.agent_id(request, g.settings.agent_jwt_secret, allow_query=True)
    last_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    queue, unsubscribe = await g.bridge.subscribe(agent)
    replay = []
    if last_id:
        rows = await g.read(lambda tx: repo.agent_events_after(tx, agent, last_id, REPLAY_LIMIT))
        replay = [(r["id"], r["body"].encode()) for r in rows or []]

    async def body() -> AsyncIterator[bytes]:
        sent: set[str] = set()
        try:
            yield b"retry: 2000\n\n"
            for event_id, data in replay:
                sent.add(event_id)
                yield _frame(event_id, data)
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if item is None:
                    return  # fell too far behind: the client reconnects with Last-Event-ID
                event_id, data = item
                if event_id in sent:
                    continue
                if replay:
                    sent.add(event_id)
                yield _frame(event_id, data)
        finally:
            result = unsubscribe()
            if asyncio.iscoroutine(result):
                await result

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def _frame(event_id: str, data: bytes) -> bytes:
    return b"id: " + event_id.encode() + b"\nevent: message\ndata: " + data + b"\n\n"


routes = [Route("/v1/agents/me/events", stream, methods=["GET"])]
