"""Every transition of API.md §3 driven through HTTP only, on real processes, RabbitMQ, SQLite and PostgreSQL.

Each test walks requests into the states it needs and, at every state reached, checks that every
action the contract does not allow answers 409 (410 for a customer on an expired or canceled request).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.chat import ChatSystem, Script, event, pay_token
from tests.support.deployment import CARD, VISA, Agent, Deployment

#: API.md §3, written out: the statuses each status may move to.
ALLOWED = {
    "sending": {"waiting_for_customer", "failed", "expired", "canceled"},
    "failed": {"sending", "canceled", "expired"},
    "waiting_for_customer": {"submitted", "declined", "expired", "canceled"},
    "submitted": {"completed", "canceled"},
    "completed": set(),
    "declined": set(),
    "expired": set(),
    "canceled": set(),
}
LABELS = {
    "sending": "SENDING",
    "waiting_for_customer": "WAITING FOR CUSTOMER",
    "submitted": "VIEW CARD",
    "completed": "PAYMENT ACCEPTED",
    "declined": "CUSTOMER DECLINED PAYMENT",
    "expired": "REQUEST EXPIRED",
    "failed": "TRY AGAIN",
    "canceled": "CANCELED",
}
#: Agent actions and the status each asks for.
AGENT_ACTIONS = {"retry": "sending", "cancel": "canceled", "complete": "completed"}
#: What a customer action on the pay link answers in each status (API.md §5).
CUSTOMER_ANSWER = {
    "sending": 2,
    "waiting_for_customer": 2,
    "failed": 409,
    "submitted": 409,
    "declined": 409,
    "completed": 409,
    "expired": 410,
    "canceled": 410,
}
#: What ``GET …/card`` answers in each status.
CARD_ANSWER = {
    "sending": 409,
    "waiting_for_customer": 409,
    "failed": 409,
    "declined": 409,
    "submitted": 200,
    "completed": 410,
    "expired": 410,
    "canceled": 410,
}


def assert_error(r: httpx.Response, http_status: int, status: str) -> None:
    assert r.status_code == http_status, r.text
    error = r.json()["error"]
    assert error["code"] == {409: "conflict", 410: "gone"}[http_status]
    assert error["status"] == status


def assert_refusals(agent: Agent, customer: httpx.Client | None, rid: str, token: str | None) -> str:
    """The request's status; every agent and customer action it does not allow is refused."""
    res = agent.get(rid)
    status = res["status"]
    assert res["status_label"] == LABELS[status]
    for action, target in AGENT_ACTIONS.items():
        if target not in ALLOWED[status]:
            assert_error(agent.action(rid, action), 409, status)
    card = CARD_ANSWER[status]
    if card != 200:
        assert_error(agent.http.get(f"/v1/payment-requests/{rid}/card"), card, status)
    if customer is not None and token is not None:
        assert customer.get(f"/v1/pay/{token}").json()["status"] == status
        answer = CUSTOMER_ANSWER[status]
        if answer != 2:
            assert_error(customer.post(f"/v1/pay/{token}/open"), answer, status)
            assert_error(customer.post(f"/v1/pay/{token}/decline"), answer, status)
            submit = customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD})
            assert_error(submit, answer, status)
    return str(status)


def submit(customer: httpx.Client, token: str) -> None:
    r = customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD})
    assert r.status_code == 202 and r.json() == {"status": "submitted"}, r.text


def timeline(agent: Agent, conversation_id: str, rid: str) -> list[tuple[str, str]]:
    r = agent.http.get(f"/v1/conversations/{conversation_id}/timeline")
    assert r.status_code == 200, r.text
    return [(e["event"], e["status"]) for e in r.json()["data"] if e["request_id"] == rid]


def wait_timeline(agent: Agent, conversation_id: str, rid: str, expected: list[tuple[str, str]]) -> None:
    deadline = time.monotonic() + 10
    while (got := timeline(agent, conversation_id, rid)) != expected:
        assert time.monotonic() < deadline, got
        time.sleep(0.05)


def submitted_request(d: Deployment, agent: Agent, conversation_id: str) -> tuple[str, str]:
    """A request the customer has paid: (id, pay token)."""
    rid = agent.create(conversation_id=conversation_id)["id"]
    token = d.sink.token(rid)
    submit(d.customer(), token)
    agent.wait(rid, "submitted")
    return rid, token


def test_happy_path_to_submitted_and_completed(deploy):
    d = deploy()
    agent, customer = d.agent(), d.customer()
    created = agent.create(conversation_id="c-happy", expires_in=600)
    rid = created["id"]
    assert (created["status"], created["status_label"], created["card"]) == ("sending", "SENDING", None)
    waiting = agent.wait(rid, "waiting_for_customer")
    assert waiting["delivery"] == {"attempts": 1, "last_error": None} and waiting["attention"] is False
    token = d.sink.token(rid)
    assert assert_refusals(agent, customer, rid, token) == "waiting_for_customer"
    view = customer.get(f"/v1/pay/{token}").json()
    assert view["display_amount"] == "$19.99" and "id" not in view and "agent_id" not in view

    assert customer.post(f"/v1/pay/{token}/open").status_code == 204
    submit(customer, token)
    paid = agent.wait(rid, "submitted")
    assert paid["attention"] is True
    assert paid["card"] == {
        "method": "card",
        "brand": "visa",
        "last4": "1111",
        "exp_month": 12,
        "exp_year": 2031,
        "available_until": paid["card"]["available_until"],
    }
    assert assert_refusals(agent, customer, rid, token) == "submitted"
    card = agent.open_card(rid)
    assert (card["number"], card["cvc"]) == (VISA, CARD["cvc"])
    agent.wait(rid, "submitted", attention=False)

    r = agent.action(rid, "complete")
    assert r.status_code == 202 and r.json()["status"] == "completed", r.text
    agent.wait(rid, "completed")
    assert d.sink.event(rid, "payment_request.accepted")["data"]["conversation_id"] == "c-happy"
    assert assert_refusals(agent, customer, rid, token) == "completed"
    wait_timeline(
        agent,
        "c-happy",
        rid,
        [
            ("created", "sending"),
            ("delivered", "waiting_for_customer"),
            ("customer_opened", "waiting_for_customer"),
            ("submitted", "submitted"),
            ("card_viewed", "submitted"),
            ("completed", "completed"),
        ],
    )
    assert d.sink.of(rid) == ["payment_request.sent", "payment_request.accepted"]


def test_decline_on_the_pay_link_and_from_the_chat(deploy):
    d = deploy()
    agent, customer, chat = d.agent(), d.customer(), ChatSystem(d)
    rid = agent.create(conversation_id="c-decline")["id"]
    token = d.sink.token(rid)
    r = customer.post(f"/v1/pay/{token}/decline")
    assert r.status_code == 202 and r.json() == {"status": "declined"}
    agent.wait(rid, "declined")
    d.sink.event(rid, "payment_request.declined")
    assert assert_refusals(agent, customer, rid, token) == "declined"

    other = agent.create(conversation_id="c-decline")["id"]
    agent.wait(other, "waiting_for_customer")
    chat.send(event("customer.declined", request_id=other))
    agent.wait(other, "declined")
    d.sink.event(other, "payment_request.declined")
    assert timeline(agent, "c-decline", other)[-1] == ("declined", "declined")


def test_expiry_from_sending_waiting_and_failed(deploy):
    # A delivery deadline past the expiry, so the held request is still being delivered when it expires.
    d = deploy(env={"CHATPAY_DELIVERY_DEADLINE": "60"})
    script = Script(d.sink)
    script.answers["c-fail"] = 400
    script.held.add("c-send")
    agent, customer = d.agent(), d.customer()
    try:
        ids = {
            c: agent.create(conversation_id=c, expires_in=10)["id"] for c in ("c-wait", "c-fail", "c-send")
        }
        agent.wait(ids["c-wait"], "waiting_for_customer")
        agent.wait(ids["c-fail"], "failed")
        assert agent.get(ids["c-send"])["status"] == "sending"
        for conversation, rid in ids.items():
            expired = agent.wait(rid, "expired", timeout=20)
            assert expired["status_label"] == "REQUEST EXPIRED"
            d.sink.event(rid, "payment_request.expired")
            assert timeline(agent, conversation, rid)[-1] == ("expired", "expired")
        for rid in (ids["c-wait"], ids["c-fail"]):
            assert assert_refusals(agent, customer, rid, pay_token(d.sink, rid)) == "expired"
    finally:
        script.release()
    # The held delivery now succeeds: a late "delivered" does not bring the request back.
    late = ids["c-send"]
    d.sink.event(late, "payment_request.sent")
    assert assert_refusals(agent, customer, late, pay_token(d.sink, late)) == "expired"
    time.sleep(0.5)
    assert agent.get(late)["status"] == "expired"


def test_conversation_ended_expires_what_is_still_open(deploy):
    d = deploy()
    script = Script(d.sink)
    agent, customer, chat = d.agent(), d.customer(), ChatSystem(d)
    try:
        script.answers["c-end"] = 400
        failed = agent.create(conversation_id="c-end")["id"]
        agent.wait(failed, "failed")
        del script.answers["c-end"]
        waiting = agent.create(conversation_id="c-end")["id"]
        agent.wait(waiting, "waiting_for_customer")
        paid, _ = submitted_request(d, agent, "c-end")
        elsewhere = agent.create(conversation_id="c-elsewhere")["id"]
        agent.wait(elsewhere, "waiting_for_customer")
        script.held.add("c-end")
        sending = agent.create(conversation_id="c-end")["id"]
        time.sleep(0.3)
        assert agent.get(sending)["status"] == "sending"

        answer = chat.send(ended := event("conversation.ended", conversation_id="c-end"))
        assert answer == {"accepted": [ended["id"]], "duplicates": []}
        for rid in (failed, waiting, sending):
            agent.wait(rid, "expired")
            d.sink.event(rid, "payment_request.expired")
            assert timeline(agent, "c-end", rid)[-1] == ("conversation_ended", "expired")
        assert agent.get(paid)["status"] == "submitted"
        assert agent.get(elsewhere)["status"] == "waiting_for_customer"
        assert_refusals(agent, customer, waiting, d.sink.token(waiting))
        # A request made in the ended conversation afterwards is born expired.
        late = agent.create(conversation_id="c-end")["id"]
        agent.wait(late, "expired")
    finally:
        script.release()
    time.sleep(0.5)
    assert agent.get(sending)["status"] == "expired"


def test_cancel_from_each_allowed_state(deploy):
    d = deploy()
    script = Script(d.sink)
    script.answers["c-failed"] = 400
    script.held.add("c-sending")
    agent, customer = d.agent(), d.customer()
    try:
        failed = agent.create(conversation_id="c-failed")["id"]
        agent.wait(failed, "failed")
        waiting = agent.create(conversation_id="c-waiting")["id"]
        agent.wait(waiting, "waiting_for_customer")
        paid, paid_token = submitted_request(d, agent, "c-submitted")
        sending = agent.create(conversation_id="c-sending")["id"]
        time.sleep(0.3)
        cases = {
            sending: ("sending", None),
            failed: ("failed", pay_token(d.sink, failed)),
            waiting: ("waiting_for_customer", d.sink.token(waiting)),
            paid: ("submitted", paid_token),
        }
        for rid, (status, token) in cases.items():
            assert assert_refusals(agent, customer, rid, token) == status
            r = agent.action(rid, "cancel")
            assert r.status_code == 202 and r.json()["status"] == "canceled", r.text
        for rid, (_, token) in cases.items():
            agent.wait(rid, "canceled")
            d.sink.event(rid, "payment_request.canceled")
            assert assert_refusals(agent, customer, rid, token) == "canceled"
    finally:
        script.release()
    d.sink.event(sending, "payment_request.sent")
    time.sleep(0.5)
    assert agent.get(sending)["status"] == "canceled"


def test_idempotent_create(deploy):
    d = deploy()
    agent, other = d.agent(), d.agent("a-8")
    body: dict[str, Any] = {"conversation_id": "c-idem", "idempotency_key": "order-4411"}
    first = agent.create(**body)
    assert agent.create(**body)["id"] == first["id"]
    agent.wait(first["id"], "waiting_for_customer")
    again = agent.create(**body)
    assert (again["id"], again["status"]) == (first["id"], "waiting_for_customer")
    # The same key with other parameters is a mistake, not a new request.
    r = agent.http.post(
        "/v1/payment-requests",
        headers={"idempotency-key": "order-4411"},
        json={
            "conversation_id": "c-idem",
            "customer_id": "cu-1",
            "amount": 2000,
            "currency": "USD",
            "reason": "Order #4411 incl. tax",
        },
    )
    assert_error(r, 409, "waiting_for_customer")
    # Keys are per agent.
    theirs = other.create(**body)["id"]
    assert theirs != first["id"]
    other.wait(theirs, "waiting_for_customer")
    listed = agent.http.get("/v1/payment-requests", params={"conversation_id": "c-idem"}).json()
    assert [r["id"] for r in listed["data"]] == [first["id"]]
    time.sleep(0.3)
    assert d.sink.of(first["id"]) == ["payment_request.sent"]
    # An agent without a card key cannot create (nothing could be sealed for it).
    keyless = d.agent("a-nokey", register=False)
    r = keyless.http.post(
        "/v1/payment-requests",
        json={
            "conversation_id": "c-idem",
            "customer_id": "cu-1",
            "amount": 1,
            "currency": "USD",
            "reason": "x",
        },
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "agent_key_required"
