"""Browser fixtures: headless Debian Chromium driven by Playwright, and gateway/static served over HTTP.

Without Chromium the browser tests skip, except under CI (``CI`` set) where they fail.

Playwright's async API is used, on the session event loop: the sync API keeps an event loop marked as
running in the main thread for as long as the browser lives, which breaks every asyncio test after it.
Browser test modules therefore set ``pytestmark = pytest.mark.asyncio(loop_scope="session")``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.browser.story_server import StoryServer, serve, story_server

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

#: The Debian chromium package.
CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a quiet headless Chromium in a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The directory the gateway serves under /static.
STATIC_DIR = Path(__file__).resolve().parents[2] / "gateway" / "static"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI is set: browser tests must run in CI")
    pytest.skip(reason)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the session."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        await chromium.close()


async def _blank(request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>chatpay test</title>")


@pytest.fixture(scope="session")
def static_url() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` serving gateway/static under /static and a blank page at /."""
    app = Starlette(routes=[Route("/", _blank), Mount("/static", StaticFiles(directory=STATIC_DIR))])
    with serve(app) as url:
        yield url.rstrip("/")


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, static_url: str) -> AsyncIterator[Page]:
    """A fresh browser context (own IndexedDB) on the blank page, a secure context (127.0.0.1)."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(static_url + "/")
    yield page
    await context.close()


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[StoryServer]:
    """A real ``chatpay up`` (embedded broker, SQLite) for the module's tests."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    with story_server(tmp_path_factory.mktemp("chatpay-up"), name=name) as server:
        yield server
