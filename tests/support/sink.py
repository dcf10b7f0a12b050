"""A chat system for tests: receives chatpay's signed outbound events and answers as told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Responder = Callable[[dict[str, Any]], int]


class ChatSink:
    """``url`` receives events; ``responder(event) -> status`` decides each answer (default 204)."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.events: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.responder: Responder = lambda event: 204
        self._cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    sink.webhook.verify(
                        body, {k.lower(): v for k, v in self.headers.items()}, json_parse=False
                    )
                except (WebhookVerificationError, ValueError):
                    sink.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                event = json.loads(body)
                status = sink.responder(event)
                with sink._cond:
                    sink.attempts.append(event)
                    if 200 <= status < 300:
                        sink.events.append(event)
                    sink._cond.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        """The first delivered event matching ``predicate`` (waiting for it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching chat event arrived")
                self._cond.wait(left)

    def event(self, request_id: str, type_: str, timeout: float = 15.0) -> dict[str, Any]:
        return self.wait_for(lambda e: e["type"] == type_ and e["data"]["request_id"] == request_id, timeout)

    def token(self, request_id: str, timeout: float = 15.0) -> str:
        """The pay-link token of the latest ``payment_request.sent`` for the request."""
        self.event(request_id, "payment_request.sent", timeout)
        with self._cond:
            sent = [
                e
                for e in self.events
                if e["type"] == "payment_request.sent" and e["data"]["request_id"] == request_id
            ]
        return str(sent[-1]["data"]["pay_url"].rsplit("/", 1)[1])

    def of(self, request_id: str) -> list[str]:
        with self._cond:
            return [e["type"] for e in self.events if e["data"]["request_id"] == request_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
