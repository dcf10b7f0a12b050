"""Bench agents: a JWT, a registered P-256 card key and one SSE stream of notifications each."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import httpx
import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric import ec

from chatpay.bench.mailbox import Arrival, Mailbox
from chatpay.sealing import key_id, public_key_to_jwk

#: Lifetime of a bench agent's JWT, in seconds.
TOKEN_TTL = 6 * 3600
#: Stream (re)connections per agent before giving up.
MAX_CONNECTS = 5
#: Seconds between SSE reconnections.
RECONNECT_DELAY = 0.5
#: SSE request statuses that end a flow unsuccessfully.
FAILURE_STATUSES = frozenset({"failed", "declined", "expired", "canceled"})
#: Request statuses handed to flows, by mailbox kind.
WAITED_STATUSES = frozenset({"submitted"})


class SetupError(Exception):
    """The bench could not prepare (bad secrets, key registration refused, stream not opened)."""


def mint_token(agent_id: str, secret: str, *, ttl: int = TOKEN_TTL) -> str:
    """An HS256 agent JWT with ``sub`` and ``exp`` (API.md §1)."""
    now = int(time.time())
    return jwt.encode({"sub": agent_id, "iat": now, "exp": now + ttl}, secret, algorithm="HS256")


class BenchAgent:
    """One agent: its identity, card key and notification stream."""

    def __init__(self, agent_id: str, secret: str) -> None:
        self.agent_id = agent_id
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.kid = key_id(self.private_key.public_key())
        self.headers = {"authorization": f"Bearer {mint_token(agent_id, secret)}"}
        self.connected = asyncio.Event()
        self.errors: collections.Counter[str] = collections.Counter()

    async def register_key(self, client: httpx.AsyncClient) -> None:
        """``PUT /v1/agents/me/keys/{kid}``; :class:`SetupError` unless 204."""
        jwk = public_key_to_jwk(self.private_key.public_key())
        resp = await client.put(f"/v1/agents/me/keys/{self.kid}", json={"jwk": jwk}, headers=self.headers)
        if resp.status_code != 204:
            raise SetupError(f"registering the card key of {self.agent_id}: HTTP {resp.status_code}")

    async def stream(self, client: httpx.AsyncClient, mailbox: Mailbox) -> None:
        """Follow ``GET /v1/agents/me/events`` until cancelled, resuming with ``Last-Event-ID``."""
        last_id: str | None = None
        for attempt in range(MAX_CONNECTS):
            if attempt:
                await asyncio.sleep(RECONNECT_DELAY)
            headers = {**self.headers, "accept": "text/event-stream"}
            if last_id is not None:
                headers["last-event-id"] = last_id
            try:
                async with client.stream(
                    "GET", "/v1/agents/me/events", headers=headers, timeout=httpx.Timeout(10.0, read=None)
                ) as resp:
                    if resp.status_code != 200:
                        self.errors[f"sse: HTTP {resp.status_code}"] += 1
                        continue
                    self.connected.set()
                    last_id = await _read_events(resp, mailbox, last_id, self.errors)
                self.errors["sse: stream ended"] += 1
            except httpx.HTTPError as exc:
                self.errors[f"sse: {type(exc).__name__}"] += 1
        self.errors["sse: gave up reconnecting"] += 1


async def _read_events(
    resp: httpx.Response, mailbox: Mailbox, last_id: str | None, errors: collections.Counter[str]
) -> str | None:
    """Dispatch the events of one SSE response; the last event id seen."""
    data: list[str] = []
    async for line in resp.aiter_lines():
        if not line:
            if data:
                if not _dispatch("\n".join(data), mailbox):
                    errors["sse: malformed event"] += 1
                data = []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "id":
            last_id = value
    return last_id


def _dispatch(payload: str, mailbox: Mailbox) -> bool:
    """Hand one notification (API.md §8) to the flow of its request; False when it is not JSON."""
    at = time.perf_counter()
    try:
        event: Any = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return False
    request = event.get("request") if isinstance(event, dict) else None
    if not isinstance(request, dict) or "id" not in request:
        return True  # a notification without a request resource
    request_id, status = request["id"], request.get("status")
    if status in WAITED_STATUSES:
        mailbox.deliver(request_id, status, Arrival(at=at, data=request))
    elif status in FAILURE_STATUSES:
        mailbox.fail(request_id, f"agent event: status {status}", at)
    return True
