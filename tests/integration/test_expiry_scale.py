"""Deadlines live in the database: many pending requests cost the worker nothing, a short one expires on time.

1,000 requests with an hour to live arrive through the chat endpoint and the lifecycle; one with 10 s
goes through the agent API and must expire within 2 s of its deadline. Then 19,000 more pending rows
are written straight through the store, and a second short one must be as punctual, while the worker's
resident memory stays put.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from chatpay.clock import now_ms
from chatpay.store import Store, open_store, repo
from tests.support.chat import ChatSystem, event
from tests.support.deployment import Agent, Deployment

#: Seconds within which a request must expire after its deadline.
PRECISION = 2.0
#: Resident memory the worker may gain between 1,000 and 20,000 pending requests (KiB); holding the
#: 19,000 extra rows in memory, even as bare ids, would cost more.
RSS_SLACK_KIB = 8 * 1024
HOUR = 3600


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def pending(store: Store) -> int:
    with store.read() as tx:
        row = tx.one("SELECT count(*) AS n FROM payment_requests WHERE status = 'waiting_for_customer'")
    assert row is not None
    return int(row["n"])


def insert_pending(store: Store, n: int, agent_id: str) -> None:
    """``n`` requests waiting for their customer for an hour, written straight through the store."""
    now = now_ms()
    with store.write() as tx:
        for i in range(n):
            repo.insert_request(
                tx,
                {
                    "id": f"pr_bulk{i:06d}",
                    "agent_id": agent_id,
                    "conversation_id": f"c-bulk-{i}",
                    "customer_id": f"cu-bulk-{i}",
                    "amount": 100,
                    "currency": "USD",
                    "reason": "bulk",
                    "methods": "card",
                    "status": "waiting_for_customer",
                    "version": 2,
                    "created_at": now,
                    "updated_at": now,
                    "expires_at": now + HOUR * 1000,
                    "token_hash": secrets.token_hex(32),
                },
            )


def expires_on_time(agent: Agent, store: Store) -> float:
    """Create a 10 s request over HTTP; seconds between its deadline and its expiry being visible."""
    rid = agent.create(conversation_id=f"c-short-{time.monotonic_ns()}", expires_in=10)["id"]
    agent.wait(rid, "waiting_for_customer")
    with store.read() as tx:
        row = repo.get_request(tx, rid)
    assert row is not None
    deadline = row["expires_at"] / 1000
    while agent.get(rid)["status"] != "expired":
        assert time.time() < deadline + PRECISION, "the short request did not expire in time"
        time.sleep(0.05)
    late = time.time() - deadline
    assert late > -0.1, f"expired {-late:.2f} s early"
    return late


def settled_rss(d: Deployment) -> int:
    """The worker's resident memory after a few idle sweeps."""
    time.sleep(2)
    return rss_kib(d.workers[0].pid)


def test_thousand_pending_and_one_short(deploy):
    d = deploy()
    agent, chat = d.agent(), ChatSystem(d)
    store = open_store(d.env["CHATPAY_DATABASE_URL"])
    try:
        baseline = settled_rss(d)
        for batch in range(10):
            chat.send(
                *(
                    event(
                        "payment_request.requested",
                        agent_id=agent.id,
                        conversation_id=f"c-{batch}-{i}",
                        customer_id=f"cu-{batch}-{i}",
                        amount=1999,
                        currency="USD",
                        reason="Order",
                        expires_in=HOUR,
                    )
                    for i in range(100)
                )
            )
        deadline = time.monotonic() + 120
        while pending(store) < 1000:
            assert time.monotonic() < deadline, f"only {pending(store)} of 1000 requests are pending"
            time.sleep(0.5)
        late_1k = expires_on_time(agent, store)
        rss_1k = settled_rss(d)

        insert_pending(store, 19_000, agent.id)
        assert pending(store) == 20_000
        late_20k = expires_on_time(agent, store)
        rss_20k = settled_rss(d)
    finally:
        store.close()
    print(
        f"\nworker VmRSS: idle {baseline} KiB, 1,000 pending {rss_1k} KiB, 20,000 pending {rss_20k} KiB; "
        f"short request expired {late_1k:.2f} s / {late_20k:.2f} s after its deadline"
    )
    assert rss_20k - rss_1k < RSS_SLACK_KIB
