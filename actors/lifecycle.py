"""The lifecycle actor: the only writer of payment-request state.

Every command runs in one transaction: look the command id up in the inbox (a redelivered or
duplicate command re-emits the follow-ups of the change it made, nothing more), compare-and-set
the status along ``schemas.status.TRANSITIONS``, append to the timeline, remember the command.
Follow-ups are sent after the commit; the message is acked only after that, so a crash in
between redelivers the command, which then re-emits them.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from actors.deps import Deps
from actors.followups import CARD_VIEWED, CUSTOMER_OPENED, followups
from chatpay import ids
from chatpay.clock import now_ms
from chatpay.errors import ChatpayError
from chatpay.resources import new_request_row
from chatpay.store import Row, Tx, repo
from schemas import messages as m
from schemas.status import Status, can_move

log = logging.getLogger("chatpay.lifecycle")


#: Times a command that lost a compare-and-set is run again at once (then Dramatiq retries it).
RACE_RERUNS = 3


class LostRace(ChatpayError):
    """The row changed between read and compare-and-set; the command is run again."""


def handle(cmd: m.LifecycleCommand, deps: Deps) -> None:
    # Run again at once on a fresh read: the other change is committed, and a Dramatiq retry would
    # wait its backoff (>= 100 ms; on PostgreSQL a webhook outcome racing the customer's submit
    # lost ~4% of the time and put 230 ms on the p99 of submit -> agent event).
    for attempt in range(RACE_RERUNS + 1):
        try:
            messages = _run(cmd, deps)
            break
        except LostRace:
            if attempt == RACE_RERUNS:
                raise
    deps.emit(*messages)


def _run(cmd: m.LifecycleCommand, deps: Deps) -> list[msgspec.Struct]:
    match cmd:
        case m.CreateRequest():
            return _create(cmd, deps)
        case m.RetryRequest():
            return _change(
                deps,
                cmd,
                Status.SENDING,
                "retried",
                agent_id=cmd.agent_id,
                token=cmd.token,
                # A retry without a card key would only fail again at the vault.
                guard=lambda tx, row: repo.has_agent_key(tx, row["agent_id"]),
                fields=lambda row, now: {
                    "token_hash": ids.token_hash(cmd.token),
                    "delivery_attempts": 0,
                    "delivery_last_error": None,
                },
            )
        case m.CancelRequest():
            return _change(deps, cmd, Status.CANCELED, "canceled", agent_id=cmd.agent_id)
        case m.CompleteRequest():
            return _change(deps, cmd, Status.COMPLETED, "completed", agent_id=cmd.agent_id)
        case m.DeclineRequest():
            return _change(deps, cmd, Status.DECLINED, "declined", customer=True)
        case m.ExpireRequest():
            event = "conversation_ended" if cmd.cause == "conversation_ended" else "expired"
            return _change(deps, cmd, Status.EXPIRED, event)
        case m.DeliveryOutcome():
            target = Status.WAITING_FOR_CUSTOMER if cmd.delivered else Status.FAILED
            return _change(
                deps,
                cmd,
                target,
                "delivered" if cmd.delivered else "delivery_failed",
                version=cmd.version,
                fields=lambda row, now: {
                    "delivery_attempts": cmd.attempts,
                    "delivery_last_error": cmd.last_error,
                },
            )
        case m.CardSealed():
            return _change(
                deps,
                cmd,
                Status.SUBMITTED,
                "submitted",
                customer=True,
                fields=lambda row, now: {
                    "card_method": cmd.card.method,
                    "card_brand": cmd.card.brand,
                    "card_last4": cmd.card.last4,
                    "card_exp_month": cmd.card.exp_month,
                    "card_exp_year": cmd.card.exp_year,
                    "card_available_until": now + deps.settings.card_view_window * 1000,
                },
                after=lambda tx, row: repo.insert_envelopes(
                    tx, row["id"], ((e.kid, e.suite, e.ct) for e in cmd.envelopes)
                ),
            )
        case m.FormOpened():
            return _note(deps, cmd, CUSTOMER_OPENED, allowed=(Status.WAITING_FOR_CUSTOMER,), customer=True)
        case m.CardViewed():
            return _note(
                deps,
                cmd,
                CARD_VIEWED,
                allowed=(Status.SUBMITTED,),
                agent_id=cmd.agent_id,
                fields=lambda row, now: {"card_viewed_at": row["card_viewed_at"] or now},
            )
        case m.PurgeCard():
            return _purge(deps, cmd)
    raise AssertionError(f"unhandled command {type(cmd).__name__}")


def _create(cmd: m.CreateRequest, deps: Deps) -> list[msgspec.Struct]:
    now = now_ms()
    with deps.store.write() as tx:
        seen = repo.seen_command(tx, cmd.command_id)
        if seen is not None:
            return _replay(tx, seen, deps, token=cmd.token)
        status, error = Status.SENDING, None
        repo.lock_conversation(tx, cmd.conversation_id)
        if repo.conversation_ended(tx, cmd.conversation_id):
            status = Status.EXPIRED
        elif not repo.has_agent_key(tx, cmd.agent_id):
            status, error = Status.FAILED, "agent_key_required"
        inserted = repo.insert_request(tx, new_request_row(cmd, status=status, updated_at=now, error=error))
        if not inserted:  # same idempotency key, another command: the first one stands
            repo.record_command(tx, cmd.command_id, now, request_id=cmd.request_id)
            return []
        row = _get(tx, cmd.request_id)
        event = {Status.SENDING: "created", Status.EXPIRED: "conversation_ended"}.get(status, error or "")
        return _log_change(tx, row, deps, now=now, event=event, command_id=cmd.command_id, token=cmd.token)


def _change(
    deps: Deps,
    cmd: Any,
    target: Status,
    event: str,
    *,
    agent_id: str | None = None,
    version: int | None = None,
    token: str | None = None,
    fields: Any = None,
    after: Any = None,
    guard: Any = None,
    customer: bool = False,
) -> list[msgspec.Struct]:
    """Move ``cmd.request_id`` to ``target`` if the state machine (and ``guard``) allows it.

    Anything else is a no-op, recorded so that a redelivered stale command stays one.
    """
    now = now_ms()
    with deps.store.write() as tx:
        seen = repo.seen_command(tx, cmd.command_id)
        if seen is not None:
            return _replay(tx, seen, deps, token=token)
        row = repo.get_request(tx, cmd.request_id)
        implied: list[msgspec.Struct] = []
        if customer and row is not None:
            row, implied = _link_used(tx, row, now, deps)
        current = Status(row["status"]) if row else None
        if (
            row is None
            or current is None
            or not can_move(current, target)
            or (agent_id is not None and row["agent_id"] != agent_id)
            or (version is not None and row["version"] != version)
            or (guard is not None and not guard(tx, row))
        ):
            log.info(
                "ignored %s for %s: status %s",
                type(cmd).__name__,
                cmd.request_id,
                current.value if current else "unknown",
            )
            repo.record_command(tx, cmd.command_id, now, request_id=cmd.request_id)
            return implied
        extra = fields(row, now) if fields else {}
        if target in (Status.COMPLETED, Status.CANCELED) and row["card_method"]:
            repo.delete_envelopes(tx, row["id"])
            extra["card_purged_at"] = row["card_purged_at"] or now
        row = _move(tx, row, target, now, **extra)
        if after is not None:
            after(tx, row)
        return implied + _log_change(
            tx, row, deps, now=now, event=event, command_id=cmd.command_id, token=token
        )


def _note(
    deps: Deps,
    cmd: Any,
    event: str,
    *,
    allowed: tuple[Status, ...],
    agent_id: str | None = None,
    fields: Any = None,
    customer: bool = False,
) -> list[msgspec.Struct]:
    """Record a timeline event that is not a status change (customer opened, card viewed)."""
    now = now_ms()
    with deps.store.write() as tx:
        seen = repo.seen_command(tx, cmd.command_id)
        if seen is not None:
            return _replay(tx, seen, deps)
        row = repo.get_request(tx, cmd.request_id)
        implied: list[msgspec.Struct] = []
        if customer and row is not None:
            row, implied = _link_used(tx, row, now, deps)
        if (
            row is None
            or Status(row["status"]) not in allowed
            or (agent_id is not None and row["agent_id"] != agent_id)
        ):
            repo.record_command(tx, cmd.command_id, now, request_id=cmd.request_id)
            return implied
        if fields is not None:
            repo.update_fields(tx, row["id"], **fields(row, now))
            row = _get(tx, row["id"])
        return implied + _log_change(tx, row, deps, now=now, event=event, command_id=cmd.command_id)


def _link_used(tx: Tx, row: Row, now: int, deps: Deps) -> tuple[Row, list[msgspec.Struct]]:
    """The customer acted on the pay link: it was delivered, whatever the webhook answer says yet.

    The chat system may show the link before the delivery outcome reaches us; a request still
    ``sending`` moves to ``waiting_for_customer`` first, so the customer's action applies.
    """
    if row["status"] != Status.SENDING:
        return row, []
    row = _move(tx, row, Status.WAITING_FOR_CUSTOMER, now)
    return row, _log_change(tx, row, deps, now=now, event="delivered")


def _purge(deps: Deps, cmd: m.PurgeCard) -> list[msgspec.Struct]:
    """Delete the sealed card at ``available_until`` (completion and cancel purge on their own)."""
    now = now_ms()
    with deps.store.write() as tx:
        seen = repo.seen_command(tx, cmd.command_id)
        if seen is not None:
            return _replay(tx, seen, deps)
        row = repo.get_request(tx, cmd.request_id)
        if row is None or row["card_purged_at"] is not None:
            return []
        repo.delete_envelopes(tx, row["id"])
        repo.update_fields(tx, row["id"], card_purged_at=now)
        row = _get(tx, row["id"])
        return _log_change(tx, row, deps, now=now, event="card_purged", command_id=cmd.command_id)


def _move(tx: Tx, row: Row, target: Status, now: int, **fields: Any) -> Row:
    """Compare-and-set ``row`` from its status (and version) to ``target``; the changed row."""
    changed = repo.transition(
        tx, row["id"], [Status(row["status"])], target, now, version=row["version"], **fields
    )
    if changed is None:
        raise LostRace(f"{row['id']} changed concurrently")
    return changed


def _log_change(
    tx: Tx,
    row: Row,
    deps: Deps,
    *,
    now: int,
    event: str,
    command_id: str | None = None,
    token: str | None = None,
) -> list[msgspec.Struct]:
    """Append the change to the timeline, remember the command that made it, and its follow-ups."""
    seq = repo.add_timeline(tx, row, at=now, status=row["status"], event=event)
    if command_id is not None:
        repo.record_command(tx, command_id, now, request_id=row["id"], timeline_seq=seq)
    return followups(tx, row, seq=seq, at=now, event=event, public_url=deps.settings.public_url, token=token)


def _replay(tx: Tx, seen: Row, deps: Deps, *, token: str | None = None) -> list[msgspec.Struct]:
    """A command seen before: re-emit its follow-ups if nothing has changed the request since."""
    if seen["timeline_seq"] is None:
        return []
    entry = repo.timeline_entry(tx, seen["timeline_seq"])
    row = repo.get_request(tx, seen["request_id"])
    if entry is None or row is None or row["version"] != entry["version"]:
        return []
    if token is not None and ids.token_hash(token) != row["token_hash"]:
        # A duplicate made with another capability (the same Idempotency-Key or chat event posted
        # twice): the pay link already sent carries the stored one; never send a dead link.
        token = None
    return followups(
        tx,
        row,
        seq=entry["seq"],
        at=entry["at"],
        event=entry["event"],
        public_url=deps.settings.public_url,
        token=token,
    )


def _get(tx: Tx, request_id: str) -> Row:
    row = repo.get_request(tx, request_id)
    assert row is not None
    return row
