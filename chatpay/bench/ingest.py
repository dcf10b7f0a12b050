"""``chatpay bench ingest``: the chat events endpoint alone, beside the broker's raw ceiling.

Signed single-event batches of ``agent.focus_changed`` (no side effect beyond an agent's focus) are sent
from concurrent loops, each on its own keep-alive connection (:mod:`chatpay.bench.http1`). In the same
run a bare aio-pika client measures confirmed persistent publishes per second to a throwaway queue: the
most any gateway could get from this broker on this machine.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import secrets
import time
from typing import Any

import aio_pika
import msgspec
from standardwebhooks import Webhook

from chatpay.bench import http1
from chatpay.bench.stats import percentile, rate

#: Requests one loop may send, whatever the duration (a bound, not a target).
MAX_REQUESTS_PER_LOOP = 10_000_000
#: Seconds a loop pauses after a transport error, so a dead server is not spun on.
ERROR_PAUSE = 0.05
#: Publishes in flight at once while measuring the ceiling.
CEILING_WINDOW = 256
#: Seconds allowed to connect to the broker.
BROKER_TIMEOUT = 10.0
#: Confirmed-publish rounds at most while measuring the ceiling.
MAX_CEILING_ROUNDS = 1_000_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class IngestConfig:
    """What ``bench ingest`` was asked to do."""

    url: str
    seconds: float
    concurrency: int
    inbound_secret: str
    broker_url: str | None
    ceiling_seconds: float
    timeout: float


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _rfc3339(at: datetime.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Ingest:
    """Concurrent loops posting signed single-event batches; latencies of 202s and error reasons."""

    def __init__(self, cfg: IngestConfig) -> None:
        self.cfg = cfg
        self.webhook = Webhook(cfg.inbound_secret)
        self.run_id = secrets.token_hex(4)
        self.latencies: list[float] = []
        self.errors: collections.Counter[str] = collections.Counter()

    async def loop(self, k: int, deadline: float) -> None:
        """Post batches on one keep-alive connection until ``deadline``."""
        conn = http1.Connection(self.cfg.url, timeout=self.cfg.timeout)
        try:
            for n in range(MAX_REQUESTS_PER_LOOP):
                if time.perf_counter() >= deadline:
                    return
                await self._post(conn, k, n)
        finally:
            conn.close()

    async def _post(self, conn: http1.Connection, k: int, n: int) -> None:
        event_id = f"bench-{self.run_id}-{k}-{n}"
        now = _now()
        event = {
            "id": event_id,
            "type": "agent.focus_changed",
            "occurred_at": _rfc3339(now),
            "agent_id": f"bench-a-{k}",
            "customer_id": f"cu-{n}",
        }
        body = msgspec.json.encode({"events": [event]})
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.webhook.sign(event_id, now, body.decode()),
        }
        start = time.perf_counter()
        try:
            status, content = await conn.request("POST", "/v1/chat/events", headers, body)
        except (OSError, TimeoutError, http1.BadMessage) as exc:
            self.errors[f"transport: {type(exc).__name__}"] += 1
            await asyncio.sleep(ERROR_PAUSE)
            return
        elapsed = time.perf_counter() - start
        if status != 202:
            self.errors[f"HTTP {status}"] += 1
        elif not _accepted(content, event_id):
            self.errors["202 without the event in 'accepted'"] += 1
        else:
            self.latencies.append(elapsed)


def _accepted(content: bytes, event_id: str) -> bool:
    try:
        answer: Any = msgspec.json.decode(content)
        return event_id in answer["accepted"]
    except (msgspec.DecodeError, KeyError, TypeError):
        return False


async def measure_ceiling(broker_url: str, seconds: float, *, window: int = CEILING_WINDOW) -> float:
    """Confirmed persistent publishes per second of a bare aio-pika client, ``window`` in flight.

    The queue is durable (so persistent messages really are written, as on the gateway's path) but
    exclusive: it disappears with the connection, and is deleted explicitly first.
    """
    body = msgspec.json.encode(
        {
            "events": [
                {
                    "id": "x" * 24,
                    "type": "agent.focus_changed",
                    "occurred_at": _rfc3339(_now()),
                    "agent_id": "bench-a-0",
                    "customer_id": "cu-0",
                }
            ]
        }
    )
    connection = await aio_pika.connect(broker_url, timeout=BROKER_TIMEOUT)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue("", durable=True, exclusive=True, auto_delete=True)
        exchange = channel.default_exchange
        published = 0
        start = time.perf_counter()
        deadline = start + seconds
        for _ in range(MAX_CEILING_ROUNDS):
            if time.perf_counter() >= deadline:
                break
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue.name,
                    )
                    for _ in range(window)
                )
            )
            published += window
        elapsed = time.perf_counter() - start
        await queue.delete(if_unused=False, if_empty=False)
    return published / elapsed if elapsed > 0 else 0.0


async def run_ingest(cfg: IngestConfig) -> dict[str, Any]:
    """Measure the ceiling (while the deployment is idle), then the endpoint; the §12 result object."""
    ceiling: float | None = None
    ceiling_error: str | None = None
    if cfg.broker_url:
        try:
            ceiling = await measure_ceiling(cfg.broker_url, cfg.ceiling_seconds)
        except (aio_pika.exceptions.AMQPError, OSError, TimeoutError) as exc:
            ceiling_error = f"ceiling: {type(exc).__name__}"
    bench = _Ingest(cfg)
    start, cpu = time.perf_counter(), time.process_time()
    deadline = start + cfg.seconds
    await asyncio.gather(*(bench.loop(k, deadline) for k in range(cfg.concurrency)))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if ceiling_error:
        bench.errors[ceiling_error] += 1
    lat = sorted(bench.latencies)
    accepted_per_s = rate(len(lat), seconds)
    return {
        "kind": "ingest",
        "accepted": len(lat),
        "errors": sum(bench.errors.values()),
        "accepted_per_s": accepted_per_s,
        "p50_ms": round(percentile(lat, 50, presorted=True) * 1000, 2) if lat else None,
        "p99_ms": round(percentile(lat, 99, presorted=True) * 1000, 2) if lat else None,
        "ceiling_per_s": round(ceiling, 1) if ceiling is not None else None,
        "ratio": round(accepted_per_s / ceiling, 3) if ceiling else None,
        "error_reasons": dict(bench.errors.most_common()),
        "seconds": round(seconds, 3),
        "concurrency": cfg.concurrency,
        "client_cpu": round(cpu / seconds, 2) if seconds > 0 else 0.0,
    }
