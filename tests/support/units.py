"""Building blocks of actor unit tests: settings, a real SQLite store, a recording ``send``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from actors.deps import Deps
from chatpay import config
from chatpay.clock import now_ms
from chatpay.config import Settings
from chatpay.store import Store, open_store, repo

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
