"""``POST /v1/chat/events`` (API.md §6): Standard Webhooks signatures, duplicates, whole-batch rejection."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest

from tests.support.chat import ChatSystem, Script, event
from tests.support.deployment import CARD, Agent

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def requested(conversation_id: str, agent_id: str = "a-7", **fields: Any) -> dict[str, Any]:
    defaults = {"customer_id": "cu-1", "amount": 1999, "currency": "USD", "reason": "Order #4411"}
    return event(
        "payment_request.requested",
        agent_id=agent_id,
        conversation_id=conversation_id,
        **(defaults | fields),
    )


def requests_in(agent: Agent, conversation_id: str) -> list[dict[str, Any]]:
    r = agent.http.get("/v1/payment-requests", params={"conversation_id": conversation_id})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def wait_request_in(agent: Agent, conversation_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        found = requests_in(agent, conversation_id)
        if found and found[0]["status"] == status:
            assert len(found) == 1, found
            return found[0]
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def assert_rejected(r: Any, http_status: int, code: str) -> dict[str, Any]:
    assert r.status_code == http_status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    return dict(error)


@sqlite_only
def test_signature_and_timestamp(deploy):
    d = deploy()
    agent, chat = d.agent(), ChatSystem(d)
    refused: list[str] = []

    def post_with(headers: dict[str, str], body: str) -> None:
        r = chat.http.post("/v1/chat/events", content=body, headers=headers)
        assert_rejected(r, 401, "unauthorized")

    def batch() -> str:
        e = requested(f"c-refused-{len(refused)}")
        refused.append(e["conversation_id"])
        return json.dumps({"events": [e]})

    body = batch()
    other = ChatSystem(d, secret="whsec_" + "QUJD" * 8)
    post_with(other.headers(body), body)
    body = batch()
    post_with(chat.headers(body), body.replace("1999", "1998"))
    now = dt.datetime.now(dt.UTC)
    for skew in (dt.timedelta(minutes=-6), dt.timedelta(minutes=6)):
        body = batch()
        post_with(chat.headers(body, at=now + skew), body)
    body = batch()
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        headers = chat.headers(body)
        del headers[missing]
        post_with(headers, body)
    for signature in ("v1,not base64!", "garbage", "v2," + chat.headers(body)["webhook-signature"][3:]):
        post_with({**chat.headers(body), "webhook-signature": signature}, body)
    post_with({**chat.headers(body), "webhook-timestamp": "yesterday"}, body)

    # Four minutes of clock skew is within tolerance.
    ok = requested("c-skewed")
    r = chat.post([ok], at=now - dt.timedelta(minutes=4))
    assert r.status_code == 202 and r.json() == {"accepted": [ok["id"]], "duplicates": []}
    wait_request_in(agent, "c-skewed", "waiting_for_customer")
    for conversation in refused:
        assert requests_in(agent, conversation) == []


def test_replayed_webhook_and_duplicate_event_ids(deploy):
    d = deploy()
    agent, chat = d.agent(), ChatSystem(d)
    first = requested("c-dup")
    r = chat.post([first], webhook_id="msg_replayed")
    assert r.json() == {"accepted": [first["id"]], "duplicates": []}
    # The same delivery again (the chat system's own retry), then the same event in a new delivery.
    r = chat.post([first], webhook_id="msg_replayed")
    assert r.status_code == 202 and r.json() == {"accepted": [], "duplicates": [first["id"]]}
    assert chat.send(first) == {"accepted": [], "duplicates": [first["id"]]}
    created = wait_request_in(agent, "c-dup", "waiting_for_customer")

    # A gateway restart forgets what it saw in memory; the database still knows.
    assert d.gateway is not None
    d.gateway.terminate()
    d.gateway.wait(15)
    d.gateway = d._spawn("gateway", ["gateway", "--port", str(d.port)])
    d.wait_ready()
    second = requested("c-dup2")
    answer = ChatSystem(d).send(first, second)
    assert answer == {"accepted": [second["id"]], "duplicates": [first["id"]]}
    wait_request_in(agent, "c-dup2", "waiting_for_customer")
    time.sleep(0.3)
    assert [r["id"] for r in requests_in(agent, "c-dup")] == [created["id"]]
    assert d.sink.of(created["id"]) == ["payment_request.sent"]

    # Ids must be unique within a batch.
    again = requested("c-dup3")
    assert_rejected(chat.post([again, again]), 422, "invalid_request")


@sqlite_only
def test_invalid_batches_are_rejected_whole(deploy):
    d = deploy()
    agent, chat = d.agent(), ChatSystem(d)

    def rejected_at(events: list[dict[str, Any]], index: int) -> None:
        error = assert_rejected(chat.post(events), 422, "invalid_request")
        assert f"event {index}" in error["message"], error
        assert error["fields"][0]["field"].startswith(f"events[{index}]"), error

    good = requested("c-batch")
    rejected_at([good, requested("c-batch", amount=0)], 1)
    rejected_at([good, requested("c-batch", amount=10**12)], 1)
    rejected_at([good, good | {"id": "ev-2"}, requested("c-batch", currency="XXX")], 2)
    rejected_at([good, requested("c-batch", colour="blue")], 1)
    rejected_at([good, requested("c-batch", expires_in=5)], 1)
    rejected_at([requested("c-batch", reason="\x07bell")], 0)
    rejected_at([good, event("payment_request.teleported", agent_id="a-7")], 1)
    rejected_at([good, event("customer.declined")], 1)
    assert_rejected(chat.post([]), 422, "invalid_request")
    assert_rejected(chat.post([requested(f"c-many-{i}") for i in range(101)]), 422, "invalid_request")

    body = "{not json"
    r = chat.http.post("/v1/chat/events", content=body, headers=chat.headers(body))
    assert_rejected(r, 400, "invalid_request")
    body = json.dumps({"events": [good], "pad": "x" * 70_000})
    r = chat.http.post("/v1/chat/events", content=body, headers=chat.headers(body))
    assert_rejected(r, 413, "payload_too_large")
    body = json.dumps({"events": [good]})
    r = chat.http.post(
        "/v1/chat/events", content=body, headers={**chat.headers(body), "content-type": "text/plain"}
    )
    assert_rejected(r, 415, "unsupported_media_type")

    # Nothing of the rejected batches was published: a later marker is processed, "good" never is.
    chat.send(requested("c-marker"))
    wait_request_in(agent, "c-marker", "waiting_for_customer")
    time.sleep(0.5)
    assert requests_in(agent, "c-batch") == []
    assert chat.send(good) == {"accepted": [good["id"]], "duplicates": []}
    wait_request_in(agent, "c-batch", "waiting_for_customer")


def test_chat_events_drive_the_lifecycle(deploy):
    d = deploy()
    script = Script(d.sink)
    script.answers["c-retry"] = 500
    agent, chat = d.agent(), ChatSystem(d)
    chat.send(requested("c-retry", methods=["card", "gift_card"], expires_in=600))
    failed = wait_request_in(agent, "c-retry", "failed")
    assert failed["methods"] == ["card", "gift_card"] and failed["delivery"]["last_error"] == "http_500"
    del script.answers["c-retry"]
    chat.send(event("payment_request.retry_requested", agent_id="a-7", request_id=failed["id"]))
    agent.wait(failed["id"], "waiting_for_customer")

    chat.send(requested("c-cancel"), requested("c-complete"))
    to_cancel = wait_request_in(agent, "c-cancel", "waiting_for_customer")["id"]
    to_complete = wait_request_in(agent, "c-complete", "waiting_for_customer")["id"]
    # Another agent's commands change nothing.
    chat.send(event("payment_request.cancel_requested", agent_id="a-8", request_id=to_cancel))
    chat.send(event("payment_request.cancel_requested", agent_id="a-7", request_id=to_cancel))
    agent.wait(to_cancel, "canceled")
    d.sink.event(to_cancel, "payment_request.canceled")

    token = d.sink.token(to_complete)
    r = d.customer().post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD})
    assert r.status_code == 202, r.text
    agent.wait(to_complete, "submitted")
    chat.send(event("payment_request.complete_requested", agent_id="a-7", request_id=to_complete))
    agent.wait(to_complete, "completed")
    d.sink.event(to_complete, "payment_request.accepted")

    focus = event("agent.focus_changed", agent_id="a-7", customer_id=None)
    assert chat.send(focus) == {"accepted": [focus["id"]], "duplicates": []}
    # A command for a request that cannot take it is accepted and ignored, once.
    late = event("payment_request.complete_requested", agent_id="a-7", request_id=to_cancel)
    chat.send(late)
    time.sleep(0.5)
    assert chat.send(late) == {"accepted": [], "duplicates": [late["id"]]}
    assert agent.get(to_cancel)["status"] == "canceled"
