/**
 * Small helpers shared by the chatpay pages. Elements are built with textContent only (never
 * innerHTML), so nothing a server or a customer sends can become markup.
 */

/** status → the label the agent sees (API.md §3). */
export const STATUS_LABELS = Object.freeze({
  sending: "SENDING",
  waiting_for_customer: "WAITING FOR CUSTOMER",
  submitted: "VIEW CARD",
  completed: "PAYMENT ACCEPTED",
  declined: "CUSTOMER DECLINED PAYMENT",
  expired: "REQUEST EXPIRED",
  failed: "TRY AGAIN",
  canceled: "CANCELED",
});

/** Statuses after which nothing changes. */
export const FINAL = new Set(["completed", "declined", "expired", "canceled"]);

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * h("button", {class: "btn", onclick: fn, "aria-label": "…"}, "text", child…): an element.
 * Attributes: `class`, `text`, `dataset` ({k: v}), on* handlers, booleans (true sets, false skips).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Small line icons (stroke currentColor), by name. */
const ICONS = {
  check: ["M5 12.5l4.5 4.5L19 7.5"],
  x: ["M6 6l12 12", "M18 6L6 18"],
  clock: ["M12 7v5l3 2", "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z"],
  lock: ["M7 11V8a5 5 0 0 1 10 0v3", "M5.5 11h13v9.5h-13z"],
  alert: ["M12 8v5", "M12 16.5v.5", "M12 3l9.5 17h-19z"],
  ban: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M5.6 5.6l12.8 12.8"],
  card: ["M3 6.5h18v11H3z", "M3 10h18", "M6.5 14.5h4"],
  copy: ["M9 9h11v11H9z", "M5 15H4V4h11v1"],
  eye: ["M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7-10-7-10-7z", "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z"],
  send: ["M4 12l16-8-6 16-2.5-6.5z"],
  retry: ["M4 4v6h6", "M20 12a8 8 0 0 1-14.6 4.5", "M4.6 10A8 8 0 0 1 20 12"],
};

/** An inline SVG icon, hidden from screen readers (the text next to it says what it means). */
export function icon(name, cls = "icon") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", cls);
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/**
 * fetch() a JSON API. Returns {ok, status, data, headers}; status 0 when the network failed.
 * Never throws for HTTP errors; `data` is the parsed body or null.
 */
export async function api(path, { method = "GET", body, token, headers = {}, keepalive = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, keepalive, cache: "no-store" };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: null, headers: new Headers() };
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { ok: response.ok, status: response.status, data, headers: response.headers };
}

/** The human message of an API error answer, or `fallback`. */
export function errorMessage(answer, fallback) {
  if (answer.status === 0) return "Could not reach the server. Check the connection and try again.";
  return answer.data?.error?.message || fallback;
}

/** "29:41", "1 h 05 min" or "2 d 3 h" for a duration in milliseconds (0 and below: "0:00"). */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
  return `${minutes}:${String(seconds).padStart(2, "0")}`;
}

/** A spoken form of a duration for screen readers: "29 minutes", "1 hour 5 minutes", "40 seconds". */
export function spokenDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (hours) return [plural(hours, "hour"), minutes ? plural(minutes, "minute") : ""].join(" ").trim();
  if (minutes) return plural(minutes, "minute");
  return plural(total, "second");
}

/** Local time of an RFC 3339 string, "14:05". */
export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Initials for an avatar: "cu-9" → "CU", "Ada Lovelace" → "AL". */
export function initials(name) {
  const parts = String(name).split(/[\s\-_.@:]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : String(name).slice(0, 2);
  return letters.toUpperCase();
}

/** Sleep `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Put `text` into a polite live region so screen readers say it (cleared first so repeats are read). */
export function announce(region, text) {
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}
