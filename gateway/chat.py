"""The chat-system endpoint (API.md §6): signed batches of events, each id an idempotency key."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatpay import ids
from chatpay.clock import from_datetime, now_ms
from chatpay.store import repo
from gateway import auth
from gateway.context import gw
from gateway.http import ApiError, json_response, read_limited, require_json, validation_field
from gateway.validation import create_errors, methods_of
from schemas import chat
from schemas import messages as m
from schemas.api import ChatEventsAccepted
from schemas.errors import FieldError

_batch = msgspec.json.Decoder(chat.ChatEventBatch)


def command_id(event_id: str) -> str:
    """The idempotency key every message made from a chat event carries."""
    return f"chat:{event_id}"


async def events(request: Request) -> Response:
    g = gw(request)
    require_json(request)
    body = await read_limited(request)
    webhook_id = auth.verify_chat_signature(g.webhook, body, request)
    batch = _decode(body)
    event_ids = [e.id for e in batch.events]
    if len(set(event_ids)) != len(event_ids):
        raise ApiError("invalid_request", "Event ids must be unique within a batch.")
    now = now_ms()
    commands = [
        _command(e, i, now, g.settings.max_amount, g.settings.request_ttl) for i, e in enumerate(batch.events)
    ]
    if f"webhook:{webhook_id}" in g.recent:
        return json_response(ChatEventsAccepted(accepted=[], duplicates=event_ids), 202)
    seen = {i for i in event_ids if command_id(i) in g.recent}
    fresh = [i for i in event_ids if i not in seen]
    seen |= {
        cid.removeprefix("chat:")
        for cid in await g.read(lambda tx: repo.seen_commands(tx, [command_id(i) for i in fresh]))
    }
    to_send = [c for e, c in zip(batch.events, commands, strict=True) if e.id not in seen]
    await g.publisher.publish(*to_send)
    g.recent.add(f"webhook:{webhook_id}")
    for i in event_ids:
        g.recent.add(command_id(i))
    return json_response(
        ChatEventsAccepted(
            accepted=[i for i in event_ids if i not in seen], duplicates=[i for i in event_ids if i in seen]
        ),
        202,
    )


def _decode(body: bytes) -> chat.ChatEventBatch:
    try:
        return _batch.decode(body)
    except msgspec.ValidationError as exc:
        field = validation_field(str(exc))
        index = (
            field.field.split("]")[0].removeprefix("events[") if field.field.startswith("events[") else None
        )
        where = f"event {index}" if index is not None else "the batch"
        raise ApiError(
            "invalid_request", f"The batch is rejected: {where} is invalid.", fields=[field]
        ) from None
    except msgspec.DecodeError:
        raise ApiError("bad_json", "The request body is not valid JSON.", http_status=400) from None


def _command(event: chat.ChatEvent, index: int, now: int, max_amount: int, ttl: int) -> msgspec.Struct:
    """The message one chat event becomes (422 naming the event's index when it is invalid)."""
    cid = command_id(event.id)
    match event:
        case chat.PaymentRequestRequested():
            errors = create_errors(
                amount=event.amount,
                currency=event.currency,
                reason=event.reason,
                max_amount=max_amount,
                prefix=f"events[{index}].",
            )
            if errors:
                raise ApiError(
                    "invalid_request", f"The batch is rejected: event {index} is invalid.", fields=errors
                )
            return m.CreateRequest(
                command_id=cid,
                request_id=ids.request_id_for_event(event.id),
                agent_id=event.agent_id,
                conversation_id=event.conversation_id,
                customer_id=event.customer_id,
                amount=event.amount,
                currency=event.currency,
                reason=event.reason,
                methods=methods_of(event.methods),
                created_at=now,
                expires_at=now + 1000 * (event.expires_in or ttl),
                token=ids.new_token(),
            )
        case chat.RetryRequested():
            return m.RetryRequest(
                command_id=cid, request_id=event.request_id, agent_id=event.agent_id, token=ids.new_token()
            )
        case chat.CancelRequested():
            return m.CancelRequest(command_id=cid, request_id=event.request_id, agent_id=event.agent_id)
        case chat.CompleteRequested():
            return m.CompleteRequest(command_id=cid, request_id=event.request_id, agent_id=event.agent_id)
        case chat.CustomerDeclined():
            return m.DeclineRequest(command_id=cid, request_id=event.request_id)
        case chat.ConversationEnded():
            return m.EndConversation(
                command_id=cid, conversation_id=event.conversation_id, at=from_datetime(event.occurred_at)
            )
        case chat.AgentFocusChanged():
            return m.FocusChanged(
                command_id=cid,
                agent_id=event.agent_id,
                customer_id=event.customer_id,
                at=from_datetime(event.occurred_at),
            )
    raise ApiError(
        "invalid_request",
        f"The batch is rejected: event {index} has an unknown type.",
        fields=[FieldError(field=f"events[{index}].type", code="invalid", message="Unknown type.")],
    )


routes = [Route("/v1/chat/events", events, methods=["POST"])]
