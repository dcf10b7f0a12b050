"""The happy path over real processes, RabbitMQ, and both databases."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.deployment import CARD, VISA


def test_happy_path_to_completed(deploy):
    d = deploy()
    agent = d.agent()
    created = agent.create()
    assert created["status"] == "sending"
    rid = created["id"]
    agent.wait(rid, "waiting_for_customer")
    token = d.sink.token(rid)
    customer = d.customer()
    assert customer.get(f"/v1/pay/{token}").json()["status"] == "waiting_for_customer"
    assert customer.post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD}).status_code == 202
    submitted = agent.wait(rid, "submitted")
    assert submitted["card"]["last4"] == "1111" and submitted["attention"] is True
    assert agent.open_card(rid)["number"] == VISA
    assert agent.action(rid, "complete").status_code == 202
    agent.wait(rid, "completed")
    d.sink.event(rid, "payment_request.accepted")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_quorum_queues(deploy):
    """``CHATPAY_QUEUE_TYPE=quorum``: gateway and workers declare matching quorum queues."""
    d = deploy(env={"CHATPAY_QUEUE_TYPE": "quorum"})
    agent = d.agent()
    rid = agent.create()["id"]
    agent.wait(rid, "waiting_for_customer")
    assert agent.action(rid, "cancel").status_code == 202
    agent.wait(rid, "canceled")
    d.sink.event(rid, "payment_request.canceled")
    vhost = d.env["CHATPAY_BROKER_URL"].rsplit("/", 1)[1]
    listing = subprocess.run(["rabbitmqctl", "list_queues", "-p", vhost, "name", "type"],
                             capture_output=True, text=True, check=True).stdout
    assert "chatpay.lifecycle\tquorum" in listing
