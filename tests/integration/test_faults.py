"""Faults on real processes: a worker killed with SIGKILL mid-run, and the broker going away.

A 202 means the message is durably in RabbitMQ; a 503 means nothing was accepted. Whatever dies,
every request still reaches its right final state, and nothing ends up half done.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.chat import ChatSystem, event
from tests.support.deployment import CARD, Agent, Deployment, free_port

#: Concurrent flows in flight when the worker is killed.
FLOWS = 50


def vhost_of(d: Deployment) -> str:
    return urlsplit(d.env["CHATPAY_BROKER_URL"]).path.lstrip("/")


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(
        ["rabbitmqctl", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def dead_letters(d: Deployment) -> dict[str, int]:
    """Messages in every dead-letter queue of the deployment's vhost."""
    listing = rabbitmqctl("list_queues", "-p", vhost_of(d), "--no-table-headers", "-q", "name", "messages")
    queues = dict(line.split("\t") for line in listing.strip().splitlines())
    return {name: int(n) for name, n in queues.items() if name.endswith(".XQ")}


def wait_status(agent: Agent, rid: str, status: str, timeout: float = 60) -> None:
    """Poll gently (many flows poll at once on two cores)."""
    deadline = time.monotonic() + timeout
    while agent.get(rid)["status"] != status:
        assert time.monotonic() < deadline, f"{rid} never became {status}"
        time.sleep(0.2)


def test_worker_killed_mid_run_then_restarted(deploy):
    d = deploy()
    agent, customer = d.agent(), d.customer()
    completed: list[str] = []

    def flow(i: int) -> str:
        rid = agent.create(conversation_id=f"c-{i}", customer_id=f"cu-{i}")["id"]
        token = d.sink.token(rid, timeout=60)
        r = customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD})
        assert r.status_code == 202, r.text
        wait_status(agent, rid, "submitted")
        assert agent.action(rid, "complete").status_code == 202
        d.sink.event(rid, "payment_request.accepted", timeout=60)
        completed.append(rid)
        return rid

    with ThreadPoolExecutor(FLOWS) as pool:
        futures = [pool.submit(flow, i) for i in range(FLOWS)]
        deadline = time.monotonic() + 30
        while len(completed) < FLOWS // 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(completed) < FLOWS, "every flow finished before the kill: nothing was in flight"
        d.kill_worker()
        killed_at = len(completed)
        time.sleep(1)
        d.start_worker()
        rids = [f.result(timeout=120) for f in futures]

    assert 0 < killed_at < FLOWS and len(set(rids)) == FLOWS
    for rid in rids:
        assert agent.get(rid)["status"] == "completed"
        delivered = {(e["type"], e["id"]) for e in d.sink.events if e["data"]["request_id"] == rid}
        # Redelivery may repeat a webhook, always with the same id: one id per event type.
        assert sorted(t for t, _ in delivered) == ["payment_request.accepted", "payment_request.sent"]
    for i, rid in enumerate(rids):
        timeline = agent.http.get(f"/v1/conversations/c-{i}/timeline").json()["data"]
        assert [e["event"] for e in timeline] == ["created", "delivered", "submitted", "completed"], rid
    assert set(dead_letters(d).values()) == {0}


@pytest.fixture
def broker_gone(deploy) -> Iterator[tuple[Deployment, str]]:
    """A deployment, plus a second gateway on its database whose broker URL is a closed port."""
    d = deploy()
    port = free_port()
    env = {**d.env, "CHATPAY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    with open(d.tmp / "gateway-no-broker.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatpay.cli", "gateway", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "gateway did not start"
            time.sleep(0.1)
        yield d, url
    finally:
        proc.terminate()
        proc.wait(15)


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "unavailable" and r.headers["retry-after"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_broker_answers_503_and_accepts_nothing(broker_gone):
    d, url = broker_gone
    agent = d.agent()
    rid = agent.create(conversation_id="c-ok")["id"]
    token = d.sink.token(rid)

    # The same callers, against the gateway that cannot reach RabbitMQ.
    lost = Agent(d, agent.id)
    lost.http.base_url = httpx.URL(url)
    lost_customer = httpx.Client(base_url=url, timeout=10)
    lost_chat = ChatSystem(d)
    lost_chat.http.base_url = httpx.URL(url)
    ready = lost_customer.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "ok"
    assert lost_customer.get("/healthz").status_code == 200
    body = {"conversation_id": "c-lost", "customer_id": "cu-1", "amount": 5, "currency": "USD", "reason": "x"}
    assert_unavailable(lost.http.post("/v1/payment-requests", json=body, headers={"idempotency-key": "k-1"}))
    assert_unavailable(lost.action(rid, "cancel"))
    assert_unavailable(lost_customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD}))
    assert_unavailable(lost_customer.post(f"/v1/pay/{token}/decline"))
    batch = [
        event(
            "payment_request.requested",
            agent_id=agent.id,
            conversation_id="c-lost-chat",
            customer_id="cu-1",
            amount=5,
            currency="USD",
            reason="x",
        )
    ]
    assert_unavailable(lost_chat.post(batch))
    # Reads still work.
    assert lost.get(rid)["status"] == "waiting_for_customer"

    # Nothing of that happened: the healthy gateway accepts each of them as new.
    time.sleep(0.5)
    assert agent.get(rid)["status"] == "waiting_for_customer"
    for conversation in ("c-lost", "c-lost-chat"):
        assert (
            agent.http.get("/v1/payment-requests", params={"conversation_id": conversation}).json()["data"]
            == []
        )
    assert ChatSystem(d).send(*batch) == {"accepted": [batch[0]["id"]], "duplicates": []}
    created = agent.http.post("/v1/payment-requests", json=body, headers={"idempotency-key": "k-1"})
    assert created.status_code == 202
    agent.wait(created.json()["id"], "waiting_for_customer")
    assert (
        d.customer().post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD}).status_code == 202
    )
    agent.wait(rid, "submitted")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_broker_outage_never_loses_a_202(deploy):
    """RabbitMQ refuses the vhost for a while (permissions revoked, connections closed) under load:
    every event answered 202 becomes a request, and every event answered 503, sent again as the
    answer asks, becomes exactly one request.

    A 503 can follow a publish whose confirm was lost with the connection (RabbitMQ may have kept
    the message): the event id makes the client's retry a duplicate, never a second request."""
    d = deploy()
    agent, chat = d.agent(), ChatSystem(d)
    vhost = vhost_of(d)
    accepted: list[str] = []
    refused: list[dict[str, Any]] = []
    stop = threading.Event()

    def post_events() -> None:
        i = 0
        while not stop.is_set():
            e = event(
                "payment_request.requested",
                agent_id=agent.id,
                conversation_id=f"c-out-{i}",
                customer_id="cu-1",
                amount=5,
                currency="USD",
                reason="x",
            )
            i += 1
            r = chat.post([e])
            assert r.status_code in (202, 503), r.text
            if r.status_code == 202:
                accepted.append(e["conversation_id"])
            else:
                refused.append(e)
            time.sleep(0.05)

    poster = threading.Thread(target=post_events)
    poster.start()
    try:
        time.sleep(1)
        rabbitmqctl("clear_permissions", "-p", vhost, "guest")
        rabbitmqctl("close_all_connections", "--vhost", vhost, "outage test")
        outage = len(accepted)
        time.sleep(2)
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        deadline = time.monotonic() + 30
        while len(accepted) < outage + 20:
            assert time.monotonic() < deadline, "the gateway did not recover"
            time.sleep(0.1)
    finally:
        stop.set()
        poster.join(30)
    assert refused, "the outage refused nothing"
    for e in refused:  # "retry later"
        assert chat.post([e]).status_code == 202
    assert_recovered(agent, accepted + [e["conversation_id"] for e in refused])


def assert_recovered(agent: Agent, accepted: list[str]) -> None:
    """Each conversation ends up with exactly one request, waiting for its customer."""
    deadline = time.monotonic() + 60
    for conversation in accepted:
        while (
            not (
                found := agent.http.get(
                    "/v1/payment-requests", params={"conversation_id": conversation}
                ).json()["data"]
            )
            or found[0]["status"] != "waiting_for_customer"
        ):
            assert time.monotonic() < deadline, f"202 for {conversation}, but no request: {found}"
            time.sleep(0.1)
        assert len(found) == 1
