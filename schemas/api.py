"""HTTP bodies of the agent and customer endpoints (API.md §3 to §5)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from schemas.cards import Envelope

Id = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
Method = Literal["card", "gift_card"]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[int, Meta(ge=1)]
Reason = Annotated[str, Meta(min_length=1, max_length=200)]
ExpiresIn = Annotated[int, Meta(ge=10, le=86400)]
Methods = Annotated[list[Method], Meta(min_length=1, max_length=2)]


class _In(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are rejected."""


class _Out(msgspec.Struct, frozen=True):
    """Base of every response body."""


# ---- agent requests ---------------------------------------------------------------------------


class CreatePaymentRequest(_In, frozen=True):
    conversation_id: Id
    customer_id: Id
    amount: Amount
    currency: Currency
    reason: Reason
    methods: Methods | None = None
    expires_in: ExpiresIn | None = None


class AgentKeyJwk(_In, frozen=True):
    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: Annotated[str, Meta(min_length=43, max_length=43)]
    y: Annotated[str, Meta(min_length=43, max_length=43)]
    alg: str | None = None
    ext: bool | None = None
    key_ops: list[str] | None = None
    use: str | None = None
    kid: str | None = None


class PutAgentKey(_In, frozen=True):
    jwk: AgentKeyJwk


class PutFocus(_In, frozen=True):
    customer_id: Id | None


# ---- customer requests ------------------------------------------------------------------------


class CardIn(_In, frozen=True):
    number: Annotated[str, Meta(max_length=40)]
    name: Annotated[str, Meta(max_length=200)]
    exp_month: int
    exp_year: int
    cvc: Annotated[str, Meta(max_length=8)]


class GiftCardIn(_In, frozen=True):
    number: Annotated[str, Meta(max_length=40)]
    pin: Annotated[str, Meta(max_length=16)]


class SubmitPayment(_In, frozen=True):
    method: Method
    card: CardIn | None = None
    gift_card: GiftCardIn | None = None


# ---- responses ---------------------------------------------------------------------------------


class CardOut(_Out, frozen=True, omit_defaults=True):
    method: Method
    last4: str
    brand: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    available_until: str | None = None


class DeliveryOut(_Out, frozen=True):
    attempts: int
    last_error: str | None


class PaymentRequestOut(_Out, frozen=True):
    id: str
    conversation_id: str
    customer_id: str
    agent_id: str
    amount: int
    currency: str
    display_amount: str
    reason: str
    methods: list[str]
    status: str
    status_label: str
    created_at: str
    updated_at: str
    expires_at: str
    card: CardOut | None
    attention: bool
    delivery: DeliveryOut


class PaymentRequestList(_Out, frozen=True):
    data: list[PaymentRequestOut]
    next_cursor: str | None


class CardView(_Out, frozen=True):
    envelopes: list[Envelope]
    card: CardOut


class TimelineEntry(_Out, frozen=True):
    request_id: str
    at: str
    status: str
    status_label: str
    event: str


class Timeline(_Out, frozen=True):
    data: list[TimelineEntry]


class CustomerEntry(_Out, frozen=True):
    customer_id: str
    conversation_id: str
    attention: bool
    requests: list[PaymentRequestOut]


class CustomerList(_Out, frozen=True):
    data: list[CustomerEntry]


class PayView(_Out, frozen=True):
    amount: int
    currency: str
    display_amount: str
    reason: str
    methods: list[str]
    status: str
    expires_at: str
    merchant_name: str


class SubmitAccepted(_Out, frozen=True):
    status: Literal["submitted"]


class ChatEventsAccepted(_Out, frozen=True):
    accepted: list[str]
    duplicates: list[str]


class Health(_Out, frozen=True):
    status: str
    checks: dict[str, str] | None = None
