"""Agent notification taps for tests: the SSE stream and a queue on the AMQP topic exchange."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
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
    """``GET /v1/agents/me/events`` read by a background thread; ``items`` are the parsed ``data``."""

    def __init__(self, base_url: str, token: str, *, last_event_id: str | None = None) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.status: int | None = None
        self.ended = threading.Event()
        headers = {"authorization": f"Bearer {token}", "accept": "text/event-stream"}
        if last_event_id:
            headers["last-event-id"] = last_event_id
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=None))
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(headers,), daemon=True)
        self._thread.start()
        if not self._opened.wait(15):
            raise TimeoutError("the event stream did not open")
        assert self.status == 200, f"event stream answered {self.status}"

    def _run(self, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", "/v1/agents/me/events", headers=headers) as resp:
                self.status = resp.status_code
                self._opened.set()
                event_id, data = "", []
                for line in resp.iter_lines():
                    if line.startswith("id:"):
                        event_id = line[3:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        self.ids.append(event_id)
                        self.add(json.loads("\n".join(data)))
                        event_id, data = "", []
        except httpx.HTTPError:
            pass  # closed by close(), or the server went away
        finally:
            self._opened.set()
            self.ended.set()

    @property
    def last_id(self) -> str:
        return self.ids[-1]

    def close(self) -> None:
        """Drop the connection (as a browser losing the network would)."""
        self._client.close()
        self.ended.wait(10)


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
