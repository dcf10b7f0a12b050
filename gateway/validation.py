"""Checks beyond the schema types that every way of creating a request shares."""

from __future__ import annotations

from collections.abc import Sequence

from chatpay.money import is_currency
from schemas.errors import FieldError


def create_errors(
    *, amount: int, currency: str, reason: str, max_amount: int, prefix: str = ""
) -> list[FieldError]:
    """Amount ceiling, known currency, printable reason."""
    errors = []
    if amount > max_amount:
        errors.append(
            FieldError(
                field=prefix + "amount",
                code="too_large",
                message=f"The amount must be at most {max_amount} minor units.",
            )
        )
    if not is_currency(currency):
        errors.append(
            FieldError(
                field=prefix + "currency",
                code="unknown_currency",
                message="The currency is not a supported ISO 4217 code.",
            )
        )
    if not reason.strip() or not reason.isprintable():
        errors.append(
            FieldError(
                field=prefix + "reason",
                code="not_printable",
                message="The reason must be 1 to 200 printable characters.",
            )
        )
    return errors


def methods_of(methods: Sequence[str] | None) -> list[str]:
    """Requested payment methods, deduplicated in a stable order (default: card)."""
    if not methods:
        return ["card"]
    return [m for m in ("card", "gift_card") if m in methods]
