"""The notify actor: agent notifications (API.md §8), focus and the banner.

Each change becomes one notification whose id is derived from the change (its timeline entry).
:func:`record` logs it in the transaction of the change itself (``actors/followups.py``),
numbered 1, 2, 3… per agent under a per-agent lock, so the numbers follow the order of the
changes and of their commits; the SSE bridge fills gaps and drops repeats with them. The actor
then publishes the logged bytes under the logged number to the ``chatpay.agent-events`` topic
exchange with confirms; a redelivered change publishes the same id, number and body again.
"""

from __future__ import annotations

import logging

import msgspec

from actors.deps import Deps
from chatpay.clock import rfc3339
from chatpay.store import Tx, repo
from schemas.messages import AgentNotification, FocusChanged, NotifyCommand, RequestChanged

log = logging.getLogger("chatpay.notify")
_encoder = msgspec.json.Encoder()


def handle(cmd: NotifyCommand, deps: Deps) -> None:
    match cmd:
        case RequestChanged():
            _notify(cmd, deps)
        case FocusChanged():
            with deps.store.write() as tx:
                if repo.seen_command(tx, cmd.command_id) is None:
                    repo.set_focus(tx, cmd.agent_id, cmd.customer_id, cmd.at)
                    repo.record_command(tx, cmd.command_id, cmd.at)


def record(tx: Tx, change: RequestChanged) -> tuple[int, str]:
    """Log the notification of ``change`` unless it is logged already; its (number, body)."""
    agent_id = change.request.agent_id
    last = repo.lock_notifications(tx, agent_id)
    logged = repo.notification(tx, change.event_id)
    if logged is not None:
        return int(logged["seq"]), str(logged["body"])
    body = _render(tx, change)
    repo.append_notification(tx, agent_id, last + 1, change.event_id, change.at, body)
    return last + 1, body


def _notify(cmd: RequestChanged, deps: Deps) -> None:
    with deps.store.read() as tx:
        logged = repo.notification(tx, cmd.event_id)
    if logged is not None:
        seq, body = int(logged["seq"]), str(logged["body"])
    else:  # recorded with the change, unless that was long ago and the log was pruned since
        with deps.store.write() as tx:
            seq, body = record(tx, cmd)
    if deps.events is not None:
        deps.events.publish(cmd.request.agent_id, cmd.event_id, seq, body.encode())


def _render(tx: Tx, cmd: RequestChanged) -> str:
    request = cmd.request
    banner = False
    if cmd.became_submitted:
        focus = repo.focus_of(tx, request.agent_id)
        banner = focus is None or focus["customer_id"] != request.customer_id
    notification = AgentNotification(
        id=cmd.event_id,
        type=cmd.type,
        occurred_at=rfc3339(cmd.at),
        agent_id=request.agent_id,
        customer_id=request.customer_id,
        conversation_id=request.conversation_id,
        request=request,
        banner=banner,
    )
    return _encoder.encode(notification).decode()
