"""Who is calling: agent JWTs (HS256) and Standard Webhooks signatures of the chat system."""

from __future__ import annotations

import jwt
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request

from gateway.http import ApiError

#: Clock skew tolerated on agent token expiry (seconds).
JWT_LEEWAY = 30


def agent_id(request: Request, secret: str, *, allow_query: bool = False) -> str:
    """The ``sub`` of a valid agent JWT, or 401."""
    return agent_claims(request, secret, allow_query=allow_query)[0]


def agent_claims(request: Request, secret: str, *, allow_query: bool = False) -> tuple[str, int]:
    """``(sub, exp)`` of a valid agent JWT, or 401."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not token and allow_query:
        token = request.query_params.get("access_token", "")
    if not token:
        raise ApiError(
            "unauthorized",
            "Send an agent token: Authorization: Bearer <JWT>.",
            headers={"www-authenticate": "Bearer"},
        )
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], leeway=JWT_LEEWAY, options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError:
        raise ApiError(
            "unauthorized",
            "The agent token is invalid or expired.",
            headers={"www-authenticate": 'Bearer error="invalid_token"'},
        ) from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 128:
        raise ApiError("unauthorized", "The agent token has no valid subject.")
    return sub, int(claims["exp"])


def verify_chat_signature(webhook: Webhook, body: bytes, request: Request) -> str:
    """Check the Standard Webhooks headers (±5 min); the ``webhook-id``, or 401."""
    headers = {
        k: request.headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    if not all(headers.values()):
        raise ApiError("unauthorized", "Missing webhook-id, webhook-timestamp or webhook-signature.")
    try:
        webhook.verify(body, headers, json_parse=False)
    except (WebhookVerificationError, ValueError):  # ValueError: malformed header or non-UTF-8 body
        raise ApiError("unauthorized", "The webhook signature or timestamp is not valid.") from None
    return headers["webhook-id"]
