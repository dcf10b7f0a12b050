"""A real chatpay deployment for tests: ``chatpay gateway`` and ``chatpay worker`` processes."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from chatpay import sealing
from schemas.cards import Envelope

#: Test PANs and what the card form sends with them.
VISA = "4111111111111111"
CARD = {
    "number": "4111 1111 1111 1111",
    "name": "Ada Lovelace",
    "exp_month": 12,
    "exp_year": 2031,
    "cvc": "737",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Deployment:
    """Gateway + worker processes against a broker vhost and a database, logging to files."""

    def __init__(
        self,
        tmp: Path,
        *,
        broker_url: str,
        database_url: str,
        webhook_url: str | None,
        env: dict[str, str] | None = None,
        worker_threads: int = 4,
    ) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.sink: Any = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker_threads = worker_threads
        keys = tmp / "keys"
        sealing.generate_vault_keys(keys)
        self.env = {
            **os.environ,
            "CHATPAY_BROKER_URL": broker_url,
            "CHATPAY_DATABASE_URL": database_url,
            "CHATPAY_PUBLIC_URL": self.url,
            "CHATPAY_CHAT_INBOUND_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "CHATPAY_CHAT_OUTBOUND_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "CHATPAY_AGENT_JWT_SECRET": secrets.token_urlsafe(32),
            "CHATPAY_VAULT_PUBLIC_KEY": str(keys / "vault.pub"),
            "CHATPAY_VAULT_PRIVATE_KEY": str(keys / "vault.key"),
            "CHATPAY_DELIVERY_BACKOFF": "0.05",
            "CHATPAY_DELIVERY_DEADLINE": "10",
            "CHATPAY_SWEEP_INTERVAL": "0.2",
            **(env or {}),
        }
        self.env.pop("CHATPAY_CHAT_WEBHOOK_URL", None)
        if webhook_url:
            self.env["CHATPAY_CHAT_WEBHOOK_URL"] = webhook_url
        self.gateway: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []

    # ---- processes --------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}-{len(self._logs)}.log"
        self._logs.append(log)
        with open(log, "wb") as fh:
            return subprocess.Popen(
                [sys.executable, "-m", "chatpay.cli", *args],
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )

    def start(self) -> Deployment:
        subprocess.run(
            [sys.executable, "-m", "chatpay.cli", "migrate"], env=self.env, check=True, capture_output=True
        )
        self.start_worker()
        self.gateway = self._spawn("gateway", ["gateway", "--port", str(self.port)])
        self.wait_ready()
        return self

    def start_worker(self, queues: str = "") -> subprocess.Popen[bytes]:
        args = ["worker", "--threads", str(self.worker_threads)]
        if queues:
            args += ["--queues", queues]
        worker = self._spawn("worker", args)
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen[bytes] | None = None) -> None:
        worker = worker or self.workers[-1]
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        self.workers.remove(worker)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.gateway is not None and self.gateway.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("gateway did not become ready:\n" + self.logs())

    def stop(self) -> None:
        for proc in [*self.workers, *([self.gateway] if self.gateway else [])]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, *([self.gateway] if self.gateway else [])]:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.workers.clear()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self._logs if p.exists())

    # ---- clients -----------------------------------------------------------------------------------------

    def token(self, agent_id: str) -> str:
        return jwt.encode(
            {"sub": agent_id, "exp": int(time.time()) + 3600},
            self.env["CHATPAY_AGENT_JWT_SECRET"],
            algorithm="HS256",
        )

    def agent(self, agent_id: str = "a-7", *, register: bool = True) -> Agent:
        agent = Agent(self, agent_id)
        if register:
            agent.register_key()
        return agent

    def customer(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


class Agent:
    """An agent UI: its JWT, its device key, and polling helpers."""

    def __init__(self, deployment: Deployment, agent_id: str) -> None:
        self.id = agent_id
        self.http = httpx.Client(
            base_url=deployment.url,
            timeout=10,
            headers={"authorization": f"Bearer {deployment.token(agent_id)}"},
        )
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "device-1"

    def register_key(self) -> None:
        r = self.http.put(
            f"/v1/agents/me/keys/{self.kid}", json={"jwk": sealing.public_key_to_jwk(self.key.public_key())}
        )
        assert r.status_code == 204, r.text

    def create(
        self,
        *,
        conversation_id: str = "c-1",
        customer_id: str = "cu-1",
        amount: int = 1999,
        currency: str = "USD",
        reason: str = "Order #4411 incl. tax",
        **extra: Any,
    ) -> dict[str, Any]:
        headers = {}
        if "idempotency_key" in extra:
            headers["idempotency-key"] = extra.pop("idempotency_key")
        r = self.http.post(
            "/v1/payment-requests",
            headers=headers,
            json={
                "conversation_id": conversation_id,
                "customer_id": customer_id,
                "amount": amount,
                "currency": currency,
                "reason": reason,
                **extra,
            },
        )
        assert r.status_code == 202, r.text
        return dict(r.json())

    def get(self, request_id: str) -> dict[str, Any]:
        r = self.http.get(f"/v1/payment-requests/{request_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def wait(self, request_id: str, status: str, timeout: float = 15.0, **fields: Any) -> dict[str, Any]:
        """Poll until the request has ``status`` (and ``fields``)."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            r = self.http.get(f"/v1/payment-requests/{request_id}")
            if r.status_code == 200:
                last = r.json()
                if last["status"] == status and all(last.get(k) == v for k, v in fields.items()):
                    return last
            time.sleep(0.05)
        raise TimeoutError(f"{request_id} is {last.get('status')}, not {status}")

    def action(self, request_id: str, action: str) -> httpx.Response:
        return self.http.post(f"/v1/payment-requests/{request_id}/{action}")

    def open_card(self, request_id: str) -> dict[str, Any]:
        r = self.http.get(f"/v1/payment-requests/{request_id}/card")
        assert r.status_code == 200, r.text
        envelope = next(e for e in r.json()["envelopes"] if e["kid"] == self.kid)
        return sealing.open_envelope(Envelope(**envelope), {self.kid: self.key}, request_id)
