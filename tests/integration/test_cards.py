"""Card sealing end to end (API.md §4 /card and /keys, §5 submit, §7): who can open what, gift cards,
purge at completion, cancel and the end of the view window, and vault key rotation."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from chatpay import sealing
from chatpay.store import open_store, repo
from tests.support.deployment import CARD, VISA, Deployment

GIFT = {"number": "GC-8841 2290 7713", "pin": "58213"}


def submitted(d: Deployment, agent, *, methods=None, gift: bool = False, **create) -> str:
    extra = {"methods": methods} if methods else {}
    rid = agent.create(**create, **extra)["id"]
    token = d.sink.token(rid)
    body = {"method": "gift_card", "gift_card": GIFT} if gift else {"method": "card", "card": CARD}
    r = d.customer().post(f"/v1/pay/{token}/submit", json=body)
    assert r.status_code == 202, r.text
    agent.wait(rid, "submitted")
    return rid


def stored_ciphertext(d: Deployment, fragment: str) -> bool:
    """Whether ``fragment`` of a ciphertext is anywhere in the database (SQLite: every file byte)."""
    url = d.env["CHATPAY_DATABASE_URL"]
    if url.startswith("sqlite:"):
        db = Path(url.removeprefix("sqlite:///"))
        return any(fragment.encode() in f.read_bytes() for f in db.parent.glob(db.name + "*"))
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT ct FROM card_envelopes").fetchall()
    return any(fragment in row[0] for row in rows)


def gone_soon(d: Deployment, fragment: str, why: str) -> None:
    """The ciphertext leaves every database file within a few sweeps (WAL checkpointed, secure_delete)."""
    deadline = time.monotonic() + 5
    while stored_ciphertext(d, fragment):
        assert time.monotonic() < deadline, why
        time.sleep(0.1)


def test_card_and_gift_card_reach_only_the_requesting_agent(deploy):
    d = deploy()
    agent, other = d.agent(), d.agent("a-8")
    rid = submitted(d, agent)
    view = agent.http.get(f"/v1/payment-requests/{rid}/card").json()
    assert view["card"] == agent.get(rid)["card"]
    assert set(view["card"]) == {"method", "brand", "last4", "exp_month", "exp_year", "available_until"}
    assert agent.open_card(rid)["number"] == VISA
    assert other.http.get(f"/v1/payment-requests/{rid}/card").status_code == 404
    assert other.http.get(f"/v1/payment-requests/{rid}").status_code == 404
    # The other agent's key cannot open this agent's envelope, nor can the wrong request id.
    envelope = sealing.Envelope(**view["envelopes"][0])
    for key, request_id in ((other.key, rid), (agent.key, "pr_other")):
        try:
            sealing.open_envelope(envelope, key, request_id)
        except sealing.SealingError:
            continue
        raise AssertionError("an envelope opened with the wrong key or info")

    # A request for card or gift card accepts a gift card; a card-only one refuses it.
    gift = submitted(d, agent, methods=["card", "gift_card"], gift=True, conversation_id="c-gift")
    masked = agent.get(gift)["card"]
    assert (masked["method"], masked["last4"], masked.get("brand")) == ("gift_card", "7713", None)
    opened = agent.open_card(gift)
    assert opened == {"method": "gift_card", "number": "GC884122907713", "pin": "58213"}
    card_only = agent.create(conversation_id="c-card-only")["id"]
    r = d.customer().post(
        f"/v1/pay/{d.sink.token(card_only)}/submit", json={"method": "gift_card", "gift_card": GIFT}
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "method"


def test_no_card_key_no_request(deploy):
    d = deploy()
    keyless = d.agent("a-nokey", register=False)
    r = keyless.http.post(
        "/v1/payment-requests",
        json={
            "conversation_id": "c-1",
            "customer_id": "cu-1",
            "amount": 100,
            "currency": "USD",
            "reason": "x",
        },
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "agent_key_required"
    # A key can be removed again; the agent is then keyless.
    agent = d.agent("a-9")
    assert agent.http.delete(f"/v1/agents/me/keys/{agent.kid}").status_code == 204
    r = agent.http.post(
        "/v1/payment-requests",
        json={
            "conversation_id": "c-2",
            "customer_id": "cu-2",
            "amount": 100,
            "currency": "USD",
            "reason": "x",
        },
    )
    assert r.json()["error"]["code"] == "agent_key_required"
    # Private key material is refused.
    jwk = sealing.public_key_to_jwk(agent.key.public_key()) | {"d": "AAAA"}
    assert agent.http.put("/v1/agents/me/keys/k2", json={"jwk": jwk}).status_code == 422


def test_completion_and_cancel_purge_the_envelopes(deploy):
    d = deploy()
    agent = d.agent()
    for action, final in (("complete", "completed"), ("cancel", "canceled")):
        rid = submitted(d, agent, conversation_id=f"c-{action}")
        fragment = agent.http.get(f"/v1/payment-requests/{rid}/card").json()["envelopes"][0]["ct"][20:60]
        assert stored_ciphertext(d, fragment)
        assert agent.action(rid, action).status_code == 202
        agent.wait(rid, final)
        assert agent.http.get(f"/v1/payment-requests/{rid}/card").status_code == 410
        gone_soon(d, fragment, f"ciphertext left after {action}")


def test_the_view_window_purges_the_card(deploy):
    d = deploy(env={"CHATPAY_CARD_VIEW_WINDOW": "2"})
    agent = d.agent()
    rid = submitted(d, agent)
    fragment = agent.http.get(f"/v1/payment-requests/{rid}/card").json()["envelopes"][0]["ct"][20:60]
    deadline = time.monotonic() + 15
    while agent.http.get(f"/v1/payment-requests/{rid}/card").status_code != 410:
        assert time.monotonic() < deadline, "the card outlived its view window"
        time.sleep(0.2)
    gone_soon(d, fragment, "ciphertext left after the view window")
    request = agent.get(rid)
    assert request["status"] == "submitted" and request["attention"] is False
    events = [e["event"] for e in agent.http.get("/v1/conversations/c-1/timeline").json()["data"]]
    assert events.count("card_purged") == 1  # (views answered before the purge may be logged after it)


def test_vault_key_rotation(deploy, tmp_path):
    """A card sealed to the old vault key while the vault is down still opens after the rotation."""
    d = deploy()
    agent = d.agent()
    d.kill_worker()
    rid_old = agent.create(conversation_id="c-old")["id"]
    # No worker: nothing is delivered, so seal the way the gateway does once the lifecycle catches up.
    d.start_worker()
    token = d.sink.token(rid_old)
    d.kill_worker()
    r = d.customer().post(f"/v1/pay/{token}/submit", json={"method": "card", "card": CARD})
    assert r.status_code == 202  # sealed to the old key, waiting in the vault queue

    old_key = d.env["CHATPAY_VAULT_PRIVATE_KEY"]
    new_private, new_public = sealing.generate_vault_keys(tmp_path / "rotated")
    d.env["CHATPAY_VAULT_PUBLIC_KEY"] = str(new_public)
    d.env["CHATPAY_VAULT_PRIVATE_KEY"] = f"{old_key},{new_private}"
    assert d.gateway is not None
    d.gateway.terminate()
    d.gateway.wait(10)
    d.gateway = d._spawn("gateway", ["gateway", "--port", str(d.port)])
    d.wait_ready()
    d.start_worker()
    assert agent.open_card(agent.wait(rid_old, "submitted")["id"])["number"] == VISA

    rid_new = submitted(d, agent, conversation_id="c-new")
    assert agent.open_card(rid_new)["number"] == VISA
    store = open_store(d.env["CHATPAY_DATABASE_URL"])
    with store.read() as tx:
        assert repo.get_request(tx, rid_new)["card_last4"] == "1111"
    store.close()
