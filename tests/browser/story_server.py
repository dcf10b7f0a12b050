"""A real ``chatpay up`` for the browser story tests, behind a chat-webhook relay the tests can break.

``chatpay up`` runs as a subprocess on a free port with a temporary data folder and known secrets. Its
``CHATPAY_CHAT_WEBHOOK_URL`` points at :class:`ChatRelay`, which forwards every signed outbound event
unchanged to the built-in demo chat (``/demo/chat/webhook``) — or, while ``failing`` is set, answers 400
(a final error, API.md §9) so the request becomes ``failed`` (TRY AGAIN) at once.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

#: Repository root (``chatpay`` is importable from here).
ROOT = Path(__file__).resolve().parents[2]
#: Where the browser tests leave screenshots and the server log.
ARTIFACTS = ROOT / "test-artifacts"
#: Seconds ``chatpay up`` gets to answer ``/healthz``.
START_TIMEOUT = 60.0
#: Headers of a Standard Webhooks delivery that the relay passes on.
_FORWARDED = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChatRelay:
    """Signed outbound chat events → the demo chat, unless told to fail."""

    def __init__(self) -> None:
        self.target = ""
        self.failing = False
        self.received: list[str] = []
        self.app = Starlette(routes=[Route("/", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(request.headers.get("webhook-id", ""))
        if self.failing:
            return Response(b"chat system says no", status_code=400)
        headers = {k: v for k in _FORWARDED if (v := request.headers.get(k))}
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(self.target, content=body, headers=headers)
        return Response(status_code=answer.status_code)


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` on a free loopback port in a thread; its base URL (with a trailing slash)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_config=None, log_level="warning", access_log=False, lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclasses.dataclass
class StoryServer:
    url: str
    relay: ChatRelay
    agent_jwt_secret: str
    outbound_secret: str
    log_path: Path
    data_dir: Path

    def token(self, agent_id: str, ttl: int = 3600) -> str:
        now = int(time.time())
        return jwt.encode({"sub": agent_id, "iat": now, "exp": now + ttl}, self.agent_jwt_secret, "HS256")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def _whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@contextlib.contextmanager
def story_server(data_dir: Path, *, name: str = "story") -> Iterator[StoryServer]:
    """``chatpay up`` on a free port, its chat webhook pointed at a :class:`ChatRelay`."""
    relay = ChatRelay()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"chatpay-up-{name}.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    relay.target = url + "/demo/chat/webhook"
    jwt_secret = secrets.token_urlsafe(32)
    outbound = _whsec()
    with serve(relay.app) as relay_url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CHATPAY_")},
            "CHATPAY_PUBLIC_URL": url,
            "CHATPAY_CHAT_WEBHOOK_URL": relay_url,
            "CHATPAY_AGENT_JWT_SECRET": jwt_secret,
            "CHATPAY_CHAT_OUTBOUND_SECRET": outbound,
            "CHATPAY_CHAT_INBOUND_SECRET": _whsec(),
            "CHATPAY_DELIVERY_BACKOFF": "0.2",
            "CHATPAY_DELIVERY_DEADLINE": "10",
            "CHATPAY_MERCHANT_NAME": "Acme Support",
            "PYTHONPATH": str(ROOT),
        }
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "chatpay.cli", "up", "--port", str(port), "--data-dir", str(data_dir)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_healthy(url, proc, log_path)
                yield StoryServer(url, relay, jwt_secret, outbound, log_path, data_dir)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chatpay up exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"chatpay up did not answer /healthz in {START_TIMEOUT:.0f} s")
