"""Identifiers: time-ordered ids, ids derived from idempotency keys, capability tokens."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets

from chatpay.clock import now_ms

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

#: Bytes of CSPRNG output in a customer's pay-link token (256 bits).
TOKEN_BYTES = 32


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def ulid() -> str:
    """A 26-character ULID: 48 bits of milliseconds, 80 random bits."""
    return _b32(now_ms(), 10) + _b32(int.from_bytes(os.urandom(10), "big"), 16)


def derived(*parts: str) -> str:
    """A 26-character id that is a pure function of ``parts`` (for idempotency)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return _b32(int.from_bytes(digest[:17], "big") >> 6, 26)


def request_id_for_key(agent_id: str, idempotency_key: str) -> str:
    """The payment-request id an agent's ``Idempotency-Key`` always maps to."""
    return "pr_" + derived("idempotency-key", agent_id, idempotency_key)


def request_id_for_event(event_id: str) -> str:
    """The payment-request id a chat ``payment_request.requested`` event always maps to."""
    return "pr_" + derived("chat-event", event_id)


def new_request_id() -> str:
    return "pr_" + ulid()


def new_token() -> str:
    """A pay-link capability: 256 bits from the OS CSPRNG, base64url."""
    return base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """What the database keeps of a token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()
