"""Card and gift-card validation (API.md §5)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from chatpay.cards import (
    card_brand,
    cvc_length,
    last4,
    luhn_ok,
    normalize_number,
    validate_card,
    validate_gift_card,
)
from schemas.errors import FieldError

TODAY = datetime.date(2026, 5, 15)
VISA, VISA2 = "4111 1111 1111 1111", "4242424242424242"
MASTERCARD, AMEX = "5555-5555-5555-4444", "3782 822463 10005"


def codes(errors: list[FieldError]) -> dict[str, str]:
    return {e.field: e.code for e in errors}


def card(**overrides: object) -> dict[str, str]:
    args: dict[str, Any] = {"number": VISA, "name": "Ada Lovelace", "exp_month": 12, "exp_year": 2029}
    args.update({"cvc": "123", **overrides})
    return codes(validate_card(**args, today=TODAY))


def test_normalize_strips_spaces_and_dashes() -> None:
    assert normalize_number(" 5555-5555 5555-4444 ") == "5555555555554444"


@pytest.mark.parametrize("number", [VISA, VISA2, MASTERCARD, AMEX])
def test_luhn_accepts_test_pans(number: str) -> None:
    assert luhn_ok(normalize_number(number))


@pytest.mark.parametrize("digits", ["4111111111111112", "", "41111111111111a1", "٤١١١"])
def test_luhn_rejects(digits: str) -> None:
    assert not luhn_ok(digits)


@pytest.mark.parametrize(
    ("digits", "brand"),
    [
        ("4111111111111111", "visa"),
        ("5105105105105100", "mastercard"),
        ("2221000000000009", "mastercard"),
        ("2720990000000000", "mastercard"),
        ("2721000000000000", None),
        ("340000000000009", "amex"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("6445644564456445", "discover"),
        ("6500000000000002", "discover"),
        ("3528000000000000", "jcb"),
        ("3589000000000000", "jcb"),
        ("30569309025904", "diners"),
        ("36000000000008", "diners"),
        ("38520000023237", "diners"),
        ("6200000000000005", "unionpay"),
        ("1234567890123452", None),
        ("6", None),
        ("", None),
    ],
)
def test_card_brand(digits: str, brand: str | None) -> None:
    assert card_brand(digits) == brand


def test_cvc_length_and_last4() -> None:
    assert (cvc_length("amex"), cvc_length("visa"), cvc_length(None)) == (4, 3, 3)
    assert last4("4111111111111111") == "1111"


def test_valid_cards() -> None:
    assert card() == {}
    assert card(number=MASTERCARD) == {}
    assert card(number=AMEX, cvc="1234") == {}
    assert card(number=VISA2, exp_month=5, exp_year=2026) == {}, "valid through the end of its month"


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("", "required"),
        ("   ", "required"),
        ("4111 1111 1111 111x", "invalid_characters"),
        ("4111.1111.1111.1111", "invalid_characters"),
        ("1234 5678 9012 3452", "unknown_brand"),
        ("4111 1111 1111 11", "length"),
        ("3782 8224 6310 0051", "length"),
        ("4111 1111 1111 1112", "luhn"),
    ],
)
def test_number_errors(number: str, code: str) -> None:
    assert card(number=number).get("card.number") == code


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "required"),
        ("  \t ", "required"),
        ("x" * 101, "length"),
        ("Ada\x00Lovelace", "invalid_characters"),
    ],
)
def test_name_errors(name: str, code: str) -> None:
    assert card(name=name) == {"card.name": code}


def test_name_limits() -> None:
    assert card(name="  " + "é" * 100 + "  ") == {}
    assert card(name="X") == {}


@pytest.mark.parametrize(
    ("month", "year", "expected"),
    [
        (0, 2029, {"card.exp_month": "invalid"}),
        (13, 2029, {"card.exp_month": "invalid"}),
        (12, 29, {"card.exp_year": "invalid"}),
        (12, 2101, {"card.exp_year": "invalid"}),
        (12, 2047, {"card.exp_year": "invalid"}),
        (13, 1999, {"card.exp_month": "invalid", "card.exp_year": "invalid"}),
        (4, 2026, {"card.exp_month": "expired"}),
        (12, 2025, {"card.exp_month": "expired"}),
        (1, 2046, {}),
    ],
)
def test_expiry(month: int, year: int, expected: dict[str, str]) -> None:
    assert card(exp_month=month, exp_year=year) == expected


@pytest.mark.parametrize(
    ("number", "cvc", "code"),
    [
        (VISA, "", "required"),
        (VISA, "12a", "invalid_characters"),
        (VISA, "1234", "cvc_length"),
        (VISA, "12", "cvc_length"),
        (AMEX, "123", "cvc_length"),
        ("1234 5678 9012 3452", "12345", "cvc_length"),
    ],
)
def test_cvc_errors(number: str, cvc: str, code: str) -> None:
    assert card(number=number, cvc=cvc).get("card.cvc") == code


def test_every_field_reported_at_once() -> None:
    assert card(number="4111", name="", exp_month=0, exp_year=1, cvc="") == {
        "card.number": "length",
        "card.name": "required",
        "card.exp_month": "invalid",
        "card.exp_year": "invalid",
        "card.cvc": "required",
    }


@pytest.mark.parametrize("number", [VISA, VISA2, MASTERCARD, AMEX, "4111 1111 1111 1112", "4111111111111"])
@pytest.mark.parametrize("cvc", ["123", "1234", "98"])
def test_messages_never_contain_card_data(number: str, cvc: str) -> None:
    errors = validate_card(number, "", 13, 1, cvc, today=TODAY)
    digits = normalize_number(number)
    for e in errors:
        assert digits not in e.message and digits[-8:] not in e.message
        assert cvc not in e.message
        assert e.message.endswith(".") and e.message[0].isupper()


def test_gift_card_valid() -> None:
    assert validate_gift_card("ABCD-1234 efgh", "0042") == []
    assert validate_gift_card("A" * 24, "12345678") == []


@pytest.mark.parametrize(
    ("number", "pin", "expected"),
    [
        ("", "", {"gift_card.number": "required", "gift_card.pin": "required"}),
        ("ABCD_1234", "1234", {"gift_card.number": "invalid_characters"}),
        ("ABCDÉ1234", "1234", {"gift_card.number": "invalid_characters"}),
        ("ABC1234", "1234", {"gift_card.number": "length"}),
        ("A" * 25, "1234", {"gift_card.number": "length"}),
        ("ABCD1234", "12a4", {"gift_card.pin": "invalid_characters"}),
        ("ABCD1234", "123", {"gift_card.pin": "length"}),
        ("ABCD1234", "123456789", {"gift_card.pin": "length"}),
    ],
)
def test_gift_card_errors(number: str, pin: str, expected: dict[str, str]) -> None:
    errors = validate_gift_card(number, pin)
    assert codes(errors) == expected
    for e in errors:
        assert not (number and number in e.message)
        assert not (pin and pin in e.message)
