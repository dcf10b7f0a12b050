"""The pay page's checks (gateway/static/cardcheck.js) agree with the server's (chatpay/cards.py).

The Pay button is enabled exactly when the server will accept the fields, so both must give the same
verdict and the same error code for the same input. Each case runs in real Chromium.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from playwright.async_api import Page

from chatpay import cards

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

NUMBERS = [
    "4111111111111111",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4111111111111112",
    "4111111111111",  # 13 digits, not Luhn-valid
    "4222222222222",  # 13-digit Visa
    "4111111111111111110",
    "5555555555554444",
    "2223003122003222",
    "378282246310005",
    "37828224631000",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3530111333300000",
    "36227206271667",
    "30569309025904",
    "6200000000000005",
    "1234567812345678",
    "9999999999999995",
    "",
    "41111111a1111111",
    "٤١١١١١١١١١١١١١١١",  # Arabic-Indic digits: not ASCII
]
NAMES = ["Ada Lovelace", "", "   ", "A", "x" * 100, "x" * 101, "Zoë Ångström", "tab\there", "Ada\u200bL"]
CVCS = [
    ("123", "visa"),
    ("1234", "visa"),
    ("1234", "amex"),
    ("123", "amex"),
    ("12a", None),
    ("", "visa"),
    ("1234", None),
    ("12", None),
]
GIFT_NUMBERS = [
    "GC12345678",
    "1234567",
    "A" * 24,
    "A" * 25,
    "GC-1234-5678",
    "GC 1234 5678",
    "GC_12345678",
    "",
]
GIFT_PINS = ["1234", "12345678", "123", "123456789", "12a4", ""]


def server_number(number: str) -> tuple[str | None, str | None]:
    today = dt.date.today()
    errors = cards.validate_card(number, "Ada", 12, today.year + 1, "123", today=today)
    digits = cards.normalize_number(number)
    brand = cards.card_brand(digits) if digits.isascii() and digits.isdigit() else None
    code = next((e.code for e in errors if e.field == "card.number"), None)
    return code, brand


async def js(page: Page, expression: str, *args: Any) -> Any:
    return await page.evaluate(
        f"async (args) => {{ const m = await import('/static/cardcheck.js'); return {expression}; }}",
        list(args),
    )


async def test_card_numbers_match_the_server(page: Page) -> None:
    for number in NUMBERS:
        got = await js(page, "(r => [r.code, r.brand])(m.checkNumber(args[0]))", number)
        assert tuple(got) == server_number(number), number


async def test_names_match_the_server(page: Page) -> None:
    today = dt.date.today()
    for name in NAMES:
        errors = cards.validate_card("4111111111111111", name, 12, today.year + 1, "123", today=today)
        want = next((e.code for e in errors if e.field == "card.name"), None)
        assert await js(page, "m.checkName(args[0]).code", name) == want, repr(name)


async def test_expiry_matches_the_server(page: Page) -> None:
    today = dt.date.today()
    cases = [
        (today.month, today.year),
        (12, today.year + 1),
        (1, today.year + 20),
        (1, today.year + 21),
        (today.month - 1 or 12, today.year - (today.month == 1)),
        (1, 2020),
    ]
    for month, year in cases:
        errors = cards.validate_card("4111111111111111", "Ada", month, year, "123", today=today)
        want = next((e.code for e in errors if e.field.startswith("card.exp")), None)
        for typed in (
            f"{month:02d}/{year % 100:02d}",
            f"{month:02d} / {year}",
            f"{month:02d}{year % 100:02d}",
        ):
            got = await js(page, "(r => [r.code, r.month, r.year])(m.checkExpiry(args[0]))", typed)
            assert got == [want, month, year], typed


async def test_cvc_matches_the_server(page: Page) -> None:
    for cvc, brand in CVCS:
        number = {"visa": "4111111111111111", "amex": "378282246310005", None: "9999999999999995"}[brand]
        today = dt.date.today()
        errors = cards.validate_card(number, "Ada", 12, today.year + 1, cvc, today=today)
        want = next((e.code for e in errors if e.field == "card.cvc"), None)
        assert await js(page, "m.checkCvc(args[0], args[1]).code", cvc, brand) == want, (cvc, brand)


async def test_gift_cards_match_the_server(page: Page) -> None:
    for number in GIFT_NUMBERS:
        errors = cards.validate_gift_card(number, "1234")
        want = next((e.code for e in errors if e.field == "gift_card.number"), None)
        assert await js(page, "m.checkGiftNumber(args[0]).code", number) == want, number
    for pin in GIFT_PINS:
        errors = cards.validate_gift_card("GC12345678", pin)
        want = next((e.code for e in errors if e.field == "gift_card.pin"), None)
        assert await js(page, "m.checkGiftPin(args[0]).code", pin) == want, pin


async def test_grouping(page: Page) -> None:
    for digits, shown in [
        ("4111111111111111", "4111 1111 1111 1111"),
        ("378282246310005", "3782 822463 10005"),
        ("36227206271667", "3622 720627 1667"),
        ("4111111111111111110", "4111 1111 1111 1111 110"),
        ("41", "41"),
    ]:
        assert await js(page, "m.formatCardNumber(args[0])", digits) == shown
