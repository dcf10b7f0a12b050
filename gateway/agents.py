"""Agent endpoints (API.md §4), authenticated by the agent JWT; another agent's request is a 404."""

from __future__ import annotations

import base64
import json
import re

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatpay import ids, sealing
from chatpay.clock import now_ms
from chatpay.resources import card_of, new_request_row, resource
from chatpay.store import Row, repo
from gateway import auth
from gateway.context import Gateway, gw
from gateway.http import ApiError, json_response, not_found, read_json
from gateway.validation import create_errors, methods_of
from schemas import api
from schemas import messages as m
from schemas.cards import Envelope
from schemas.errors import FieldError
from schemas.status import LABELS, Status, can_move

#: Most card keys one agent may register (devices).
MAX_AGENT_KEYS = 10
#: Default and largest page size of the list endpoint.
PAGE_DEFAULT, PAGE_MAX = 20, 100
_KID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _agent(request: Request) -> str:
    return auth.agent_id(request, gw(request).settings.agent_jwt_secret)


async def _own(g: Gateway, agent: str, request_id: str) -> Row:
    row = await g.read(lambda tx: repo.get_request(tx, request_id))
    if row is None or row["agent_id"] != agent:
        raise not_found()
    return row


def _projected(row: Row, status: Status) -> api.PaymentRequestOut:
    """The resource as the accepted transition will leave it."""
    return msgspec.structs.replace(resource(row), status=status.value, status_label=LABELS[status])


def _conflict(row: Row, action: str) -> ApiError:
    return ApiError("conflict", f"Cannot {action} a request that is {row['status']}.", status=row["status"])


async def create(request: Request) -> Response:
    g = gw(request)
    agent = _agent(request)
    body = await read_json(request, api.CreatePaymentRequest)
    errors = create_errors(
        amount=body.amount, currency=body.currency, reason=body.reason, max_amount=g.settings.max_amount
    )
    if errors:
        raise ApiError("invalid_request", "The payment request is invalid.", fields=errors)
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ApiError("invalid_request", "Idempotency-Key must be 1 to 255 visible ASCII characters.")
    request_id = ids.request_id_for_key(agent, key) if key else ids.new_request_id()
    methods = methods_of(body.methods)

    def lookup(tx: repo.Tx) -> tuple[Row | None, bool]:
        return (repo.get_request(tx, request_id) if key else None), repo.has_agent_key(tx, agent)

    existing, has_key = await g.read(lookup)
    if existing is not None:
        same = (
            existing["conversation_id"],
            existing["customer_id"],
            existing["amount"],
            existing["currency"],
            existing["reason"],
            existing["methods"],
        ) == (
            body.conversation_id,
            body.customer_id,
            body.amount,
            body.currency,
            body.reason,
            ",".join(methods),
        )
        if not same:
            raise ApiError(
                "conflict",
                "This Idempotency-Key was used with different parameters.",
                status=existing["status"],
            )
        return json_response(resource(existing), 202)
    if not has_key:
        raise ApiError("agent_key_required", "Register a card key first: PUT /v1/agents/me/keys/{kid}.")
    now = now_ms()
    cmd = m.CreateRequest(
        command_id=f"api:{request_id}" if key else f"api:{ids.ulid()}",
        request_id=request_id,
        agent_id=agent,
        conversation_id=body.conversation_id,
        customer_id=body.customer_id,
        amount=body.amount,
        currency=body.currency,
        reason=body.reason,
        methods=methods,
        created_at=now,
        expires_at=now + 1000 * (body.expires_in or g.settings.request_ttl),
        token=ids.new_token(),
    )
    await g.publisher.publish(cmd)
    return json_response(resource(new_request_row(cmd)), 202)


async def get_one(request: Request) -> Response:
    g = gw(request)
    row = await _own(g, _agent(request), request.path_params["id"])
    return json_response(resource(row))


async def list_requests(request: Request) -> Response:
    g = gw(request)
    agent = _agent(request)
    q = request.query_params
    status = q.get("status")
    if status is not None and status not in Status.__members__.values():
        raise ApiError(
            "invalid_request",
            "Unknown status filter.",
            fields=[FieldError(field="status", code="invalid", message="Unknown status.")],
        )
    try:
        limit = int(q.get("limit", PAGE_DEFAULT))
        if not 1 <= limit <= PAGE_MAX:
            raise ValueError
    except ValueError:
        raise ApiError(
            "invalid_request",
            f"limit must be 1 to {PAGE_MAX}.",
            fields=[FieldError(field="limit", code="invalid", message="Out of range.")],
        ) from None
    before = _decode_cursor(q.get("cursor"))
    rows = await g.read(
        lambda tx: repo.list_requests(
            tx,
            agent,
            conversation_id=q.get("conversation_id"),
            customer_id=q.get("customer_id"),
            status=status,
            limit=limit + 1,
            before=before,
        )
    )
    page = rows[:limit]
    cursor = _encode_cursor(page[-1]) if len(rows) > limit else None
    return json_response(api.PaymentRequestList(data=[resource(r) for r in page], next_cursor=cursor))


def _encode_cursor(row: Row) -> str:
    return base64.urlsafe_b64encode(f"{row['created_at']}:{row['id']}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[int, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, rid = raw.partition(":")
        return int(at), rid
    except ValueError:
        raise ApiError(
            "invalid_request",
            "The cursor is not valid.",
            fields=[FieldError(field="cursor", code="invalid", message="Invalid.")],
        ) from None


async def retry(request: Request) -> Response:
    g = gw(request)
    agent = _agent(request)
    row = await _own(g, agent, request.path_params["id"])
    if row["status"] != Status.FAILED:
        raise _conflict(row, "retry")
    if not await g.read(lambda tx: repo.has_agent_key(tx, agent)):
        raise ApiError("agent_key_required", "Register a card key first: PUT /v1/agents/me/keys/{kid}.")
    await g.publisher.publish(
        m.RetryRequest(
            command_id=f"api:{ids.ulid()}", request_id=row["id"], agent_id=agent, token=ids.new_token()
        )
    )
    return json_response(_projected(row, Status.SENDING), 202)


async def cancel(request: Request) -> Response:
    return await _command(request, Status.CANCELED, "cancel", m.CancelRequest)


async def complete(request: Request) -> Response:
    return await _command(request, Status.COMPLETED, "complete", m.CompleteRequest)


async def _command(request: Request, target: Status, action: str, kind: type) -> Response:
    g = gw(request)
    agent = _agent(request)
    row = await _own(g, agent, request.path_params["id"])
    if not can_move(Status(row["status"]), target):
        raise _conflict(row, action)
    await g.publisher.publish(kind(command_id=f"api:{ids.ulid()}", request_id=row["id"], agent_id=agent))
    return json_response(_projected(row, target), 202)


async def view_card(request: Request) -> Response:
    g = gw(request)
    agent = _agent(request)
    request_id = request.path_params["id"]

    def load(tx: repo.Tx) -> tuple[Row | None, list[Row]]:
        row = repo.get_request(tx, request_id)
        return row, (repo.envelopes_of(tx, request_id) if row else [])

    row, envelopes = await g.read(load)
    if row is None or row["agent_id"] != agent:
        raise not_found()
    status = Status(row["status"])
    if row["card_purged_at"] is not None or status in (Status.EXPIRED, Status.CANCELED, Status.COMPLETED):
        raise ApiError("gone", "The card is no longer available.", status=row["status"])
    if status is not Status.SUBMITTED or not envelopes:
        raise _conflict(row, "view the card of")
    # The view is audited (and the green dot cleared) before the card leaves.
    await g.publisher.publish(
        m.CardViewed(command_id=f"api:{ids.ulid()}", request_id=request_id, agent_id=agent)
    )
    card = card_of(row)
    assert card is not None
    return json_response(
        api.CardView(
            envelopes=[Envelope(kid=e["kid"], suite=e["suite"], ct=e["ct"]) for e in envelopes], card=card
        ),
        headers={"cache-control": "no-store"},
    )


async def timeline(request: Request) -> Response:
    g = gw(request)
    agent = _agent(request)
    rows = await g.read(lambda tx: repo.conversation_timeline(tx, request.path_params["id"], agent))
    from chatpay.clock import rfc3339

    return json_response(
        api.Timeline(
            data=[
                api.TimelineEntry(
                    request_id=r["request_id"],
                    at=rfc3339(r["at"]),
                    status=r["status"],
                    status_label=LABELS[Status(r["status"])],
                    event=r["event"],
                )
                for r in rows
            ]
        )
    )


async def put_key(request: Request) -> Response:
    g = gw(request)
    agent = _agent(request)
    kid = request.path_params["kid"]
    if not _KID.match(kid):
        raise ApiError("invalid_request", "The key id must be 1 to 64 of A-Z a-z 0-9 . _ -.")
    body = await read_json(request, api.PutAgentKey)
    jwk = {"kty": body.jwk.kty, "crv": body.jwk.crv, "x": body.jwk.x, "y": body.jwk.y}
    try:
        sealing.jwk_to_public_key(jwk)
    except ValueError as exc:
        raise ApiError(
            "invalid_request",
            "The key is not a valid P-256 public key.",
            fields=[FieldError(field="jwk", code="invalid_key", message=str(exc))],
        ) from None

    def store(tx: repo.Tx) -> bool:
        keys = repo.agent_keys(tx, agent)
        if len(keys) >= MAX_AGENT_KEYS and kid not in {k["kid"] for k in keys}:
            return False
        repo.put_agent_key(tx, agent, kid, json.dumps(jwk), now_ms())
        return True

    # Keys are agent configuration, not request state: written here so the next create sees them.
    if not await g.write(store):
        raise ApiError("conflict", f"An agent may register at most {MAX_AGENT_KEYS} keys.")
    return Response(status_code=204)


async def delete_key(request: Request) -> Response:
    g = gw(request)
    agent = _agent(request)
    kid = request.path_params["kid"]
    await g.write(lambda tx: repo.delete_agent_key(tx, agent, kid))
    return Response(status_code=204)


async def put_focus(request: Request) -> Response:
    g = gw(request)
    agent = _agent(request)
    body = await read_json(request, api.PutFocus)
    await g.publisher.publish(
        m.FocusChanged(
            command_id=f"api:{ids.ulid()}", agent_id=agent, customer_id=body.customer_id, at=now_ms()
        )
    )
    return Response(status_code=204)


async def customers(request: Request) -> Response:
    g = gw(request)
    agent = _agent(request)
    rows = await g.read(lambda tx: repo.active_requests_of_agent(tx, agent))
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row["customer_id"], []).append(row)
    data = []
    for customer_id, group in grouped.items():
        resources = [resource(r) for r in group]
        data.append(
            api.CustomerEntry(
                customer_id=customer_id,
                conversation_id=group[0]["conversation_id"],
                attention=any(r.attention for r in resources),
                requests=resources,
            )
        )
    return json_response(api.CustomerList(data=data))


routes = [
    Route("/v1/payment-requests", create, methods=["POST"]),
    Route("/v1/payment-requests", list_requests, methods=["GET"]),
    Route("/v1/payment-requests/{id}", get_one, methods=["GET"]),
    Route("/v1/payment-requests/{id}/retry", retry, methods=["POST"]),
    Route("/v1/payment-requests/{id}/cancel", cancel, methods=["POST"]),
    Route("/v1/payment-requests/{id}/complete", complete, methods=["POST"]),
    Route("/v1/payment-requests/{id}/card", view_card, methods=["GET"]),
    Route("/v1/conversations/{id}/timeline", timeline, methods=["GET"]),
    Route("/v1/agents/me/keys/{kid}", put_key, methods=["PUT"]),
    Route("/v1/agents/me/keys/{kid}", delete_key, methods=["DELETE"]),
    Route("/v1/agents/me/focus", put_focus, methods=["PUT"]),
    Route("/v1/agents/me/customers", customers, methods=["GET"]),
]
