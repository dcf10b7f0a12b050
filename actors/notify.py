"""The notify actor: agent notifications (API.md §8), focus and the banner.

Each change becomes one notification whose id is derived from the change (its timeline entry).
It is logged once, numbered 1, 2, 3… per agent under a per-agent lock (so the numbers are also the
commit order: the SSE bridge fills gaps and drops repeats with them), and published to the
``chatpay.agent-events`` topic exchange with confirms. A redelivered change republishes the logged
bytes under the logged number, so consumers see one id, one body.
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


def _notify(cmd: RequestChanged, deps: Deps) -> None:
    agent_id = cmd.request.agent_id
    with deps.store.write() as tx:
        last = repo.lock_notifications(tx, agent_id)
        logged = repo.notification(tx, cmd.event_id)
        if logged is not None:
            seq, body = int(logged["seq"]), str(logged["body"])
        else:
            seq, body = last + 1, _render(tx, cmd)
            repo.append_notification(tx, agent_id, seq, cmd.event_id, cmd.at, body)
    if deps.events is not None:
        deps.events.publish(agent_id, cmd.event_id, seq, body.encode())


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
