"""The HTML pages: hosted payment page, agent console and demo chat window (API.md §5, issue "faces").

Each page is a plain HTML file from ``gateway/static/`` that loads its own ES module and ``app.css``;
there is no templating, so nothing a caller sends (the pay token, a conversation id) is ever echoed into
the markup. The page scripts read what they need from ``location.pathname``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

#: Folder holding the pages, their scripts and the stylesheet (served by the gateway at ``/static/``).
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The Content-Security-Policy of every page: own scripts, styles and API only; no inline code, no
#: framing, no form posts anywhere (the pages submit with ``fetch``).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)

#: Headers sent with every page. ``no-referrer`` keeps the pay token out of any Referer header;
#: ``no-store`` keeps a page showing a payment out of every cache.
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
}

#: Path → HTML file in :data:`STATIC_DIR`.
PAGES: Mapping[str, str] = {
    "/pay/{token}": "pay.html",
    "/console": "console.html",
    "/demo/chat/{conversation_id}": "chat.html",
}


def page_response(html: bytes) -> Response:
    """An HTML page with the security headers of :data:`PAGE_HEADERS`."""
    return Response(html, media_type="text/html; charset=utf-8", headers=dict(PAGE_HEADERS))


def _endpoint(filename: str, static_dir: Path) -> Callable[[Request], Awaitable[Response]]:
    path = static_dir / filename
    cached: dict[str, bytes] = {}

    async def serve(request: Request) -> Response:
        # Read once per process: the pages are static and small.
        html = cached.get("html")
        if html is None:
            html = cached["html"] = path.read_bytes()
        return page_response(html)

    serve.__name__ = f"page_{filename.removesuffix('.html')}"
    return serve


def page_routes(*, static_dir: Path = STATIC_DIR) -> list[BaseRoute]:
    """GET routes for every page of :data:`PAGES`."""
    return [Route(path, _endpoint(name, static_dir), methods=["GET"]) for path, name in PAGES.items()]
