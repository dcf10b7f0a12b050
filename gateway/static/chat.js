/**
 * The demo customer chat: GET /demo/chat/{conversation_id}. Polls the demo chat log
 * (GET /demo/chat/{id}/messages?after=N), which the outbound chat-event receiver fills (API.md §9),
 * and shows a payment request as a message with Decline / Enter Payment. Enter Payment opens the
 * hosted payment page; card details are never typed into the chat.
 */

import { api, errorMessage, formatTime, h, icon, sleep } from "/static/ui.js";

const POLL_MS = 1000;
const POLL_MAX = 10000;

const $ = (id) => document.getElementById(id);
const conversationId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[2] || "");
const feed = `/demo/chat/${encodeURIComponent(conversationId)}/messages`;
const log = $("chat-log");
const cards = new Map(); // request_id -> {el, data}
let after = 0;

$("chat-sub").textContent = `Conversation ${conversationId}`;
document.title = `Support chat · ${conversationId}`;

/** What the chat says when a request ends, by outbound event type. */
const OUTCOMES = {
  "payment_request.accepted": { tone: "success", text: "Payment Accepted", note: "Payment Accepted" },
  "payment_request.declined": { tone: "danger", text: "You declined this payment.", note: "Payment declined" },
  "payment_request.expired": { tone: "warning", text: "This request has expired.", note: "Payment request expired" },
  "payment_request.canceled": { tone: "warning", text: "This request was canceled.", note: "Payment request canceled" },
};

function stickToBottom(work) {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  work();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

/** The pay link, only if it is an http(s) URL (anything else is not shown as a link). */
function safePayUrl(payUrl) {
  try {
    const url = new URL(payUrl, location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? url : null;
  } catch {
    return null;
  }
}

function payCard(data) {
  const payUrl = safePayUrl(data.pay_url);
  const outcome = h("p", { class: "outcome", role: "status" });
  const decline = h("button", { type: "button", class: "btn", text: "Decline" });
  const enter = h("a", {
    class: "btn btn-primary",
    href: payUrl ? `${payUrl.origin}${payUrl.pathname}#enter` : "#",
    target: "_blank",
    rel: "noopener noreferrer",
    text: "Enter Payment",
  });
  const buttons = h("div", { class: "btn-row" }, decline, enter);
  const el = h(
    "div",
    { class: "msg msg-agent", dataset: { request: data.request_id } },
    h(
      "article",
      { class: "pay-msg", "aria-label": `Payment request for ${data.display_amount}` },
      h("p", { class: "eyebrow", text: "Payment request" }),
      h("p", { class: "amount", text: data.display_amount }),
      h("p", { class: "reason", text: data.reason }),
      data.expires_at
        ? h("p", { class: "expires" }, icon("clock"), `Answer by ${formatTime(data.expires_at)}`)
        : null,
      buttons,
      outcome,
    ),
  );
  decline.addEventListener("click", async () => {
    if (!payUrl) return;
    const path = payUrl.pathname; // "/pay/<token>"
    decline.disabled = true;
    const answer = await api(`/v1${path}/decline`, { method: "POST" });
    if (answer.ok) {
      // The declined event follows through the chat; until then, say it here.
      buttons.remove();
      outcome.dataset.tone = "danger";
      outcome.textContent = OUTCOMES["payment_request.declined"].text;
    } else {
      decline.disabled = false;
      outcome.dataset.tone = "danger";
      outcome.textContent = errorMessage(answer, "Could not decline right now.");
    }
  });
  const previous = cards.get(data.request_id);
  if (previous && !previous.settled) {
    // Sent again (Try Again): only the newest link works.
    previous.buttons.remove();
    previous.outcome.textContent = "A new payment link was sent below.";
  }
  cards.set(data.request_id, { el, buttons, outcome, settled: null });
  return el;
}

function settle(requestId, type) {
  const card = cards.get(requestId);
  const outcome = OUTCOMES[type];
  if (!outcome) return;
  if (card) {
    card.buttons.remove();
    card.outcome.dataset.tone = outcome.tone;
    card.outcome.replaceChildren(outcome.tone === "success" ? icon("check") : "", outcome.text);
    if (card.settled === type) return;
    card.settled = type;
  }
  log.append(h("p", { class: "msg-note", dataset: { tone: outcome.tone }, text: outcome.note }));
}

function textLine(message) {
  const who = message.data.from === "customer" ? "customer" : "agent";
  return h(
    "div",
    { class: `msg msg-${who}` },
    h("p", { class: "bubble", text: message.data.text }),
    h("p", { class: "meta", text: `${who === "customer" ? "You" : "Agent"} · ${formatTime(message.occurred_at)}` }),
  );
}

function show(message) {
  const data = message.data || {};
  if (message.type === "chat.message") {
    log.append(textLine(message));
  } else if (message.type === "payment_request.sent") {
    log.append(payCard(data));
  } else if (OUTCOMES[message.type]) {
    settle(data.request_id, message.type);
  }
}

async function poll() {
  let delay = POLL_MS;
  for (;;) {
    const answer = await api(`${feed}?after=${after}`);
    if (answer.ok && Array.isArray(answer.data)) {
      $("chat-error").hidden = true;
      if (answer.data.length) {
        stickToBottom(() => {
          for (const message of answer.data) {
            after = Math.max(after, message.seq);
            show(message);
          }
        });
      }
      delay = POLL_MS;
    } else {
      $("chat-error").textContent = errorMessage(answer, "The chat is not available.");
      $("chat-error").hidden = false;
      delay = Math.min(delay * 2, POLL_MAX);
    }
    await sleep(document.hidden ? Math.max(delay, 4000) : delay);
  }
}

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("chat-text");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  const answer = await api(feed, { method: "POST", body: { from: "customer", text } });
  if (!answer.ok) {
    input.value = text;
    $("chat-error").textContent = errorMessage(answer, "The message was not sent.");
    $("chat-error").hidden = false;
  }
});

poll();
