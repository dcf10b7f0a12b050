"""The chat system's side of API.md §6 and §9 for tests: signed event batches in, scripted answers out."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tests.support.deployment import Deployment
from tests.support.sink import ChatSink

#: Longest the sink holds a ``payment_request.sent`` (the delivery actor times out at 10 s and retries).
HOLD_SECONDS = 30.0


def event(type_: str, **fields: Any) -> dict[str, Any]:
    """One chat event with a fresh id, occurring now."""
    return {
        "id": "ev-" + uuid.uuid4().hex,
        "type": type_,
        "occurred_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **fields,
    }


class ChatSystem:
    """Posts signed batches to ``POST /v1/chat/events`` with the deployment's inbound secret."""

    def __init__(self, d: Deployment, *, secret: str | None = None) -> None:
        self.webhook = Webhook(secret or d.env["CHATPAY_CHAT_INBOUND_SECRET"])
        self.http = httpx.Client(base_url=d.url, timeout=10)

    def headers(
        self, body: str, *, webhook_id: str | None = None, at: dt.datetime | None = None
    ) -> dict[str, str]:
        webhook_id = webhook_id or "msg_" + uuid.uuid4().hex
        at = at or dt.datetime.now(dt.UTC)
        return {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self.webhook.sign(webhook_id, at, body),
        }

    def post(
        self,
        events: list[dict[str, Any]],
        *,
        webhook_id: str | None = None,
        at: dt.datetime | None = None,
    ) -> httpx.Response:
        body = json.dumps({"events": events})
        return self.http.post(
            "/v1/chat/events", content=body, headers=self.headers(body, webhook_id=webhook_id, at=at)
        )

    def send(self, *events: dict[str, Any]) -> dict[str, Any]:
        """Post ``events``; the 202 answer."""
        r = self.post(list(events))
        assert r.status_code == 202, r.text
        return dict(r.json())


class Script:
    """Answers the sink's ``payment_request.sent`` per conversation: a status code, or held in flight.

    Held deliveries wait until :meth:`release` (the delivery actor's POST times out meanwhile and is
    retried), so a request stays ``sending`` for as long as a test needs. Other events answer 204.
    """

    def __init__(self, sink: ChatSink) -> None:
        self.answers: dict[str, int] = {}
        self.held: set[str] = set()
        self._released = threading.Event()
        sink.responder = self.answer

    def answer(self, event: dict[str, Any]) -> int:
        if event["type"] != "payment_request.sent":
            return 204
        conversation = event["data"]["conversation_id"]
        if conversation in self.held:
            self._released.wait(HOLD_SECONDS)
        return self.answers.get(conversation, 204)

    def release(self) -> None:
        self._released.set()


def attempted(sink: ChatSink, request_id: str, type_: str = "payment_request.sent") -> list[dict[str, Any]]:
    """Every POST the sink answered (2xx or not) carrying ``type_`` for the request."""
    return [e for e in list(sink.attempts) if e["type"] == type_ and e["data"]["request_id"] == request_id]


def pay_token(sink: ChatSink, request_id: str, timeout: float = 15.0) -> str:
    """The pay-link token of the latest ``payment_request.sent`` the sink answered, delivered or not."""
    deadline = time.monotonic() + timeout
    while not (sent := attempted(sink, request_id)):
        assert time.monotonic() < deadline, f"no payment_request.sent for {request_id}"
        time.sleep(0.05)
    return str(sent[-1]["data"]["pay_url"].rsplit("/", 1)[1])
