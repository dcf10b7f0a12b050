"""``/openapi.json``, generated from the msgspec schemas (never written by hand)."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas import api, chat, messages
from schemas.errors import ErrorBody

#: (method, path, summary, request body type, success status, response type, auth)
OPERATIONS: list[tuple[str, str, str, Any, int, Any, str]] = [
    (
        "post",
        "/v1/payment-requests",
        "Create a payment request",
        api.CreatePaymentRequest,
        202,
        api.PaymentRequestOut,
        "agent",
    ),
    ("get", "/v1/payment-requests", "List the agent's requests", None, 200, api.PaymentRequestList, "agent"),
    ("get", "/v1/payment-requests/{id}", "One request", None, 200, api.PaymentRequestOut, "agent"),
    (
        "post",
        "/v1/payment-requests/{id}/retry",
        "Send a failed request again",
        None,
        202,
        api.PaymentRequestOut,
        "agent",
    ),
    (
        "post",
        "/v1/payment-requests/{id}/cancel",
        "Withdraw a request",
        None,
        202,
        api.PaymentRequestOut,
        "agent",
    ),
    (
        "post",
        "/v1/payment-requests/{id}/complete",
        "Mark as Completed",
        None,
        202,
        api.PaymentRequestOut,
        "agent",
    ),
    (
        "get",
        "/v1/payment-requests/{id}/card",
        "View Card (sealed envelopes)",
        None,
        200,
        api.CardView,
        "agent",
    ),
    ("get", "/v1/conversations/{id}/timeline", "Conversation timeline", None, 200, api.Timeline, "agent"),
    ("put", "/v1/agents/me/keys/{kid}", "Register a card key", api.PutAgentKey, 204, None, "agent"),
    ("delete", "/v1/agents/me/keys/{kid}", "Remove a card key", None, 204, None, "agent"),
    ("put", "/v1/agents/me/focus", "Set the open Customer Profile", api.PutFocus, 204, None, "agent"),
    ("get", "/v1/agents/me/customers", "My Customers", None, 200, api.CustomerList, "agent"),
    (
        "get",
        "/v1/agents/me/events",
        "Agent notifications (text/event-stream of AgentNotification)",
        None,
        200,
        messages.AgentNotification,
        "agent",
    ),
    ("get", "/v1/pay/{token}", "The request as the customer sees it", None, 200, api.PayView, "token"),
    ("post", "/v1/pay/{token}/open", "Customer clicked Enter Payment", None, 204, None, "token"),
    ("post", "/v1/pay/{token}/decline", "Customer declines", None, 202, None, "token"),
    ("post", "/v1/pay/{token}/submit", "Customer pays", api.SubmitPayment, 202, api.SubmitAccepted, "token"),
    (
        "post",
        "/v1/chat/events",
        "Chat-system events (Standard Webhooks)",
        chat.ChatEventBatch,
        202,
        api.ChatEventsAccepted,
        "webhook",
    ),
]


def document() -> dict[str, Any]:
    types = {t for op in OPERATIONS for t in (op[3], op[5]) if t is not None} | {ErrorBody}
    (schemas_list, components) = msgspec.json.schema_components(
        sorted(types, key=lambda t: t.__name__), ref_template="#/components/schemas/{name}"
    )
    refs = {t: s for t, s in zip(sorted(types, key=lambda t: t.__name__), schemas_list, strict=True)}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, body, status, response, auth in OPERATIONS:
        op: dict[str, Any] = {
            "summary": summary,
            "responses": {
                str(status): {"description": "OK"}
                | ({"content": {"application/json": {"schema": refs[response]}}} if response else {}),
                "default": {
                    "description": "Error",
                    "content": {"application/json": {"schema": refs[ErrorBody]}},
                },
            },
        }
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": refs[body]}}}
        if auth == "agent":
            op["security"] = [{"agentJwt": []}]
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ]
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatpay", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"agentJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def message_schemas() -> dict[str, Any]:
    """JSON Schema of every AMQP message (for ops and consumers of the queues)."""
    union = (
        messages.LifecycleCommand
        | messages.SealedSubmission
        | messages.DeliverChatEvent
        | messages.EndConversation
        | messages.NotifyCommand
    )
    return msgspec.json.schema(union)
