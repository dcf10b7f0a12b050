"""Customer endpoints (API.md §5): the pay-link token is the only credential.

The card is validated and sealed to the vault key here, in the request that carried it; from this
point on only ciphertext exists outside the customer's browser and the agent's device.
"""

from __future__ import annotations

import datetime as dt

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatpay import cards, ids, sealing
from chatpay.clock import rfc3339
from chatpay.money import display_amount
from chatpay.store import Row, repo
from gateway.context import Gateway, gw
from gateway.http import ApiError, json_response, not_found, read_json
from schemas import api
from schemas import messages as m
from schemas.errors import FieldError
from schemas.status import GONE_FOR_CUSTOMER, Status

_no_store = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
_encoder = msgspec.json.Encoder()


async def _request_of(g: Gateway, token: str) -> Row:
    if not 20 <= len(token) <= 100:
        raise not_found()
    row = await g.read(lambda tx: repo.get_request_by_token(tx, ids.token_hash(token)))
    if row is None:
        raise not_found()
    return row


def _require_waiting(row: Row, action: str) -> None:
    """The customer may act while the request waits for them (or is still being marked delivered)."""
    status = Status(row["status"])
    if status in (Status.WAITING_FOR_CUSTOMER, Status.SENDING):
        return
    if status in GONE_FOR_CUSTOMER:
        raise ApiError("gone", f"This payment request is {status.value}.", status=status.value)
    raise ApiError(
        "conflict", f"Cannot {action}: this payment request is {status.value}.", status=status.value
    )


async def view(request: Request) -> Response:
    g = gw(request)
    row = await _request_of(g, request.path_params["token"])
    return json_response(
        api.PayView(
            amount=row["amount"],
            currency=row["currency"],
            display_amount=display_amount(row["amount"], row["currency"]),
            reason=row["reason"],
            methods=row["methods"].split(","),
            status=row["status"],
            expires_at=rfc3339(row["expires_at"]),
            merchant_name=g.settings.merchant_name,
        ),
        headers=_no_store,
    )


async def open_form(request: Request) -> Response:
    g = gw(request)
    row = await _request_of(g, request.path_params["token"])
    _require_waiting(row, "open the payment form")
    await g.publisher.publish(m.FormOpened(command_id=f"pay:{ids.ulid()}", request_id=row["id"]))
    return Response(status_code=204, headers=_no_store)


async def decline(request: Request) -> Response:
    g = gw(request)
    row = await _request_of(g, request.path_params["token"])
    _require_waiting(row, "decline")
    await g.publisher.publish(m.DeclineRequest(command_id=f"pay:{ids.ulid()}", request_id=row["id"]))
    return json_response({"status": Status.DECLINED.value}, 202, headers=_no_store)


async def submit(request: Request) -> Response:
    g = gw(request)
    token = request.path_params["token"]
    row = await _request_of(g, token)
    wait = g.submits.hit(row["id"])
    if wait is not None:
        raise ApiError(
            "rate_limited",
            "Too many attempts; try again later.",
            headers={"retry-after": str(max(1, int(wait)))},
        )
    _require_waiting(row, "pay")
    if not await g.read(lambda tx: repo.has_agent_key(tx, row["agent_id"])):
        # Nobody could open the card: take nothing rather than accept a card that would be dropped.
        raise ApiError(
            "unavailable",
            "Card details cannot be received right now; try again in a few minutes.",
            headers={"retry-after": "60"},
        )
    body = await read_json(request, api.SubmitPayment)
    method = body.method
    plaintext = _checked_plaintext(body, row["methods"].split(","))
    envelope = sealing.seal_envelope(plaintext, g.vault_key, row["id"])
    del plaintext, body
    await g.publisher.publish(
        m.SealedSubmission(
            command_id=f"pay:{ids.ulid()}", request_id=row["id"], method=method, envelope=envelope
        )
    )
    return json_response(api.SubmitAccepted(status="submitted"), 202, headers=_no_store)


def _checked_plaintext(body: api.SubmitPayment, allowed: list[str]) -> bytes:
    """Validate the submission; the vault plaintext of API.md §7, or a 422 naming each field."""
    if body.method not in allowed:
        raise _invalid(
            [
                FieldError(
                    field="method",
                    code="not_allowed",
                    message="This request does not accept that payment method.",
                )
            ]
        )
    if body.method == "card":
        if body.card is None or body.gift_card is not None:
            raise _invalid([FieldError(field="card", code="required", message="Enter the card details.")])
        c = body.card
        errors = cards.validate_card(
            c.number, c.name, c.exp_month, c.exp_year, c.cvc, today=dt.datetime.now(dt.UTC).date()
        )
        if errors:
            raise _invalid(errors)
        return _encoder.encode(
            {
                "method": "card",
                "number": cards.normalize_number(c.number),
                "name": c.name.strip(),
                "exp_month": c.exp_month,
                "exp_year": c.exp_year,
                "cvc": c.cvc,
            }
        )
    if body.gift_card is None or body.card is not None:
        raise _invalid(
            [FieldError(field="gift_card", code="required", message="Enter the gift card details.")]
        )
    gc = body.gift_card
    errors = cards.validate_gift_card(gc.number, gc.pin)
    if errors:
        raise _invalid(errors)
    return _encoder.encode(
        {"method": "gift_card", "number": cards.normalize_number(gc.number), "pin": gc.pin}
    )


def _invalid(fields: list[FieldError]) -> ApiError:
    return ApiError("invalid_request", "Some payment details are not valid.", fields=fields)


routes = [
    Route("/v1/pay/{token}", view, methods=["GET"]),
    Route("/v1/pay/{token}/open", open_form, methods=["POST"]),
    Route("/v1/pay/{token}/decline", decline, methods=["POST"]),
    Route("/v1/pay/{token}/submit", submit, methods=["POST"]),
]
