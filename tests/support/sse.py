"""Agent notification taps for tests: the SSE stream and a queue on the AMQP topic exchange."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pika

from chatpay.agent_events import EXCHANGE, SEQ_HEADER, routing_key

Notification = dict[str, Any]


class _Collector:
    """Notifications in arrival order, with waiting."""

    def __init__(self) -> None:
        self.items: list[Notification] = []
        self._cond = threading.Condition()

    def add(self, item: Notification) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 15.0) -> list[Notification]:
        """The first ``count`` notifications (waiting for them)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.items) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.items)} notifications, not {count}: {self.summary()}")
                self._cond.wait(left)
            return list(self.items[:count])

    def wait_for(self, status: str, request_id: str | None = None, timeout: float = 15.0) -> Notification:
        """The first notification whose request (``request_id`` if given) has ``status``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.items:
                    request = item["request"]
                    if request["status"] == status and request_id in (None, request["id"]):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {status} notification: {self.summary()}")
                self._cond.wait(left)

    def quiet(self, seconds: float) -> list[Notification]:
        """Everything after ``seconds`` more (to check that nothing else comes)."""
        time.sleep(seconds)
        with self._cond:
            return list(self.items)

    def summary(self) -> list[tuple[str, str]]:
        return [(n["type"], n["request"]["status"]) for n in self.items]


class SseStream(_Collector):
    """``GET /v1/agents/me/events`` over a plain socket read by a background thread (so that
    :meth:`close` really drops the connection); ``items`` are the parsed ``data``, ``ids`` the ids."""

    def __init__(self, base_url: str, token: str, *, last_event_id: str | None = None) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.ended = threading.Event()
        parts = urlsplit(base_url)
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        headers = [
            "GET /v1/agents/me/events HTTP/1.1",
            f"host: {parts.netloc}",
            f"authorization: Bearer {token}",
            "accept: text/event-stream",
            *([f"last-event-id: {last_event_id}"] if last_event_id else []),
        ]
        self._sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        self._body = self._sock.makefile("rb")
        status = self._body.readline().split()
        while self._body.readline() not in (b"\r\n", b""):
            pass
        assert status[1:2] == [b"200"], f"event stream answered {status}"
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _lines(self) -> Iterator[str]:
        """The body's lines (chunked transfer encoding undone)."""
        pending = b""
        while size := int(self._body.readline().strip() or b"0", 16):
            pending += self._body.read(size)
            self._body.readline()
            *lines, pending = pending.split(b"\n")
            yield from (line.decode() for line in lines)

    def _run(self) -> None:
        event_id, data = "", []
        try:
            for line in self._lines():
                if line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    self.ids.append(event_id)
                    self.add(json.loads("\n".join(data)))
                    event_id, data = "", []
        except (OSError, ValueError):
            pass  # closed by close(), or the server went away
        finally:
            self.ended.set()

    @property
    def last_id(self) -> str:
        return self.ids[-1]

    def close(self) -> None:
        """Drop the connection (as a browser losing the network would)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self.ended.wait(10)
        self._body.close()
        self._sock.close()


class AmqpTap(_Collector):
    """An exclusive queue bound to ``agent.<id>`` on the topic exchange, read by a background thread.

    ``seqs`` are the ``chatpay-seq`` headers, in arrival order.
    """

    def __init__(self, broker_url: str, agent_id: str) -> None:
        super().__init__()
        self.seqs: list[int] = []
        self.message_ids: list[str] = []
        self._conn = pika.BlockingConnection(pika.URLParameters(broker_url))
        channel = self._conn.channel()
        channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, EXCHANGE, routing_key(agent_id))
        channel.basic_consume(queue, self._on_message, auto_ack=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_message(self, channel: Any, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        self.seqs.append(int((properties.headers or {})[SEQ_HEADER]))
        self.message_ids.append(str(properties.message_id))
        self.add(json.loads(body))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._conn.process_data_events(time_limit=0.1)
        self._conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
