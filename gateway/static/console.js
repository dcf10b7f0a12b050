/**
 * The agent console: GET /console. Signs in (the demo mints a token at POST /demo/token), makes and
 * registers this browser's card key (chatpay-agent.js), follows the agent's notifications over SSE and
 * drives the agent endpoints of API.md §4. A card is opened only in this page, only on View Card, and
 * is wiped from the page when its window closes. Nothing about a card is logged or stored.
 */

import { loadOrCreateAgentKey, openEnvelope, registerKey } from "/static/chatpay-agent.js";
import { formatCardNumber } from "/static/cardcheck.js";
import {
  FINAL,
  STATUS_LABELS,
  api,
  errorMessage,
  formatDuration,
  formatTime,
  h,
  icon,
  initials,
  spokenDuration,
} from "/static/ui.js";

const $ = (id) => document.getElementById(id);

/** sessionStorage key of the agent token (this tab only, gone when it closes). */
const TOKEN_KEY = "chatpay.agentToken";
/** Decimal places per currency offered in the Composer (others are two). */
const EXPONENT = { JPY: 0, KRW: 0, KWD: 3, BHD: 3, JOD: 3, OMR: 3, TND: 3 };
/** Seconds a card stays on screen before its window closes by itself. */
const CARD_SHOWN_FOR = 120;
/** Milliseconds between background refreshes of My Customers (events do the fast path). */
const REFRESH_MS = 20000;

/** Timeline event → what the agent reads. */
const EVENT_TEXT = {
  created: "Request created",
  delivered: "Delivered into the customer's chat",
  delivery_failed: "Could not be delivered into the chat",
  agent_key_required: "No card key registered",
  retried: "Sent again",
  customer_opened: "Customer opened the payment form",
  submitted: "Customer submitted payment details",
  card_viewed: "Card viewed",
  card_purged: "Card deleted from the vault",
  completed: "Marked as completed",
  declined: "Customer declined",
  expired: "Expired without an answer",
  conversation_ended: "Conversation ended",
  canceled: "Request canceled",
};

const state = {
  token: null,
  agentId: null,
  key: null, // {kid, keyPair, publicJwk}
  demo: false,
  customers: [], // GET /v1/agents/me/customers data
  open: null, // {customer_id, conversation_id}
  requests: [], // requests of the open conversation, newest first
  timeline: [],
  events: null, // EventSource
  bannerFor: null, // customer_id the banner points at
  bannered: new Set(), // request ids a banner was shown for (each card arrival bannered once)
  pendingCancel: null,
  cardTimer: null,
  composerKey: null, // Idempotency-Key of the request being confirmed
  chatAfter: 0, // demo chat: last message seq shown
  chatFor: null, // demo chat: conversation shown
  copied: false, // a card detail was copied to the clipboard
  cardRequestId: null, // request whose card window is open
};

// ---- small helpers ---------------------------------------------------------------------------

function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    el.hidden = true;
  }, 3500);
}

function showError(text) {
  const el = $("console-error");
  el.textContent = text || "";
  el.hidden = !text;
}

function authed(path, options = {}) {
  return api(path, { ...options, token: state.token }).then((answer) => {
    if (answer.status === 401) signOut("Your session has expired. Sign in again.");
    return answer;
  });
}

function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "==".slice(0, (4 - (part.length % 4)) % 4)));
  } catch {
    return null;
  }
}

function chip(status, label) {
  return h("span", { class: "chip", dataset: { status }, text: label || STATUS_LABELS[status] || status });
}

function exponent(currency) {
  return EXPONENT[currency] ?? 2;
}

/** "19.99" → 1999 for USD; null when not a positive amount with at most the currency's decimals. */
export function toMinorUnits(text, currency) {
  const exp = exponent(currency);
  const clean = String(text).trim().replace(/,/g, "");
  const pattern = exp ? new RegExp(`^\\d+(\\.\\d{1,${exp}})?$`) : /^\d+$/;
  if (!pattern.test(clean)) return null;
  const [units, fraction = ""] = clean.split(".");
  const value = Number(units) * 10 ** exp + Number((fraction + "000").slice(0, exp) || 0);
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

function displayAmount(minor, currency) {
  const exp = exponent(currency);
  try {
    return new Intl.NumberFormat(undefined, {
      style: "currency",
      currency,
      minimumFractionDigits: exp,
      maximumFractionDigits: exp,
    }).format(minor / 10 ** exp);
  } catch {
    return `${(minor / 10 ** exp).toFixed(exp)} ${currency}`;
  }
}

/**
 * Re-render `container` with `children` without losing keyboard focus: a focused button is found
 * again in the new content by its owner's data key and its text, and focused.
 */
function replaceKeepingFocus(container, children, ownerSelector, key) {
  const active = document.activeElement;
  let wanted = null;
  if (active && container.contains(active)) {
    const owner = active.closest(ownerSelector);
    wanted = { id: owner?.dataset[key], text: active.textContent };
  }
  container.replaceChildren(...children);
  if (!wanted) return;
  let fallback = null;
  for (const candidate of container.querySelectorAll("button, a")) {
    const owner = candidate.closest(ownerSelector);
    if (owner?.dataset[key] !== wanted.id) continue;
    if (candidate.textContent === wanted.text) {
      candidate.focus();
      return;
    }
    if (candidate === owner) fallback = candidate; // the item itself, whose text changed
  }
  fallback?.focus();
}

// ---- sign in / out ---------------------------------------------------------------------------

function showSignIn(message = "") {
  $("signin-view").hidden = false;
  $("workspace").hidden = true;
  $("agent-badge").hidden = true;
  $("signin-error").textContent = message;
  $("agent-id").focus();
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("signin-error");
  error.textContent = "";
  if (!window.isSecureContext || !crypto.subtle) {
    error.textContent =
      "The console needs a secure context to open cards: use https://, or http://localhost / 127.0.0.1.";
    return;
  }
  const pasted = $("agent-token").value.trim();
  let token = pasted;
  if (!token) {
    const agentId = $("agent-id").value.trim();
    if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(agentId)) {
      error.textContent = "Enter an agent id: letters, digits and . _ : @ - only.";
      return;
    }
    $("signin-btn").disabled = true;
    const answer = await api("/demo/token", { method: "POST", body: { agent_id: agentId } });
    $("signin-btn").disabled = false;
    if (!answer.ok) {
      error.textContent =
        answer.status === 404
          ? "This server does not mint demo tokens. Paste a token from `chatpay token agent <id>`."
          : errorMessage(answer, "Could not sign in.");
      return;
    }
    token = answer.data.token;
    state.demo = true;
  }
  const sub = claims(token)?.sub;
  if (!sub) {
    error.textContent = "That token is not an agent token.";
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("agent-token").value = "";
  await start(token, sub);
});

function signOut(message = "") {
  if (state.events) state.events.close();
  state.events = null;
  if (state.token) {
    api("/v1/agents/me/focus", { method: "PUT", body: { customer_id: null }, token: state.token, keepalive: true });
  }
  sessionStorage.removeItem(TOKEN_KEY);
  Object.assign(state, { token: null, agentId: null, key: null, customers: [], open: null, requests: [], timeline: [] });
  closeCard();
  showSignIn(message);
}

$("signout-btn").addEventListener("click", () => signOut());

async function start(token, agentId) {
  state.token = token;
  state.agentId = agentId;
  $("signin-view").hidden = true;
  $("workspace").hidden = false;
  $("agent-badge").hidden = false;
  $("agent-name").textContent = agentId;
  $("agent-avatar").textContent = initials(agentId);
  if (!$("open-customer").value) {
    $("open-customer").value = "cu-9";
    $("open-conversation").value = "c-1001";
  }
  renderProfile();
  await ensureKey();
  if (!state.token) return;
  await Promise.all([refreshCustomers(), setFocus(null)]);
  connectEvents();
  if (!state.demo) {
    // Is the demo chat here? (Only then link the customer's chat window.)
    const probe = await api("/demo/chat/c-probe/messages");
    state.demo = probe.ok;
  }
}

async function ensureKey() {
  const el = $("key-state");
  el.dataset.state = "pending";
  el.textContent = "Preparing card key…";
  try {
    state.key = await loadOrCreateAgentKey(state.agentId);
    await registerKey("", state.token, state.key.kid, state.key.publicJwk);
    el.dataset.state = "ready";
    el.replaceChildren(icon("lock", "icon"), "Card key ready");
    el.title = `Key ${state.key.kid}: cards sent to you open only in this browser.`;
  } catch (error) {
    el.dataset.state = "error";
    el.textContent = "No card key";
    showError(`This browser could not prepare its card key: ${error.message}`);
  }
}

// ---- notifications (SSE) ---------------------------------------------------------------------

function connectEvents() {
  if (state.events) state.events.close();
  const source = new EventSource(`/v1/agents/me/events?access_token=${encodeURIComponent(state.token)}`);
  state.events = source;
  source.addEventListener("message", (event) => {
    let note;
    try {
      note = JSON.parse(event.data);
    } catch {
      return;
    }
    onNotification(note);
  });
  source.addEventListener("open", () => {
    // After a reconnection the stream replays from Last-Event-ID; refresh anyway for a clean slate.
    refreshCustomers();
    if (state.open) refreshProfile();
  });
  source.addEventListener("error", async () => {
    if (source.readyState !== EventSource.CLOSED || state.events !== source) return;
    // Closed for good (an HTTP error): find out whether the token still works, then reconnect.
    const probe = await authed("/v1/agents/me/customers");
    if (state.token && probe.status !== 401) setTimeout(() => state.token && connectEvents(), 2000);
  });
}

let refreshQueued = false;

function onNotification(note) {
  const request = note.request;
  const customerId = note.customer_id || request?.customer_id;
  const isOpen = state.open && customerId === state.open.customer_id;
  // The server sets `banner` when a card arrives while the agent's focus is elsewhere (API.md §8).
  if (note.banner && request && !isOpen) showBanner(customerId, request);
  else if (request) state.bannered.add(request.id);
  if (note.type === "customer.opened_payment_form") {
    toast(`${customerId} opened the payment form`);
  }
  if (!refreshQueued) {
    refreshQueued = true;
    setTimeout(() => {
      refreshQueued = false;
      refreshCustomers();
      if (state.open) refreshProfile();
    }, 120);
  }
}

function showBanner(customerId, request) {
  state.bannered.add(request.id);
  state.bannerFor = customerId;
  $("banner-text").textContent = `Card received from ${customerId} for ${request.display_amount}.`;
  $("banner").hidden = false;
}

function hideBanner() {
  state.bannerFor = null;
  $("banner").hidden = true;
}

$("banner-open").addEventListener("click", () => {
  const customer = state.customers.find((c) => c.customer_id === state.bannerFor);
  if (customer) openCustomer(customer.customer_id, customer.conversation_id);
  hideBanner();
});
$("banner-dismiss").addEventListener("click", hideBanner);

// ---- My Customers ----------------------------------------------------------------------------

async function refreshCustomers() {
  if (!state.token) return;
  const answer = await authed("/v1/agents/me/customers");
  if (!answer.ok) {
    if (answer.status !== 401) showError(errorMessage(answer, "Could not load My Customers."));
    return;
  }
  showError("");
  state.customers = answer.data.data || [];
  renderCustomers();
  // A card that arrived while this page was away (or whose event was missed) still gets its banner.
  for (const customer of state.customers) {
    if (customer.customer_id === state.open?.customer_id) continue;
    const waiting = (customer.requests || []).find((r) => r.attention && !state.bannered.has(r.id));
    if (waiting) showBanner(customer.customer_id, waiting);
  }
}

function latest(requests) {
  return [...(requests || [])].sort((a, b) => (a.created_at < b.created_at ? 1 : -1))[0];
}

function renderCustomers() {
  const list = $("customer-list");
  const count = state.customers.length;
  $("customer-count").textContent = String(count);
  $("customer-count").setAttribute("aria-label", `${count} customer${count === 1 ? "" : "s"}`);
  $("customers-empty").hidden = count > 0;
  replaceKeepingFocus(
    list,
    state.customers.map((customer) => {
      const last = latest(customer.requests);
      const current = state.open?.customer_id === customer.customer_id;
      return h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: "customer-item",
            "aria-current": current ? "true" : false,
            dataset: { customer: customer.customer_id },
            onclick: () => openCustomer(customer.customer_id, customer.conversation_id),
          },
          h("span", { class: "avatar", "aria-hidden": "true", text: initials(customer.customer_id) }),
          h(
            "span",
            { class: "who" },
            h("span", { class: "name", text: customer.customer_id }),
            h("span", { class: "sub", text: `${customer.conversation_id}${last ? ` · ${last.display_amount}` : ""}` }),
            last ? chip(last.status, last.status_label) : null,
          ),
          customer.attention
            ? h("span", { class: "dot", title: "Card received, not viewed yet" }, h("span", { class: "visually-hidden", text: "Card received" }))
            : null,
        ),
      );
    }),
    "[data-customer]",
    "customer",
  );
}

// ---- Customer profile ------------------------------------------------------------------------

async function setFocus(customerId) {
  await authed("/v1/agents/me/focus", { method: "PUT", body: { customer_id: customerId } });
}

async function openCustomer(customerId, conversationId) {
  state.open = { customer_id: customerId, conversation_id: conversationId };
  state.requests = [];
  state.timeline = [];
  if (state.bannerFor === customerId) hideBanner();
  renderCustomers();
  renderProfile();
  $("profile-name").focus();
  await Promise.all([setFocus(customerId), refreshProfile(), refreshChat()]);
}

async function closeCustomer() {
  state.open = null;
  renderCustomers();
  renderProfile();
  await setFocus(null);
}

$("profile-close").addEventListener("click", closeCustomer);

$("open-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const customer = $("open-customer").value.trim();
  const conversation = $("open-conversation").value.trim();
  const ok = /^[A-Za-z0-9._:@-]{1,128}$/;
  if (!ok.test(customer) || !ok.test(conversation)) {
    $("open-error").textContent = "Use letters, digits and . _ : @ - only.";
    return;
  }
  $("open-error").textContent = "";
  openCustomer(customer, conversation);
});

async function refreshProfile() {
  const open = state.open;
  if (!open) return;
  const conv = encodeURIComponent(open.conversation_id);
  const [requests, timeline] = await Promise.all([
    authed(`/v1/payment-requests?conversation_id=${conv}&customer_id=${encodeURIComponent(open.customer_id)}&limit=20`),
    authed(`/v1/conversations/${conv}/timeline`),
  ]);
  if (state.open !== open) return;
  if (requests.ok) state.requests = requests.data.data || [];
  if (timeline.ok) state.timeline = timeline.data.data || [];
  renderProfile();
}

function renderProfile() {
  const open = state.open;
  $("no-profile").hidden = Boolean(open);
  $("profile").hidden = !open;
  $("composer-fields").disabled = !open;
  $("composer-lead").textContent = open
    ? `To ${open.customer_id}, in conversation ${open.conversation_id}.`
    : "Open a customer first.";
  if (!open) return;
  $("profile-avatar").textContent = initials(open.customer_id);
  $("profile-name").textContent = open.customer_id;
  $("profile-sub").textContent = `Conversation ${open.conversation_id}`;
  const chatLink = $("profile-chat");
  chatLink.hidden = !state.demo;
  $("chat-section").hidden = !state.demo;
  chatLink.href = `/demo/chat/${encodeURIComponent(open.conversation_id)}`;
  chatLink.setAttribute("aria-label", `Open the demo chat of ${open.customer_id} in a new tab`);

  const active = state.requests.filter((r) => !FINAL.has(r.status));
  const recent = state.requests.filter((r) => FINAL.has(r.status)).slice(0, 3);
  const shown = [...active, ...recent];
  replaceKeepingFocus($("requests"), shown.map(requestCard), "[data-request]", "request");
  $("requests-empty").hidden = shown.length > 0;

  const byId = new Map(state.requests.map((r) => [r.id, r]));
  $("timeline").replaceChildren(
    ...state.timeline.map((entry) => {
      const request = byId.get(entry.request_id);
      const what = EVENT_TEXT[entry.event] || entry.status_label;
      return h(
        "li",
        { dataset: { status: entry.status, event: entry.event || "" } },
        h(
          "span",
          { class: "what" },
          chip(entry.status, entry.status_label),
          h("span", { text: what }),
          request && state.requests.length > 1
            ? h("span", { class: "detail", text: `${request.display_amount} · ${request.reason}` })
            : null,
        ),
        h("time", { class: "when", datetime: entry.at, text: formatTime(entry.at) }),
      );
    }),
  );
  $("timeline-empty").hidden = state.timeline.length > 0;
  tick();
}

function requestCard(request) {
  const actions = [];
  const card = request.card;
  if (request.status === "submitted") {
    actions.push(
      h("button", { type: "button", class: "btn btn-success", onclick: () => viewCard(request) }, icon("eye"), "View Card"),
      h("button", { type: "button", class: "btn", onclick: () => command(request, "complete", "Marked as completed.") }, icon("check"), "Mark as Completed"),
    );
  }
  if (request.status === "failed") {
    actions.push(
      h("button", { type: "button", class: "btn btn-primary", onclick: () => command(request, "retry", "Sending again.") }, icon("retry"), "Try Again"),
    );
  }
  if (!FINAL.has(request.status)) {
    actions.push(h("button", { type: "button", class: "btn btn-quiet btn-danger", onclick: () => askCancel(request) }, "Cancel request"));
  }
  const meta = [h("span", { text: `Requested ${formatTime(request.created_at)}` })];
  if (["sending", "waiting_for_customer", "failed"].includes(request.status)) {
    meta.push(h("span", { class: "time-left", dataset: { until: request.expires_at, prefix: "Expires in " } }));
  }
  if (card) {
    const masked =
      card.method === "gift_card"
        ? `Gift card •••• ${card.last4}`
        : `${card.brand ? card.brand[0].toUpperCase() + card.brand.slice(1) : "Card"} •••• ${card.last4}` +
          (card.exp_month ? ` · ${String(card.exp_month).padStart(2, "0")}/${String(card.exp_year).slice(-2)}` : "");
    meta.push(h("span", { text: masked }));
    if (request.status === "submitted" && card.available_until) {
      meta.push(h("span", { class: "time-left", dataset: { until: card.available_until, prefix: "Card viewable for " } }));
    }
  }
  if (request.status === "failed" && request.delivery?.last_error) {
    meta.push(h("span", { text: `Last error: ${request.delivery.last_error}` }));
  }
  return h(
    "article",
    { class: "request-card", dataset: { request: request.id, status: request.status, attention: String(Boolean(request.attention)) }, "aria-label": `Payment request ${request.display_amount}` },
    h(
      "div",
      { class: "request-top" },
      h(
        "div",
        { class: "what" },
        h("p", { class: "request-amount", text: request.display_amount }),
        h("p", { class: "request-reason", text: request.reason }),
      ),
      request.attention ? h("span", { class: "dot", title: "Card received, not viewed yet" }) : null,
      chip(request.status, request.status_label),
    ),
    h("div", { class: "request-meta" }, meta),
    actions.length ? h("div", { class: "request-actions" }, actions) : null,
  );
}

/** Update every "time left" in the page. */
function tick() {
  for (const el of document.querySelectorAll(".time-left")) {
    const left = new Date(el.dataset.until).getTime() - Date.now();
    el.textContent = left > 0 ? `${el.dataset.prefix}${formatDuration(left)}` : `${el.dataset.prefix}0:00`;
    el.setAttribute("aria-label", `${el.dataset.prefix}${spokenDuration(left)}`);
    if (left <= 0 && !el.dataset.refreshed) {
      el.dataset.refreshed = "1";
      setTimeout(() => state.open && refreshProfile(), 1500);
    }
  }
}

setInterval(tick, 1000);

async function command(request, action, done) {
  const answer = await authed(`/v1/payment-requests/${encodeURIComponent(request.id)}/${action}`, { method: "POST" });
  if (answer.ok) {
    toast(done);
  } else if (answer.status !== 401) {
    toast(errorMessage(answer, "That did not work. Try again."));
  }
  await Promise.all([refreshProfile(), refreshCustomers()]);
}

function askCancel(request) {
  state.pendingCancel = request;
  $("cancel-dialog").showModal();
}

$("cancel-back").addEventListener("click", () => $("cancel-dialog").close());
$("cancel-confirm").addEventListener("click", async () => {
  $("cancel-dialog").close();
  const request = state.pendingCancel;
  state.pendingCancel = null;
  if (request) await command(request, "cancel", "Request canceled.");
});

// ---- demo chat lines (only where the built-in demo chat runs) ------------------------------

async function refreshChat() {
  const open = state.open;
  if (!state.demo || !open) return;
  if (state.chatFor !== open.conversation_id) {
    state.chatFor = open.conversation_id;
    state.chatAfter = 0;
    $("agent-chat").replaceChildren(h("p", { class: "empty", id: "agent-chat-empty", text: "No messages yet." }));
  }
  const feed = `/demo/chat/${encodeURIComponent(open.conversation_id)}/messages?after=${state.chatAfter}`;
  const answer = await api(feed);
  if (!answer.ok || state.chatFor !== open.conversation_id || !Array.isArray(answer.data)) return;
  const log = $("agent-chat");
  for (const message of answer.data) {
    state.chatAfter = Math.max(state.chatAfter, message.seq);
    if (message.type !== "chat.message") continue;
    $("agent-chat-empty")?.remove();
    const who = message.data.from === "agent" ? "agent" : "customer";
    log.append(
      h(
        "div",
        { class: `msg msg-${who}` },
        h("p", { class: "bubble", text: message.data.text }),
        h("p", { class: "meta", text: `${who === "agent" ? "You" : open.customer_id} · ${formatTime(message.occurred_at)}` }),
      ),
    );
    log.scrollTop = log.scrollHeight;
  }
}

setInterval(refreshChat, 1500);

$("agent-chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("agent-chat-text");
  const text = input.value.trim();
  if (!text || !state.open) return;
  input.value = "";
  const path = `/demo/chat/${encodeURIComponent(state.open.conversation_id)}/messages`;
  const answer = await api(path, { method: "POST", body: { from: "agent", text } });
  if (!answer.ok) {
    input.value = text;
    toast(errorMessage(answer, "The message was not sent."));
  }
  refreshChat();
});

// ---- View Card -------------------------------------------------------------------------------

function copyButton(label, value) {
  return h(
    "button",
    {
      type: "button",
      class: "btn btn-small",
      "aria-label": `Copy ${label}`,
      onclick: async (event) => {
        const button = event.currentTarget;
        try {
          await navigator.clipboard.writeText(value);
          state.copied = true;
          button.replaceChildren(icon("check"), h("span", { class: "copy-text", text: "Copied" }));
          toast(`${label[0].toUpperCase()}${label.slice(1)} copied.`);
        } catch {
          button.replaceChildren(icon("x"), h("span", { class: "copy-text", text: "Copy failed" }));
        }
        setTimeout(() => button.replaceChildren(icon("copy"), h("span", { class: "copy-text", text: "Copy" })), 1500);
      },
    },
    icon("copy"),
    h("span", { class: "copy-text", text: "Copy" }),
  );
}

function cardField(label, shown, value = shown, { nowrap = true } = {}) {
  return h(
    "div",
    { class: "card-field" },
    h("dt", { text: label }),
    h(
      "dd",
      {},
      h("span", { class: nowrap ? "value nowrap" : "value", text: shown }),
      copyButton(label.toLowerCase(), value),
    ),
  );
}

async function viewCard(request) {
  state.cardRequestId = request.id;
  const dialog = $("card-dialog");
  const fields = $("card-fields");
  const error = $("card-error");
  fields.replaceChildren(h("div", { class: "spinner", "aria-hidden": "true" }));
  error.textContent = "";
  dialog.showModal();
  const answer = await authed(`/v1/payment-requests/${encodeURIComponent(request.id)}/card`);
  if (!answer.ok) {
    fields.replaceChildren();
    error.textContent =
      answer.status === 410
        ? "This card is no longer available: it was deleted from the vault."
        : errorMessage(answer, "Could not fetch the card.");
    return;
  }
  const envelope = (answer.data.envelopes || []).find((e) => e.kid === state.key?.kid);
  if (!envelope) {
    fields.replaceChildren();
    error.textContent = "This card was sealed to another of your devices; open it there.";
    return;
  }
  let card;
  try {
    card = await openEnvelope(state.key, envelope, request.id);
  } catch (failure) {
    fields.replaceChildren();
    error.textContent = `Could not open the card: ${failure.message}`;
    return;
  }
  if (!dialog.open) return;
  if (card.method === "gift_card") {
    $("card-title").textContent = `Gift card · ${request.display_amount}`;
    fields.replaceChildren(cardField("Gift card number", card.number), cardField("PIN", card.pin));
  } else {
    const month = String(card.exp_month).padStart(2, "0");
    const year = String(card.exp_year);
    $("card-title").textContent = `Card · ${request.display_amount}`;
    fields.replaceChildren(
      cardField("Card number", formatCardNumber(card.number), card.number),
      cardField("Name on card", card.name, card.name, { nowrap: false }),
      cardField("Expiry", `${month} / ${year.slice(-2)}`, `${month}/${year.slice(-2)}`),
      cardField("Security code", card.cvc),
    );
  }
  card = null;
  clearTimeout(state.cardTimer);
  state.cardTimer = setTimeout(closeCard, CARD_SHOWN_FOR * 1000);
  $("card-note").textContent =
    `Opened on this device only. Enter it in your payment terminal; this window closes in ${CARD_SHOWN_FOR / 60} minutes.`;
  refreshCustomers();
  refreshProfile();
}

function closeCard() {
  clearTimeout(state.cardTimer);
  if (state.copied) {
    // Do not leave a card detail on the clipboard once its window is closed.
    state.copied = false;
    navigator.clipboard.writeText("").catch(() => {});
  }
  $("card-fields").replaceChildren();
  $("card-error").textContent = "";
  const dialog = $("card-dialog");
  if (dialog.open) dialog.close();
  // The list was re-rendered while the window was open: put focus back on this request's View Card.
  const id = state.cardRequestId;
  state.cardRequestId = null;
  const owner = id && [...document.querySelectorAll("#requests [data-request]")].find((a) => a.dataset.request === id);
  const back = owner && [...owner.querySelectorAll("button")].find((b) => b.textContent === "View Card");
  back?.focus();
}

$("card-close").addEventListener("click", closeCard);
$("card-dialog").addEventListener("close", closeCard); // also Escape

// ---- Composer --------------------------------------------------------------------------------

function composerValues() {
  const currency = $("req-currency").value;
  const amount = toMinorUnits($("req-amount").value, currency);
  const reason = $("req-reason").value.trim();
  const methods = [$("req-card"), $("req-gift")].filter((c) => c.checked).map((c) => c.value);
  const expires = $("req-expires").value;
  const errors = {};
  if (amount === null) {
    errors.amount =
      exponent(currency) === 0
        ? `Enter a whole amount in ${currency}.`
        : `Enter an amount such as ${exponent(currency) === 3 ? "12.500" : "19.99"}.`;
  }
  if (!reason) errors.reason = "Enter a reason the customer will see.";
  if (!methods.length) errors.methods = "Choose at least one way to pay.";
  return { currency, amount, reason, methods, expires: expires ? Number(expires) : null, errors };
}

function showComposerErrors(errors) {
  for (const [key, id] of [["amount", "req-amount"], ["reason", "req-reason"], ["methods", "req-card"]]) {
    const message = errors[key] || "";
    $(`req-${key}-error`).textContent = message;
    if (key !== "methods") $(id).setAttribute("aria-invalid", message ? "true" : "false");
  }
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!state.open) return;
  const values = composerValues();
  showComposerErrors(values.errors);
  $("composer-error").textContent = "";
  if (Object.keys(values.errors).length) {
    const first = values.errors.amount ? "req-amount" : values.errors.reason ? "req-reason" : "req-card";
    $(first).focus();
    return;
  }
  state.composerKey = crypto.randomUUID();
  const rows = [
    ["Customer", state.open.customer_id],
    ["Conversation", state.open.conversation_id],
    ["Amount", displayAmount(values.amount, values.currency)],
    ["Reason", values.reason],
    ["Pay with", values.methods.map((m) => (m === "card" ? "Card" : "Gift card")).join(", ")],
    ["Expires after", $("req-expires").selectedOptions[0].textContent],
  ];
  $("confirm-summary").replaceChildren(...rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
  $("confirm-error").textContent = "";
  $("confirm-send").disabled = false;
  $("confirm-dialog").showModal();
});

$("confirm-back").addEventListener("click", () => $("confirm-dialog").close());

$("confirm-send").addEventListener("click", async () => {
  const values = composerValues();
  if (!state.open || values.amount === null) return;
  const send = $("confirm-send");
  send.disabled = true;
  send.textContent = "Sending…";
  const body = {
    conversation_id: state.open.conversation_id,
    customer_id: state.open.customer_id,
    amount: values.amount,
    currency: values.currency,
    reason: values.reason,
    methods: values.methods,
  };
  if (values.expires) body.expires_in = values.expires;
  let answer = await authed("/v1/payment-requests", {
    method: "POST",
    body,
    headers: { "Idempotency-Key": state.composerKey },
  });
  if (answer.status === 409 && answer.data?.error?.code === "agent_key_required") {
    await ensureKey();
    answer = await authed("/v1/payment-requests", { method: "POST", body, headers: { "Idempotency-Key": state.composerKey } });
  }
  send.textContent = "Send";
  send.disabled = false;
  if (!answer.ok) {
    const fields = answer.data?.error?.fields || [];
    $("confirm-error").textContent = [errorMessage(answer, "The request was not sent."), ...fields.map((f) => f.message)].join(" ");
    return;
  }
  $("confirm-dialog").close();
  $("req-amount").value = "";
  $("req-reason").value = "";
  state.composerKey = null;
  toast(`Payment request for ${answer.data.display_amount} sent.`);
  await Promise.all([refreshProfile(), refreshCustomers()]);
});

// ---- start -----------------------------------------------------------------------------------

window.addEventListener("pagehide", () => {
  if (state.token) {
    api("/v1/agents/me/focus", { method: "PUT", body: { customer_id: null }, token: state.token, keepalive: true });
  }
});

setInterval(() => state.token && refreshCustomers(), REFRESH_MS);

const saved = sessionStorage.getItem(TOKEN_KEY);
const savedSub = saved && claims(saved)?.sub;
const notExpired = saved && (claims(saved)?.exp || 0) * 1000 > Date.now() + 60_000;
if (saved && savedSub && notExpired) {
  start(saved, savedSub);
} else {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn();
}
