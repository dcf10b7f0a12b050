/**
 * The hosted payment page: GET /pay/{token}. Reads the capability token from the path and talks to
 * /v1/pay/{token} (API.md §5). Card details live only in the form fields until Pay; they are sent once,
 * then cleared. Nothing is logged, and nothing is kept in web storage or cookies.
 */

import {
  BRAND_LENGTHS,
  BRAND_NAMES,
  checkCvc,
  checkExpiry,
  checkGiftNumber,
  checkGiftPin,
  checkName,
  checkNumber,
  cvcLength,
  formatCardNumber,
  maxDigits,
  normalizeNumber,
} from "/static/cardcheck.js";
import { FINAL, announce, api, errorMessage, formatDuration, icon, sleep, spokenDuration } from "/static/ui.js";

/** Milliseconds between status checks while the page is visible; doubled on errors up to POLL_MAX. */
const POLL_MS = 1500;
const POLL_HIDDEN_MS = 5000;
const POLL_MAX = 15000;

const $ = (id) => document.getElementById(id);

const token = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const base = `/v1/pay/${encodeURIComponent(token)}`;

const el = {
  merchantName: $("merchant-name"),
  merchantMark: $("merchant-mark"),
  loading: $("view-loading"),
  request: $("view-request"),
  amount: $("amount"),
  reason: $("reason"),
  expires: $("expires"),
  expiresText: $("expires-text"),
  choose: $("choose"),
  chooseError: $("choose-error"),
  decline: $("decline-btn"),
  enter: $("enter-btn"),
  form: $("pay-form"),
  formTitle: $("form-title"),
  methodChoice: $("method-choice"),
  cardFields: $("card-fields"),
  giftFields: $("gift-fields"),
  number: $("cc-number"),
  brand: $("cc-brand"),
  brandText: $("cc-brand-text"),
  name: $("cc-name"),
  exp: $("cc-exp"),
  csc: $("cc-csc"),
  cscHint: $("cc-csc-hint"),
  giftNumber: $("gc-number"),
  giftPin: $("gc-pin"),
  formError: $("form-error"),
  pay: $("pay-btn"),
  payHint: $("pay-hint"),
  state: $("view-state"),
  stateIcon: $("state-icon"),
  stateTitle: $("state-title"),
  stateText: $("state-text"),
  stateAmount: $("state-amount"),
  live: $("live"),
};

$("secure-icon").replaceWith(icon("lock", "icon"));
$("expires-icon").replaceWith(icon("clock", "icon"));

let info = null; // last GET /v1/pay/{token}
let shownStatus = null; // status the page shows
let entered = false; // the customer clicked Enter Payment
let submitting = false;
const touched = new Set(); // fields the customer has left at least once

// ---- fields ----------------------------------------------------------------------------------

const fields = {
  number: { input: el.number, error: $("cc-number-error"), check: () => checkNumber(el.number.value) },
  name: { input: el.name, error: $("cc-name-error"), check: () => checkName(el.name.value) },
  exp: { input: el.exp, error: $("cc-exp-error"), check: () => checkExpiry(el.exp.value) },
  csc: { input: el.csc, error: $("cc-csc-error"), check: () => checkCvc(el.csc.value, currentBrand()) },
  giftNumber: { input: el.giftNumber, error: $("gc-number-error"), check: () => checkGiftNumber(el.giftNumber.value) },
  giftPin: { input: el.giftPin, error: $("gc-pin-error"), check: () => checkGiftPin(el.giftPin.value) },
};

/** Server field name (API.md §5) → our field key. */
const SERVER_FIELDS = {
  "card.number": "number",
  "card.name": "name",
  "card.exp_month": "exp",
  "card.exp_year": "exp",
  "card.cvc": "csc",
  "gift_card.number": "giftNumber",
  "gift_card.pin": "giftPin",
};

function method() {
  const picked = el.form.querySelector('input[name="method"]:checked');
  const methods = info?.methods || ["card"];
  if (!methods.includes("card")) return "gift_card";
  if (!methods.includes("gift_card")) return "card";
  return picked ? picked.value : "card";
}

function activeKeys() {
  return method() === "card" ? ["number", "name", "exp", "csc"] : ["giftNumber", "giftPin"];
}

function currentBrand() {
  const digits = normalizeNumber(el.number.value);
  return /^[0-9]+$/.test(digits) ? checkNumber(digits).brand : null;
}

function setError(key, message) {
  const field = fields[key];
  field.error.textContent = message || "";
  field.input.setAttribute("aria-invalid", message ? "true" : "false");
}

/** A field is "complete" when the customer has typed as much as the field can take. */
function looksComplete(key) {
  const value = fields[key].input.value;
  if (key === "number") {
    // Done at the brand's longest length, or at a usual full length (15+) that is valid for the brand.
    const digits = normalizeNumber(value);
    const brand = currentBrand();
    if (brand === null) return digits.length >= 6;
    return digits.length >= maxDigits(brand) || (digits.length >= 15 && BRAND_LENGTHS[brand].includes(digits.length));
  }
  if (key === "exp") return normalizeNumber(value).replace("/", "").length >= 4;
  if (key === "csc") return value.length >= cvcLength(currentBrand());
  return false;
}

/** Re-check every active field; show errors only where the customer is done with the field. */
function validate() {
  let allOk = true;
  for (const key of activeKeys()) {
    const result = fields[key].check();
    if (!result.ok) allOk = false;
    if (result.ok) setError(key, "");
    else if (touched.has(key) || looksComplete(key)) setError(key, result.message);
  }
  el.pay.disabled = !allOk || submitting;
  el.payHint.hidden = allOk;
  return allOk;
}

function updateBrand() {
  const brand = currentBrand();
  const name = brand ? BRAND_NAMES[brand] : "";
  if (el.brand.dataset.brand !== (brand || "")) {
    el.brand.dataset.brand = brand || "";
    el.brand.textContent = brand === "amex" ? "Amex" : name;
    el.brandText.textContent = name ? `${name} card` : "";
  }
  const n = cvcLength(brand);
  el.csc.maxLength = brand ? n : 4;
  el.cscHint.textContent = brand === "amex" ? "4 digits on the front" : brand ? "3 digits on the back" : "3 or 4 digits";
}

/** Keep the caret after the same number of digits when reformatting a field. */
function reformat(input, format) {
  const caret = input.selectionStart ?? input.value.length;
  const digitsBefore = input.value.slice(0, caret).replace(/\D/g, "").length;
  const next = format(input.value);
  if (next === input.value) return;
  input.value = next;
  let pos = 0;
  let seen = 0;
  while (pos < next.length && seen < digitsBefore) {
    if (/\d/.test(next[pos])) seen++;
    pos++;
  }
  if (document.activeElement === input) input.setSelectionRange(pos, pos);
}

el.number.addEventListener("input", () => {
  reformat(el.number, (value) => {
    const digits = value.replace(/\D/g, "");
    const brand = checkNumber(digits).brand;
    return formatCardNumber(digits.slice(0, maxDigits(brand)));
  });
  updateBrand();
  el.formError.textContent = "";
  validate();
});

el.exp.addEventListener("input", (event) => {
  const deleting = event.inputType?.startsWith("delete");
  reformat(el.exp, (value) => {
    let digits = value.replace(/\D/g, "").slice(0, 6);
    if (digits.length === 1 && digits > "1") digits = "0" + digits;
    if (digits.length > 2) return `${digits.slice(0, 2)} / ${digits.slice(2)}`;
    if (digits.length === 2 && !deleting) return `${digits} / `;
    return digits;
  });
  validate();
});

el.csc.addEventListener("input", () => {
  reformat(el.csc, (value) => value.replace(/\D/g, "").slice(0, 4));
  validate();
});

el.giftPin.addEventListener("input", () => {
  reformat(el.giftPin, (value) => value.replace(/\D/g, "").slice(0, 8));
  validate();
});

for (const [key, field] of Object.entries(fields)) {
  field.input.addEventListener("blur", () => {
    if (field.input.value !== "") touched.add(key);
    validate();
  });
  if (!["number", "exp", "csc", "giftPin"].includes(key)) field.input.addEventListener("input", validate);
}

for (const radio of el.form.querySelectorAll('input[name="method"]')) {
  radio.addEventListener("change", showMethod);
}

function showMethod() {
  const card = method() === "card";
  el.cardFields.hidden = !card;
  el.giftFields.hidden = card;
  for (const key of Object.keys(fields)) {
    const active = activeKeys().includes(key);
    fields[key].input.disabled = !active;
  }
  validate();
}

function clearForm() {
  for (const key of Object.keys(fields)) {
    fields[key].input.value = "";
    setError(key, "");
  }
  touched.clear();
  updateBrand();
}

// ---- views -----------------------------------------------------------------------------------

const STATES = {
  submitted: {
    tone: "info",
    icon: null,
    title: "Payment sent",
    text: "Waiting for confirmation. This page updates by itself; you can keep it open.",
  },
  completed: { tone: "success", icon: "check", title: "Payment Accepted", text: "Thank you. Your payment was accepted." },
  declined: {
    tone: "danger",
    icon: "x",
    title: "Payment declined",
    text: "You declined this payment request. Nothing was charged.",
  },
  expired: {
    tone: "warning",
    icon: "clock",
    title: "This payment request has expired",
    text: "Nothing was charged. Ask your agent in the chat for a new payment link.",
  },
  canceled: {
    tone: "warning",
    icon: "ban",
    title: "This payment request was canceled",
    text: "Your agent withdrew this request. Nothing was charged.",
  },
  failed: {
    tone: "warning",
    icon: "alert",
    title: "This payment request is not ready",
    text: "It could not be delivered to your chat. Your agent can send it again.",
  },
  not_found: {
    tone: "danger",
    icon: "alert",
    title: "This payment link is not valid",
    text: "Check that you opened the whole link from your chat, or ask your agent for a new one.",
  },
};

function showState(key, { focus = true } = {}) {
  const state = STATES[key];
  el.loading.hidden = true;
  el.request.hidden = true;
  el.state.hidden = false;
  el.state.dataset.tone = state.tone;
  el.stateIcon.replaceChildren(state.icon ? icon(state.icon) : Object.assign(document.createElement("div"), { className: "spinner" }));
  el.stateTitle.textContent = state.title;
  el.stateText.textContent = state.text;
  el.stateAmount.hidden = !(info && (key === "completed" || key === "submitted"));
  el.stateAmount.textContent = info ? info.display_amount : "";
  document.title = `${state.title} · ${info?.merchant_name || "Secure payment"}`;
  if (focus) el.stateTitle.focus();
  announce(el.live, `${state.title}. ${state.text}`);
}

function showRequest() {
  el.loading.hidden = true;
  el.state.hidden = true;
  el.request.hidden = false;
  el.choose.hidden = entered;
  el.form.hidden = !entered;
  document.title = `Pay ${info.display_amount} · ${info.merchant_name || "Secure payment"}`;
}

function fillSummary() {
  const merchant = info.merchant_name || "Secure payment";
  el.merchantName.textContent = merchant;
  el.merchantMark.textContent = merchant.trim().charAt(0).toUpperCase() || "·";
  el.amount.textContent = info.display_amount;
  el.reason.textContent = info.reason;
  el.pay.textContent = `Pay ${info.display_amount}`;
  const methods = info.methods || ["card"];
  el.methodChoice.hidden = !(methods.includes("card") && methods.includes("gift_card"));
  if (!methods.includes("card")) {
    el.form.querySelector('input[value="gift_card"]').checked = true;
  }
  showMethod();
}

function render({ focus = true } = {}) {
  const status = info.status;
  if (status === shownStatus) return;
  const first = shownStatus === null;
  shownStatus = status;
  if (status === "waiting_for_customer" || status === "sending") {
    showRequest();
    return;
  }
  // Any other status ends the form: take every typed detail out of the page.
  clearForm();
  entered = false;
  showState(status in STATES ? status : "failed", { focus: focus && !first });
}

function tickExpiry() {
  if (!info || !info.expires_at || FINAL.has(info.status) || info.status === "submitted") {
    el.expires.hidden = true;
    return;
  }
  const left = new Date(info.expires_at).getTime() - Date.now();
  el.expires.hidden = false;
  if (left <= 0) {
    el.expiresText.textContent = "Expired"; // the next status check shows the expired page
    return;
  }
  el.expiresText.textContent = `Expires in ${formatDuration(left)}`;
  el.expires.setAttribute("aria-label", `Expires in ${spokenDuration(left)}`);
}

// ---- server --------------------------------------------------------------------------------

/** GET the request; returns true when it answered. */
async function refresh({ focus = true } = {}) {
  const answer = await api(base);
  if (answer.status === 404) {
    info = null;
    shownStatus = "not_found";
    showState("not_found", { focus: false });
    return true;
  }
  if (!answer.ok || !answer.data) return false;
  const firstLoad = info === null;
  info = answer.data;
  if (firstLoad) fillSummary();
  render({ focus });
  tickExpiry();
  return true;
}

async function poll() {
  let delay = POLL_MS;
  for (;;) {
    if (shownStatus === "not_found" || (info && FINAL.has(info.status))) return;
    await sleep(document.hidden ? Math.max(delay, POLL_HIDDEN_MS) : delay);
    delay = (await refresh()) ? POLL_MS : Math.min(delay * 2, POLL_MAX);
  }
}

async function enterPayment() {
  entered = true;
  el.chooseError.textContent = "";
  showRequest();
  el.formTitle.focus();
  const answer = await api(`${base}/open`, { method: "POST" });
  if (answer.status === 409 || answer.status === 410) await refresh();
}

el.enter.addEventListener("click", enterPayment);

el.decline.addEventListener("click", async () => {
  el.decline.disabled = true;
  el.enter.disabled = true;
  const answer = await api(`${base}/decline`, { method: "POST" });
  el.decline.disabled = false;
  el.enter.disabled = false;
  if (answer.ok) {
    info = { ...info, status: "declined" };
    render();
    return;
  }
  if (answer.status === 409 || answer.status === 410) {
    await refresh();
    return;
  }
  el.chooseError.textContent = errorMessage(answer, "Could not decline right now. Please try again.");
});

el.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const key of activeKeys()) touched.add(key);
  if (submitting || !validate()) return;
  submitting = true;
  el.pay.disabled = true;
  el.pay.setAttribute("aria-busy", "true");
  el.pay.textContent = "Paying…";
  el.formError.textContent = "";
  let body;
  if (method() === "card") {
    const expiry = checkExpiry(el.exp.value);
    body = {
      method: "card",
      card: {
        number: normalizeNumber(el.number.value),
        name: el.name.value.trim(),
        exp_month: expiry.month,
        exp_year: expiry.year,
        cvc: el.csc.value,
      },
    };
  } else {
    body = { method: "gift_card", gift_card: { number: normalizeNumber(el.giftNumber.value), pin: el.giftPin.value } };
  }
  const answer = await api(`${base}/submit`, { method: "POST", body });
  body = null;
  submitting = false;
  el.pay.removeAttribute("aria-busy");
  el.pay.textContent = `Pay ${info.display_amount}`;
  if (answer.ok) {
    clearForm();
    info = { ...info, status: "submitted" };
    render();
    return;
  }
  if (answer.status === 422 && answer.data?.error) {
    let first = null;
    for (const fault of answer.data.error.fields || []) {
      const key = SERVER_FIELDS[fault.field];
      if (key) {
        setError(key, fault.message);
        first = first || key;
      }
    }
    if (first) fields[first].input.focus();
    else el.formError.textContent = answer.data.error.message;
    el.pay.disabled = Boolean(first);
    if (!first) validate();
    return;
  }
  if (answer.status === 409 || answer.status === 410) {
    await refresh();
    return;
  }
  if (answer.status === 429) {
    const after = Number(answer.headers.get("Retry-After"));
    el.formError.textContent =
      "Too many attempts on this payment link." + (after ? ` Try again in ${spokenDuration(after * 1000)}.` : "");
  } else {
    el.formError.textContent = errorMessage(answer, "The payment could not be sent. Please try again.");
  }
  validate();
});

// ---- start ---------------------------------------------------------------------------------

async function start() {
  if (!token) {
    shownStatus = "not_found";
    showState("not_found", { focus: false });
    return;
  }
  let delay = 1000;
  while (!(await refresh({ focus: false }))) {
    el.loading.querySelector("p").textContent = "Cannot reach the payment service yet. Retrying…";
    await sleep(delay);
    delay = Math.min(delay * 2, POLL_MAX);
  }
  // Opened from the chat's "Enter Payment": go straight to the form.
  if (location.hash === "#enter" && info && info.status === "waiting_for_customer") {
    history.replaceState(null, "", location.pathname);
    await enterPayment();
  }
  setInterval(tickExpiry, 1000);
  poll();
}

updateBrand();
start();
