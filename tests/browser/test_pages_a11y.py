"""Accessibility of every page and state, at desktop and phone width, with axe-core in real Chromium.

axe-core comes from the PyPI package ``axe-playwright-python`` (it bundles ``axe.min.js``); the script is
evaluated in the page (DevTools evaluation, so the pages' strict CSP stays on). A violation of impact
"serious" or "critical" fails the test. Each state is also screenshotted into test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.pages_helpers import (
    DESKTOP,
    PHONE,
    PageProblems,
    future_expiry,
    open_chat,
    open_customer,
    request_card,
    request_payment,
    shot,
    sign_in,
    unique,
)
from tests.browser.story_server import StoryServer

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

#: Impacts that fail the check.
BLOCKING = {"serious", "critical"}
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}


def _axe_script() -> str:
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("axe-playwright-python is not installed, and CI is set: the a11y check must run")
        pytest.skip("axe-playwright-python is not installed")
    return str(AXE_SCRIPT)


async def axe(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations of the page as it is now (WCAG 2.x A/AA + best practice)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(_axe_script())
    result = await page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                          nodes: v.nodes.map(n => n.target.join(" "))}));
        }"""
    )
    return [v for v in result if v["impact"] in BLOCKING]


async def check(page: Page, name: str, found: dict[str, list[dict[str, Any]]]) -> None:
    """axe + screenshot at both widths."""
    for width, size in WIDTHS.items():
        await page.set_viewport_size(size)
        await page.wait_for_timeout(100)
        violations = await axe(page)
        if violations:
            found[f"{name}-{width}"] = violations
        await shot(page, f"a11y-{name}-{width}")


def report(found: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for state, violations in found.items():
        for v in violations:
            lines.append(f"{state}: {v['id']} ({v['impact']}) {v['help']} at {v['nodes'][:3]}")
    return "\n".join(lines)


async def test_console_is_accessible(browser: Browser, story: StoryServer) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    problems = PageProblems()
    customer, conversation, reason = unique("cu"), unique("c"), "Order #4411 incl. tax"
    context = await browser.new_context(viewport=DESKTOP)
    customer_ctx = await browser.new_context(viewport=PHONE)
    try:
        page = problems.watch(await context.new_page())
        await page.goto(story.url + "/console")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await check(page, "console-signin", found)
        await page.close()

        agent = await sign_in(context, story, unique("a"), problems)
        await check(agent, "console-empty", found)
        await open_customer(agent, customer, conversation)
        await agent.get_by_label("Amount (incl. taxes)").fill("19.99")
        await agent.get_by_label("Reason").fill(reason)
        await agent.get_by_role("button", name="Request", exact=True).click()
        await expect(agent.get_by_role("dialog")).to_be_visible()
        await check(agent, "console-confirm-dialog", found)
        await agent.get_by_role("button", name="Back").click()
        await request_payment(agent, "19.99", reason)

        # The customer pays while another profile is open: banner, green dot, VIEW CARD.
        await open_customer(agent, unique("cu"), unique("c"))
        chat = await open_chat(customer_ctx, story, conversation, problems)
        message = chat.locator("article.pay-msg").filter(has_text=reason)
        href = await message.get_by_role("link", name="Enter Payment").get_attribute("href")
        assert href
        pay = problems.watch(await customer_ctx.new_page())
        await pay.goto(href)
        await pay.get_by_label("Card number", exact=True).press_sequentially("5555555555554444")
        await pay.get_by_label("Name on card").fill("Ada Lovelace")
        await pay.get_by_label("Expiry date").press_sequentially(future_expiry())
        await pay.get_by_label("Security code").press_sequentially("123")
        await pay.get_by_role("button", name="Pay $19.99").click()
        await expect(agent.locator("#banner")).to_be_visible()
        await check(agent, "console-banner", found)
        await agent.locator("#banner-open").click()
        card = request_card(agent, reason)
        await expect(card.get_by_role("button", name="View Card")).to_be_visible()
        await check(agent, "console-view-card", found)
        await card.get_by_role("button", name="View Card").click()
        await expect(agent.get_by_role("dialog").get_by_text("5555 5555 5555 4444")).to_be_visible()
        await check(agent, "console-card-dialog", found)
        await agent.get_by_role("dialog").get_by_role("button", name="Close").click()
    finally:
        await context.close()
        await customer_ctx.close()
    assert not found, "axe violations:\n" + report(found)
    assert problems.problems == []


async def test_pay_page_and_chat_are_accessible(browser: Browser, story: StoryServer) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    problems = PageProblems()
    agent_id, customer, conversation, reason = (
        unique("a"),
        unique("cu"),
        unique("c"),
        "Gift for Mum, incl. VAT",
    )
    context = await browser.new_context(viewport=DESKTOP)
    customer_ctx = await browser.new_context(viewport=PHONE)
    try:
        agent = await sign_in(context, story, agent_id, problems)
        await open_customer(agent, customer, conversation)
        await request_payment(agent, "42", reason, gift_card=True)

        chat = await open_chat(customer_ctx, story, conversation, problems)
        await chat.get_by_label("Message").fill("Hi, I'd like to pay for my order.")
        await chat.get_by_role("button", name="Send").click()
        message = chat.locator("article.pay-msg").filter(has_text=reason)
        await expect(message).to_be_visible()
        await expect(chat.get_by_text("Hi, I'd like to pay for my order.")).to_be_visible()
        await check(chat, "chat-request", found)

        href = await message.get_by_role("link", name="Enter Payment").get_attribute("href")
        assert href
        pay = problems.watch(await customer_ctx.new_page())
        await pay.goto(href.split("#")[0])
        await expect(pay.get_by_role("button", name="Enter Payment")).to_be_visible()
        await check(pay, "pay-summary", found)
        await pay.get_by_role("button", name="Enter Payment").click()
        await expect(pay.get_by_role("heading", name="Payment details")).to_be_visible()
        await check(pay, "pay-form", found)

        # Inline errors.
        await pay.get_by_label("Card number", exact=True).press_sequentially("4111111111111112")
        await pay.get_by_label("Expiry date").press_sequentially("0120")
        await pay.get_by_label("Security code").press_sequentially("12")
        await pay.get_by_label("Name on card").focus()
        await expect(pay.get_by_text("This card has expired.")).to_be_visible()
        await check(pay, "pay-form-errors", found)

        await pay.get_by_role("radio", name="Gift card").check()
        await expect(pay.get_by_label("Gift card number")).to_be_visible()
        await check(pay, "pay-gift-card", found)
        await pay.get_by_label("Gift card number").fill("GIFT0000111")
        await pay.get_by_label("PIN").fill("2468")
        await pay.get_by_role("button", name="Pay $42.00").click()
        await expect(pay.get_by_role("heading", name="Payment sent")).to_be_visible()
        await check(pay, "pay-waiting", found)

        # Completed by the agent through the API: the page turns to "Payment Accepted" by itself.
        token = story.token(agent_id)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=story.url, headers=headers) as client:
            listed = await client.get("/v1/payment-requests", params={"conversation_id": conversation})
            request_id = listed.json()["data"][0]["id"]
            assert (await client.post(f"/v1/payment-requests/{request_id}/complete")).status_code == 202
        await expect(pay.get_by_role("heading", name="Payment Accepted")).to_be_visible()
        await check(pay, "pay-accepted", found)
        await expect(message).to_contain_text("Payment Accepted")
        await check(chat, "chat-accepted", found)

        invalid = problems.watch(await customer_ctx.new_page())
        await invalid.goto(story.url + "/pay/no-such-link")
        await expect(invalid.get_by_role("heading", name="This payment link is not valid")).to_be_visible()
        await check(invalid, "pay-invalid", found)
    finally:
        await context.close()
        await customer_ctx.close()
    assert not found, "axe violations:\n" + report(found)
    assert problems.problems == []
