"""The bench's own chat sink: a small asyncio HTTP/1.1 server for outbound chat events (API.md §9).

Every request must carry a valid Standard Webhooks signature made with ``CHATPAY_CHAT_OUTBOUND_SECRET``;
a bad one is answered 401 and counted as an error. Valid events resolve the flows' waits in a
:class:`~chatpay.bench.mailbox.Mailbox`. The server speaks just enough HTTP/1.1 for a webhook client:
keep-alive, ``Content-Length`` or chunked bodies, an empty answer.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import msgspec
from standardwebhooks import Webhook

from chatpay.bench.http1 import MAX_HEAD, BadMessage, parse_head, read_body
from chatpay.bench.mailbox import Arrival, Mailbox

#: Seconds an idle keep-alive connection is kept open.
IDLE_TIMEOUT = 30.0
#: Requests served on one connection before it is closed.
MAX_REQUESTS_PER_CONNECTION = 1_000_000
#: Seconds :meth:`Sink.stop` waits for connection handlers to end.
STOP_TIMEOUT = 2.0
#: Outbound event types that end a flow unsuccessfully.
FAILURE_TYPES = frozenset({"payment_request.declined", "payment_request.expired", "payment_request.canceled"})
#: Outbound event type → mailbox kind.
KINDS = {"payment_request.sent": "sent", "payment_request.accepted": "accepted"}

_REASONS = {
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    405: "Method Not Allowed",
    413: "Payload Too Large",
}


class Sink:
    """Verifies and routes outbound chat events; ``errors`` tallies rejected requests by reason."""

    def __init__(self, secret: str, mailbox: Mailbox) -> None:
        self._webhook = Webhook(secret)
        self._mailbox = mailbox
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        self.errors: collections.Counter[str] = collections.Counter()
        #: Events received per type (valid signatures only).
        self.received: collections.Counter[str] = collections.Counter()

    def handle(self, method: str, headers: dict[str, str], body: bytes) -> int:
        """Verify and route one request; the HTTP status to answer."""
        at = time.perf_counter()
        if method != "POST":
            self.errors["sink: not a POST"] += 1
            return 405
        try:
            self._webhook.verify(body, headers, json_parse=False)
        except Exception:  # WebhookVerificationError, but also malformed base64 or signature lists
            self.errors["sink: bad signature"] += 1
            return 401
        try:
            event: Any = msgspec.json.decode(body)
            kind, data = event["type"], event["data"]
            request_id = data["request_id"]
        except (msgspec.DecodeError, KeyError, TypeError):
            self.errors["sink: malformed event"] += 1
            return 400
        self.received[kind] += 1
        if kind in KINDS:
            self._mailbox.deliver(request_id, KINDS[kind], Arrival(at=at, data=data))
        elif kind in FAILURE_TYPES:
            self._mailbox.fail(request_id, f"sink got {kind}", at)
        return 204

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 picks a free port); the bound port."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening, close open connections and wait (briefly) for their handlers to end."""
        if self._server is not None:
            self._server.close()
            for writer in self._connections:
                writer.close()  # the handler's pending read ends with IncompleteReadError
            if self._connections:
                await asyncio.wait(list(self._connections.values()), timeout=STOP_TIMEOUT)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections[writer] = task
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
                except (asyncio.IncompleteReadError, TimeoutError):
                    return
                keep_alive = True
                try:
                    (method, _, version), headers = parse_head(head)
                    if not version.startswith("HTTP/1."):
                        raise BadMessage(400)
                    body = await asyncio.wait_for(read_body(reader, headers), IDLE_TIMEOUT)
                    status = self.handle(method, headers, body)
                    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                except BadMessage as exc:
                    self.errors[f"sink: HTTP {exc.status}"] += 1
                    status, keep_alive = exc.status, False
                close = "" if keep_alive else "connection: close\r\n"
                writer.write(
                    f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-length: 0\r\n{close}\r\n".encode()
                )
                await writer.drain()
                if not keep_alive:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, TimeoutError):
            return
        finally:
            self._connections.pop(writer, None)
            writer.close()
