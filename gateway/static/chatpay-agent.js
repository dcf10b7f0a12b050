/**
 * chatpay agent card keys and envelope opening (API.md §7). A dependency-free ES module:
 *
 *   import { loadOrCreateAgentKey, registerKey, openEnvelope } from "/static/chatpay-agent.js";
 *   const key = await loadOrCreateAgentKey(agentId);           // P-256, private half never leaves
 *   await registerKey(apiBase, jwt, key.kid, key.publicJwk);   // PUT /v1/agents/me/keys/{kid}
 *   const card = await openEnvelope(key, envelope, requestId); // {method, number, name, ...}
 *
 * Opening is HPKE (RFC 9180) base mode, single shot: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and the
 * suite's AES-GCM, all on WebCrypto. WebCrypto exists only in a secure context (https:// or localhost).
 * Errors never carry card data.
 */

/** The suite of every chatpay envelope. */
export const SUITE = "P256-SHA256-AES256GCM";

/**
 * Suites this module opens: RFC 9180 ids and the AEAD key length `nk` in bytes. AES-128 is here only
 * so the RFC 9180 A.3.1 test vector can be checked; openEnvelope accepts SUITE alone.
 */
export const SUITES = Object.freeze({
  "P256-SHA256-AES256GCM": Object.freeze({ kemId: 0x0010, kdfId: 0x0001, aeadId: 0x0002, nk: 32 }),
  "P256-SHA256-AES128GCM": Object.freeze({ kemId: 0x0010, kdfId: 0x0001, aeadId: 0x0001, nk: 16 }),
});

const INFO_PREFIX = "chatpay card v1 "; // HPKE info = prefix + request id
const ENC_LEN = 65; // enc: uncompressed P-256 point
const TAG_LEN = 16; // AES-GCM tag
const NN = 12; // AEAD nonce length
const NH = 32; // HKDF-SHA256 output length
const DB_NAME = "chatpay-agent"; // IndexedDB database holding agent keys
const STORE = "keys"; // object store: agentId -> {kid, keyPair, publicJwk}
const ECDH = { name: "ECDH", namedCurve: "P-256" };
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) {
    throw new Error(
      "WebCrypto (crypto.subtle) is unavailable because this page is not a secure context: " +
        "open the console over https:// or on localhost",
    );
  }
  return s;
}

function openError() {
  return new Error("could not open the card envelope (wrong key, wrong request or tampered data)");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function i2osp(value, length) {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--, value >>>= 8) out[i] = value & 0xff;
  return out;
}

/** Base64url without padding to bytes; throws on any other alphabet or a bad length. */
export function b64urlDecode(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new Error("not base64url");
  }
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Bytes to base64url without padding. */
export function b64urlEncode(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The HPKE info of a request's card: "chatpay card v1 " + request id. */
export function cardInfo(requestId) {
  return utf8.encode(INFO_PREFIX + requestId);
}

async function hmac(key, data) {
  const k = await subtle().importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle().sign("HMAC", k, data));
}

// HKDF (RFC 5869); an empty salt means HashLen zero bytes.
function extract(salt, ikm) {
  return hmac(salt.length ? salt : new Uint8Array(NH), ikm);
}

async function expand(prk, info, length) {
  const out = new Uint8Array(length);
  let t = EMPTY;
  for (let i = 1, pos = 0; pos < length; i++, pos += t.length) {
    t = await hmac(prk, concat(t, info, Uint8Array.of(i)));
    out.set(t.subarray(0, length - pos), pos);
  }
  return out;
}

// RFC 9180 §4: LabeledExtract / LabeledExpand.
function labeledExtract(suiteId, salt, label, ikm) {
  return extract(salt, concat(utf8.encode("HPKE-v1"), suiteId, utf8.encode(label), ikm));
}

function labeledExpand(suiteId, prk, label, info, length) {
  const labeled = concat(i2osp(length, 2), utf8.encode("HPKE-v1"), suiteId, utf8.encode(label), info);
  return expand(prk, labeled, length);
}

/**
 * HPKE base-mode single-shot open (RFC 9180 §5-6). `sealed` is enc ‖ ciphertext; `publicKey` is the
 * recipient's public CryptoKey or its uncompressed point (pkRm, needed for the KEM context).
 * Returns the plaintext bytes.
 */
export async function hpkeOpen({ suite = SUITE, privateKey, publicKey, sealed, info, aad = EMPTY }) {
  const params = SUITES[suite];
  if (!params) throw new Error(`unsupported HPKE suite ${suite}`);
  const s = subtle();
  if (sealed.length < ENC_LEN + TAG_LEN) throw openError();
  const enc = sealed.subarray(0, ENC_LEN);
  let pkE;
  try {
    pkE = await s.importKey("raw", enc, ECDH, false, []);
  } catch {
    throw openError();
  }
  // DHKEM Decap (§4.1): shared_secret = ExtractAndExpand(DH(skR, pkE), enc ‖ pkRm).
  const dh = new Uint8Array(await s.deriveBits({ name: "ECDH", public: pkE }, privateKey, 256));
  const pkRm = publicKey instanceof Uint8Array
    ? publicKey
    : new Uint8Array(await s.exportKey("raw", publicKey));
  const kemSuite = concat(utf8.encode("KEM"), i2osp(params.kemId, 2));
  const eaePrk = await labeledExtract(kemSuite, EMPTY, "eae_prk", dh);
  const sharedSecret = await labeledExpand(kemSuite, eaePrk, "shared_secret", concat(enc, pkRm), NH);
  // KeySchedule (§5.1), mode_base, empty psk and psk_id.
  const hpkeSuite = concat(
    utf8.encode("HPKE"),
    i2osp(params.kemId, 2),
    i2osp(params.kdfId, 2),
    i2osp(params.aeadId, 2),
  );
  const pskIdHash = await labeledExtract(hpkeSuite, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = await labeledExtract(hpkeSuite, EMPTY, "info_hash", info);
  const context = concat(Uint8Array.of(0x00), pskIdHash, infoHash);
  const secret = await labeledExtract(hpkeSuite, sharedSecret, "secret", EMPTY);
  const key = await labeledExpand(hpkeSuite, secret, "key", context, params.nk);
  // Single shot: sequence number 0, so the nonce is base_nonce XOR 0 = base_nonce.
  const nonce = await labeledExpand(hpkeSuite, secret, "base_nonce", context, NN);
  const aesKey = await s.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  try {
    const gcm = { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 };
    return new Uint8Array(await s.decrypt(gcm, aesKey, sealed.subarray(ENC_LEN)));
  } catch {
    throw openError();
  }
}

/**
 * Open a card envelope `{kid, suite, ct}` of request `requestId` and return the card object.
 * `agentKey` is what loadOrCreateAgentKey returns, or a CryptoKeyPair: both halves are needed.
 */
export async function openEnvelope(agentKey, envelope, requestId) {
  const { privateKey, publicKey } = agentKey.keyPair ?? agentKey;
  if (!envelope || envelope.suite !== SUITE) throw new Error(`unsupported envelope suite ${envelope?.suite}`);
  let sealed;
  try {
    sealed = b64urlDecode(envelope.ct);
  } catch {
    throw openError();
  }
  const plaintext = await hpkeOpen({ privateKey, publicKey, sealed, info: cardInfo(requestId) });
  let card;
  try {
    // JSON.parse errors quote their input: never let them out.
    card = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
  } catch {
    card = null;
  }
  if (card === null || typeof card !== "object" || Array.isArray(card)) {
    throw new Error("the opened card envelope is not a JSON object");
  }
  return card;
}

/** A private P-256 JWK (with d, x, y) as {privateKey, publicKey} for opening; for tests and tools. */
export async function importPrivateJwk(jwk) {
  const { kty, crv, x, y, d } = jwk;
  const s = subtle();
  return {
    privateKey: await s.importKey("jwk", { kty, crv, x, y, d }, ECDH, false, ["deriveBits"]),
    publicKey: await s.importKey("jwk", { kty, crv, x, y }, ECDH, true, []),
  };
}

/** openEnvelope with a known private JWK instead of a stored key (tests, test vectors). */
export async function openEnvelopeWithPrivateJwk(privateJwk, envelope, requestId) {
  return openEnvelope(await importPrivateJwk(privateJwk), envelope, requestId);
}

/** The key id of a public key: "v1-" + 16 hex of SHA-256(SPKI DER), as chatpay.sealing.key_id. */
export async function keyId(publicKey) {
  const spki = await subtle().exportKey("spki", publicKey);
  const digest = new Uint8Array(await subtle().digest("SHA-256", spki));
  return "v1-" + Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A new agent card key: {kid, keyPair, publicJwk}. The private key is non-extractable (it can only
 * derive bits on this device); publicJwk holds only kty, crv, x, y.
 */
export async function createAgentKey() {
  const keyPair = await subtle().generateKey(ECDH, false, ["deriveBits"]);
  const { kty, crv, x, y } = await subtle().exportKey("jwk", keyPair.publicKey);
  return { kid: await keyId(keyPair.publicKey), keyPair, publicJwk: { kty, crv, x, y } };
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, work) {
  const open = indexedDB.open(DB_NAME, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  const db = await done(open);
  try {
    const tx = db.transaction(STORE, mode);
    const request = work(tx.objectStore(STORE));
    return await new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = tx.onabort = () => reject(request.error ?? tx.error);
    });
  } finally {
    db.close();
  }
}

/**
 * The agent's card key from IndexedDB, created and stored on first use: {kid, keyPair, publicJwk}.
 * Two tabs racing on first use end up with the same key.
 */
export async function loadOrCreateAgentKey(agentId) {
  subtle();
  const stored = await withStore("readonly", (store) => store.get(agentId));
  if (stored) return stored;
  const created = await createAgentKey();
  try {
    await withStore("readwrite", (store) => store.add(created, agentId));
    return created;
  } catch (error) {
    if (error?.name !== "ConstraintError") throw error;
    return withStore("readonly", (store) => store.get(agentId));
  }
}

/** Delete the agent's stored card key (sign-out, rotation). */
export async function forgetAgentKey(agentId) {
  await withStore("readwrite", (store) => store.delete(agentId));
}

/** Register a card public key: PUT {baseUrl}/v1/agents/me/keys/{kid} with {"jwk": {kty, crv, x, y}}. */
export async function registerKey(baseUrl, token, kid, publicJwk) {
  const { kty, crv, x, y } = publicJwk;
  const url = `${baseUrl.replace(/\/+$/, "")}/v1/agents/me/keys/${encodeURIComponent(kid)}`;
  const response = await fetch(url, {
    method: "PUT",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ jwk: { kty, crv, x, y } }),
  });
  if (!response.ok) throw new Error(`registering card key ${kid} failed: HTTP ${response.status}`);
}
