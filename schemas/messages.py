"""Messages between the gateway and the actors, one tagged union per queue.

Every message carries the id that makes it idempotent (``command_id`` or ``event_id``);
times are integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from schemas.api import PaymentRequestOut
from schemas.cards import Envelope
from schemas.chat import OutboundChatEvent


class _Msg(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind"):
    pass


# ---- lifecycle queue: the only writer of payment-request state ---------------------------------


class CreateRequest(_Msg, frozen=True, tag="create"):
    command_id: str
    request_id: str
    agent_id: str
    conversation_id: str
    customer_id: str
    amount: int
    currency: str
    reason: str
    methods: list[str]
    created_at: int
    expires_at: int
    #: The customer's capability; the lifecycle stores only its hash.
    token: str


class RetryRequest(_Msg, frozen=True, tag="retry"):
    command_id: str
    request_id: str
    agent_id: str
    #: A fresh capability for the resent pay link.
    token: str


class CancelRequest(_Msg, frozen=True, tag="cancel"):
    command_id: str
    request_id: str
    agent_id: str


class CompleteRequest(_Msg, frozen=True, tag="complete"):
    command_id: str
    request_id: str
    agent_id: str


class DeclineRequest(_Msg, frozen=True, tag="decline"):
    command_id: str
    request_id: str


class FormOpened(_Msg, frozen=True, tag="open"):
    command_id: str
    request_id: str


class CardViewed(_Msg, frozen=True, tag="card_viewed"):
    command_id: str
    request_id: str
    agent_id: str


class ExpireRequest(_Msg, frozen=True, tag="expire"):
    command_id: str
    request_id: str
    cause: Literal["deadline", "conversation_ended"]


class DeliveryOutcome(_Msg, frozen=True, tag="delivery_outcome"):
    command_id: str
    request_id: str
    #: The request version whose ``payment_request.sent`` this reports on.
    version: int
    delivered: bool
    attempts: int
    last_error: str | None


class MaskedCard(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    method: Literal["card", "gift_card"]
    last4: str
    brand: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


class CardSealed(_Msg, frozen=True, tag="card_sealed"):
    command_id: str
    request_id: str
    card: MaskedCard
    envelopes: list[Envelope]


class PurgeCard(_Msg, frozen=True, tag="purge"):
    command_id: str
    request_id: str


LifecycleCommand = (
    CreateRequest
    | RetryRequest
    | CancelRequest
    | CompleteRequest
    | DeclineRequest
    | FormOpened
    | CardViewed
    | ExpireRequest
    | DeliveryOutcome
    | CardSealed
    | PurgeCard
)


# ---- vault queue ---------------------------------------------------------------------------------


class SealedSubmission(_Msg, frozen=True, tag="sealed_submission"):
    """The customer's card, sealed by the gateway to the vault key."""

    command_id: str
    request_id: str
    method: Literal["card", "gift_card"]
    envelope: Envelope


VaultCommand = SealedSubmission


# ---- delivery queue ------------------------------------------------------------------------------


class DeliverChatEvent(_Msg, frozen=True, tag="deliver"):
    event: OutboundChatEvent
    request_id: str
    #: Request version that emitted the event (outcomes of ``sent`` are matched on it).
    version: int
    attempt: int = 1
    #: When the first attempt was made (ms); ``0`` until then.
    first_attempt_at: int = 0


DeliveryCommand = DeliverChatEvent


# ---- expiry queue --------------------------------------------------------------------------------


class EndConversation(_Msg, frozen=True, tag="end_conversation"):
    command_id: str
    conversation_id: str
    at: int


ExpiryCommand = EndConversation


# ---- notify queue --------------------------------------------------------------------------------


class RequestChanged(_Msg, frozen=True, tag="request_changed"):
    event_id: str
    type: Literal["payment_request.updated", "customer.opened_payment_form"]
    at: int
    request: PaymentRequestOut
    #: True when this change made the request ``submitted`` (banner candidate).
    became_submitted: bool


class FocusChanged(_Msg, frozen=True, tag="focus_changed"):
    command_id: str
    agent_id: str
    customer_id: str | None
    at: int


NotifyCommand = RequestChanged | FocusChanged


class AgentNotification(msgspec.Struct, frozen=True):
    """API.md §8: what agent UIs receive (AMQP topic exchange and SSE)."""

    id: str
    type: str
    occurred_at: str
    agent_id: str
    customer_id: str
    conversation_id: str
    request: PaymentRequestOut
    banner: bool
