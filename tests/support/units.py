"""Building blocks of actor unit tests: settings, a real SQLite store, a recording ``send``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from actors.deps import Deps
from chatpay import config
from chatpay.clock import now_ms
from chatpay.config import Settings
from chatpay.ids import new_token
from chatpay.store import Store, open_store, repo
from schemas.cards import Envelope
from schemas.messages import CardSealed, CreateRequest, MaskedCard

#: Test-only secrets (Standard Webhooks secrets are ``whsec_`` + base64).
SECRETS = {
    "CHATPAY_CHAT_INBOUND_SECRET": "whsec_" + "QUJD" * 8,
    "CHATPAY_CHAT_OUTBOUND_SECRET": "whsec_" + "QUJD" * 8,
    "CHATPAY_AGENT_JWT_SECRET": "unit-test-secret",
}


def unit_settings(**env: str) -> Settings:
    return config.load({**SECRETS, **env})


def sqlite_store(tmp_path: Path) -> Store:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.migrate()
    return store


def give_key(store: Store, agent_id: str, kid: str = "k1", jwk: dict[str, Any] | None = None) -> None:
    """Register a card key for ``agent_id`` (a placeholder JWK unless one is given)."""
    with store.write() as tx:
        repo.put_agent_key(tx, agent_id, kid, json.dumps(jwk or {"kty": "EC"}), now_ms())


def recording_deps(tmp_path: Path, *, events: Any = None, **env: str) -> Deps:
    """Deps on a fresh SQLite store whose ``send`` appends to ``deps.sent``."""
    sent: list[Any] = []
    deps = Deps(
        settings=unit_settings(**env),
        store=sqlite_store(tmp_path),
        send=lambda msg, delay: sent.append(msg),
        events=events,
    )
    deps.sent = sent  # type: ignore[attr-defined]
    return deps


def create_command(
    request_id: str = "pr_1", *, agent_id: str = "a-7", conversation_id: str = "c-1", token: str | None = None
) -> CreateRequest:
    """A create for a one-minute request paid by card."""
    now = now_ms()
    return CreateRequest(
        command_id=f"create:{request_id}",
        request_id=request_id,
        agent_id=agent_id,
        conversation_id=conversation_id,
        customer_id="cu-1",
        amount=1999,
        currency="USD",
        reason="Order #4411",
        methods=["card"],
        created_at=now,
        expires_at=now + 60_000,
        token=token or new_token(),
    )


def card_sealed(request_id: str = "pr_1") -> CardSealed:
    """What the vault hands the lifecycle for a Visa ending 1111 (a placeholder envelope)."""
    return CardSealed(
        command_id=f"vault:{request_id}",
        request_id=request_id,
        card=MaskedCard(method="card", last4="1111", brand="visa", exp_month=1, exp_year=2031),
        envelopes=[Envelope(kid="k1", suite="P256-SHA256-AES256GCM", ct="AAAA")],
    )


def request_status(deps: Deps, request_id: str = "pr_1") -> str:
    with deps.store.read() as tx:
        row = repo.get_request(tx, request_id)
    assert row is not None
    return str(row["status"])
