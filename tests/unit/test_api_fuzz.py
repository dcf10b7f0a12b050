"""Property-based fuzzing of every operation in /openapi.json: nothing a client sends is a 5xx.

Schemathesis generates valid and invalid requests from the generated OpenAPI document and sends
them to the real application (SQLite store, in-process broker without workers).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from chatpay import config, sealing
from chatpay.agent_events import LocalEventHub
from chatpay.broker import make_broker
from chatpay.publisher import InProcessPublisher
from chatpay.store import open_store
from gateway.app import build_gateway, create_app
from gateway.events import local_bridge

_tmp = Path(__import__("tempfile").mkdtemp(prefix="chatpay-fuzz-"))
_keys = _tmp / "keys"
sealing.generate_vault_keys(_keys)
SETTINGS = config.load(
    {
        "CHATPAY_CHAT_INBOUND_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "CHATPAY_CHAT_OUTBOUND_SECRET": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "CHATPAY_AGENT_JWT_SECRET": "fuzz-secret-fuzz-secret-fuzz-secret",
        "CHATPAY_VAULT_PUBLIC_KEY": str(_keys / "vault.pub"),
        "CHATPAY_DATABASE_URL": f"sqlite:///{_tmp / 'fuzz.db'}",
    }
)
_store = open_store(SETTINGS.database_url)
_store.migrate()
_broker = make_broker(SETTINGS)
_publisher = InProcessPublisher(_broker)
asyncio.run(_publisher.start())
APP = create_app(build_gateway(SETTINGS, _store, _publisher, local_bridge(LocalEventHub(), _store)))
TOKEN = jwt.encode(
    {"sub": "a-fuzz", "exp": int(time.time()) + 3600}, SETTINGS.agent_jwt_secret, algorithm="HS256"
)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.exclude(path="/v1/agents/me/events").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    headers = {"authorization": f"Bearer {TOKEN}"}
    response = case.call(headers=headers)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b'{"events": "x"}', b"\xff\xfe"])
async def test_unparsable_bodies_are_client_errors(body):
    import httpx

    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://t") as client:
        for method, path in (("POST", "/v1/payment-requests"), ("PUT", "/v1/agents/me/focus")):
            r = await client.request(method, path, content=body, headers=headers)
            assert r.status_code in (400, 422), (path, body, r.status_code)
