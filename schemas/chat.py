"""Chat-system events (API.md §6 inbound, §9 outbound)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from schemas.api import Amount, Currency, ExpiresIn, Id, Methods, Reason

EventId = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]


class _ChatEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    id: EventId
    occurred_at: dt.datetime


class PaymentRequestRequested(_ChatEvent, frozen=True, tag="payment_request.requested"):
    agent_id: Id
    conversation_id: Id
    customer_id: Id
    amount: Amount
    currency: Currency
    reason: Reason
    methods: Methods | None = None
    expires_in: ExpiresIn | None = None


class RetryRequested(_ChatEvent, frozen=True, tag="payment_request.retry_requested"):
    agent_id: Id
    request_id: Id


class CancelRequested(_ChatEvent, frozen=True, tag="payment_request.cancel_requested"):
    agent_id: Id
    request_id: Id


class CompleteRequested(_ChatEvent, frozen=True, tag="payment_request.complete_requested"):
    agent_id: Id
    request_id: Id


class CustomerDeclined(_ChatEvent, frozen=True, tag="customer.declined"):
    request_id: Id


class ConversationEnded(_ChatEvent, frozen=True, tag="conversation.ended"):
    conversation_id: Id


class AgentFocusChanged(_ChatEvent, frozen=True, tag="agent.focus_changed"):
    agent_id: Id
    customer_id: Id | None


ChatEvent = (
    PaymentRequestRequested
    | RetryRequested
    | CancelRequested
    | CompleteRequested
    | CustomerDeclined
    | ConversationEnded
    | AgentFocusChanged
)


class ChatEventBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    events: Annotated[list[ChatEvent], Meta(min_length=1, max_length=100)]


class OutboundChatEvent(msgspec.Struct, frozen=True):
    """What chatpay posts to ``CHATPAY_CHAT_WEBHOOK_URL``."""

    id: str
    type: str
    occurred_at: str
    data: dict[str, Any]
