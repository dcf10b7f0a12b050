#!/usr/bin/env python3
"""How long one full payment flow takes on RabbitMQ: median and p95 of N sequential flows.

Starts a real deployment (``chatpay gateway`` and ``chatpay worker`` processes on a fresh RabbitMQ
virtual host, with SQLite or a fresh PostgreSQL database) whose chat webhook is a signed test sink, then
plays the flows one after another, never two at once:

  the agent creates a request → the sink receives ``payment_request.sent`` → the customer opens the pay
  link and submits a test card → the agent sees ``submitted`` (polling every 2 ms) → the agent fetches
  and opens its envelope → completes → the sink receives ``payment_request.accepted``.

Usage (RabbitMQ and PostgreSQL as in tests/support/services.py, or CHATPAY_TEST_* URLs)::

    python scripts/flow_latency.py [--flows 100] [--database sqlite|postgresql] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatpay.bench.stats import percentile
from tests.support import services
from tests.support.deployment import CARD, VISA, Agent, Deployment
from tests.support.sink import ChatSink

#: Seconds between the agent's polls for ``submitted``.
POLL = 0.002
#: Timed stretches of a flow, in report order.
HOPS = ("create_to_sent", "submit_to_agent_sees", "complete_to_accepted", "flow")


@contextmanager
def deployment(database: str) -> Iterator[Deployment]:
    with (
        tempfile.TemporaryDirectory(prefix="flow-latency-") as tmp,
        services.rabbitmq() as (amqp, container),
        services.postgres() as pg_server,
    ):
        vhost = services.fresh_vhost(amqp, container)
        db_url = (
            services.fresh_postgres_database(pg_server)
            if database == "postgresql"
            else f"sqlite:///{tmp}/chatpay.db"
        )
        d = Deployment(Path(tmp) / "d", broker_url=vhost, database_url=db_url, webhook_url=None)
        sink = ChatSink(d.env["CHATPAY_CHAT_OUTBOUND_SECRET"])
        d.env["CHATPAY_CHAT_WEBHOOK_URL"] = sink.url
        d.sink = sink
        try:
            yield d.start()
        finally:
            d.stop()
            sink.close()
            services.delete_vhost(vhost, container)
            if database == "postgresql":
                services.drop_postgres_database(pg_server, db_url)


def flow(d: Deployment, agent: Agent, customer: httpx.Client, i: int) -> dict[str, float]:
    t0 = time.perf_counter()
    rid = agent.create(conversation_id=f"c-lat-{i}", customer_id=f"cu-{i}")["id"]
    token = d.sink.token(rid)
    t_sent = time.perf_counter()
    assert customer.get(f"/v1/pay/{token}").status_code == 200
    assert customer.post(f"/v1/pay/{token}/open").status_code == 204
    t_submit = time.perf_counter()
    r = customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD})
    assert r.status_code == 202, r.text
    while agent.http.get(f"/v1/payment-requests/{rid}").json()["status"] != "submitted":
        time.sleep(POLL)
    t_seen = time.perf_counter()
    assert agent.open_card(rid)["number"] == VISA
    t_complete = time.perf_counter()
    assert agent.action(rid, "complete").status_code == 202
    d.sink.event(rid, "payment_request.accepted")
    t_end = time.perf_counter()
    return {
        "create_to_sent": t_sent - t0,
        "submit_to_agent_sees": t_seen - t_submit,
        "complete_to_accepted": t_end - t_complete,
        "flow": t_end - t0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5, help="untimed flows first")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with deployment(args.database) as d:
        agent, customer = d.agent(), d.customer()
        for i in range(args.warmup):
            flow(d, agent, customer, -1 - i)
        samples = [flow(d, agent, customer, i) for i in range(args.flows)]
    hops = {}
    for hop in HOPS:
        values = sorted(s[hop] * 1000 for s in samples)
        hops[hop] = {
            "median_ms": round(statistics.median(values), 1),
            "p95_ms": round(percentile(values, 95, presorted=True), 1),
            "max_ms": round(values[-1], 1),
        }
    if args.json:
        print(json.dumps({"flows": args.flows, "database": args.database, **hops}))
    else:
        print(f"{args.flows} sequential flows, RabbitMQ + {args.database}:")
        for hop, h in hops.items():
            numbers = (f"{k.removesuffix('_ms')} {v:7.1f} ms" for k, v in h.items())
            print(f"  {hop:<22}", "   ".join(numbers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
