"""Database rows rendered as the public payment-request resource (API.md §3)."""

from __future__ import annotations

from chatpay.clock import rfc3339
from chatpay.ids import token_hash
from chatpay.money import display_amount
from chatpay.store import Row
from schemas.api import CardOut, DeliveryOut, PaymentRequestOut
from schemas.messages import CreateRequest
from schemas.status import LABELS, Status


def new_request_row(
    cmd: CreateRequest,
    *,
    status: Status = Status.SENDING,
    updated_at: int | None = None,
    error: str | None = None,
) -> Row:
    """The row a create command makes (inserted by the lifecycle, echoed by the gateway's 202)."""
    return {
        "id": cmd.request_id,
        "agent_id": cmd.agent_id,
        "conversation_id": cmd.conversation_id,
        "customer_id": cmd.customer_id,
        "amount": cmd.amount,
        "currency": cmd.currency,
        "reason": cmd.reason,
        "methods": ",".join(cmd.methods),
        "status": status.value,
        "version": 1,
        "created_at": cmd.created_at,
        "updated_at": updated_at or cmd.created_at,
        "expires_at": cmd.expires_at,
        "token_hash": token_hash(cmd.token),
        "delivery_attempts": 0,
        "delivery_last_error": error,
        "card_method": None,
        "card_viewed_at": None,
        "card_purged_at": None,
        "card_available_until": None,
    }


def card_of(row: Row) -> CardOut | None:
    """The masked card: never more than the last four digits."""
    if not row["card_method"]:
        return None
    until = row["card_available_until"]
    return CardOut(
        method=row["card_method"],
        last4=row["card_last4"],
        brand=row["card_brand"],
        exp_month=row["card_exp_month"],
        exp_year=row["card_exp_year"],
        available_until=rfc3339(until) if until is not None else None,
    )


def attention(row: Row) -> bool:
    """The green dot: a submitted card the agent has not viewed yet."""
    return (
        row["status"] == Status.SUBMITTED and row["card_viewed_at"] is None and row["card_purged_at"] is None
    )


def resource(row: Row) -> PaymentRequestOut:
    status = Status(row["status"])
    return PaymentRequestOut(
        id=row["id"],
        conversation_id=row["conversation_id"],
        customer_id=row["customer_id"],
        agent_id=row["agent_id"],
        amount=row["amount"],
        currency=row["currency"],
        display_amount=display_amount(row["amount"], row["currency"]),
        reason=row["reason"],
        methods=row["methods"].split(","),
        status=status.value,
        status_label=LABELS[status],
        created_at=rfc3339(row["created_at"]),
        updated_at=rfc3339(row["updated_at"]),
        expires_at=rfc3339(row["expires_at"]),
        card=card_of(row),
        attention=attention(row),
        delivery=DeliveryOut(attempts=row["delivery_attempts"], last_error=row["delivery_last_error"]),
    )
