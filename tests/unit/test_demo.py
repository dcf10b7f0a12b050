"""The demo chat receiver, message feed and token minting (gateway/demo.py)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import warnings
from typing import Any

import jwt
import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette

from gateway.demo import PAN_PLACEHOLDER, ChatLog, demo_routes, redact_card_numbers

with warnings.catch_warnings():
    # Starlette 1.x warns when its TestClient runs on httpx rather than httpx2.
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient

OUTBOUND = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
JWT_SECRET = "jwt-secret-for-tests-" + "x" * 32


@pytest.fixture
def chat_log() -> ChatLog:
    return ChatLog(max_conversations=3, max_messages=4)


@pytest.fixture
def client(chat_log: ChatLog) -> TestClient:
    app = Starlette(
        routes=demo_routes(outbound_secret=OUTBOUND, agent_jwt_secret=JWT_SECRET, chat_log=chat_log)
    )
    return TestClient(app)


def sent_event(event_id: str = "ev_1", conversation_id: str = "c-1") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "payment_request.sent",
        "occurred_at": "2026-11-26T21:00:00Z",
        "data": {
            "request_id": "pr_1",
            "conversation_id": conversation_id,
            "customer_id": "cu-9",
            "amount": 1999,
            "currency": "USD",
            "display_amount": "$19.99",
            "reason": "Order #4411 incl. tax",
            "methods": ["card"],
            "pay_url": "http://127.0.0.1:8000/pay/abc",
            "expires_at": "2026-11-26T21:30:00Z",
        },
    }


def signed(
    event: dict[str, Any], *, secret: str = OUTBOUND, msg_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    msg_id = msg_id or event["id"]
    now = dt.datetime.now(dt.UTC)
    signature = Webhook(secret).sign(msg_id, now, body.decode())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return body, headers


def test_signed_event_is_kept_under_its_conversation(client: TestClient) -> None:
    body, headers = signed(sent_event())
    answer = client.post("/demo/chat/webhook", content=body, headers=headers)
    assert answer.status_code == 204
    messages = client.get("/demo/chat/c-1/messages").json()
    assert len(messages) == 1
    assert messages[0]["type"] == "payment_request.sent"
    assert messages[0]["data"]["display_amount"] == "$19.99"
    assert messages[0]["seq"] >= 1
    assert client.get("/demo/chat/c-2/messages").json() == []


def test_redelivery_is_not_shown_twice(client: TestClient) -> None:
    for _ in range(3):
        body, headers = signed(sent_event())
        assert client.post("/demo/chat/webhook", content=body, headers=headers).status_code == 204
    assert len(client.get("/demo/chat/c-1/messages").json()) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body.replace(b"1999", b"1"), headers),
        lambda body, headers: (body, {**headers, "webhook-signature": "v1,AAAA"}),
        lambda body, headers: (body, {**headers, "webhook-signature": "garbage"}),
        lambda body, headers: (body, {k: v for k, v in headers.items() if k != "webhook-id"}),
        lambda body, headers: (body, {**headers, "webhook-timestamp": "1000"}),
        lambda body, headers: (b"\xff\xfe" + body, headers),
    ],
)
def test_unsigned_or_tampered_events_are_refused(client: TestClient, tamper: Any) -> None:
    body, headers = tamper(*signed(sent_event()))
    assert client.post("/demo/chat/webhook", content=body, headers=headers).status_code == 401
    assert client.get("/demo/chat/c-1/messages").json() == []


def test_event_signed_with_another_secret_is_refused(client: TestClient) -> None:
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    body, headers = signed(sent_event(), secret=other)
    assert client.post("/demo/chat/webhook", content=body, headers=headers).status_code == 401


def test_signed_event_without_conversation_is_acknowledged_and_ignored(client: TestClient) -> None:
    body, headers = signed({"id": "ev_x", "type": "something.else", "occurred_at": "x", "data": {}})
    assert client.post("/demo/chat/webhook", content=body, headers=headers).status_code == 204


def test_signed_body_that_is_not_json_is_400(client: TestClient) -> None:
    now = dt.datetime.now(dt.UTC)
    headers = {
        "webhook-id": "m1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(OUTBOUND).sign("m1", now, "not json"),
    }
    assert client.post("/demo/chat/webhook", content=b"not json", headers=headers).status_code == 400


def test_oversized_webhook_is_413(client: TestClient) -> None:
    event = sent_event()
    event["data"]["reason"] = "x" * 70_000
    body, headers = signed(event)
    assert client.post("/demo/chat/webhook", content=body, headers=headers).status_code == 413


def test_after_returns_only_newer_messages(client: TestClient) -> None:
    for i in range(3):
        event = sent_event(f"ev_{i}")
        event["type"] = ["payment_request.sent", "payment_request.declined", "payment_request.sent"][i]
        body, headers = signed(event)
        client.post("/demo/chat/webhook", content=body, headers=headers)
    everything = client.get("/demo/chat/c-1/messages").json()
    assert [m["id"] for m in everything] == ["ev_0", "ev_1", "ev_2"]
    newer = client.get("/demo/chat/c-1/messages", params={"after": everything[0]["seq"]}).json()
    assert [m["id"] for m in newer] == ["ev_1", "ev_2"]
    assert client.get("/demo/chat/c-1/messages", params={"after": everything[-1]["seq"]}).json() == []


@pytest.mark.parametrize("after", ["-1", "x", "1" * 40])
def test_bad_after_is_422(client: TestClient, after: str) -> None:
    assert client.get("/demo/chat/c-1/messages", params={"after": after}).status_code == 422


def test_store_is_bounded(chat_log: ChatLog) -> None:
    for i in range(10):
        chat_log.add("c-1", {"id": f"m{i}"})
    assert [m["id"] for m in chat_log.after("c-1", 0)] == ["m6", "m7", "m8", "m9"]
    for c in ("c-2", "c-3", "c-4"):
        chat_log.add(c, {"id": "m"})
    assert len(chat_log) == 3
    assert chat_log.after("c-1", 0) == []  # least recently written conversation forgotten


def test_customer_text_line_is_kept_with_card_numbers_removed(client: TestClient) -> None:
    answer = client.post(
        "/demo/chat/c-1/messages", json={"from": "customer", "text": "my card is 4111 1111 1111 1111 thanks"}
    )
    assert answer.status_code == 201
    messages = client.get("/demo/chat/c-1/messages").json()
    assert messages[0]["type"] == "chat.message"
    assert messages[0]["data"] == {"from": "customer", "text": f"my card is {PAN_PLACEHOLDER} thanks"}
    assert "1111" not in json.dumps(messages)


@pytest.mark.parametrize(
    "body",
    [
        {"from": "bot", "text": "hi"},
        {"from": "customer", "text": ""},
        {"from": "customer"},
        {"text": "x"},
        {"from": "agent", "text": "hi", "extra": 1},
        {"from": "agent", "text": "x" * 1001},
    ],
)
def test_bad_text_lines_are_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/demo/chat/c-1/messages", json=body).status_code == 422


def test_text_line_needs_json(client: TestClient) -> None:
    assert client.post("/demo/chat/c-1/messages", content=b"hi").status_code == 415
    headers = {"content-type": "application/json"}
    assert client.post("/demo/chat/c-1/messages", content=b"{", headers=headers).status_code == 400


def test_bad_conversation_id_is_404(client: TestClient) -> None:
    assert client.get("/demo/chat/c%20d/messages").status_code == 404


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5555-5555-5555-4444", PAN_PLACEHOLDER),
        ("amex 3782 822463 10005.", f"amex {PAN_PLACEHOLDER}."),
        ("order 4411 on 2026-11-26", "order 4411 on 2026-11-26"),
        ("call 555 1234", "call 555 1234"),
    ],
)
def test_redact_card_numbers(text: str, expected: str) -> None:
    assert redact_card_numbers(text) == expected


def test_token_is_an_hs256_agent_jwt(client: TestClient) -> None:
    answer = client.post("/demo/token", json={"agent_id": "a-7"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    claims = jwt.decode(answer.json()["token"], JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "a-7"
    now = dt.datetime.now(dt.UTC).timestamp()
    assert now + 11.9 * 3600 < claims["exp"] <= now + 12 * 3600 + 5


@pytest.mark.parametrize("body", [{}, {"agent_id": ""}, {"agent_id": "a 7"}, {"agent_id": "a", "x": 1}])
def test_token_needs_a_valid_agent_id(client: TestClient, body: dict[str, Any]) -> None:
    answer = client.post("/demo/token", json=body)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_request"


def test_token_needs_json(client: TestClient) -> None:
    assert client.post("/demo/token", content=b"agent_id=a-7").status_code == 415
