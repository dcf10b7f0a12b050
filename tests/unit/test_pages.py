"""The HTML pages and their security headers (gateway/pages.py)."""

from __future__ import annotations

import re
import warnings

import pytest
from starlette.applications import Starlette

from gateway.pages import CONTENT_SECURITY_POLICY, STATIC_DIR, page_routes

with warnings.catch_warnings():
    # Starlette 1.x warns when its TestClient runs on httpx rather than httpx2.
    warnings.simplefilter("ignore", UserWarning)
    from starlette.testclient import TestClient


@pytest.fixture
def client() -> TestClient:
    return TestClient(Starlette(routes=page_routes()))


PATHS = ["/pay/tok_abcdefABCDEF0123456789", "/console", "/demo/chat/c-1001"]


@pytest.mark.parametrize("path", PATHS)
def test_page_headers(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "<!doctype html>" in answer.text.lower()


def test_csp_is_strict() -> None:
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ):
        assert directive in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_pay_token_is_not_echoed(client: TestClient) -> None:
    assert "tok_abcdef" not in client.get("/pay/tok_abcdefABCDEF0123456789").text


def test_only_get(client: TestClient) -> None:
    assert client.post("/console").status_code == 405


@pytest.mark.parametrize("name", ["pay.html", "console.html", "chat.html"])
def test_pages_have_no_inline_code_and_no_third_party(name: str) -> None:
    html = (STATIC_DIR / name).read_text()
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, "inline script"
    assert "<style" not in html
    assert " style=" not in html
    assert re.search(r"\bon[a-z]+=", html) is None, "inline event handler"
    for url in re.findall(r"(?:src|href)=\"([^\"]+)\"", html):
        assert url.startswith("/static/") or url.startswith("#"), url
    assert 'lang="en"' in html
    assert 'name="viewport"' in html


def test_static_scripts_use_no_storage_for_cards() -> None:
    for path in STATIC_DIR.glob("*.js"):
        if path.name == "chatpay-agent.js":
            continue
        source = path.read_text()
        assert "localStorage" not in source, path.name
        assert re.search(r"\bconsole\.(log|info|warn|error|debug|dir|table)\(", source) is None, path.name
    for name in ("pay.js", "cardcheck.js"):
        source = (STATIC_DIR / name).read_text()
        for api in ("sessionStorage", "indexedDB", "document.cookie", "innerHTML"):
            assert api not in source, (name, api)
