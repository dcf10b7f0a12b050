"""The notify actor: agent notifications (API.md §8), focus and the banner.

Each change becomes one notification whose id is derived from the change; it is logged once
(the SSE replay log) and published to the ``chatpay.agent-events`` topic exchange with confirms.
A redelivered change republishes the logged bytes, so consumers see one id, one body.
"""

from __future__ import annotations

import logging

import msgspec

from actors.deps import Deps
from chatpay.clock import rfc3339
from chatpay.store import repo
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
    request = cmd.request
    with deps.store.write() as tx:
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
        body = repo.insert_agent_event(
            tx, cmd.event_id, request.agent_id, cmd.at, _encoder.encode(notification).decode()
        )
    if deps.events is not None:
        deps.events.publish(request.agent_id, cmd.event_id, body.encode())
