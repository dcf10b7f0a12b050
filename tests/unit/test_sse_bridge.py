"""The SSE bridge's per-agent feeds (gateway/events.py) on a real SQLite log and a fake transport:
in sequence, no repeats, gaps filled from the log, catch-up after a broker recovery, bounded buffers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatpay.store import Store, open_store, repo
from gateway import events
from gateway.events import Event, EventBridge, Subscription


class FakeTransport:
    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.binds = 0
        self.deliver: events.Deliver = lambda agent_id, event: None
        self.restored: Callable[[], None] = lambda: None
        self.on_bind: Callable[[str], None] = lambda agent_id: None

    async def start(self, deliver: events.Deliver, restored: Callable[[], None]) -> None:
        self.deliver, self.restored = deliver, restored

    async def bind(self, agent_id: str) -> None:
        self.bound.add(agent_id)
        self.binds += 1
        self.on_bind(agent_id)

    async def unbind(self, agent_id: str) -> None:
        self.bound.discard(agent_id)

    async def close(self) -> None:
        return None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    s.migrate()
    yield s
    s.close()


@pytest.fixture
async def bridge(store: Store) -> EventBridge:
    b = EventBridge(FakeTransport(), store)
    await b.start()
    return b


def transport(bridge: EventBridge) -> FakeTransport:
    assert isinstance(bridge.transport, FakeTransport)
    return bridge.transport


def log(store: Store, agent_id: str, count: int) -> list[Event]:
    """Log ``count`` more notifications of the agent as the notify actor does; they are returned."""
    out = []
    for _ in range(count):
        with store.write() as tx:
            seq = repo.lock_notifications(tx, agent_id) + 1
            body = f'{{"n": {seq}}}'
            repo.append_notification(tx, agent_id, seq, f"ev_{agent_id}_{seq}", 0, body)
        out.append((seq, f"ev_{agent_id}_{seq}", body.encode()))
    return out


async def received(sub: Subscription, count: int) -> list[int]:
    got: list[int] = []
    async with asyncio.timeout(5):
        while len(got) < count:
            batch = await sub.next(5)
            assert batch is not None
            got += [e[0] for e in batch]
    return got


async def test_one_binding_per_agent_in_sequence_without_repeats(bridge, store):
    first, second = await bridge.subscribe("a-7"), await bridge.subscribe("a-7")
    assert transport(bridge).bound == {"a-7"} and transport(bridge).binds == 1
    for event in log(store, "a-7", 3):
        transport(bridge).deliver("a-7", event)
        transport(bridge).deliver("a-7", event)  # a republished (redelivered) notification
    assert await received(first, 3) == [1, 2, 3]
    assert await received(second, 3) == [1, 2, 3]
    assert await first.next(0.05) == []

    bridge.unsubscribe(first)
    bridge.unsubscribe(second)
    await asyncio.sleep(0.01)
    assert transport(bridge).bound == set()


async def test_early_event_waits_for_the_log(bridge, store):
    """3 arrives before 1 and 2 (another worker published first; 2 never came): the feed reads
    1 and 2 from the log and passes 1, 2, 3 in order; the late 1 is dropped."""
    sub = await bridge.subscribe("a-7")
    one, _, three = log(store, "a-7", 3)
    transport(bridge).deliver("a-7", three)
    assert await received(sub, 3) == [1, 2, 3]
    transport(bridge).deliver("a-7", one)
    assert await sub.next(0.05) == []


async def test_a_stream_starts_at_the_feed_position(bridge, store):
    log(store, "a-7", 5)
    sub = await bridge.subscribe("a-7")
    assert sub.start == 5  # the endpoint replays 1…5 from the log for a Last-Event-ID
    transport(bridge).deliver("a-7", log(store, "a-7", 1)[0])
    assert await received(sub, 1) == [6]


async def test_event_arriving_while_binding(bridge, store):
    """Committed before the head is read: it is the stream's replay, never a live repeat."""
    transport(bridge).on_bind = lambda agent_id: transport(bridge).deliver(
        agent_id, log(store, agent_id, 1)[0]
    )
    sub = await bridge.subscribe("a-7")
    assert sub.start == 1
    transport(bridge).deliver("a-7", log(store, "a-7", 1)[0])
    assert await received(sub, 1) == [2]


async def test_catch_up_after_broker_recovery(bridge, store):
    """Events published while the queue was gone are read from the log once the channel is back."""
    sub = await bridge.subscribe("a-7")
    transport(bridge).deliver("a-7", log(store, "a-7", 1)[0])
    assert await received(sub, 1) == [1]
    log(store, "a-7", 2)  # lost with the old queue
    transport(bridge).bound.clear()
    transport(bridge).restored()
    assert await received(sub, 2) == [2, 3]
    assert transport(bridge).bound == {"a-7"}


async def test_catch_up_reads_every_page(bridge, store, monkeypatch):
    monkeypatch.setattr(events, "PAGE", 4)
    sub = await bridge.subscribe("a-7")
    log(store, "a-7", 10)
    transport(bridge).restored()
    assert await received(sub, 10) == list(range(1, 11))


async def test_slow_stream_is_closed_not_silently_truncated(bridge, store, monkeypatch):
    monkeypatch.setattr(events, "CONNECTION_BUFFER", 3)
    slow, fast = await bridge.subscribe("a-7"), await bridge.subscribe("a-7")
    for event in log(store, "a-7", 4):
        transport(bridge).deliver("a-7", event)
        assert await received(fast, 1) == [event[0]]
    assert await slow.next(0.05) is None  # the stream ends; the browser replays from Last-Event-ID


async def test_agents_are_kept_apart(bridge, store):
    a7, a8 = await bridge.subscribe("a-7"), await bridge.subscribe("a-8")
    transport(bridge).deliver("a-7", log(store, "a-7", 1)[0])
    assert await received(a7, 1) == [1]
    assert await a8.next(0.05) == []


async def test_gap_that_cannot_be_filled_restarts_the_streams(bridge, store, monkeypatch):
    """The log is unreachable and events pile up behind a gap: the streams end (and replay on
    reconnection) instead of holding events forever; the next subscriber starts afresh."""
    from chatpay.errors import StoreUnavailable

    monkeypatch.setattr(events, "CONNECTION_BUFFER", 3)
    monkeypatch.setattr(events, "RETRY_READ", 0.01)
    sub = await bridge.subscribe("a-7")
    logged = log(store, "a-7", 6)
    read = events.read_in_thread

    async def down(*args, **kwargs):
        raise StoreUnavailable("down")

    monkeypatch.setattr(events, "read_in_thread", down)
    for event in logged[1:]:  # 1 never comes
        transport(bridge).deliver("a-7", event)
    assert await sub.next(1) is None
    monkeypatch.setattr(events, "read_in_thread", read)
    bridge.unsubscribe(sub)
    again = await bridge.subscribe("a-7")
    assert again.start == 6
