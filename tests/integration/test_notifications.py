"""Agent notifications (API.md §8) on the topic exchange and over SSE; focus, banner, My Customers
(green dot) and the conversation timeline (§4). Real processes, RabbitMQ, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.support.deployment import CARD, VISA, Agent, Deployment
from tests.support.sse import AmqpTap, SseStream

#: A full flow as the agent is told about it: (type, status, attention, banner) per notification.
FULL_FLOW = [
    ("payment_request.updated", "sending", False, False),
    ("payment_request.updated", "waiting_for_customer", False, False),
    ("customer.opened_payment_form", "waiting_for_customer", False, False),
    ("payment_request.updated", "submitted", True, True),  # focus is on another customer
    ("payment_request.updated", "submitted", False, False),  # the card was viewed: green dot off
    ("payment_request.updated", "completed", False, False),
]
#: The same flow on the conversation timeline: (event, status), oldest first.
FULL_TIMELINE = [
    ("created", "sending"),
    ("delivered", "waiting_for_customer"),
    ("customer_opened", "waiting_for_customer"),
    ("submitted", "submitted"),
    ("card_viewed", "submitted"),
    ("completed", "completed"),
]


def focus(agent: Agent, customer_id: str | None) -> None:
    assert agent.http.put("/v1/agents/me/focus", json={"customer_id": customer_id}).status_code == 204


def chat_focus(d: Deployment, agent_id: str, customer_id: str | None, at: dt.datetime) -> None:
    """``agent.focus_changed`` from the chat system (signed), occurring at ``at``."""
    body = json.dumps(
        {
            "events": [
                {
                    "id": "ev-" + uuid.uuid4().hex,
                    "type": "agent.focus_changed",
                    "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "agent_id": agent_id,
                    "customer_id": customer_id,
                }
            ]
        }
    )
    msg_id, now = "msg_" + uuid.uuid4().hex, dt.datetime.now(dt.UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(d.env["CHATPAY_CHAT_INBOUND_SECRET"]).sign(msg_id, now, body),
    }
    with d.customer() as http:
        r = http.post("/v1/chat/events", content=body, headers=headers)
    assert r.status_code == 202, r.text


def submit(d: Deployment, agent: Agent, tap: AmqpTap, **create: Any) -> str:
    """A request created, delivered and paid; its id once the agent is told it is submitted."""
    rid = str(agent.create(**create)["id"])
    tap.wait_for("waiting_for_customer", request_id=rid)
    with d.customer() as customer:
        r = customer.post(f"/v1/pay/{d.sink.token(rid)}/submit", json={"method": "card", "card": CARD})
    assert r.status_code == 202, r.text
    return rid


def my_customers(agent: Agent) -> dict[str, dict[str, Any]]:
    r = agent.http.get("/v1/agents/me/customers")
    assert r.status_code == 200, r.text
    return {c["customer_id"]: c for c in r.json()["data"]}


def shape(notes: list[dict[str, Any]]) -> list[tuple[str, str, bool, bool]]:
    return [(n["type"], n["request"]["status"], n["request"]["attention"], n["banner"]) for n in notes]


def test_full_flow(deploy):
    """Exactly the expected sequence on ``agent.a-7`` (and over SSE), nothing on ``agent.a-8``;
    the green dot on My Customers; the timeline."""
    d = deploy()
    broker = d.env["CHATPAY_BROKER_URL"]
    a7 = d.agent("a-7")
    tap7, tap8 = AmqpTap(broker, "a-7"), AmqpTap(broker, "a-8")
    sse = SseStream(d.url, d.token("a-7"))
    customer = d.customer()
    focus(a7, "cu-2")
    try:
        rid = str(a7.create(conversation_id="c-1", customer_id="cu-1")["id"])
        tap7.wait_for("waiting_for_customer")
        token = d.sink.token(rid)
        assert customer.post(f"/v1/pay/{token}/open").status_code == 204
        tap7.wait(3)
        assert (
            customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD}).status_code == 202
        )
        tap7.wait(4)
        listed = my_customers(a7)
        assert listed["cu-1"]["attention"] is True
        assert listed["cu-1"]["conversation_id"] == "c-1"
        assert [r["id"] for r in listed["cu-1"]["requests"]] == [rid]

        assert a7.open_card(rid)["number"] == VISA
        tap7.wait(5)
        assert my_customers(a7)["cu-1"]["attention"] is False
        assert a7.action(rid, "complete").status_code == 202
        notes = tap7.wait(6)
        assert "cu-1" not in my_customers(a7)

        assert shape(tap7.quiet(0.3)) == FULL_FLOW
        assert len({n["id"] for n in notes}) == 6
        assert all(n["id"].startswith("ev_") for n in notes)
        assert tap7.message_ids == [n["id"] for n in notes]
        assert tap7.seqs == [1, 2, 3, 4, 5, 6]
        for n in notes:
            assert (n["agent_id"], n["customer_id"], n["conversation_id"]) == ("a-7", "cu-1", "c-1")
            assert n["request"]["id"] == rid
        assert notes[3]["request"]["card"]["last4"] == "1111"
        assert VISA not in json.dumps(notes)

        assert sse.wait(6) == notes
        assert sse.ids == [n["id"] for n in notes]
        assert tap8.quiet(0.2) == []

        r = a7.http.get("/v1/conversations/c-1/timeline")
        assert r.status_code == 200
        entries = r.json()["data"]
        assert [(e["event"], e["status"]) for e in entries] == FULL_TIMELINE
        assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
        assert {e["request_id"] for e in entries} == {rid}
        assert entries[3]["status_label"] == "VIEW CARD"
        with d.agent("a-8", register=False).http as a8:
            assert a8.get("/v1/conversations/c-1/timeline").json() == {"data": []}
    finally:
        customer.close()
        sse.close()
        tap7.close()
        tap8.close()


def test_banner_follows_focus(deploy):
    """``banner`` is true exactly when a card arrives while the focus is elsewhere or unset;
    focus comes from the agent (PUT) and from the chat system, and an older change never wins."""
    d = deploy()
    agent = d.agent("a-7")
    tap = AmqpTap(d.env["CHATPAY_BROKER_URL"], "a-7")
    try:
        rid = submit(d, agent, tap, conversation_id="c-1", customer_id="cu-1")
        assert tap.wait_for("submitted", request_id=rid)["banner"] is True  # no focus yet

        focus(agent, "cu-1")
        rid = submit(d, agent, tap, conversation_id="c-1", customer_id="cu-1")
        assert tap.wait_for("submitted", request_id=rid)["banner"] is False  # on the customer

        now = dt.datetime.now(dt.UTC)
        chat_focus(d, "a-7", None, now + dt.timedelta(seconds=1))  # left every profile
        chat_focus(d, "a-7", "cu-2", now - dt.timedelta(seconds=60))  # stale: ignored
        rid = submit(d, agent, tap, conversation_id="c-2", customer_id="cu-2")
        assert tap.wait_for("submitted", request_id=rid)["banner"] is True

        chat_focus(d, "a-7", "cu-2", now + dt.timedelta(seconds=2))
        rid = submit(d, agent, tap, conversation_id="c-2", customer_id="cu-2")
        assert tap.wait_for("submitted", request_id=rid)["banner"] is False

        assert all(not n["banner"] for n in tap.items if n["request"]["status"] != "submitted")
        dots = my_customers(agent)
        assert dots["cu-1"]["attention"] and dots["cu-2"]["attention"]
        assert len(dots["cu-1"]["requests"]) == 2
    finally:
        tap.close()
