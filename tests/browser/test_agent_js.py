"""gateway/static/chatpay-agent.js in real Chromium: keys made in the browser open Python-sealed cards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from chatpay.sealing import (
    SUITE,
    b64url_decode,
    b64url_encode,
    jwk_to_public_key,
    key_id,
    public_key_to_jwk,
    seal_card_for,
    seal_envelope,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Route

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

MODULE = "/static/chatpay-agent.js"
SOURCE = Path(__file__).resolve().parents[2] / "gateway" / "static" / "chatpay-agent.js"
CARDS: list[dict[str, Any]] = [
    {"method": "card", "number": pan, "name": "Zoë O'Brien", "exp_month": 12, "exp_year": 2029, "cvc": cvc}
    for pan, cvc in [
        ("4111111111111111", "123"),
        ("4242424242424242", "042"),
        ("5555555555554444", "999"),
        ("378282246310005", "1234"),
    ]
] + [{"method": "gift_card", "number": "ABCD1234EFGH", "pin": "0042"}]

#: RFC 9180 A.3.1: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode, sequence 0.
RFC9180_A31 = {
    "skRm": "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
    "pkRm": "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a82"
    "6a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
    "enc": "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac9"
    "8536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
    "info": "4f6465206f6e2061204772656369616e2055726e",
    "aad": "436f756e742d30",
    "pt": "4265617574792069732074727574682c20747275746820626561757479",
    "ct": "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434",
}


async def js(page: Page, body: str, arg: object = None) -> Any:
    """Run ``body`` in the page with the module imported as ``m`` and the argument as ``arg``."""
    return await page.evaluate(f"async (arg) => {{ const m = await import({MODULE!r}); {body} }}", arg)


async def js_error(page: Page, body: str, arg: object = None) -> str:
    """The message ``body`` rejects with (fails when it resolves)."""
    message = await js(
        page, f"try {{ {body}; }} catch (e) {{ return 'ERR ' + e.message; }} return 'OK';", arg
    )
    assert message.startswith("ERR "), message
    return str(message[4:])


async def browser_key(page: Page, agent_id: str = "a-7") -> tuple[str, dict[str, Any]]:
    """Create (or load) the agent key in the page, kept as ``window.agentKey``: (kid, public JWK)."""
    key = await js(
        page,
        "window.agentKey = await m.loadOrCreateAgentKey(arg);"
        "return {kid: window.agentKey.kid, jwk: window.agentKey.publicJwk};",
        agent_id,
    )
    return key["kid"], key["jwk"]


def private_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    return {
        **public_key_to_jwk(key.public_key()),
        "d": b64url_encode(key.private_numbers().private_value.to_bytes(32)),
    }


async def test_browser_key_opens_python_sealed_cards(page: Page) -> None:
    kid, jwk = await browser_key(page)
    assert set(jwk) == {"kty", "crv", "x", "y"}
    public_key = jwk_to_public_key(jwk)
    assert kid == key_id(public_key), "the browser and Python agree on key ids"
    for i, card in enumerate(CARDS):
        request_id = f"pr_{i}"
        [envelope] = seal_card_for({kid: public_key}, msgspec.json.encode(card), request_id)
        opened = await js(
            page,
            "return await m.openEnvelope(window.agentKey, arg.envelope, arg.request_id);",
            {
                "envelope": msgspec.to_builtins(envelope),
                "request_id": request_id,
            },
        )
        assert opened == card


async def test_private_key_stays_in_the_browser(page: Page) -> None:
    await browser_key(page)
    result = await js(
        page,
        "const k = window.agentKey.keyPair.privateKey;"
        "let exported = true; try { await crypto.subtle.exportKey('jwk', k); } catch { exported = false; }"
        "return [k.extractable, exported, k.algorithm.name, k.algorithm.namedCurve, k.usages];",
    )
    assert result == [False, False, "ECDH", "P-256", ["deriveBits"]]


async def test_key_is_persisted_per_agent(page: Page, static_url: str) -> None:
    kid, _ = await browser_key(page, "a-7")
    await page.goto(static_url + "/")
    assert (await browser_key(page, "a-7"))[0] == kid, "reloaded from IndexedDB"
    assert (await browser_key(page, "a-8"))[0] != kid
    _, jwk = await browser_key(page, "a-7")
    [envelope] = seal_card_for({kid: jwk_to_public_key(jwk)}, b'{"n": 1}', "pr_1")
    opened = await js(
        page, "return await m.openEnvelope(window.agentKey, arg, 'pr_1');", msgspec.to_builtins(envelope)
    )
    assert opened == {"n": 1}, "a key loaded from IndexedDB still opens envelopes"
    await js(page, "await m.forgetAgentKey('a-7');")
    assert (await browser_key(page, "a-7"))[0] != kid


async def test_concurrent_first_use_yields_one_key(page: Page) -> None:
    kids = await js(
        page,
        "const ks = await Promise.all([1, 2, 3].map(() => m.loadOrCreateAgentKey('a-9')));"
        "return ks.map((k) => k.kid);",
    )
    assert len(set(kids)) == 1


async def test_tampered_or_misdirected_envelopes_fail(page: Page) -> None:
    kid, jwk = await browser_key(page)
    card = msgspec.json.encode(CARDS[0])
    [envelope] = seal_card_for({kid: jwk_to_public_key(jwk)}, card, "pr_1")
    good = msgspec.to_builtins(envelope)
    raw = b64url_decode(envelope.ct)
    cases = [
        ({**good, "ct": b64url_encode(raw[:-1] + bytes([raw[-1] ^ 1]))}, "pr_1"),
        ({**good, "ct": b64url_encode(raw[:70] + bytes([raw[70] ^ 1]) + raw[71:])}, "pr_1"),
        ({**good, "ct": b64url_encode(raw[:10] + bytes([raw[10] ^ 1]) + raw[11:])}, "pr_1"),
        ({**good, "ct": good["ct"][:40]}, "pr_1"),
        ({**good, "ct": good["ct"] + "="}, "pr_1"),
        (good, "pr_2"),
        (
            msgspec.to_builtins(
                seal_envelope(card, ec.generate_private_key(ec.SECP256R1()).public_key(), "pr_1")
            ),
            "pr_1",
        ),
    ]
    for bad, request_id in cases:
        message = await js_error(
            page, "await m.openEnvelope(window.agentKey, arg[0], arg[1])", [bad, request_id]
        )
        assert message == "could not open the card envelope (wrong key, wrong request or tampered data)"
    message = await js_error(
        page, "await m.openEnvelope(window.agentKey, arg, 'pr_1')", {**good, "suite": "X25519"}
    )
    assert "unsupported envelope suite" in message
    assert await js(page, "return await m.openEnvelope(window.agentKey, arg, 'pr_1');", good) == CARDS[0]


async def test_non_object_plaintext_is_refused_without_echoing_it(page: Page) -> None:
    kid, jwk = await browser_key(page)
    [envelope] = seal_card_for({kid: jwk_to_public_key(jwk)}, b"4111111111111111 not json", "pr_1")
    message = await js_error(
        page, "await m.openEnvelope(window.agentKey, arg, 'pr_1')", msgspec.to_builtins(envelope)
    )
    assert message == "the opened card envelope is not a JSON object"


async def test_open_with_known_private_jwk(page: Page) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    envelope = seal_envelope(msgspec.json.encode(CARDS[3]), key.public_key(), "pr_1")
    assert envelope.suite == SUITE
    opened = await js(
        page,
        "return await m.openEnvelopeWithPrivateJwk(arg[0], arg[1], 'pr_1');",
        [
            private_jwk(key),
            msgspec.to_builtins(envelope),
        ],
    )
    assert opened == CARDS[3]
    assert await js(
        page, "return await m.keyId((await m.importPrivateJwk(arg)).publicKey);", private_jwk(key)
    ) == key_id(key.public_key())


async def test_rfc9180_a31_vector(page: Page) -> None:
    sk = ec.derive_private_key(int(RFC9180_A31["skRm"], 16), ec.SECP256R1())
    assert public_key_to_jwk(sk.public_key()) == public_key_to_jwk(
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes.fromhex(RFC9180_A31["pkRm"]))
    )
    plaintext = await js(
        page,
        "const hex = (h) => Uint8Array.from(h.match(/../g), (b) => parseInt(b, 16));"
        "const keys = await m.importPrivateJwk(arg.jwk);"
        "const v = arg.v;"
        "const pt = await m.hpkeOpen({suite: 'P256-SHA256-AES128GCM', ...keys,"
        " sealed: hex(v.enc + v.ct), info: hex(v.info), aad: hex(v.aad)});"
        "return Array.from(pt, (b) => b.toString(16).padStart(2, '0')).join('');",
        {"jwk": private_jwk(sk), "v": RFC9180_A31},
    )
    assert plaintext == RFC9180_A31["pt"]
    assert bytes.fromhex(plaintext) == b"Beauty is truth, truth beauty"


async def test_register_key_puts_only_the_public_jwk(page: Page, static_url: str) -> None:
    kid, jwk = await browser_key(page)
    seen: list[dict[str, Any]] = []

    async def handle(route: Route) -> None:
        request = route.request
        seen.append(
            {
                "method": request.method,
                "url": request.url,
                "headers": request.headers,
                "body": request.post_data,
            }
        )
        await route.fulfill(status=204 if len(seen) == 1 else 401)

    await page.route("**/v1/agents/me/keys/*", handle)
    await js(
        page,
        "const jwk = {...window.agentKey.publicJwk, d: 'x', ext: true};"
        "await m.registerKey(arg.base + '/', 'tok.en', window.agentKey.kid, jwk);",
        {"base": static_url},
    )
    [call] = seen
    assert call["method"] == "PUT"
    assert call["url"] == f"{static_url}/v1/agents/me/keys/{kid}"
    assert call["headers"]["authorization"] == "Bearer tok.en"
    assert call["headers"]["content-type"] == "application/json"
    assert json.loads(call["body"]) == {"jwk": jwk}
    message = await js_error(
        page, "await m.registerKey(arg, 't', 'k1', window.agentKey.publicJwk)", static_url
    )
    assert message == "registering card key k1 failed: HTTP 401"


async def test_insecure_context_fails_clearly(browser: Browser) -> None:
    context = await browser.new_context()
    try:
        page = await context.new_page()
        source = SOURCE.read_text()

        async def serve(route: Route) -> None:
            if route.request.url.endswith(".js"):
                await route.fulfill(content_type="text/javascript", body=source)
            else:
                await route.fulfill(content_type="text/html", body="<!doctype html>")

        await page.route("http://chatpay.test/**", serve)
        await page.goto("http://chatpay.test/")
        assert await page.evaluate("window.isSecureContext") is False
        message = await js_error(page, "await m.loadOrCreateAgentKey('a-7')")
        assert "open the console over https:// or on localhost" in message
    finally:
        await context.close()
