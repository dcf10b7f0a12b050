/**
 * Card and gift-card checks in the browser, mirroring chatpay/cards.py (API.md §5) so the Pay button
 * is enabled exactly when the server will accept the fields. Pure functions: nothing here stores,
 * logs or sends a card, and no message repeats the number, the CVC or the PIN.
 */

/** [brand, low, high]: inclusive ranges over the number's first low.length digits; first match wins. */
export const BRAND_PREFIXES = Object.freeze([
  ["visa", "4", "4"],
  ["mastercard", "51", "55"],
  ["mastercard", "2221", "2720"],
  ["amex", "34", "34"],
  ["amex", "37", "37"],
  ["discover", "6011", "6011"],
  ["discover", "644", "649"],
  ["discover", "65", "65"],
  ["jcb", "3528", "3589"],
  ["diners", "300", "305"],
  ["diners", "36", "36"],
  ["diners", "38", "39"],
  ["unionpay", "62", "62"],
]);

const range = (lo, hi) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

/** Valid number lengths per brand. */
export const BRAND_LENGTHS = Object.freeze({
  visa: [13, 16, 19],
  mastercard: [16],
  amex: [15],
  discover: range(16, 19),
  jcb: range(16, 19),
  diners: range(14, 19),
  unionpay: range(16, 19),
});

/** Names shown to people. */
export const BRAND_NAMES = Object.freeze({
  visa: "Visa",
  mastercard: "Mastercard",
  amex: "American Express",
  discover: "Discover",
  jcb: "JCB",
  diners: "Diners Club",
  unionpay: "UnionPay",
});

export const NAME_MAX = 100;
export const MAX_YEARS_AHEAD = 20;
export const GIFT_NUMBER_MIN = 8;
export const GIFT_NUMBER_MAX = 24;
export const GIFT_PIN_MIN = 4;
export const GIFT_PIN_MAX = 8;

const DIGITS = /^[0-9]+$/;

/** The number without spaces and dashes. */
export function normalizeNumber(raw) {
  return String(raw).replace(/[ -]/g, "");
}

/** True when `digits` (ASCII digits) passes the Luhn check. */
export function luhnOk(digits) {
  if (!DIGITS.test(digits)) return false;
  let total = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2) d = d > 4 ? d * 2 - 9 : d * 2;
    total += d;
  }
  return total % 10 === 0;
}

/** The brand named by the prefix, or null. */
export function cardBrand(digits) {
  for (const [brand, low, high] of BRAND_PREFIXES) {
    if (digits.length >= low.length) {
      const head = digits.slice(0, low.length);
      if (low <= head && head <= high) return brand;
    }
  }
  return null;
}

/** Longest valid number for a brand (19 when unknown). */
export function maxDigits(brand) {
  const lengths = BRAND_LENGTHS[brand];
  return lengths ? Math.max(...lengths) : 19;
}

/** Digits in the security code: 4 for American Express, else 3. */
export function cvcLength(brand) {
  return brand === "amex" ? 4 : 3;
}

/** Group a number for display: 4-6-5 for Amex, 4-6-4 for 14-digit Diners, else groups of four. */
export function formatCardNumber(digits) {
  const brand = cardBrand(digits);
  let groups;
  if (brand === "amex") groups = [4, 6, 5];
  else if (brand === "diners" && digits.length <= 14) groups = [4, 6, 4];
  else groups = [4, 4, 4, 4, 3];
  const out = [];
  let pos = 0;
  for (const size of groups) {
    if (pos >= digits.length) break;
    out.push(digits.slice(pos, pos + size));
    pos += size;
  }
  if (pos < digits.length) out.push(digits.slice(pos));
  return out.join(" ");
}

function fail(code, message) {
  return { ok: false, code, message };
}

const OK = Object.freeze({ ok: true, code: null, message: "" });

/** {ok, code, message, brand, digits} for a card number as typed. */
export function checkNumber(raw) {
  const digits = normalizeNumber(raw);
  const brand = DIGITS.test(digits) ? cardBrand(digits) : null;
  let result = OK;
  if (!digits) result = fail("required", "Enter the card number.");
  else if (!DIGITS.test(digits)) result = fail("invalid_characters", "The card number may contain only digits.");
  else if (brand === null) result = fail("unknown_brand", "This card type is not accepted.");
  else if (!BRAND_LENGTHS[brand].includes(digits.length)) {
    result = fail("length", `This is not a valid length for a ${BRAND_NAMES[brand]} card.`);
  } else if (!luhnOk(digits)) result = fail("luhn", "The card number is not valid; check it for typos.");
  return { ...result, brand, digits };
}

/** True when `name` would be printable by Python's str.isprintable (spaces allowed). */
function printable(name) {
  return !/[\p{C}\p{Zl}\p{Zp}]/u.test(name) && !/[^\P{Zs} ]/u.test(name);
}

/** {ok, code, message} for the name on the card. */
export function checkName(raw) {
  const name = String(raw).trim();
  if (!name) return fail("required", "Enter the name on the card.");
  if ([...name].length > NAME_MAX) {
    return fail("length", `The name on the card must be at most ${NAME_MAX} characters.`);
  }
  if (!printable(name)) return fail("invalid_characters", "The name on the card contains invalid characters.");
  return OK;
}

/**
 * Parse an expiry as typed or autofilled: "MM/YY", "MM / YYYY", "MMYY", "M/YY".
 * Returns {month, year} with a four-digit year, or null.
 */
export function parseExpiry(raw) {
  const text = String(raw).trim();
  let m = /^(\d{1,2})\s*[/\-.]\s*(\d{2}|\d{4})$/.exec(text);
  if (!m) m = /^(\d{2})(\d{2}|\d{4})$/.exec(text.replace(/\s+/g, ""));
  if (!m) return null;
  const month = Number(m[1]);
  const year = m[2].length === 2 ? 2000 + Number(m[2]) : Number(m[2]);
  return { month, year };
}

/** {ok, code, message, month, year} for an expiry as typed; valid through the end of its month. */
export function checkExpiry(raw, today = new Date()) {
  if (!String(raw).trim()) return fail("required", "Enter the expiry date.");
  const parsed = parseExpiry(raw);
  if (!parsed) return fail("invalid", "Enter the expiry date as MM / YY.");
  const { month, year } = parsed;
  const nowYear = today.getFullYear();
  const nowMonth = today.getMonth() + 1;
  let result = OK;
  if (month < 1 || month > 12) result = fail("invalid", "The expiry month must be 1 to 12.");
  else if (year > nowYear + MAX_YEARS_AHEAD) result = fail("invalid", "The expiry year is too far in the future.");
  else if (year < nowYear || (year === nowYear && month < nowMonth)) result = fail("expired", "This card has expired.");
  return { ...result, month, year };
}

/** {ok, code, message} for the security code of a card of `brand` (null: 3 or 4 digits). */
export function checkCvc(cvc, brand) {
  if (!cvc) return fail("required", "Enter the security code.");
  if (!DIGITS.test(cvc)) return fail("invalid_characters", "The security code may contain only digits.");
  if (!brand) {
    return cvc.length === 3 || cvc.length === 4 ? OK : fail("cvc_length", "The security code must be 3 or 4 digits.");
  }
  const n = cvcLength(brand);
  return cvc.length === n ? OK : fail("cvc_length", `The security code must be ${n} digits for ${BRAND_NAMES[brand]} cards.`);
}

/** {ok, code, message} for a gift card number. */
export function checkGiftNumber(raw) {
  const number = normalizeNumber(raw);
  if (!number) return fail("required", "Enter the gift card number.");
  if (!/^[A-Za-z0-9]+$/.test(number)) {
    return fail("invalid_characters", "The gift card number may contain only letters and digits.");
  }
  if (number.length < GIFT_NUMBER_MIN || number.length > GIFT_NUMBER_MAX) {
    return fail("length", `The gift card number must be ${GIFT_NUMBER_MIN} to ${GIFT_NUMBER_MAX} characters.`);
  }
  return OK;
}

/** {ok, code, message} for a gift card PIN. */
export function checkGiftPin(pin) {
  if (!pin) return fail("required", "Enter the gift card PIN.");
  if (!DIGITS.test(pin)) return fail("invalid_characters", "The PIN may contain only digits.");
  if (pin.length < GIFT_PIN_MIN || pin.length > GIFT_PIN_MAX) {
    return fail("length", `The PIN must be ${GIFT_PIN_MIN} to ${GIFT_PIN_MAX} digits.`);
  }
  return OK;
}
