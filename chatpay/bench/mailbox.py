"""Arrivals by (request id, kind): how the sink and the SSE streams hand events to waiting flows.

An event may arrive before its flow waits for it (the sink can see ``payment_request.sent`` before the
create call has returned), so arrivals are kept until claimed. Duplicates (at-least-once delivery) keep
the first arrival.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any


class FlowError(Exception):
    """A flow failed; the message is a short reason, tallied as is (never card data)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Arrival:
    """When (``time.perf_counter()``) an event arrived, with its data, or why the request failed."""

    at: float
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    failure: str | None = None


class Mailbox:
    """Futures of arrivals keyed by request id, then kind (``sent``, ``submitted``, ``accepted``)."""

    def __init__(self) -> None:
        self._slots: dict[str, dict[str, asyncio.Future[Arrival]]] = {}
        self._failures: dict[str, Arrival] = {}
        self._closed: set[str] = set()
        #: Arrivals ignored: repeats of a kind already delivered, or for a request already finished.
        self.duplicates = 0

    def _slot(self, request_id: str, kind: str) -> asyncio.Future[Arrival]:
        kinds = self._slots.setdefault(request_id, {})
        fut = kinds.get(kind)
        if fut is None:
            fut = kinds[kind] = asyncio.get_running_loop().create_future()
            if failed := self._failures.get(request_id):
                fut.set_result(failed)
        return fut

    def deliver(self, request_id: str, kind: str, arrival: Arrival) -> bool:
        """Record an arrival; False (and counted as a duplicate) when it is not the first."""
        if request_id in self._closed:
            self.duplicates += 1
            return False
        fut = self._slot(request_id, kind)
        if fut.done():
            self.duplicates += 1
            return False
        fut.set_result(arrival)
        return True

    def fail(self, request_id: str, reason: str, at: float) -> None:
        """Fail every wait on a request, present and future (e.g. it expired or was declined)."""
        if request_id in self._closed or request_id in self._failures:
            return
        failed = self._failures[request_id] = Arrival(at=at, failure=reason)
        for fut in self._slots.get(request_id, {}).values():
            if not fut.done():
                fut.set_result(failed)

    async def wait(self, request_id: str, kind: str, timeout: float) -> Arrival:
        """The arrival of ``kind`` for a request; :class:`FlowError` on timeout or failure."""
        fut = self._slot(request_id, kind)
        try:
            arrival = await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise FlowError(f"timeout waiting for {kind}") from None
        if arrival.failure is not None:
            raise FlowError(arrival.failure)
        return arrival

    def close(self, request_id: str) -> None:
        """Forget a finished request; later arrivals for it count as duplicates."""
        self._closed.add(request_id)
        self._failures.pop(request_id, None)
        for fut in self._slots.pop(request_id, {}).values():
            fut.cancel()

    def unclaimed(self) -> int:
        """Requests with arrivals that no flow claimed (not this run's, or a create that failed)."""
        return len(self._slots)
