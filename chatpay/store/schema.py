"""The schema, as DDL that runs on SQLite and PostgreSQL alike (times are epoch milliseconds)."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.status import ACTIVE, EXPIRABLE, Status

_TABLES = """
CREATE TABLE IF NOT EXISTS payment_requests (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    methods TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    delivery_attempts INTEGER NOT NULL DEFAULT 0,
    delivery_last_error TEXT,
    card_method TEXT,
    card_brand TEXT,
    card_last4 TEXT,
    card_exp_month INTEGER,
    card_exp_year INTEGER,
    card_available_until BIGINT,
    card_viewed_at BIGINT,
    card_purged_at BIGINT
);
CREATE INDEX IF NOT EXISTS pr_due ON payment_requests (expires_at)
    WHERE status IN ({expirable});
CREATE INDEX IF NOT EXISTS pr_card_due ON payment_requests (card_available_until)
    WHERE card_available_until IS NOT NULL AND card_purged_at IS NULL;
CREATE INDEX IF NOT EXISTS pr_agent ON payment_requests (agent_id, created_at, id);
CREATE INDEX IF NOT EXISTS pr_agent_active ON payment_requests (agent_id, customer_id)
    WHERE status IN ({active});
CREATE INDEX IF NOT EXISTS pr_conversation ON payment_requests (conversation_id);
CREATE TABLE IF NOT EXISTS card_envelopes (
    request_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    suite TEXT NOT NULL,
    ct TEXT NOT NULL,
    PRIMARY KEY (request_id, kid)
);
CREATE TABLE IF NOT EXISTS timeline (
    seq {serial},
    request_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    at BIGINT NOT NULL,
    status TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_conversation ON timeline (conversation_id, seq);
CREATE TABLE IF NOT EXISTS inbox (
    command_id TEXT PRIMARY KEY,
    request_id TEXT,
    timeline_seq BIGINT,
    at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_at ON inbox (at);
CREATE TABLE IF NOT EXISTS agent_keys (
    agent_id TEXT NOT NULL,
    kid TEXT NOT NULL,
    jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (agent_id, kid)
);
CREATE TABLE IF NOT EXISTS agent_focus (
    agent_id TEXT PRIMARY KEY,
    customer_id TEXT,
    at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_notification_heads (
    agent_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_notifications (
    agent_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (agent_id, seq)
);
CREATE INDEX IF NOT EXISTS agent_notifications_at ON agent_notifications (at);
CREATE TABLE IF NOT EXISTS ended_conversations (
    conversation_id TEXT PRIMARY KEY,
    at BIGINT NOT NULL
)
"""

_SERIAL = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}


def status_list(statuses: Iterable[Status]) -> str:
    """``'a', 'b'``: a status set as SQL literals (from the state machine, never from input)."""
    return ", ".join(f"'{s.value}'" for s in sorted(statuses))


def statements(dialect: str) -> list[str]:
    """The DDL statements for ``dialect``, in order."""
    ddl = (
        _TABLES.replace("{serial}", _SERIAL[dialect])
        .replace("{expirable}", status_list(EXPIRABLE))
        .replace("{active}", status_list(ACTIVE))
    )
    return [s.strip() for s in ddl.split(";") if s.strip()]
