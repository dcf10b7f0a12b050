"""What the gateway's handlers share, built once per process."""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from standardwebhooks.webhooks import Webhook
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from chatpay.config import Settings
from chatpay.publisher import Publisher
from chatpay.store import Store, Tx

T = TypeVar("T")

#: How many recently accepted chat event and webhook ids each gateway process remembers.
RECENT_IDS = 100_000


class RecentIds:
    """A bounded, insertion-ordered set: a fast first check before the database inbox."""

    def __init__(self, size: int = RECENT_IDS) -> None:
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._size = size

    def __contains__(self, key: str) -> bool:
        return key in self._ids

    def add(self, key: str) -> None:
        self._ids[key] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


#: Seconds over which a pay link's submit attempts are counted.
SUBMIT_WINDOW = 3600.0


class RateLimiter:
    """A fixed-window counter per key (pay-link submits); in process memory."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, tuple[float, int]] = {}

    def hit(self, key: str) -> float | None:
        """Count one attempt; seconds to wait when over the limit, else None."""
        now = time.monotonic()
        start, count = self._hits.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if count >= self.limit:
            return self.window - (now - start)
        self._hits[key] = (start, count + 1)
        if len(self._hits) > 100_000:
            self._hits = {k: v for k, v in self._hits.items() if now - v[0] < self.window}
        return None


@dataclasses.dataclass(kw_only=True)
class Gateway:
    settings: Settings
    store: Store
    publisher: Publisher
    vault_key: ec.EllipticCurvePublicKey
    webhook: Webhook
    bridge: Any = None
    recent: RecentIds = dataclasses.field(default_factory=RecentIds)
    #: Pay-link submit attempts (``CHATPAY_SUBMIT_LIMIT`` per :data:`SUBMIT_WINDOW`).
    submits: RateLimiter

    async def read(self, fn: Callable[[Tx], T]) -> T:
        """Run a read-only query: inline on SQLite, in a worker thread on PostgreSQL.

        SQLite readers in WAL mode never wait for writers and a lookup takes microseconds, less
        than the hop to a thread (py-spy: the hop was a third of the chat endpoint's time).
        """
        if self.store.dialect == "sqlite":
            with self.store.read() as tx:
                return fn(tx)
        return await read_in_thread(self.store, fn)

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a write transaction, off the event loop."""
        return await _in_thread(self.store.write, fn)


async def read_in_thread(store: Store, fn: Callable[[Tx], T]) -> T:
    """Run ``fn`` in a read-only unit of work, off the event loop."""
    return await _in_thread(store.read, fn)


async def _in_thread(unit: Callable[[], AbstractContextManager[Tx]], fn: Callable[[Tx], T]) -> T:
    def run() -> T:
        with unit() as tx:
            return fn(tx)

    return await run_in_threadpool(run)


def gw(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway
