"""The Starlette application: routes, error rendering, metrics, and wiring of its dependencies."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatpay import sealing
from chatpay.config import Settings
from chatpay.errors import BrokerUnavailable, ConfigError, StoreUnavailable
from chatpay.publisher import Publisher
from chatpay.store import Store
from gateway import agents, chat, customers, events, ops, pages
from gateway.context import SUBMIT_WINDOW, Gateway, RateLimiter
from gateway.http import ApiError, error_response

log = logging.getLogger("chatpay.gateway")

STATIC_DIR = Path(__file__).parent / "static"


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(
        ApiError(
            "unavailable",
            "A backing service is unavailable; nothing was accepted. Retry later.",
            headers={"retry-after": "1"},
        )
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "invalid_request"}.get(exc.status_code, "invalid_request")
    message = "No such endpoint." if exc.status_code == 404 else "Method not allowed."
    return error_response(ApiError(code, message, http_status=exc.status_code))


async def _crash(request: Request, exc: Exception) -> Response:
    # Never the exception text: it could echo input. The traceback goes to the log without locals.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(
        ApiError("unavailable", "Something went wrong on our side; retry later.", http_status=500)
    )


class MetricsMiddleware:
    """Counts and times every request by route template (never by raw path: tokens live there)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            ops.HTTP_REQUESTS.labels(name, str(status[0])).inc()
            ops.HTTP_SECONDS.labels(name).observe(time.perf_counter() - start)


def create_app(gateway: Gateway, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.publisher.start()
        await gateway.bridge.start()
        yield
        await gateway.bridge.close()
        await gateway.publisher.close()

    routes: list[BaseRoute] = [
        *agents.routes,
        *customers.routes,
        *chat.routes,
        *events.routes,
        *ops.routes,
        *pages.page_routes(),
        *extra_routes,
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        debug=False,
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(MetricsMiddleware)],
        exception_handlers={
            ApiError: _api_error,
            BrokerUnavailable: _unavailable,
            StoreUnavailable: _unavailable,
            HTTPException: _http_error,
            Exception: _crash,
        },
    )
    app.state.gateway = gateway
    return app


def build_gateway(settings: Settings, store: Store, publisher: Publisher, bridge: object) -> Gateway:
    if not settings.vault_public_key:
        raise ConfigError("the gateway needs CHATPAY_VAULT_PUBLIC_KEY")
    vault_key = sealing.load_public_key(settings.vault_public_key)
    return Gateway(
        settings=settings,
        store=store,
        publisher=publisher,
        bridge=bridge,
        vault_key=vault_key,
        webhook=Webhook(settings.chat_inbound_secret),
        submits=RateLimiter(settings.submit_limit, SUBMIT_WINDOW),
    )
