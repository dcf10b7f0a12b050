"""The whole story of a payment over chat, played in real Chromium against a real ``chatpay up``.

An agent signs in to the console and requests a payment; the customer sees it in the demo chat, opens
the hosted page, pays; the agent gets the banner and the green dot, opens the card in the browser, marks
it completed; the customer sees "Payment Accepted". Then: decline, expiry, Try Again, gift cards and the
keyboard. Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

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

PAN = "4111111111111111"
NAME = "Ada Lovelace"


async def enter_payment_from_chat(chat: Page, reason: str) -> Page:
    """Customer: the request shows in the chat; Enter Payment opens the hosted page in a new tab."""
    message = chat.locator("article.pay-msg").filter(has_text=reason)
    await expect(message).to_be_visible()
    async with chat.context.expect_page() as opened:
        await message.get_by_role("link", name="Enter Payment").click()
    pay = await opened.value
    await expect(pay.get_by_role("heading", name="Payment details")).to_be_visible()
    return pay


@pytest.mark.browser
async def test_the_whole_story(browser: Browser, story: StoryServer) -> None:
    problems = PageProblems()
    agent_id, customer, conversation = unique("a"), unique("cu"), unique("c")
    reason = "Order #4411 incl. tax"
    agent_ctx = await browser.new_context(viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    customer_ctx = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        # Agent: sign in (token minted by the demo, card key made and registered), open the customer.
        agent = await sign_in(agent_ctx, story, agent_id, problems)
        await open_customer(agent, customer, conversation)

        # A few chat lines first; a card number typed into the chat never reaches it.
        chat = await open_chat(customer_ctx, story, conversation, problems)
        await chat.get_by_label("Message").fill("Hi! Can I pay my order here? My card is 4111 1111 1111 1111")
        await chat.get_by_role("button", name="Send").click()
        redacted = "Hi! Can I pay my order here? My card is [card number removed]"
        await expect(chat.get_by_text(redacted)).to_be_visible()
        await expect(agent.get_by_role("log").get_by_text(redacted)).to_be_visible()
        reply = "Sure, please use the secure form I am sending."
        await agent.get_by_label("Message to the customer").fill(reply)
        await agent.get_by_role("button", name="Send").click()
        await expect(chat.get_by_text(reply)).to_be_visible()

        await request_payment(agent, "19.99", reason)
        card = request_card(agent, reason)
        await expect(card.get_by_text("WAITING FOR CUSTOMER")).to_be_visible()
        await expect(card.get_by_text(re.compile(r"Expires in \d+:\d\d"))).to_be_visible()
        await expect(agent.get_by_role("list").filter(has_text=customer)).to_be_visible()
        await shot(agent, "story-01-console-request-sent-desktop")

        # Customer: the request is a chat message with Decline / Enter Payment.
        message = chat.locator("article.pay-msg").filter(has_text=reason)
        await expect(message.get_by_text("$19.99")).to_be_visible()
        await expect(message.get_by_role("button", name="Decline")).to_be_visible()
        await shot(chat, "story-02-chat-request-phone")
        pay = await enter_payment_from_chat(chat, reason)
        problems.watch(pay)
        await pay.evaluate("window.__sameDocument = true")

        # The form: autofill attributes, brand as typed, grouping, inline errors, Pay disabled until valid.
        number = pay.get_by_label("Card number", exact=True)
        for label, token in (
            ("Card number", "cc-number"),
            ("Name on card", "cc-name"),
            ("Expiry date", "cc-exp"),
            ("Security code", "cc-csc"),
        ):
            await expect(pay.get_by_label(label, exact=True)).to_have_attribute("autocomplete", token)
        pay_button = pay.get_by_role("button", name="Pay $19.99")
        await expect(pay_button).to_be_disabled()
        await number.press_sequentially("4111111111111112")
        await expect(pay.get_by_text("The card number is not valid; check it for typos.")).to_be_visible()
        await expect(number).to_have_attribute("aria-invalid", "true")
        await number.fill("")
        await number.press_sequentially("4111")
        await expect(pay.locator("#cc-brand")).to_have_text("Visa")
        await number.press_sequentially("111111111111")
        await expect(number).to_have_value("4111 1111 1111 1111")
        await expect(pay.get_by_text("The card number is not valid")).to_be_hidden()
        await expect(pay_button).to_be_disabled()
        await pay.get_by_label("Name on card").fill(NAME)
        await expect(pay_button).to_be_disabled()
        await pay.get_by_label("Expiry date").press_sequentially("1220")
        await pay.get_by_label("Security code").focus()
        await expect(pay.get_by_text("This card has expired.")).to_be_visible()
        await pay.get_by_label("Expiry date").fill("")
        await pay.get_by_label("Expiry date").press_sequentially(future_expiry())
        await expect(pay.get_by_label("Expiry date")).to_have_value(re.compile(r"^12 / \d\d$"))
        await expect(pay_button).to_be_disabled()
        await pay.get_by_label("Security code").press_sequentially("123")
        await expect(pay_button).to_be_enabled()
        await shot(pay, "story-03-pay-form-filled-phone")

        # Agent moves to another customer before the card arrives: the banner must tell them.
        other = unique("cu")
        await open_customer(agent, other, unique("c"))

        await pay_button.click()
        await expect(pay.get_by_role("heading", name="Payment sent")).to_be_visible()
        for field in ("#cc-number", "#cc-name", "#cc-exp", "#cc-csc"):
            assert await pay.locator(field).input_value() == "", f"{field} kept its value after Pay"
        await shot(pay, "story-04-pay-waiting-phone")

        # Agent: banner (another customer is open) and the green dot in My Customers.
        banner = agent.get_by_role("alert").filter(has_text=f"Card received from {customer}")
        await expect(banner).to_be_visible()
        entry = agent.locator(".customer-item", has_text=customer)
        await expect(entry.locator(".dot")).to_be_visible()
        await expect(entry.get_by_text("VIEW CARD")).to_be_visible()
        await shot(agent, "story-05-console-banner-desktop")
        await banner.get_by_role("button", name="Open customer").click()
        await expect(agent.get_by_role("heading", name=customer)).to_be_visible()
        await expect(banner).to_be_hidden()

        # View Card: opened in this browser with its own key; copy buttons per field.
        card = request_card(agent, reason)
        await expect(card.get_by_text("Visa •••• 1111")).to_be_visible()
        await card.get_by_role("button", name="View Card").click()
        dialog = agent.get_by_role("dialog")
        await expect(dialog.get_by_text("4111 1111 1111 1111")).to_be_visible()
        await expect(dialog.get_by_text(NAME)).to_be_visible()
        await expect(dialog.get_by_text(re.compile(r"^12 / \d\d$"))).to_be_visible()
        await expect(dialog.get_by_text("123", exact=True)).to_be_visible()
        await expect(dialog.get_by_role("button", name=re.compile("^Copy"))).to_have_count(4)
        await shot(agent, "story-06-console-view-card-desktop")
        await dialog.get_by_role("button", name="Copy card number").click()
        assert await agent.evaluate("navigator.clipboard.readText()") == PAN
        await agent.evaluate("navigator.clipboard.writeText('')")
        await dialog.get_by_role("button", name="Close").click()
        await expect(dialog).to_be_hidden()
        await expect(card.get_by_role("button", name="View Card")).to_be_focused()
        assert await agent.locator("#card-fields").inner_text() == ""
        await expect(entry.locator(".dot")).to_be_hidden()  # viewed: no more green dot

        # Mark as Completed → the customer sees "Payment Accepted", live.
        await card.get_by_role("button", name="Mark as Completed").click()
        await expect(card.get_by_text("PAYMENT ACCEPTED")).to_be_visible()
        await expect(pay.get_by_role("heading", name="Payment Accepted")).to_be_visible()
        assert await pay.evaluate("window.__sameDocument") is True, "the pay page reloaded"
        await chat.bring_to_front()
        await expect(chat.locator("article.pay-msg").filter(has_text=reason)).to_contain_text(
            "Payment Accepted"
        )
        await shot(pay, "story-07-pay-accepted-phone")
        await shot(chat, "story-08-chat-accepted-phone")

        # The Conversation Timeline shows each step with its status label.
        timeline = agent.locator("#timeline")
        for label in ("SENDING", "WAITING FOR CUSTOMER", "VIEW CARD", "PAYMENT ACCEPTED"):
            await expect(timeline.get_by_text(label, exact=True).first).to_be_visible()
        for event in ("Customer opened the payment form", "Card viewed", "Marked as completed"):
            await expect(timeline.get_by_text(event)).to_be_visible()
        await shot(agent, "story-09-console-completed-desktop")
    finally:
        await agent_ctx.close()
        await customer_ctx.close()
    assert problems.problems == []
    log = story.log_text()
    for secret in (PAN, "4111 1111 1111 1111", NAME):
        assert secret not in log, "card data in the server log"


@pytest.mark.browser
async def test_customer_declines_on_the_hosted_page(browser: Browser, story: StoryServer) -> None:
    problems = PageProblems()
    customer, conversation, reason = unique("cu"), unique("c"), "Annual plan renewal"
    agent_ctx = await browser.new_context(viewport=DESKTOP)
    customer_ctx = await browser.new_context(viewport=PHONE)
    try:
        agent = await sign_in(agent_ctx, story, unique("a"), problems)
        await open_customer(agent, customer, conversation)
        await request_payment(agent, "120", reason)
        chat = await open_chat(customer_ctx, story, conversation, problems)
        message = chat.locator("article.pay-msg").filter(has_text=reason)
        href = await message.get_by_role("link", name="Enter Payment").get_attribute("href")
        assert href and "/pay/" in href
        pay = problems.watch(await customer_ctx.new_page())
        await pay.goto(href.split("#")[0])
        await expect(pay.locator("#amount")).to_have_text("$120.00")
        await expect(pay.get_by_text(reason)).to_be_visible()
        await shot(pay, "decline-01-pay-summary-phone")
        await pay.get_by_role("button", name="Decline").click()
        await expect(pay.get_by_role("heading", name="Payment declined")).to_be_visible()
        await expect(request_card(agent, reason).get_by_text("CUSTOMER DECLINED PAYMENT")).to_be_visible()
        await expect(agent.locator("#timeline").get_by_text("CUSTOMER DECLINED PAYMENT")).to_be_visible()
        await expect(message).to_contain_text("You declined this payment.")
        await expect(message.get_by_role("link", name="Enter Payment")).to_have_count(0)
        await shot(pay, "decline-02-pay-declined-phone")
        await shot(agent, "decline-03-console-declined-desktop")
    finally:
        await agent_ctx.close()
        await customer_ctx.close()
    assert problems.problems == []


@pytest.mark.browser
async def test_customer_declines_in_the_chat(browser: Browser, story: StoryServer) -> None:
    problems = PageProblems()
    customer, conversation, reason = unique("cu"), unique("c"), "Replacement charger"
    agent_ctx = await browser.new_context(viewport=DESKTOP)
    customer_ctx = await browser.new_context(viewport=PHONE)
    try:
        agent = await sign_in(agent_ctx, story, unique("a"), problems)
        await open_customer(agent, customer, conversation)
        await request_payment(agent, "24.50", reason)
        chat = await open_chat(customer_ctx, story, conversation, problems)
        message = chat.locator("article.pay-msg").filter(has_text=reason)
        await message.get_by_role("button", name="Decline").click()
        await expect(message).to_contain_text("You declined this payment.")
        await expect(request_card(agent, reason).get_by_text("CUSTOMER DECLINED PAYMENT")).to_be_visible()
        await expect(chat.get_by_text("Payment declined", exact=True)).to_be_visible()
        await shot(chat, "decline-04-chat-declined-phone")
    finally:
        await agent_ctx.close()
        await customer_ctx.close()
    assert problems.problems == []


@pytest.mark.browser
async def test_request_expires(browser: Browser, story: StoryServer) -> None:
    problems = PageProblems()
    customer, conversation, reason = unique("cu"), unique("c"), "Late fee"
    agent_ctx = await browser.new_context(viewport=DESKTOP)
    customer_ctx = await browser.new_context(viewport=PHONE)
    try:
        agent = await sign_in(agent_ctx, story, unique("a"), problems)
        await open_customer(agent, customer, conversation)
        await request_payment(agent, "5", reason, expires="10 seconds (demo)")
        card = request_card(agent, reason)
        await expect(card.get_by_text(re.compile(r"Expires in 0:0\d"))).to_be_visible()
        chat = await open_chat(customer_ctx, story, conversation, problems)
        pay = problems.watch(await enter_payment_from_chat(chat, reason))
        await expect(pay.get_by_text(re.compile(r"Expires in 0:0\d"))).to_be_visible()
        await pay.get_by_label("Card number", exact=True).press_sequentially("5555555555554444")
        await expect(pay.locator("#cc-brand")).to_have_text("Mastercard")
        expired = pay.get_by_role("heading", name="This payment request has expired")
        await expect(expired).to_be_visible(timeout=30_000)
        assert await pay.locator("#cc-number").input_value() == "", "typed card kept after expiry"
        await expect(card.get_by_text("REQUEST EXPIRED")).to_be_visible()
        await expect(agent.locator("#timeline").get_by_text("REQUEST EXPIRED")).to_be_visible()
        await expect(chat.locator("article.pay-msg").filter(has_text=reason)).to_contain_text(
            "This request has expired."
        )
        await shot(pay, "expiry-01-pay-expired-phone")
        await shot(agent, "expiry-02-console-expired-desktop")
    finally:
        await agent_ctx.close()
        await customer_ctx.close()
    assert problems.problems == []


@pytest.mark.browser
async def test_try_again_after_the_chat_refused_the_request(browser: Browser, story: StoryServer) -> None:
    problems = PageProblems()
    customer, conversation, reason = unique("cu"), unique("c"), "Deposit for booking #77"
    agent_ctx = await browser.new_context(viewport=DESKTOP)
    customer_ctx = await browser.new_context(viewport=PHONE)
    story.relay.failing = True
    try:
        agent = await sign_in(agent_ctx, story, unique("a"), problems)
        await open_customer(agent, customer, conversation)
        await request_payment(agent, "50", reason)
        card = request_card(agent, reason)
        await expect(card.get_by_text("TRY AGAIN", exact=True)).to_be_visible()
        await expect(
            agent.locator("#timeline").get_by_text("Could not be delivered into the chat")
        ).to_be_visible()
        await shot(agent, "retry-01-console-try-again-desktop")
        story.relay.failing = False
        await card.get_by_role("button", name="Try Again").click()
        await expect(card.get_by_text("WAITING FOR CUSTOMER")).to_be_visible()
        chat = await open_chat(customer_ctx, story, conversation, problems)
        pay = problems.watch(await enter_payment_from_chat(chat, reason))
        await expect(pay.locator("#amount")).to_have_text("$50.00")
        await shot(chat, "retry-02-chat-after-try-again-phone")
    finally:
        story.relay.failing = False
        await agent_ctx.close()
        await customer_ctx.close()
    assert problems.problems == []


@pytest.mark.browser
async def test_gift_card_and_amex_by_keyboard(browser: Browser, story: StoryServer) -> None:
    """Gift card when the agent allows it; the form works by keyboard alone."""
    problems = PageProblems()
    customer, conversation, reason = unique("cu"), unique("c"), "Store credit top-up"
    agent_ctx = await browser.new_context(viewport=DESKTOP)
    customer_ctx = await browser.new_context(viewport=PHONE)
    try:
        agent = await sign_in(agent_ctx, story, unique("a"), problems)
        await open_customer(agent, customer, conversation)
        await request_payment(agent, "30", reason, gift_card=True)
        chat = await open_chat(customer_ctx, story, conversation, problems)
        href = (
            await chat.locator("article.pay-msg")
            .filter(has_text=reason)
            .get_by_role("link", name="Enter Payment")
            .get_attribute("href")
        )
        assert href
        pay = problems.watch(await customer_ctx.new_page())
        await pay.goto(href.split("#")[0])
        await expect(pay.get_by_role("button", name="Enter Payment")).to_be_visible()

        # Keyboard only: Tab to Enter Payment, then through the form.
        for _ in range(10):
            await pay.keyboard.press("Tab")
            if await pay.evaluate("document.activeElement.id") == "enter-btn":
                break
        await pay.keyboard.press("Enter")
        await expect(pay.get_by_role("heading", name="Payment details")).to_be_focused()
        await pay.keyboard.press("Tab")  # the method choice (radio group), on "Card"
        await expect(pay.get_by_role("radio", name="Card", exact=True)).to_be_focused()
        await pay.keyboard.press("Tab")
        await expect(pay.get_by_label("Card number", exact=True)).to_be_focused()
        await pay.keyboard.type("378282246310005")
        await expect(pay.locator("#cc-brand")).to_have_text("Amex")
        await expect(pay.get_by_label("Card number", exact=True)).to_have_value("3782 822463 10005")
        await pay.keyboard.press("Tab")
        await pay.keyboard.type("Grace Hopper")
        await pay.keyboard.press("Tab")
        await pay.keyboard.type(future_expiry())
        await pay.keyboard.press("Tab")
        await pay.keyboard.type("123")
        await pay.keyboard.press("Tab")
        await expect(
            pay.get_by_text("The security code must be 4 digits for American Express cards.")
        ).to_be_visible()
        await expect(pay.get_by_role("button", name="Pay $30.00")).to_be_disabled()

        # Switch to the gift card by keyboard (arrow keys move within the radio group).
        await pay.get_by_role("radio", name="Card", exact=True).focus()
        await pay.keyboard.press("ArrowRight")
        await expect(pay.get_by_role("radio", name="Gift card")).to_be_checked()
        await expect(pay.get_by_label("Card number", exact=True)).to_be_hidden()
        await pay.keyboard.press("Tab")
        await expect(pay.get_by_label("Gift card number")).to_be_focused()
        await pay.keyboard.type("GC12345678")
        await pay.keyboard.press("Tab")
        await pay.keyboard.type("4321")
        pay_button = pay.get_by_role("button", name="Pay $30.00")
        await expect(pay_button).to_be_enabled()
        await shot(pay, "gift-01-pay-gift-card-phone")
        await pay.keyboard.press("Enter")
        await expect(pay.get_by_role("heading", name="Payment sent")).to_be_visible()

        card = request_card(agent, reason)
        await expect(card.get_by_text("Gift card •••• 5678")).to_be_visible()
        await card.get_by_role("button", name="View Card").click()
        dialog = agent.get_by_role("dialog")
        await expect(dialog.get_by_text("GC12345678")).to_be_visible()
        await expect(dialog.get_by_text("4321", exact=True)).to_be_visible()
        await shot(agent, "gift-02-console-view-gift-card-desktop")
        await dialog.get_by_role("button", name="Close").click()
        await card.get_by_role("button", name="Cancel request").click()
        await agent.get_by_role("dialog").get_by_role("button", name="Cancel request").click()
        await expect(card.get_by_text("CANCELED")).to_be_visible()
        await expect(agent.locator("#timeline").get_by_text("CANCELED", exact=True)).to_be_visible()
        await expect(pay.get_by_role("heading", name="This payment request was canceled")).to_be_visible()
        await expect(chat.locator("article.pay-msg").filter(has_text=reason)).to_contain_text(
            "This request was canceled."
        )
    finally:
        await agent_ctx.close()
        await customer_ctx.close()
    assert problems.problems == []


@pytest.mark.browser
async def test_unknown_pay_link_and_page_headers(browser: Browser, story: StoryServer) -> None:
    context = await browser.new_context(viewport=PHONE)
    try:
        page = await context.new_page()
        response = await page.goto(story.url + "/pay/not-a-real-token")
        assert response is not None
        headers = response.headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        await expect(page.get_by_role("heading", name="This payment link is not valid")).to_be_visible()
        await shot(page, "pay-invalid-link-phone")
    finally:
        await context.close()
