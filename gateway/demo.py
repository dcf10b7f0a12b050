"""The built-in demo chat (``chatpay up`` on its embedded default only).

- ``POST /demo/chat/webhook``: the outbound chat-event receiver (API.md §9), the default
  ``CHATPAY_CHAT_WEBHOOK_URL`` of ``chatpay up``. It checks the Standard Webhooks signature and keeps
  each event under its ``data.conversation_id`` in a bounded in-memory :class:`ChatLog`.
- ``GET /demo/chat/{conversation_id}/messages?after=N``: what the demo chat window shows, oldest first.
- ``POST /demo/chat/{conversation_id}/messages``: a line of text typed by the customer or the agent.
  Anything that looks like a card number is removed before it is kept: card data never goes into a chat.
- ``POST /demo/token``: mints an agent JWT so the console can sign in without a command line.

None of this is for production: the demo runs in one process and trusts whoever can reach it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import secrets
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import Annotated, Any, Literal, TypeVar

import jwt
import msgspec
from msgspec import Meta
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.http import ApiError, error_response, read_json, read_limited

log = logging.getLogger(__name__)

#: Conversations the demo chat remembers; the least recently written one is forgotten first.
MAX_CONVERSATIONS = 1000
#: Messages kept per conversation; the oldest go first.
MAX_MESSAGES = 200
#: Messages one ``GET …/messages`` answers with at most.
PAGE_SIZE = 100
T = TypeVar("T")
#: Lifetime of a demo agent token, in seconds.
TOKEN_TTL = 12 * 3600
#: Longest chat line kept, in characters.
MAX_TEXT = 1000

_ID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
#: A run of 12 or more digits, possibly split by spaces or dashes: treated as a card number.
_PAN_RE = re.compile(r"(?:\d[ -]?){11,}\d")
#: What replaces a card number typed into the chat.
PAN_PLACEHOLDER = "[card number removed]"

AgentId = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]


class TokenIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agent_id: AgentId


class TextIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename={"sender": "from"}):
    sender: Literal["customer", "agent"]
    text: Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]


def redact_card_numbers(text: str) -> str:
    """``text`` with every run of 12+ digits (spaces and dashes allowed between them) replaced."""
    return _PAN_RE.sub(PAN_PLACEHOLDER, text)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ChatLog:
    """Bounded in-memory chat history per conversation, with one sequence number across all of them.

    Messages are dicts ready to be sent as JSON; each gets ``seq`` (strictly increasing). A message whose
    ``id`` is already kept in its conversation is a duplicate (webhook redelivery) and is dropped.
    """

    def __init__(self, *, max_conversations: int = MAX_CONVERSATIONS, max_messages: int = MAX_MESSAGES):
        self._max_conversations = max_conversations
        self._max_messages = max_messages
        self._conversations: OrderedDict[str, deque[dict[str, Any]]] = OrderedDict()
        self._seq: Iterator[int] = itertools.count(1)

    def add(self, conversation_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
        """Keep ``message``; returns it with its ``seq``, or None for a duplicate."""
        messages = self._conversations.get(conversation_id)
        if messages is None:
            messages = self._conversations[conversation_id] = deque(maxlen=self._max_messages)
            while len(self._conversations) > self._max_conversations:
                self._conversations.popitem(last=False)
        else:
            self._conversations.move_to_end(conversation_id)
            if any(m["id"] == message["id"] for m in messages):
                return None
        kept = {"seq": next(self._seq), **message}
        messages.append(kept)
        return kept

    def after(self, conversation_id: str, seq: int, *, limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
        """Up to ``limit`` messages of the conversation with ``seq`` greater than ``seq``, oldest first."""
        messages = self._conversations.get(conversation_id, ())
        return [m for m in messages if m["seq"] > seq][:limit]

    def __len__(self) -> int:
        return len(self._conversations)


def _error(status: int, code: str, message: str) -> Response:
    return error_response(ApiError(code, message, http_status=status))


async def _read(request: Request, type_: type[T], hint: str) -> T | Response:
    """The JSON body as ``type_``, or the 400/413/415/422 answer (``hint`` says what to send)."""
    try:
        return await read_json(request, type_)
    except ApiError as exc:
        if exc.code == "invalid_request":
            exc = ApiError("invalid_request", hint)
        return error_response(exc)


def demo_routes(
    *, outbound_secret: str, agent_jwt_secret: str, chat_log: ChatLog | None = None
) -> list[BaseRoute]:
    """The demo chat endpoints; ``chat_log`` is their store (a fresh :class:`ChatLog` when omitted)."""
    webhook = Webhook(outbound_secret)
    chats = ChatLog() if chat_log is None else chat_log

    async def receive_event(request: Request) -> Response:
        try:
            body = await read_limited(request)
        except ApiError as exc:
            return error_response(exc)
        try:
            webhook.verify(body, dict(request.headers), json_parse=False)
        except (WebhookVerificationError, ValueError):  # ValueError: malformed header or non-UTF-8 body
            return _error(401, "unauthorized", "The webhook signature is missing, stale or wrong.")
        try:
            event = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return _error(400, "invalid_request", "The body is not valid JSON.")
        data = event.get("data") if isinstance(event, dict) else None
        conversation_id = data.get("conversation_id") if isinstance(data, dict) else None
        if not (isinstance(conversation_id, str) and _ID_RE.match(conversation_id)):
            # Not for a chat window; acknowledged so the sender does not retry it.
            log.debug("demo chat: ignored an event without a conversation_id")
            return Response(status_code=204)
        event_id = event.get("id") or request.headers.get("webhook-id")
        message = {
            "id": str(event_id),
            "type": str(event.get("type", "")),
            "occurred_at": str(event.get("occurred_at") or _now()),
            "data": data,
        }
        chats.add(conversation_id, message)
        return Response(status_code=204)

    async def list_messages(request: Request) -> Response:
        conversation_id = request.path_params["conversation_id"]
        if not _ID_RE.match(conversation_id):
            return _error(404, "not_found", "No such conversation.")
        raw_after = request.query_params.get("after", "0")
        if not raw_after.isdigit() or len(raw_after) > 18:
            return _error(422, "invalid_request", "after must be a whole number.")
        return JSONResponse(chats.after(conversation_id, int(raw_after)))

    async def post_message(request: Request) -> Response:
        conversation_id = request.path_params["conversation_id"]
        if not _ID_RE.match(conversation_id):
            return _error(404, "not_found", "No such conversation.")
        line = await _read(request, TextIn, 'Send {"from": "customer" or "agent", "text": "…"}.')
        if isinstance(line, Response):
            return line
        text = redact_card_numbers(line.text.strip())
        if not text:
            return _error(422, "invalid_request", "The text is empty.")
        kept = chats.add(
            conversation_id,
            {
                "id": "msg_" + secrets.token_hex(8),
                "type": "chat.message",
                "occurred_at": _now(),
                "data": {"from": line.sender, "text": text},
            },
        )
        return JSONResponse(kept, status_code=201)

    async def mint_token(request: Request) -> Response:
        wanted = await _read(request, TokenIn, "agent_id must be 1 to 128 letters, digits or ._:@-")
        if isinstance(wanted, Response):
            return wanted
        now = int(dt.datetime.now(dt.UTC).timestamp())
        token = jwt.encode(
            {"sub": wanted.agent_id, "iat": now, "exp": now + TOKEN_TTL}, agent_jwt_secret, algorithm="HS256"
        )
        return JSONResponse({"token": token}, headers={"Cache-Control": "no-store"})

    return [
        Route("/demo/chat/webhook", receive_event, methods=["POST"]),
        Route("/demo/chat/{conversation_id}/messages", list_messages, methods=["GET"]),
        Route("/demo/chat/{conversation_id}/messages", post_message, methods=["POST"]),
        Route("/demo/token", mint_token, methods=["POST"]),
    ]
