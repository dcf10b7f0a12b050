"""Card and gift-card validation (API.md §5): pure functions, no I/O.

Every error message is a human sentence that never repeats the card number, the CVC or the PIN.
"""

from __future__ import annotations

import datetime

from schemas.errors import FieldError

#: Brand prefixes as ``(brand, low, high)`` inclusive ranges over the number's first ``len(low)`` digits.
#: Checked in order; the first match wins.
BRAND_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("visa", "4", "4"),
    ("mastercard", "51", "55"),
    ("mastercard", "2221", "2720"),
    ("amex", "34", "34"),
    ("amex", "37", "37"),
    ("discover", "6011", "6011"),
    ("discover", "644", "649"),
    ("discover", "65", "65"),
    ("jcb", "3528", "3589"),
    ("diners", "300", "305"),
    ("diners", "36", "36"),
    ("diners", "38", "39"),
    ("unionpay", "62", "62"),
)

#: Valid number lengths per brand.
BRAND_LENGTHS: dict[str, frozenset[int]] = {
    "visa": frozenset({13, 16, 19}),
    "mastercard": frozenset({16}),
    "amex": frozenset({15}),
    "discover": frozenset(range(16, 20)),
    "jcb": frozenset(range(16, 20)),
    "diners": frozenset(range(14, 20)),
    "unionpay": frozenset(range(16, 20)),
}

#: Names shown in error messages.
BRAND_NAMES: dict[str, str] = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "jcb": "JCB",
    "diners": "Diners Club",
    "unionpay": "UnionPay",
}

#: Cardholder name length after stripping, in characters.
NAME_MAX = 100
#: Expiry years accepted at all (four digits only).
YEAR_MIN, YEAR_MAX = 2000, 2100
#: An expiry further ahead than this many years is refused as a typo.
MAX_YEARS_AHEAD = 20
#: Gift card number length after removing spaces and dashes.
GIFT_NUMBER_MIN, GIFT_NUMBER_MAX = 8, 24
#: Gift card PIN length in digits.
GIFT_PIN_MIN, GIFT_PIN_MAX = 4, 8


def normalize_number(raw: str) -> str:
    """Return ``raw`` without spaces and dashes."""
    return raw.replace(" ", "").replace("-", "")


def _digits(value: str) -> bool:
    """True when ``value`` is non-empty and only ASCII digits (``str.isdigit`` accepts other scripts)."""
    return value.isascii() and value.isdigit()


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (ASCII digits only) passes the Luhn check."""
    if not _digits(digits):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The brand named by the number's prefix, or None when no known brand matches."""
    for brand, low, high in BRAND_PREFIXES:
        if len(digits) >= len(low) and low <= digits[: len(low)] <= high:
            return brand
    return None


def cvc_length(brand: str | None) -> int:
    """Digits in the security code: 4 for American Express, else 3."""
    return 4 if brand == "amex" else 3


def last4(digits: str) -> str:
    """The last four digits, the most of a card number that may ever be shown."""
    return digits[-4:]


def _number_error(digits: str) -> FieldError | None:
    field = "card.number"
    if not digits:
        return FieldError(field, "required", "Enter the card number.")
    if not _digits(digits):
        return FieldError(field, "invalid_characters", "The card number may contain only digits.")
    brand = card_brand(digits)
    if brand is None:
        return FieldError(field, "unknown_brand", "This card type is not accepted.")
    if len(digits) not in BRAND_LENGTHS[brand]:
        return FieldError(field, "length", f"This is not a valid length for a {BRAND_NAMES[brand]} card.")
    if not luhn_ok(digits):
        return FieldError(field, "luhn", "The card number is not valid; check it for typos.")
    return None


def _name_error(name: str) -> FieldError | None:
    field = "card.name"
    name = name.strip()
    if not name:
        return FieldError(field, "required", "Enter the name on the card.")
    if len(name) > NAME_MAX:
        return FieldError(field, "length", f"The name on the card must be at most {NAME_MAX} characters.")
    if not name.isprintable():
        return FieldError(field, "invalid_characters", "The name on the card contains invalid characters.")
    return None


def _expiry_errors(month: int, year: int, today: datetime.date) -> list[FieldError]:
    errors = []
    if not 1 <= month <= 12:
        errors.append(FieldError("card.exp_month", "invalid", "The expiry month must be 1 to 12."))
    if not YEAR_MIN <= year <= YEAR_MAX:
        errors.append(FieldError("card.exp_year", "invalid", "The expiry year must have four digits."))
    elif year > today.year + MAX_YEARS_AHEAD:
        errors.append(FieldError("card.exp_year", "invalid", "The expiry year is too far in the future."))
    if not errors and (year, month) < (today.year, today.month):
        errors.append(FieldError("card.exp_month", "expired", "This card has expired."))
    return errors


def _cvc_error(cvc: str, brand: str | None) -> FieldError | None:
    field = "card.cvc"
    if not cvc:
        return FieldError(field, "required", "Enter the security code.")
    if not _digits(cvc):
        return FieldError(field, "invalid_characters", "The security code may contain only digits.")
    if brand is None:
        if len(cvc) not in (3, 4):
            return FieldError(field, "cvc_length", "The security code must be 3 or 4 digits.")
    elif len(cvc) != cvc_length(brand):
        n = cvc_length(brand)
        return FieldError(
            field, "cvc_length", f"The security code must be {n} digits for {BRAND_NAMES[brand]} cards."
        )
    return None


def validate_card(
    number: str, name: str, exp_month: int, exp_year: int, cvc: str, *, today: datetime.date
) -> list[FieldError]:
    """Every field error of a submitted card; empty when the card may be sealed.

    A card is valid through the end of its expiry month.
    """
    digits = normalize_number(number)
    brand = card_brand(digits) if _digits(digits) else None
    found = (
        _number_error(digits),
        _name_error(name),
        *_expiry_errors(exp_month, exp_year, today),
        _cvc_error(cvc, brand),
    )
    return [e for e in found if e]


def _gift_number_error(number: str) -> FieldError | None:
    field = "gift_card.number"
    if not number:
        return FieldError(field, "required", "Enter the gift card number.")
    if not (number.isascii() and number.isalnum()):
        return FieldError(
            field, "invalid_characters", "The gift card number may contain only letters and digits."
        )
    if not GIFT_NUMBER_MIN <= len(number) <= GIFT_NUMBER_MAX:
        return FieldError(
            field,
            "length",
            f"The gift card number must be {GIFT_NUMBER_MIN} to {GIFT_NUMBER_MAX} characters.",
        )
    return None


def _gift_pin_error(pin: str) -> FieldError | None:
    field = "gift_card.pin"
    if not pin:
        return FieldError(field, "required", "Enter the gift card PIN.")
    if not _digits(pin):
        return FieldError(field, "invalid_characters", "The PIN may contain only digits.")
    if not GIFT_PIN_MIN <= len(pin) <= GIFT_PIN_MAX:
        return FieldError(field, "length", f"The PIN must be {GIFT_PIN_MIN} to {GIFT_PIN_MAX} digits.")
    return None


def validate_gift_card(number: str, pin: str) -> list[FieldError]:
    """Every field error of a submitted gift card; empty when it may be sealed."""
    return [e for e in (_gift_number_error(normalize_number(number)), _gift_pin_error(pin)) if e]
