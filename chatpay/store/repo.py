"""Every query chatpay runs, as small functions of a transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from chatpay.store.base import Row, Tx
from chatpay.store.schema import status_list
from schemas.status import ACTIVE, EXPIRABLE, Status

#: Status sets as SQL literals: bound parameters would hide them from the planner, which then
#: cannot use the partial indexes (a full scan per sweep; measured with scripts/pending_memory.py).
_ACTIVE = status_list(ACTIVE)
_EXPIRABLE = status_list(EXPIRABLE)


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


# ---- payment requests ------------------------------------------------------------------------------


def get_request(tx: Tx, request_id: str) -> Row | None:
    return tx.one("SELECT * FROM payment_requests WHERE id = ?", (request_id,))


def get_request_by_token(tx: Tx, token_hash: str) -> Row | None:
    return tx.one("SELECT * FROM payment_requests WHERE token_hash = ?", (token_hash,))


def insert_request(tx: Tx, fields: dict[str, Any]) -> bool:
    """Insert a new request; False when its id already exists."""
    cols = list(fields)
    sql = (
        f"INSERT INTO payment_requests ({', '.join(cols)}) VALUES ({_marks(cols)}) "
        "ON CONFLICT (id) DO NOTHING"
    )
    return tx.execute(sql, [fields[c] for c in cols]) == 1


def transition(
    tx: Tx,
    request_id: str,
    sources: Iterable[Status],
    target: Status,
    at: int,
    *,
    version: int | None = None,
    **fields: Any,
) -> Row | None:
    """Compare-and-set ``status`` from one of ``sources`` to ``target``: the new row, or None if it lost."""
    src = [s.value for s in sources]
    sets = ["status = ?", "version = version + 1", "updated_at = ?", *(f"{k} = ?" for k in fields)]
    params: list[Any] = [target.value, at, *fields.values(), request_id, *src]
    sql = f"UPDATE payment_requests SET {', '.join(sets)} WHERE id = ? AND status IN ({_marks(src)})"
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    return tx.one(sql + " RETURNING *", params)


def update_fields(tx: Tx, request_id: str, **fields: Any) -> None:
    """Set columns that are not the status (card view, purge marks, delivery counters)."""
    sets = ", ".join(f"{k} = ?" for k in fields)
    tx.execute(f"UPDATE payment_requests SET {sets} WHERE id = ?", [*fields.values(), request_id])


def list_requests(
    tx: Tx,
    agent_id: str,
    *,
    conversation_id: str | None,
    customer_id: str | None,
    status: str | None,
    limit: int,
    before: tuple[int, str] | None,
) -> list[Row]:
    """The agent's requests, newest first, keyset-paginated on (created_at, id)."""
    where: list[str] = ["agent_id = ?"]
    params: list[Any] = [agent_id]
    for col, value in (
        ("conversation_id", conversation_id),
        ("customer_id", customer_id),
        ("status", status),
    ):
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    if before is not None:
        where.append("(created_at < ? OR (created_at = ? AND id < ?))")
        params.extend([before[0], before[0], before[1]])
    sql = (
        f"SELECT * FROM payment_requests WHERE {' AND '.join(where)} "
        "ORDER BY created_at DESC, id DESC LIMIT ?"
    )
    return tx.all(sql, [*params, limit])


def active_requests_of_agent(tx: Tx, agent_id: str) -> list[Row]:
    return tx.all(
        f"SELECT * FROM payment_requests WHERE agent_id = ? AND status IN ({_ACTIVE}) "
        "ORDER BY created_at DESC, id DESC",
        [agent_id],
    )


def open_requests_in_conversation(tx: Tx, conversation_id: str) -> list[Row]:
    return tx.all(
        f"SELECT id FROM payment_requests WHERE conversation_id = ? AND status IN ({_EXPIRABLE})",
        [conversation_id],
    )


def due_for_expiry(tx: Tx, now: int, limit: int) -> list[Row]:
    return tx.all(
        f"SELECT id FROM payment_requests WHERE expires_at <= ? AND status IN ({_EXPIRABLE}) "
        "ORDER BY expires_at LIMIT ?",
        [now, limit],
    )


def due_for_purge(tx: Tx, now: int, limit: int) -> list[Row]:
    return tx.all(
        "SELECT id FROM payment_requests WHERE card_available_until IS NOT NULL "
        "AND card_purged_at IS NULL AND card_available_until <= ? ORDER BY card_available_until LIMIT ?",
        [now, limit],
    )


# ---- card envelopes ------------------------------------------------------------------------------------


def insert_envelopes(tx: Tx, request_id: str, envelopes: Iterable[tuple[str, str, str]]) -> None:
    for kid, suite, ct in envelopes:
        tx.execute(
            "INSERT INTO card_envelopes (request_id, kid, suite, ct) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (request_id, kid) DO NOTHING",
            (request_id, kid, suite, ct),
        )


def envelopes_of(tx: Tx, request_id: str) -> list[Row]:
    return tx.all(
        "SELECT kid, suite, ct FROM card_envelopes WHERE request_id = ? ORDER BY kid", (request_id,)
    )


def delete_envelopes(tx: Tx, request_id: str) -> int:
    return tx.execute("DELETE FROM card_envelopes WHERE request_id = ?", (request_id,))


# ---- timeline and inbox ----------------------------------------------------------------------------------


def add_timeline(tx: Tx, request: Row, *, at: int, status: str, event: str) -> int:
    row = tx.one(
        "INSERT INTO timeline (request_id, conversation_id, agent_id, version, at, status, event) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        (
            request["id"],
            request["conversation_id"],
            request["agent_id"],
            request["version"],
            at,
            status,
            event,
        ),
    )
    assert row is not None
    return int(row["seq"])


def timeline_entry(tx: Tx, seq: int) -> Row | None:
    return tx.one("SELECT * FROM timeline WHERE seq = ?", (seq,))


def conversation_timeline(tx: Tx, conversation_id: str, agent_id: str) -> list[Row]:
    return tx.all(
        "SELECT request_id, at, status, event FROM timeline WHERE conversation_id = ? AND agent_id = ? "
        "ORDER BY seq",
        (conversation_id, agent_id),
    )


def seen_command(tx: Tx, command_id: str) -> Row | None:
    return tx.one("SELECT * FROM inbox WHERE command_id = ?", (command_id,))


def seen_commands(tx: Tx, command_ids: Sequence[str]) -> set[str]:
    if not command_ids:
        return set()
    rows = tx.all(
        f"SELECT command_id FROM inbox WHERE command_id IN ({_marks(command_ids)})", list(command_ids)
    )
    return {r["command_id"] for r in rows}


def record_command(
    tx: Tx, command_id: str, at: int, *, request_id: str | None = None, timeline_seq: int | None = None
) -> None:
    """Remember a handled command (a second insert of the same id fails the transaction)."""
    tx.execute(
        "INSERT INTO inbox (command_id, request_id, timeline_seq, at) VALUES (?, ?, ?, ?)",
        (command_id, request_id, timeline_seq, at),
    )


def prune(tx: Tx, *, inbox_before: int, events_before: int) -> None:
    tx.execute("DELETE FROM inbox WHERE at < ?", (inbox_before,))
    tx.execute("DELETE FROM agent_notifications WHERE at < ?", (events_before,))


# ---- agents ------------------------------------------------------------------------------------


def agent_keys(tx: Tx, agent_id: str) -> list[Row]:
    return tx.all("SELECT kid, jwk FROM agent_keys WHERE agent_id = ? ORDER BY kid", (agent_id,))


def has_agent_key(tx: Tx, agent_id: str) -> bool:
    return tx.one("SELECT 1 AS ok FROM agent_keys WHERE agent_id = ? LIMIT 1", (agent_id,)) is not None


def put_agent_key(tx: Tx, agent_id: str, kid: str, jwk: str, at: int) -> None:
    tx.execute(
        "INSERT INTO agent_keys (agent_id, kid, jwk, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (agent_id, kid) DO UPDATE SET jwk = excluded.jwk",
        (agent_id, kid, jwk, at),
    )


def delete_agent_key(tx: Tx, agent_id: str, kid: str) -> None:
    tx.execute("DELETE FROM agent_keys WHERE agent_id = ? AND kid = ?", (agent_id, kid))


def focus_of(tx: Tx, agent_id: str) -> Row | None:
    return tx.one("SELECT customer_id, at FROM agent_focus WHERE agent_id = ?", (agent_id,))


def set_focus(tx: Tx, agent_id: str, customer_id: str | None, at: int) -> None:
    """Record the agent's focus unless a newer one is already recorded."""
    tx.execute(
        "INSERT INTO agent_focus (agent_id, customer_id, at) VALUES (?, ?, ?) "
        "ON CONFLICT (agent_id) DO UPDATE SET customer_id = excluded.customer_id, at = excluded.at "
        "WHERE agent_focus.at <= excluded.at",
        (agent_id, customer_id, at),
    )


def lock_notifications(tx: Tx, agent_id: str) -> int:
    """Take the agent's notification lock until commit; the last sequence number handed out.

    Sequence numbers are dense per agent and, because they are taken under this lock, also the
    order in which the agent's notifications commit: whoever has seen number n can read 1…n.
    """
    row = tx.one(
        "INSERT INTO agent_notification_heads (agent_id, seq) VALUES (?, 0) "
        "ON CONFLICT (agent_id) DO UPDATE SET seq = agent_notification_heads.seq RETURNING seq",
        (agent_id,),
    )
    assert row is not None
    return int(row["seq"])


def notification(tx: Tx, notification_id: str) -> Row | None:
    return tx.one("SELECT seq, body FROM agent_notifications WHERE id = ?", (notification_id,))


def append_notification(tx: Tx, agent_id: str, seq: int, notification_id: str, at: int, body: str) -> None:
    """Log notification ``seq`` of the agent (under :func:`lock_notifications`, with seq = last + 1)."""
    tx.execute(
        "INSERT INTO agent_notifications (agent_id, seq, id, at, body) VALUES (?, ?, ?, ?, ?)",
        (agent_id, seq, notification_id, at, body),
    )
    tx.execute("UPDATE agent_notification_heads SET seq = ? WHERE agent_id = ?", (seq, agent_id))


def notification_head(tx: Tx, agent_id: str) -> int:
    """The agent's last sequence number (0 before its first notification)."""
    row = tx.one("SELECT seq FROM agent_notification_heads WHERE agent_id = ?", (agent_id,))
    return int(row["seq"]) if row else 0


def notification_seq(tx: Tx, agent_id: str, notification_id: str) -> int | None:
    """The sequence number of one of the agent's logged notifications; None when unknown or pruned."""
    row = tx.one(
        "SELECT seq FROM agent_notifications WHERE id = ? AND agent_id = ?", (notification_id, agent_id)
    )
    return int(row["seq"]) if row else None


def notifications_between(tx: Tx, agent_id: str, after: int, before: int | None, limit: int) -> list[Row]:
    """The agent's logged notifications with ``after < seq < before``, oldest first."""
    sql = "SELECT seq, id, body FROM agent_notifications WHERE agent_id = ? AND seq > ?"
    params: list[Any] = [agent_id, after]
    if before is not None:
        sql += " AND seq < ?"
        params.append(before)
    return tx.all(sql + " ORDER BY seq LIMIT ?", [*params, limit])


def lock_conversation(tx: Tx, conversation_id: str) -> None:
    """Order a conversation's end against creates in it (neither may miss the other)."""
    tx.lock("conversation:" + conversation_id)


def end_conversation(tx: Tx, conversation_id: str, at: int) -> None:
    tx.execute(
        "INSERT INTO ended_conversations (conversation_id, at) VALUES (?, ?) "
        "ON CONFLICT (conversation_id) DO NOTHING",
        (conversation_id, at),
    )


def conversation_ended(tx: Tx, conversation_id: str) -> bool:
    return (
        tx.one("SELECT 1 AS ok FROM ended_conversations WHERE conversation_id = ?", (conversation_id,))
        is not None
    )
