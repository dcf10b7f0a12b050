"""``chatpay bench flows``: complete payment flows played concurrently against a deployment.

Each flow: the agent creates a request → the sink receives ``payment_request.sent`` → the customer reads
and submits the pay link → the agent's SSE stream shows ``submitted`` → the agent fetches and opens its
envelope → completes → the sink receives ``payment_request.accepted``.

Calls go through a pool of :mod:`chatpay.bench.http1` keep-alive connections, one per in-flight flow:
measured here at concurrency 50, one shared httpx pool spent 5 ms of CPU per request (its pool is scanned
per request) against 0.1 ms, and the bench shares the machine with the server. The agents' SSE streams
use httpx.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import msgspec

from chatpay.bench import http1
from chatpay.bench.agents import BenchAgent, SetupError
from chatpay.bench.mailbox import FlowError, Mailbox
from chatpay.bench.sink import Sink
from chatpay.bench.stats import rate, summarize
from chatpay.sealing import SealingError, open_envelope
from schemas.cards import Envelope

#: Hops timed per flow, in report order.
HOPS = ("create_to_waiting", "submit_to_agent_event", "complete_to_accepted", "flow")
#: The card every flow submits (a Visa test number).
PAN = "4111111111111111"
#: Seconds allowed for every agent's event stream to open.
CONNECT_TIMEOUT = 10.0
#: An open-loop flow starting this many seconds after its schedule counts as a late start.
LATE_START = 0.010
#: httpx connections (key registration) beside one per agent stream; flows use :class:`http1.Pool`.
SPARE_CONNECTIONS = 4


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlowsConfig:
    """What ``bench flows`` was asked to do."""

    url: str
    sink_port: int
    flows: int
    concurrency: int
    rate: float | None
    agents: int
    timeout: float
    agent_jwt_secret: str
    outbound_secret: str


@dataclasses.dataclass
class _Tally:
    hops: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {h: [] for h in HOPS})
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    ok: int = 0
    late_starts: int = 0


def _error_code(content: bytes) -> str:
    """`` code`` of an API error body (API.md §2), with the request's ``(status)`` when it names one."""
    try:
        error = msgspec.json.decode(content)["error"]
        code, status = error["code"], error.get("status")
    except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
        return ""
    if not isinstance(code, str):
        return ""
    return f" {code} ({status})" if isinstance(status, str) else f" {code}"


class _Flows:
    """Plays flows, one agent each in turn, recording hop times and error reasons."""

    def __init__(
        self, pool: http1.Pool, mailbox: Mailbox, agents: list[BenchAgent], cfg: FlowsConfig
    ) -> None:
        self.pool, self.mailbox, self.agents, self.cfg = pool, mailbox, agents, cfg
        self.run_id = secrets.token_hex(4)
        self.tally = _Tally()
        year = datetime.datetime.now(datetime.UTC).year + 3
        self.submission = {
            "method": "card",
            "card": {
                "number": PAN,
                "name": "Bench Customer",
                "exp_month": 12,
                "exp_year": year,
                "cvc": "123",
            },
        }

    async def _call(
        self,
        step: str,
        expect: int,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One HTTP call; its decoded JSON body (None when empty), or :class:`FlowError`."""
        headers = dict(headers or {})
        body = b""
        if json is not None:
            body = msgspec.json.encode(json)
            headers["content-type"] = "application/json"
        try:
            status, content = await self.pool.request(method, url, headers, body)
        except (OSError, TimeoutError, http1.BadMessage) as exc:
            raise FlowError(f"{step}: {type(exc).__name__}") from None
        if status != expect:
            raise FlowError(f"{step}: HTTP {status}{_error_code(content)}")
        if not content:
            return None
        try:
            return msgspec.json.decode(content)
        except msgspec.DecodeError:
            raise FlowError(f"{step}: body is not JSON") from None

    async def play(self, i: int) -> None:
        """Play flow ``i``; never raises, records a hop set or one error reason."""
        try:
            times = await self._flow(i, self.agents[i % len(self.agents)])
        except FlowError as exc:
            self.tally.errors[str(exc)] += 1
        except Exception as exc:  # a bench bug or an unexpected body shape: counted, never hidden
            self.tally.errors[f"unexpected: {type(exc).__name__}"] += 1
        else:
            self.tally.ok += 1
            for hop, seconds in times.items():
                self.tally.hops[hop].append(seconds)

    async def _flow(self, i: int, agent: BenchAgent) -> dict[str, float]:
        wait, timeout = self.mailbox.wait, self.cfg.timeout
        body = {
            "conversation_id": f"bench-c-{self.run_id}-{i}",
            "customer_id": f"bench-cu-{self.run_id}-{i}",
            "amount": 1999,
            "currency": "USD",
            "reason": f"Bench flow {i}",
        }
        headers = {**agent.headers, "idempotency-key": f"bench-{self.run_id}-{i}"}
        t_create = time.perf_counter()
        created = await self._call("create", 202, "POST", "/v1/payment-requests", json=body, headers=headers)
        try:
            request_id = created["id"]
        except (KeyError, TypeError):
            raise FlowError("create: no request id") from None
        try:
            sent = await wait(request_id, "sent", timeout)
            pay_url = sent.data.get("pay_url")
            if not isinstance(pay_url, str) or "/pay/" not in pay_url:
                raise FlowError("sink: sent without a pay_url")
            token = pay_url.rsplit("/pay/", 1)[1]
            await self._call("customer get", 200, "GET", f"/v1/pay/{token}")
            t_submit = time.perf_counter()
            await self._call("submit", 202, "POST", f"/v1/pay/{token}/submit", json=self.submission)
            submitted = await wait(request_id, "submitted", timeout)
            card = await self._call(
                "card", 200, "GET", f"/v1/payment-requests/{request_id}/card", headers=agent.headers
            )
            self._check_card(card, agent, request_id)
            t_complete = time.perf_counter()
            await self._call(
                "complete", 202, "POST", f"/v1/payment-requests/{request_id}/complete", headers=agent.headers
            )
            accepted = await wait(request_id, "accepted", timeout)
        finally:
            self.mailbox.close(request_id)
        return {
            "create_to_waiting": sent.at - t_create,
            "submit_to_agent_event": submitted.at - t_submit,
            "complete_to_accepted": accepted.at - t_complete,
            "flow": accepted.at - t_create,
        }

    @staticmethod
    def _check_card(body: Any, agent: BenchAgent, request_id: str) -> None:
        """Open the agent's envelope and check the card number (never put into a reason)."""
        try:
            mine = [e for e in body["envelopes"] if e["kid"] == agent.kid]
        except (KeyError, TypeError):
            raise FlowError("card: malformed envelopes") from None
        if not mine:
            raise FlowError("card: no envelope for the agent's key")
        env = Envelope(kid=mine[0]["kid"], suite=mine[0]["suite"], ct=mine[0]["ct"])
        try:
            card = open_envelope(env, agent.private_key, request_id)
        except SealingError:
            raise FlowError("card: envelope did not open") from None
        if card.get("number") != PAN:
            raise FlowError("card: number mismatch")


async def _drive(
    n: int, concurrency: int, rate_per_s: float | None, play: Callable[[int], Awaitable[None]]
) -> int:
    """Run ``play(0…n-1)``: closed-loop with ``concurrency`` workers, or open-loop at ``rate_per_s``
    with ``concurrency`` as the in-flight cap. The number of late open-loop starts."""
    if rate_per_s is None:
        indexes = iter(range(n))

        async def worker() -> None:
            for i in indexes:
                await play(i)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, n))))
        return 0
    cap = asyncio.Semaphore(concurrency)
    tasks: list[asyncio.Task[None]] = []
    late = 0

    async def capped(i: int) -> None:
        try:
            await play(i)
        finally:
            cap.release()

    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate_per_s
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        await cap.acquire()
        late += time.perf_counter() - due > LATE_START
        tasks.append(asyncio.create_task(capped(i)))
    await asyncio.gather(*tasks)
    return late


async def run_flows(cfg: FlowsConfig) -> dict[str, Any]:
    """Set up agents, sink and streams, play the flows; the §12 result object."""
    mailbox = Mailbox()
    sink = Sink(cfg.outbound_secret, mailbox)
    await sink.start("127.0.0.1", cfg.sink_port)
    pool = http1.Pool(cfg.url, size=cfg.concurrency, timeout=cfg.timeout)
    limits = httpx.Limits(max_connections=cfg.agents + SPARE_CONNECTIONS)
    try:
        async with httpx.AsyncClient(base_url=cfg.url, limits=limits, timeout=cfg.timeout) as client:
            agents = [
                BenchAgent(f"bench-{secrets.token_hex(4)}-{k}", cfg.agent_jwt_secret)
                for k in range(cfg.agents)
            ]
            try:
                await asyncio.gather(*(a.register_key(client) for a in agents))
            except httpx.HTTPError as exc:
                raise SetupError(f"cannot reach {cfg.url}: {type(exc).__name__}") from None
            streams = [asyncio.create_task(a.stream(client, mailbox)) for a in agents]
            try:
                await _wait_connected(agents)
                flows = _Flows(pool, mailbox, agents, cfg)
                start, cpu = time.perf_counter(), time.process_time()
                late = await _drive(cfg.flows, cfg.concurrency, cfg.rate, flows.play)
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            finally:
                for task in streams:
                    task.cancel()
                await asyncio.gather(*streams, return_exceptions=True)
    finally:
        pool.close()
        await sink.stop()
    reasons = flows.tally.errors + sink.errors
    for agent in agents:
        reasons += agent.errors
    result: dict[str, Any] = {
        "kind": "flows",
        "flows": flows.tally.ok,
        "errors": sum(reasons.values()),
        "seconds": round(seconds, 3),
        "flows_per_s": rate(flows.tally.ok, seconds),
        "hops": {hop: summarize(flows.tally.hops[hop]) for hop in HOPS},
        "error_reasons": dict(reasons.most_common()),
        "started": cfg.flows,
        "concurrency": cfg.concurrency,
        "rate": cfg.rate,
        "agents": cfg.agents,
        "client_cpu": round(cpu / seconds, 2) if seconds > 0 else 0.0,
    }
    if cfg.rate is not None:
        result["late_starts"] = late
    return result


async def _wait_connected(agents: list[BenchAgent]) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*(a.connected.wait() for a in agents)), CONNECT_TIMEOUT)
    except TimeoutError:
        reasons = collections.Counter[str]()
        for agent in agents:
            reasons += agent.errors
        raise SetupError(f"agent event streams did not open: {dict(reasons) or 'no answer'}") from None
