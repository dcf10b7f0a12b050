"""Operations endpoints (API.md §10) and the HTTP metrics."""

from __future__ import annotations

import asyncio
import functools

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import openapi
from gateway.context import gw
from gateway.http import json_response
from schemas.api import Health

HTTP_REQUESTS = Counter("chatpay_http_requests_total", "HTTP requests", ["route", "status"])
HTTP_SECONDS = Histogram(
    "chatpay_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


async def healthz(request: Request) -> Response:
    return json_response(Health(status="ok"))


async def readyz(request: Request) -> Response:
    g = gw(request)
    checks = {}
    try:
        await asyncio.wait_for(g.read(lambda tx: tx.one("SELECT 1 AS ok")), 3)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", never a 500
        checks["database"] = type(exc).__name__
    try:
        await asyncio.wait_for(g.publisher.ping(), 3)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = type(exc).__name__
    ok = all(v == "ok" for v in checks.values())
    return json_response(Health(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@functools.lru_cache(maxsize=1)
def _openapi_bytes() -> bytes:
    import msgspec

    return msgspec.json.encode(openapi.document())


async def openapi_json(request: Request) -> Response:
    return Response(_openapi_bytes(), media_type="application/json")


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi_json, methods=["GET"]),
]
