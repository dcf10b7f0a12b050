"""Outbound chat delivery (API.md §9): signed, retried on 408/429/5xx and connection errors, final on
other 4xx; ``payment_request.sent`` that cannot be delivered makes the request ``failed`` (TRY AGAIN)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chat import attempted
from tests.support.deployment import Deployment, free_port

#: ``CHATPAY_DELIVERY_ATTEMPTS`` left at its default.
ATTEMPTS = 6


def answer_sent(sink: Any, answers: dict[str, Iterator[int]]) -> None:
    """The sink answers each ``payment_request.sent`` of a conversation with its next scripted status."""

    def respond(event: dict[str, Any]) -> int:
        script = answers.get(event["data"]["conversation_id"])
        return next(script, 204) if script and event["type"] == "payment_request.sent" else 204

    sink.responder = respond


def test_retried_until_delivered(deploy):
    d = deploy()
    answer_sent(d.sink, {"c-flaky": iter([500, 503, 502]), "c-busy": iter([429, 408])})
    agent = d.agent()
    for conversation, attempts in (("c-flaky", 4), ("c-busy", 3)):
        rid = agent.create(conversation_id=conversation)["id"]
        agent.wait(rid, "waiting_for_customer", delivery={"attempts": attempts, "last_error": None})
        tries = attempted(d.sink, rid)
        assert len(tries) == attempts and len({t["id"] for t in tries}) == 1
    assert d.sink.bad_signatures == 0


def test_failed_after_every_attempt_then_retry(deploy):
    d = deploy()
    answer_sent(d.sink, {"c-down": iter([500] * ATTEMPTS)})
    agent, customer = d.agent(), d.customer()
    rid = agent.create(conversation_id="c-down")["id"]
    failed = agent.wait(rid, "failed", delivery={"attempts": ATTEMPTS, "last_error": "http_500"})
    assert failed["status_label"] == "TRY AGAIN"
    assert len(attempted(d.sink, rid)) == ATTEMPTS
    old_link = attempted(d.sink, rid)[-1]["data"]["pay_url"]

    r = agent.action(rid, "retry")
    assert r.status_code == 202 and r.json()["status"] == "sending", r.text
    agent.wait(rid, "waiting_for_customer", delivery={"attempts": 1, "last_error": None})
    sent = attempted(d.sink, rid)
    assert len(sent) == ATTEMPTS + 1 and sent[-1]["id"] != sent[0]["id"]
    new_link = sent[-1]["data"]["pay_url"]
    # The resent link carries a fresh capability; the undelivered one no longer opens the request.
    token = new_link.rsplit("/", 1)[1]
    assert customer.get(f"/v1/pay/{token}").json()["status"] == "waiting_for_customer"
    assert customer.get(f"/v1/pay/{old_link.rsplit('/', 1)[1]}").status_code == 404
    timeline = agent.http.get("/v1/conversations/c-down/timeline").json()["data"]
    assert [(e["event"], e["status"]) for e in timeline] == [
        ("created", "sending"),
        ("delivery_failed", "failed"),
        ("retried", "sending"),
        ("delivered", "waiting_for_customer"),
    ]


def test_client_errors_are_final(deploy):
    d = deploy()
    answer_sent(d.sink, {"c-400": itertools.repeat(400), "c-404": itertools.repeat(404)})
    agent = d.agent()
    for conversation, error in (("c-400", "http_400"), ("c-404", "http_404")):
        rid = agent.create(conversation_id=conversation)["id"]
        agent.wait(rid, "failed", delivery={"attempts": 1, "last_error": error})
        assert len(attempted(d.sink, rid)) == 1


@pytest.fixture
def unreachable_chat(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    """A deployment whose chat webhook URL is a port nobody listens on."""
    d = Deployment(
        tmp_path / "unreachable",
        broker_url=broker_url,
        database_url=f"sqlite:///{tmp_path / 'chatpay.db'}",
        webhook_url=f"http://127.0.0.1:{free_port()}/",
    )
    try:
        yield d.start()
    finally:
        d.stop()


def test_connection_errors_are_retried_then_fail(unreachable_chat: Deployment):
    d = unreachable_chat
    agent = d.agent()
    rid = agent.create(conversation_id="c-nowhere")["id"]
    failed = agent.wait(rid, "failed")
    assert failed["delivery"]["attempts"] == ATTEMPTS
    assert failed["delivery"]["last_error"].startswith("connection_error")
    # Other events that cannot be delivered change nothing (the request is already final).
    assert agent.action(rid, "cancel").status_code == 202
    agent.wait(rid, "canceled")
