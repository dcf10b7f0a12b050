"""The SSE bridge (API.md §4 ``/v1/agents/me/events``): agent notifications to browsers.

Each agent's notifications are numbered 1, 2, 3… in the order of the changes they report (logged in
the transaction of the change; ``actors/notify.py``); the number travels in the ``chatpay-seq``
header. That number makes delivery exact:

- Per agent with an open stream, this process keeps one *feed*. Over RabbitMQ the feeds share one
  exclusive queue per gateway process, bound to ``agent.<id>`` while the agent has a feed; no queue,
  thread or task per connection. The feed passes events on strictly in sequence: a number already
  passed is a repeat and is dropped; a number that arrives early (another worker thread published
  first, or messages were lost while the broker connection was down) waits while the feed reads the
  missing ones from the event log, where everything before a published number is already committed.
- A new stream starts at the feed's position p: it replays from the log what came after its
  ``Last-Event-ID`` up to p, then takes the feed from p on. No gap, no repeat, no race between the two.
- A stream that falls ``CONNECTION_BUFFER`` events behind is closed; the browser reconnects with
  ``Last-Event-ID`` and replays. After the broker channel is restored every binding is made again and
  every feed catches up from the log.

The log keeps ``CHATPAY_REQUEST_TTL`` seconds of notifications; an unknown or pruned
``Last-Event-ID`` replays all of it.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import aio_pika
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    AbstractRobustQueue,
)
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from chatpay.agent_events import EXCHANGE, SEQ_HEADER, LocalEventHub, routing_key
from chatpay.errors import BrokerUnavailable, ChatpayError
from chatpay.store import Row, Store, Tx, repo
from gateway import auth
from gateway.context import gw, read_in_thread

log = logging.getLogger("chatpay.sse")

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE = 15.0
#: Events a stream may fall behind before it is closed (it reconnects and replays).
CONNECTION_BUFFER = 1000
#: Log rows read per query (replay and gap filling).
PAGE = 500
#: Seconds before a failed log read is tried again.
RETRY_READ = 1.0
#: How the bridge's connection is named in RabbitMQ's management tools.
CONNECTION_NAME = "chatpay gateway agent events"
#: Seconds to wait for RabbitMQ (connect, bind, unbind).
BROKER_TIMEOUT = 5.0
#: Milliseconds browsers wait before reconnecting (each stream picks one in this range: no stampede).
RECONNECT_MS = (1000, 3000)

#: (sequence number, notification id, JSON body)
Event = tuple[int, str, bytes]
Deliver = Callable[[str, Event], None]


class Transport(Protocol):
    """Where a bridge gets its events: bind and unbind agents, report events and recoveries."""

    async def start(self, deliver: Deliver, restored: Callable[[], None]) -> None: ...
    async def bind(self, agent_id: str) -> None: ...
    async def unbind(self, agent_id: str) -> None: ...
    async def close(self) -> None: ...


class Subscription:
    """One stream's bounded buffer of events after ``start``."""

    __slots__ = ("_events", "_wake", "feed", "overflowed", "start")

    def __init__(self, feed: _Feed, start: int) -> None:
        self.feed, self.start = feed, start
        self._events: collections.deque[Event] = collections.deque()
        self._wake = asyncio.Event()
        self.overflowed = False

    def push(self, event: Event) -> None:
        if len(self._events) >= CONNECTION_BUFFER:
            self.end()
        elif not self.overflowed:
            self._events.append(event)
            self._wake.set()

    def end(self) -> None:
        """Close the stream (the browser reconnects with ``Last-Event-ID`` and replays)."""
        self.overflowed = True
        self._events.clear()
        self._wake.set()

    async def next(self, timeout: float) -> list[Event] | None:
        """The events buffered so far ([] after ``timeout`` without any); None once overflowed."""
        if not self._events and not self.overflowed:
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return []
        self._wake.clear()
        if self.overflowed:
            return None
        batch = list(self._events)
        self._events.clear()
        return batch


@dataclasses.dataclass(eq=False)
class _Feed:
    """One agent's events in this process, in sequence, shared by the agent's streams."""

    agent_id: str
    subscriptions: set[Subscription] = dataclasses.field(default_factory=set)
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    #: The last number passed on (valid once ``ready``: the agent bound and the log head read).
    position: int = 0
    ready: bool = False
    #: Events that arrived ahead of ``position + 1``.
    early: dict[int, Event] = dataclasses.field(default_factory=dict)
    #: Read the log to its head (the broker may have lost events), not only up to the first early one.
    catch_up: bool = False
    filler: asyncio.Task[None] | None = None
    closed: bool = False


class EventBridge:
    """Agent feeds over a transport (RabbitMQ or the in-process hub), with the event log behind them."""

    def __init__(self, transport: Transport, store: Store) -> None:
        self.transport = transport
        self.store = store
        self._feeds: dict[str, _Feed] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.transport.start(self._deliver, self._restored)

    async def close(self) -> None:
        for task in [*self._tasks, *(f.filler for f in self._feeds.values() if f.filler)]:
            task.cancel()
        await self.transport.close()

    # ---- streams ---------------------------------------------------------------------------------------

    async def subscribe(self, agent_id: str) -> Subscription:
        """A subscription to the agent's events after its ``start`` (replay up to it from the log)."""
        while True:
            feed = self._feeds.get(agent_id)
            if feed is None:
                feed = self._feeds[agent_id] = _Feed(agent_id)
            async with feed.lock:
                if feed.closed:
                    continue  # its last stream left while we waited: start a new feed
                if not feed.ready:
                    await self._open(feed)
                sub = Subscription(feed, feed.position)
                feed.subscriptions.add(sub)
                return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a stream (synchronous: it runs while the request is being cancelled)."""
        feed = sub.feed
        feed.subscriptions.discard(sub)
        if not feed.subscriptions and not feed.closed:
            self._spawn(self._close_if_unused(feed))

    async def _open(self, feed: _Feed) -> None:
        try:
            await self.transport.bind(feed.agent_id)
            head = await read_in_thread(self.store, lambda tx: repo.notification_head(tx, feed.agent_id))
        except BaseException:
            if not feed.subscriptions:
                self._spawn(self._close_if_unused(feed))
            raise
        feed.position, feed.ready = head, True
        self._advance(feed)

    async def _close_if_unused(self, feed: _Feed) -> None:
        async with feed.lock:
            if feed.subscriptions or feed.closed:
                return
            feed.closed = True
            if feed.filler is not None:
                feed.filler.cancel()
            try:
                await self.transport.unbind(feed.agent_id)
            except (ChatpayError, aio_pika.exceptions.AMQPError, RuntimeError, OSError) as exc:
                log.warning("unbinding agent events: %s", type(exc).__name__)
            finally:
                del self._feeds[feed.agent_id]

    # ---- events --------------------------------------------------------------------------------------

    def _deliver(self, agent_id: str, event: Event) -> None:
        feed = self._feeds.get(agent_id)
        if feed is None or feed.closed:
            return
        if not feed.ready or event[0] > feed.position:
            feed.early.setdefault(event[0], event)
            if len(feed.early) > CONNECTION_BUFFER:
                self._reset(feed)
            self._advance(feed)

    def _reset(self, feed: _Feed) -> None:
        """The log cannot be read to fill a gap and too much is waiting: end the agent's streams
        (they reconnect and replay) and start over with the next subscriber."""
        log.warning("agent events: gap not filled after %d events; streams restart", len(feed.early))
        for sub in feed.subscriptions:
            sub.end()
        if feed.filler is not None:
            feed.filler.cancel()
        feed.ready = False
        feed.early.clear()

    def _advance(self, feed: _Feed) -> None:
        """Pass on what is next in sequence; read the log when something is missing."""
        if not feed.ready:
            return
        self._drain(feed)
        if (feed.early or feed.catch_up) and feed.filler is None and not feed.closed:
            feed.filler = asyncio.create_task(self._fill(feed))

    def _drain(self, feed: _Feed) -> None:
        while (event := feed.early.pop(feed.position + 1, None)) is not None:
            self._pass(feed, event)
        for seq in [s for s in feed.early if s <= feed.position]:
            del feed.early[seq]

    def _pass(self, feed: _Feed, event: Event) -> None:
        feed.position = event[0]
        for sub in feed.subscriptions:
            sub.push(event)

    async def _fill(self, feed: _Feed) -> None:
        """Read from the log what the broker has not brought (yet): up to the first early event,
        or to the head after a broker recovery. Everything numbered below a published event is
        committed, so the log has it."""
        try:
            while not feed.closed and (feed.early or feed.catch_up):
                after, before = feed.position, min(feed.early, default=None)
                try:
                    rows = await read_in_thread(self.store, page_after(feed.agent_id, after, before))
                except ChatpayError as exc:
                    log.warning("reading agent events: %s; retrying", exc)
                    await asyncio.sleep(RETRY_READ)
                    continue
                for event in map(_event, rows):
                    if event[0] > feed.position:  # the broker may have brought some meanwhile
                        self._pass(feed, event)
                if len(rows) < PAGE:
                    if before is not None:  # numbers below it that the log lacks were pruned
                        feed.position = max(feed.position, before - 1)
                    else:
                        feed.catch_up = False
                self._drain(feed)
        finally:
            if feed.filler is asyncio.current_task():
                feed.filler = None

    def _restored(self) -> None:
        """The broker channel came back: bind every agent again, then catch up from the log."""
        log.info("agent events: broker channel restored; rebinding %d agents", len(self._feeds))
        self._spawn(self._rebind())

    async def _rebind(self) -> None:
        for feed in list(self._feeds.values()):
            async with feed.lock:
                if feed.closed or not feed.ready:
                    continue
                try:
                    await self.transport.bind(feed.agent_id)
                except (ChatpayError, aio_pika.exceptions.AMQPError, RuntimeError, OSError) as exc:
                    log.warning("rebinding agent events: %s", type(exc).__name__)
                    return  # the channel went again: the next restore rebinds
                feed.catch_up = True
                self._advance(feed)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _event(row: Row) -> Event:
    return int(row["seq"]), str(row["id"]), str(row["body"]).encode()


# ---- transports ----------------------------------------------------------------------------------------


class AmqpTransport:
    """One exclusive, auto-delete queue per gateway process on the topic exchange."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: AbstractRobustConnection | None = None
        self._queue: AbstractRobustQueue | None = None
        self._lock = asyncio.Lock()
        self._deliver: Deliver = lambda agent_id, event: None
        self._restored: Callable[[], None] = lambda: None

    async def start(self, deliver: Deliver, restored: Callable[[], None]) -> None:
        self._deliver, self._restored = deliver, restored
        try:
            await self._ready()
        except BrokerUnavailable:
            log.warning("RabbitMQ not reachable: agent event streams start when it is")

    async def _ready(self) -> AbstractRobustQueue:
        async with self._lock:
            if self._queue is not None:
                return self._queue
            try:
                if self._conn is None:
                    self._conn = await aio_pika.connect_robust(
                        self.url,
                        timeout=BROKER_TIMEOUT,
                        reconnect_interval=1,
                        client_properties={"connection_name": CONNECTION_NAME},
                    )
                channel: AbstractRobustChannel = await self._conn.channel()
                await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
                queue: AbstractRobustQueue = await channel.declare_queue(
                    f"chatpay.sse.{uuid.uuid4().hex[:12]}",
                    exclusive=True,
                    auto_delete=True,
                    arguments={"x-queue-type": "classic"},
                )
                await queue.consume(self._on_message, no_ack=True)
            except (TimeoutError, OSError, aio_pika.exceptions.AMQPError, RuntimeError) as exc:
                raise BrokerUnavailable(f"agent events: {type(exc).__name__}") from None
            # Bindings are ours to restore (robust=False): the bridge rebinds, then reads what it missed.
            channel.reopen_callbacks.add(lambda *_: self._restored())
            self._queue = queue
            return queue

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        seq = (message.headers or {}).get(SEQ_HEADER)
        if not isinstance(seq, int) or not message.routing_key or not message.message_id:
            return  # not a chatpay notification
        self._deliver(message.routing_key.removeprefix("agent."), (seq, message.message_id, message.body))

    async def bind(self, agent_id: str) -> None:
        queue = await self._ready()
        try:
            await queue.bind(EXCHANGE, routing_key(agent_id), robust=False, timeout=BROKER_TIMEOUT)
        except (TimeoutError, aio_pika.exceptions.AMQPError, RuntimeError) as exc:
            raise BrokerUnavailable(f"binding agent events: {type(exc).__name__}") from None

    async def unbind(self, agent_id: str) -> None:
        if self._queue is not None:
            await self._queue.unbind(EXCHANGE, routing_key(agent_id), timeout=BROKER_TIMEOUT)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


class LocalTransport:
    """The embedded mode: the notify actor runs in this process and calls the hub from its threads."""

    def __init__(self, hub: LocalEventHub) -> None:
        self.hub = hub
        self._stops: dict[str, Callable[[], None]] = {}
        self._deliver: Deliver = lambda agent_id, event: None

    async def start(self, deliver: Deliver, restored: Callable[[], None]) -> None:
        self._deliver = deliver

    async def bind(self, agent_id: str) -> None:
        loop = asyncio.get_running_loop()

        def callback(seq: int, event_id: str, body: bytes) -> None:
            loop.call_soon_threadsafe(self._deliver, agent_id, (seq, event_id, body))

        if agent_id not in self._stops:
            self._stops[agent_id] = self.hub.subscribe(agent_id, callback)

    async def unbind(self, agent_id: str) -> None:
        stop = self._stops.pop(agent_id, None)
        if stop is not None:
            stop()

    async def close(self) -> None:
        for agent_id in list(self._stops):
            await self.unbind(agent_id)


def amqp_bridge(url: str, store: Store) -> EventBridge:
    return EventBridge(AmqpTransport(url), store)


def local_bridge(hub: LocalEventHub, store: Store) -> EventBridge:
    return EventBridge(LocalTransport(hub), store)


# ---- the endpoint ----------------------------------------------------------------------------------------


class _EventStream(StreamingResponse):
    """An SSE response that gives its subscription back however the connection ends."""

    def __init__(self, body: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        super().__init__(
            body,
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()


async def stream(request: Request) -> Response:
    g = gw(request)
    agent, expires = auth.agent_claims(request, g.settings.agent_jwt_secret, allow_query=True)
    last_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    after: int | None = None  # no Last-Event-ID: only what happens from now on
    if last_id:
        seq = await g.read(lambda tx: repo.notification_seq(tx, agent, last_id))
        after = 0 if seq is None else seq  # unknown or pruned: everything the log still has
    bridge: EventBridge = g.bridge
    sub = await bridge.subscribe(agent)

    async def body() -> AsyncIterator[bytes]:
        yield b"retry: %d\n\n" % random.randint(*RECONNECT_MS)
        replayed = sub.start if after is None else after
        while replayed < sub.start:
            try:
                rows = await g.read(page_after(agent, replayed, sub.start + 1))
            except ChatpayError:
                return  # the database went away: the browser reconnects with Last-Event-ID
            if not rows:
                break
            yield b"".join(_frame(e) for e in map(_event, rows))
            replayed = int(rows[-1]["seq"])
        # Another gateway process may have been ahead of this one: never send what the browser has.
        seen = max(replayed, sub.start)
        # Until the token expires: then the browser reconnects, with a fresh token or into a 401.
        while (left := expires + auth.JWT_LEEWAY - time.time()) > 0:
            batch = await sub.next(min(KEEPALIVE, left))
            if batch is None:
                return  # fell too far behind: the browser reconnects with Last-Event-ID
            yield b"".join(_frame(e) for e in batch if e[0] > seen) if batch else b": keepalive\n\n"

    return _EventStream(body(), lambda: bridge.unsubscribe(sub))


def page_after(agent_id: str, after: int, before: int | None) -> Callable[[Tx], list[Row]]:
    """A query for one page of the agent's log after ``after`` (and before ``before``)."""
    return lambda tx: repo.notifications_between(tx, agent_id, after, before, PAGE)


def _frame(event: Event) -> bytes:
    return b"id: " + event[1].encode() + b"\ndata: " + event[2] + b"\n\n"


routes = [Route("/v1/agents/me/events", stream, methods=["GET"])]
