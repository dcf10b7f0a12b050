"""Shared steps of the page tests: agent and customer actions, screenshots (the ``story`` server
fixture is in ``conftest.py``)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from playwright.async_api import BrowserContext, ConsoleMessage, Locator, Page, ViewportSize, expect

from tests.browser.story_server import ARTIFACTS, StoryServer

#: Where every page test leaves its screenshots.
SHOTS = ARTIFACTS / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
#: Seconds the pages get to catch up with the server (events, polling, delivery).
WAIT_MS = 20_000

expect.set_options(timeout=WAIT_MS)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def future_expiry() -> str:
    """An expiry three years ahead, as typed: "MMYY"."""
    return f"12{(dt.date.today().year + 3) % 100:02d}"


async def shot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


class PageProblems:
    """Console errors that matter (CSP violations, script errors) seen by a page."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: page error: {error}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        # A fetch answered 4xx is logged by Chromium; the pages handle those answers themselves.
        if message.type == "error" and "Failed to load resource" not in text:
            self.problems.append(text)


async def sign_in(context: BrowserContext, story: StoryServer, agent_id: str, problems: PageProblems) -> Page:
    page = problems.watch(await context.new_page())
    await page.goto(story.url + "/console")
    await page.get_by_label("Agent id").fill(agent_id)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text("Card key ready")).to_be_visible()
    return page


async def open_customer(page: Page, customer_id: str, conversation_id: str) -> None:
    await page.get_by_label("Customer id").fill(customer_id)
    await page.get_by_label("Conversation id").fill(conversation_id)
    await page.get_by_role("button", name="Open customer", exact=True).click()
    await expect(page.get_by_role("heading", name=customer_id)).to_be_visible()


async def request_payment(
    page: Page, amount: str, reason: str, *, gift_card: bool = False, expires: str | None = None
) -> None:
    """Composer → Request → confirm dialog → Send."""
    await page.get_by_label("Amount (incl. taxes)").fill(amount)
    await page.get_by_label("Reason").fill(reason)
    if gift_card:
        await page.get_by_label("Gift card").check()
    if expires:
        await page.get_by_label("Expires after").select_option(label=expires)
    await page.get_by_role("button", name="Request", exact=True).click()
    dialog = page.get_by_role("dialog", name="Send this payment request?")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_text(reason)).to_be_visible()
    await dialog.get_by_role("button", name="Send").click()
    await expect(dialog).to_be_hidden()


def request_card(page: Page, reason: str) -> Locator:
    """The console's card of the request with this reason."""
    return page.locator("article.request-card").filter(has_text=reason)


async def open_chat(
    context: BrowserContext, story: StoryServer, conversation_id: str, problems: PageProblems
) -> Page:
    page = problems.watch(await context.new_page())
    await page.goto(f"{story.url}/demo/chat/{conversation_id}")
    return page
