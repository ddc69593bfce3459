// OpenClaw control panel: the gateway's own operator page. One ES module, no framework, no build
// step. It speaks the gateway WebSocket protocol v4 as the official Control UI does (client
// openclaw-control-ui, mode webchat, an Ed25519 device identity) and stays live from the events the
// gateway already sends (health, tick, sessions.changed, chat, agent, config.changed). It never
// polls the gateway, except Logs, which reads the log by cursor while that page is visible.
// CSP-clean by construction: no inline script or style, no innerHTML, no eval. Every node is built
// with DOM calls and every text from the gateway is set as text.

const VERSION = "0.1.0";
const CLIENT_ID = "openclaw-control-ui";
const MODE = "webchat";
const ROLE = "operator";
const SCOPES = ["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.pairing"];
const CAPS = ["tool-events"];
const PROTOCOL = 4;
const ROUTES = [["overview", "Overview"], ["chat", "Chat"], ["channels", "Channels"], ["sessions", "Sessions"],
  ["logs", "Logs"], ["config", "Config"], ["devices", "Devices"]];
/** A request with no answer by then is failed locally (the socket stays). */
const REQUEST_TIMEOUT_MS = 60000;
/** The gateway sends connect.challenge at once; without it the socket is dropped and retried. */
const CHALLENGE_TIMEOUT_MS = 10000;
/** While waiting for approval, the official UI retries (recommendedNextStep wait_then_retry). */
const PAIRING_RETRY_MS = 5000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;
/** Logs is the one page that asks repeatedly, and only while it is visible. */
const LOG_POLL_MS = 2000;
const LOG_KEEP = 2000;
/** Relative times ("12 s ago") are redrawn locally; this costs the gateway nothing. */
const CLOCK_MS = 5000;
const REDACTED = "__OPENCLAW_REDACTED__";
const K = { token: "openclaw.panel.token ", gw: "openclaw.panel.gatewayUrl", inst: "openclaw.panel.instanceId",
  chat: "openclaw.panel.chatSession", outcome: "openclaw.panel.configOutcome", level: "openclaw.panel.logLevel" };

// ---- small helpers ---------------------------------------------------------------------------

/** `h("button", {class: "primary", onclick: f}, "Save")`. Strings become text nodes, never markup. */
function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}
/** Replaces the children of `el`; nulls and falses are skipped, as in `h`. */
const put = (el, ...kids) => el.replaceChildren(...kids.flat(Infinity).filter((k) => k != null && k !== false));
const btn = (label, onclick, cls) => h("button", { type: "button", class: cls, onclick }, label);
const kv = (pairs) => h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", { text: k }), h("dd", null, v ?? "—")]));
const notice = (text, cls, ...more) => h("div", { class: "notice " + (cls || ""), role: cls === "bad" ? "alert" : "status" }, text, ...more);
const pill = (text, cls) => h("span", { class: "pill " + (cls || "") }, text);

let skew = 0; // gateway clock minus ours, from the challenge and ticks
const now = () => Date.now() + skew;

function dur(ms) {
  let s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + (s % 60) + " s";
  const hr = Math.floor(m / 60);
  if (hr < 48) return hr + " h " + (m % 60) + " min";
  return Math.floor(hr / 24) + " d " + (hr % 24) + " h";
}
const agoText = (ts) => (ts ? dur(now() - ts) + " ago" : "never");
/** A relative time kept fresh by the local clock. */
const ago = (ts) => h("span", { "data-ts": ts || 0, title: ts ? new Date(ts).toLocaleString() : null }, agoText(ts));
/** A duration that keeps counting (uptime): `startTs` is when it was zero. */
const since = (startTs) => h("span", { "data-since": startTs }, dur(now() - startTs));
function bytes(n) {
  if (typeof n !== "number") return "—";
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
/** The short code a waiting browser shows, so the owner approves the right one. */
const confirmCode = (deviceId) => (deviceId || "").slice(0, 8).toUpperCase().replace(/^(.{4})/, "$1-");
const uuid = () => crypto.randomUUID();
function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p.text === "string" ? p.text : "")).join("");
  return "";
}

const store = {
  get(k) { try { return sessionStorage.getItem(k); } catch { return null; } },
  set(k, v) { try { v == null ? sessionStorage.removeItem(k) : sessionStorage.setItem(k, v); } catch { /* private mode */ } },
};

// IndexedDB: the device key pair (non-extractable CryptoKey objects) and device tokens.
let dbOpen;
const memory = new Map();
function db() {
  dbOpen ||= new Promise((resolve, reject) => {
    const r = indexedDB.open("openclaw-panel", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("kv");
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  return dbOpen;
}
async function idb(op, key, value) {
  try {
    const d = await db();
    return await new Promise((resolve, reject) => {
      const t = d.transaction("kv", op === "get" ? "readonly" : "readwrite").objectStore("kv");
      const r = op === "get" ? t.get(key) : op === "put" ? t.put(value, key) : t.delete(key);
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  } catch {
    // No IndexedDB (some private modes): this tab only.
    if (op === "get") return memory.get(key);
    op === "put" ? memory.set(key, value) : memory.delete(key);
  }
}

let identityP;
/** This browser's Ed25519 identity: created once, the private key never leaves WebCrypto. */
function identity() {
  identityP ||= (async () => {
    const saved = await idb("get", "identity");
    if (saved && saved.id && saved.privateKey) return saved;
    if (!window.isSecureContext || !crypto.subtle) throw new Error("insecure");
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const rec = { id: hex(await crypto.subtle.digest("SHA-256", raw)), publicKey: b64url(raw), privateKey: pair.privateKey,
      createdAt: Date.now() };
    await idb("put", "identity", rec);
    return rec;
  })();
  identityP.catch(() => { identityP = null; });
  return identityP;
}

const PLATFORM = navigator.platform || (navigator.userAgentData && navigator.userAgentData.platform) || "web";
const BROWSER = /Firefox\//.test(navigator.userAgent) ? "Firefox" : /Edg\//.test(navigator.userAgent) ? "Edge"
  : /Chrom/.test(navigator.userAgent) ? "Chromium" : /Safari\//.test(navigator.userAgent) ? "Safari" : "browser";
const norm = (s) => String(s ?? "").trim().replace(/[A-Z]/g, (c) => c.toLowerCase());

// ---- where we are ----------------------------------------------------------------------------

function basePath() {
  const meta = document.querySelector('meta[name="openclaw-base-path"]');
  let p = (meta && meta.content) || new URL(document.baseURI).pathname || "/";
  if (!p.startsWith("/")) p = "/" + p;
  return p.endsWith("/") ? p : p + "/";
}
const BASE = basePath();

/** The gateway is this page's own origin and base path, unless `#gatewayUrl=` names another (development). */
function gatewayUrl() {
  const given = store.get(K.gw);
  if (given) return given;
  const u = new URL(BASE, location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.hash = "";
  u.search = "";
  return u.href;
}

/** A one-time owner link's token (`openclaw dashboard`): in memory only, and used once. */
let bootstrap = null;

/** `#token=…&gatewayUrl=…` (kept for this tab only) or `#bootstrapToken=…&bootstrapProfile=owner`
 * (kept in memory for one connect), removed from the address bar at once. */
function readFragment() {
  if (!location.hash) return;
  const f = new URLSearchParams(location.hash.slice(1));
  const gw = f.get("gatewayUrl");
  if (gw) {
    try {
      // Only this page's own host (another port is fine, for development): a link cannot point
      // the panel, and the token in it, at someone else's server.
      const u = new URL(gw);
      if ((u.protocol === "ws:" || u.protocol === "wss:") && u.hostname === location.hostname) store.set(K.gw, u.href);
    } catch { /* ignored: not a URL */ }
  }
  const token = f.get("token");
  if (token) store.set(K.token + gatewayUrl(), token);
  const once = f.get("bootstrapToken");
  if (once && /^[\x21-\x7e]{1,256}$/.test(once)) bootstrap = { url: gatewayUrl(), token: once };
  history.replaceState(history.state, "", location.pathname + location.search);
}

// ---- the protocol client ---------------------------------------------------------------------

class RpcError extends Error {
  constructor(e) {
    super((e && e.message) || "request failed");
    this.code = e && e.code;
    this.details = (e && e.details) || {};
    this.retryable = e && e.retryable;
    this.retryAfterMs = e && e.retryAfterMs;
  }
}

/** One WebSocket to the gateway: handshake, request/response by id, events, reconnects. */
class Conn {
  constructor(url) {
    this.url = url;
    this.ws = null;
    this.n = 0;
    this.pending = new Map();
    this.handlers = new Map();
    this.attempt = 0;
    this.state = "idle";
    this.info = {};
  }
  get tokenKey() { return K.token + this.url; }
  get deviceKey() { return "deviceToken " + this.url; }
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
  }
  emit(event, ...args) {
    for (const fn of this.handlers.get(event) || []) {
      try { fn(...args); } catch (e) { console.error(e); }
    }
  }
  setState(state, info) {
    this.state = state;
    this.info = info || {};
    this.emit("state", state, this.info);
  }

  async open() {
    clearTimeout(this.retryTimer);
    this.drop();
    this.halted = false;
    if (this.state !== "pairing") this.setState(this.hello ? "reconnecting" : "connecting", this.info);
    let id;
    try {
      id = await identity();
    } catch (e) {
      return this.halt("fatal", { kind: e.message === "insecure" ? "insecure" : "crypto", message: String(e.message || e) });
    }
    const ws = new WebSocket(this.url);
    this.ws = ws;
    const timer = setTimeout(() => { if (ws === this.ws && !this.challenged) this.lost(ws, { code: 4000, reason: "no challenge" }); }, CHALLENGE_TIMEOUT_MS);
    this.challenged = false;
    ws.onmessage = (ev) => this.frame(ws, ev.data, id);
    ws.onclose = (ev) => { clearTimeout(timer); this.lost(ws, ev); };
  }

  /** Closes the current socket without reacting to it. */
  drop() {
    const ws = this.ws;
    this.ws = null;
    clearTimeout(this.deadTimer);
    this.failPending("connection closed");
    if (ws && ws.readyState <= 1) ws.close(1000);
  }
  failPending(message) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new RpcError({ code: "UNAVAILABLE", message }));
    }
    this.pending.clear();
  }

  /** Stops for good (sign-in, pairing wait, fatal): no reconnect until asked. */
  halt(state, info) {
    this.halted = true;
    clearTimeout(this.retryTimer);
    this.setState(state, info);
    if (state === "pairing") this.retryTimer = setTimeout(() => this.open(), PAIRING_RETRY_MS);
  }
  stop(state, info) {
    this.halt(state, info);
    this.drop();
  }

  frame(ws, data, id) {
    if (ws !== this.ws) return;
    let f;
    try { f = JSON.parse(data); } catch { return; }
    this.alive();
    if (f.type === "res") {
      const p = this.pending.get(f.id);
      if (!p) return;
      this.pending.delete(f.id);
      clearTimeout(p.timer);
      f.ok ? p.resolve(f.payload) : p.reject(new RpcError(f.error));
      return;
    }
    if (f.type !== "event") return;
    const p = f.payload || {};
    if (f.event === "connect.challenge") {
      this.challenged = true;
      this.connect(ws, p, id).catch((e) => this.halt("fatal", { kind: "crypto", message: String(e.message || e) }));
      return;
    }
    if (typeof f.seq === "number") {
      if (this.seq != null && f.seq > this.seq + 1) this.emit("gap");
      this.seq = f.seq;
    }
    if (f.event === "tick" && typeof p.ts === "number") skew = p.ts - Date.now();
    if (f.event === "shutdown") this.shutdown = p;
    this.emit(f.event, p, f);
    this.emit("*", f.event, p, f);
  }

  async connect(ws, challenge, id) {
    const nonce = challenge.nonce;
    if (typeof nonce !== "string" || !nonce) return this.lost(ws, { code: 4000, reason: "bad challenge" });
    const signedAt = Number.isInteger(challenge.ts) ? challenge.ts : Date.now();
    skew = signedAt - Date.now();
    // A one-time owner link wins (it was just opened); it is spent by this attempt, whatever the answer.
    const once = bootstrap && bootstrap.url === this.url ? bootstrap.token : null;
    bootstrap = null;
    const shared = once ? null : store.get(this.tokenKey);
    const saved = once || shared ? null : await idb("get", this.deviceKey);
    const token = once || shared || (saved && saved.token) || "";
    this.used = once ? "bootstrap" : shared ? "token" : saved ? "device" : "none";
    // The official UI sends the shared secret as both token and password: it works in either auth mode.
    const auth = once ? { bootstrapToken: once } : shared ? { token: shared, password: shared } : saved ? { deviceToken: saved.token } : null;
    const payload = ["v3", id.id, CLIENT_ID, MODE, ROLE, SCOPES.join(","), String(signedAt), token, nonce, norm(PLATFORM), ""].join("|");
    const sig = await crypto.subtle.sign({ name: "Ed25519" }, id.privateKey, new TextEncoder().encode(payload));
    let instanceId = store.get(K.inst);
    if (!instanceId) store.set(K.inst, (instanceId = uuid()));
    const params = {
      minProtocol: PROTOCOL,
      maxProtocol: PROTOCOL,
      client: { id: CLIENT_ID, displayName: "Control panel · " + BROWSER, version: VERSION, platform: PLATFORM, mode: MODE, instanceId },
      caps: CAPS,
      role: ROLE,
      scopes: SCOPES,
      device: { id: id.id, publicKey: id.publicKey, signature: b64url(new Uint8Array(sig)), signedAt, nonce },
    };
    if (auth) params.auth = auth;
    if (ws !== this.ws) return;
    this.call(ws, "connect", params).then((hello) => this.ready(hello), (e) => this.refused(e));
  }

  ready(hello) {
    this.hello = hello;
    this.attempt = 0;
    this.shutdown = null;
    this.seq = null;
    this.signinHint = null;
    const a = hello.auth || {};
    if (a.deviceToken) idb("put", this.deviceKey, { token: a.deviceToken, scopes: a.scopes, issuedAtMs: a.issuedAtMs });
    this.tickMs = (hello.policy && hello.policy.tickIntervalMs) || 30000;
    this.alive();
    this.setState("connected");
    this.emit("hello", hello);
  }

  refused(e) {
    if (e.code === "UNAVAILABLE" && e.message === "connection closed") return; // lost() handles it
    const d = e.details, code = d.code || "";
    if (e.code === "NOT_PAIRED" && code === "PAIRING_REQUIRED" && d.recommendedNextStep !== "update_auth_credentials") {
      return this.halt("pairing", { details: d, message: e.message });
    }
    if (code.startsWith("AUTH_") || e.code === "NOT_PAIRED") {
      if (this.used === "device") idb("delete", this.deviceKey);
      if (this.used === "token") store.set(this.tokenKey, null);
      let message = null;
      if (this.used === "token") message = code === "AUTH_RATE_LIMITED"
        ? "Too many wrong attempts from this browser: wait " + dur(e.retryAfterMs || 60000) + " and try again."
        : "The gateway refused this token. Check it and try again.";
      if (this.used === "device") message = "This browser's saved sign-in is no longer valid. Sign in with the gateway token.";
      if (this.used === "bootstrap") message = code === "AUTH_BOOTSTRAP_TOKEN_INVALID"
        ? "This one-time link was already used or has expired. Run `openclaw dashboard` again, or sign in with the gateway token."
        : "The one-time link was refused. Run `openclaw dashboard` again, or sign in with the gateway token.";
      return this.halt("signin", { message: this.signinHint || message, detail: this.used === "none" ? null : e.message });
    }
    if (e.code === "UNAVAILABLE" && (e.retryable || e.retryAfterMs)) {
      this.nextDelay = e.retryAfterMs || 1000; // gateway starting or restarting: the close follows
      return;
    }
    this.halt("fatal", { message: e.message, code: code || e.code });
  }

  /** The socket is gone: reconnect, unless we stopped on purpose. */
  lost(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearTimeout(this.deadTimer);
    this.failPending("connection closed");
    if (ws.readyState <= 1) ws.close();
    if (this.halted) return;
    const reason = ev.reason || "";
    if (ev.code === 4001) {
      // Credentials changed or this device was removed: the shared token is stale; a device token
      // may still do, otherwise the sign-in form says why.
      store.set(this.tokenKey, null);
      this.signinHint = "The gateway's credentials changed (" + (reason || "auth changed") + "). Sign in again.";
    }
    this.attempt++;
    let delay = this.nextDelay;
    if (delay == null && this.shutdown && this.shutdown.restartExpectedMs != null) delay = this.shutdown.restartExpectedMs + 250;
    if (delay == null) delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.attempt - 1, 8)) * (0.8 + Math.random() * 0.4);
    this.nextDelay = null;
    const why = this.shutdown ? this.shutdown.reason || "gateway restarting"
      : ev.code === 1012 ? "gateway restarting"
      : ev.code === 1008 && /slow consumer/i.test(reason) ? "this page fell behind (slow consumer)"
      : reason || "connection lost";
    this.shutdown = null;
    if (this.state === "pairing") this.halt("pairing", this.info);
    else this.setState(this.hello ? "reconnecting" : "connecting", { why, retryAt: Date.now() + delay });
    if (!this.halted) this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** A silent socket (no tick for 2.5 intervals: a suspended laptop, a dead link) is replaced. */
  alive() {
    clearTimeout(this.deadTimer);
    const ws = this.ws;
    if (this.state === "connected") this.deadTimer = setTimeout(() => this.lost(ws, { code: 4000, reason: "no tick from the gateway" }), this.tickMs * 2.5);
  }

  request(method, params) {
    if (!this.ws || this.state !== "connected") return Promise.reject(new RpcError({ code: "UNAVAILABLE", message: "not connected" }));
    return this.call(this.ws, method, params);
  }
  call(ws, method, params) {
    const id = String(++this.n);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError({ code: "TIMEOUT", message: method + ": no answer from the gateway" }));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ type: "req", id, method, params: params || {} }));
    });
  }
}

// ---- the frame -------------------------------------------------------------------------------

const S = { hello: null, health: null, healthAt: 0, events: 0 };
let conn, ui, page = null, pageName = null;
const rpc = (method, params) => conn.request(method, params);

function route() {
  const rest = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : "";
  const name = rest.split("/")[0];
  return ROUTES.some(([r]) => r === name) ? name : "overview";
}
function go(name) {
  history.pushState(null, "", BASE + (name === "overview" ? "" : name));
  show(true);
}

function frame() {
  const status = h("span", { class: "pill", id: "conn-state", role: "status", "aria-live": "polite" }, "connecting");
  const signout = btn("Sign out", () => {
    store.set(conn.tokenKey, null);
    idb("delete", conn.deviceKey);
    conn.stop("signin", { message: "Signed out. This browser keeps its device identity, not the token." });
  });
  const nav = h("nav", { class: "tabs", "aria-label": "Pages" }, ROUTES.map(([r, label]) => h("a", {
    href: BASE + (r === "overview" ? "" : r),
    "data-route": r,
    onclick: (e) => {
      if (e.button || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      go(r);
    },
  }, label)));
  const banner = h("div", { class: "banner", role: "status", hidden: true });
  const main = h("main", { id: "main", tabindex: "-1" });
  const root = document.getElementById("app");
  put(root, 
    h("header", { class: "top" }, h("a", { class: "brand", href: BASE, onclick: (e) => { e.preventDefault(); go("overview"); } },
      h("img", { src: "icon.svg", alt: "" }), "OpenClaw"), status, signout),
    nav, banner, main);
  return { status, signout, nav, banner, main, screen: true };
}

function setScreen(view) {
  leavePage();
  ui.screen = true;
  ui.nav.hidden = true;
  ui.signout.hidden = true;
  ui.banner.hidden = true;
  put(ui.main, view);
  const first = view.querySelector("input, button");
  if (first) first.focus();
}

function leavePage() {
  if (page && page.leave) page.leave();
  page = null;
  pageName = null;
}

/** Shows the page for the address bar; `fresh` remounts it even when it is already shown. */
function show(fresh) {
  if (!S.hello) return;
  const name = route();
  document.title = ROUTES.find(([r]) => r === name)[1] + " · OpenClaw";
  for (const a of ui.nav.querySelectorAll("a")) {
    if (a.dataset.route === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const wasScreen = ui.screen;
  ui.screen = false;
  ui.nav.hidden = false;
  ui.signout.hidden = false;
  if (!fresh && !wasScreen && page && pageName === name) {
    if (page.resume) page.resume(); else mount(name);
    return;
  }
  mount(name);
  if (fresh && !wasScreen) ui.main.focus({ preventScroll: true });
}
function mount(name) {
  leavePage();
  const el = h("div", { class: "page", "data-page": name });
  put(ui.main, el);
  pageName = name;
  page = PAGES[name](el) || {};
}

function onState(state, info) {
  ui.status.textContent = state === "connected" ? "connected" : state === "signin" ? "signed out"
    : state === "pairing" ? "waiting for approval" : state === "fatal" ? "error" : state === "connecting" ? "connecting…" : "reconnecting…";
  ui.status.className = "pill " + (state === "connected" ? "ok" : state === "fatal" ? "bad" : "warn");
  ui.status.dataset.state = state;
  if (state === "signin") return setScreen(signinView(info));
  if (state === "pairing") {
    // Each retry answers the same: keep the screen (and the focus) while the request is the same.
    const shown = ui.main.querySelector('[data-screen="pairing"]');
    const id = (info.details && info.details.requestId) || "";
    if (shown && shown.dataset.request === id) return;
    return setScreen(pairingView(info));
  }
  if (state === "fatal") return setScreen(fatalView(info));
  if (state === "reconnecting" && info.why) {
    ui.banner.hidden = false;
    ui.banner.textContent = "Reconnecting to the gateway (" + info.why + ")… The page shows what it last knew.";
  } else ui.banner.hidden = true;
  if (state === "connecting" && ui.screen) {
    setScreen(h("div", { class: "center" }, h("p", { class: "muted" }, "Connecting to " + conn.url + "…"),
      info.why ? h("p", { class: "small muted" }, "Last attempt: " + info.why + ". Trying again shortly.") : null));
  }
}

function signinView(info) {
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "current-password", required: true,
    "aria-describedby": "signin-msg", spellcheck: "false" });
  const form = h("form", {
    class: "card",
    onsubmit: (e) => {
      e.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      store.set(conn.tokenKey, t);
      conn.open();
    },
  },
  h("h2", null, "Sign in"),
  h("div", { id: "signin-msg" },
    info.message ? notice(info.message, "bad", info.detail ? h("div", { class: "small" }, "The gateway said: " + info.detail) : null) : null),
  h("label", { class: "block", for: "token" }, "Gateway token or password"),
  input,
  h("p", { class: "small muted" }, "It is gateway.auth.token in openclaw.json on the gateway host (",
    h("code", null, "openclaw config get gateway.auth.token --show-secrets"), "). It is kept for this tab only."),
  h("button", { class: "primary", type: "submit" }, "Sign in"),
  h("p", { class: "small muted" }, "Gateway: ", h("code", null, conn.url)));
  return h("div", { class: "center", "data-screen": "signin" }, form);
}

function pairingView(info) {
  const d = info.details || {};
  const codeEl = h("div", { class: "code", id: "pair-code" }, "…");
  identity().then((id) => { codeEl.textContent = confirmCode(d.deviceId || id.id); }, () => {});
  return h("div", { class: "center", "data-screen": "pairing", "data-request": d.requestId || "" }, h("div", { class: "card" },
    h("h2", null, "Waiting for approval"),
    h("p", null, "This browser is not approved on this gateway yet. The owner can approve it on the gateway host with"),
    h("pre", { class: "notice" }, "openclaw devices approve " + (d.requestId || "<request id>")),
    h("p", null, "or on the Devices page of a signed-in panel, or from a chat channel with this confirmation code:"),
    codeEl,
    kv([["Request", h("code", { id: "pair-request" }, d.requestId || "—")], ["Reason", d.reason || "not-paired"]]),
    h("p", { class: "small muted" }, "This page checks again every " + PAIRING_RETRY_MS / 1000 + " s and continues by itself once approved."),
    btn("Use a different token", () => conn.stop("signin", {}))));
}

function fatalView(info) {
  const insecure = info.kind === "insecure";
  const text = insecure
    ? "This page is not a secure context, so the browser cannot create the device identity the gateway requires. Open the panel over HTTPS, or as http://localhost or http://127.0.0.1 on the gateway host."
    : info.kind === "crypto" ? "This browser cannot create an Ed25519 device identity (WebCrypto): " + info.message
    : "The gateway refused this panel: " + info.message;
  return h("div", { class: "center", "data-screen": "fatal" }, h("div", { class: "card" }, h("h2", null, "Cannot connect"),
    notice(text, "bad", info.code ? h("div", { class: "small" }, "Code: " + info.code) : null),
    btn("Try again", () => conn.open(), "primary")));
}

// ---- pages -----------------------------------------------------------------------------------

/** Runs `fn` with the button disabled; failures go to `out` (or an alert line after the button). */
async function act(button, fn, out) {
  button.disabled = true;
  try {
    return await fn();
  } catch (e) {
    const box = notice(e.message, "bad");
    if (out) put(out, box); else button.after(box);
  } finally {
    button.disabled = false;
  }
}
const errorBox = (e) => notice(e.message || String(e), "bad");

const STATE_CLASS = { healthy: "ok", connected: "ok", connecting: "warn", reconnecting: "warn", "auth-failed": "bad", error: "bad", unavailable: "bad" };
function channelState(c) {
  const s = c.healthState || (c.connected ? "connected" : c.running ? "running" : "stopped");
  return pill(s, STATE_CLASS[s] || "muted");
}
const lastProgress = (...cs) => Math.max(0, ...cs.flatMap((c) => (c ? [c.lastTransportActivityAt, c.lastInboundAt, c.lastOutboundAt, c.lastConnectedAt] : [])).filter((x) => typeof x === "number"));

function overview(root) {
  let status = null, statusErr = null, prevCpu = null, cpuText = "not reported by this gateway", chan = null, agents = null, models = null, agentsErr = null;
  const gwCard = h("section", { class: "card", id: "ov-gateway" });
  const chCard = h("section", { class: "card", id: "ov-channels" });
  const agCard = h("section", { class: "card", id: "ov-agents" });
  const seCard = h("section", { class: "card", id: "ov-sessions" });
  const live = h("p", { class: "small muted", id: "ov-live" }, "Live: updated by the gateway's events.");
  root.append(h("div", { class: "bar" }, h("h2", { class: "grow" }, "Overview"), live), h("div", { class: "grid" }, gwCard, chCard, agCard, seCard));

  function drawGateway() {
    const srv = S.hello.server || {};
    const st = status || {};
    const up = typeof st.uptimeMs === "number" ? st.uptimeMs + (Date.now() - st.at) : S.hello.snapshot && S.hello.snapshot.uptimeMs;
    const g = st.gateway || {};
    put(gwCard, h("h3", null, "Gateway"), statusErr ? errorBox(statusErr) : null, kv([
      ["Version", h("span", { id: "ov-version" }, srv.version || st.runtimeVersion || "—")],
      ["Uptime", typeof up === "number" ? since(now() - up) : "—"],
      ["Process", st.pid ? "pid " + st.pid : "—"],
      ["Memory", h("span", { id: "ov-memory" }, st.processMemory ? bytes(st.processMemory.rssBytes) + " resident" : "—")],
      ["CPU", h("span", { id: "ov-cpu" }, cpuText)],
      ["Clients", g.clients != null ? String(g.clients) : "—"],
      ["Listening", g.listeners && g.listeners.length ? g.listeners.join(", ") : "—"],
      ["Panel", VERSION],
    ]));
  }
  function drawChannels() {
    const hl = S.health || {};
    const order = hl.channelOrder || Object.keys(hl.channels || {});
    const items = order.map((id) => {
      const c = (hl.channels || {})[id] || {};
      const acct = chan && chan.channelAccounts && chan.channelAccounts[id] ? chan.channelAccounts[id][0] : null;
      const last = lastProgress(c, acct);
      const down = c.enabled !== false && c.configured !== false && !c.connected;
      return h("li", { class: "item", "data-channel": id },
        h("div", { class: "grow" }, h("strong", null, (hl.channelLabels || {})[id] || id), " ", channelState(c),
          acct && acct.name ? h("span", { class: "muted" }, " " + acct.name) : null,
          h("div", { class: "small muted" }, "last progress ", last ? ago(last) : "never",
            c.reconnectAttempts ? " · " + c.reconnectAttempts + " reconnects" : ""),
          down && c.lastError ? h("div", { class: "small bad" }, c.lastError) : null));
    });
    put(chCard, h("h3", null, "Channels"),
      items.length ? h("ul", { class: "list" }, items) : h("p", { class: "muted" }, "No chat channel is configured."));
  }
  function drawAgents() {
    const list = agents ? agents.agents || [] : [];
    put(agCard, h("h3", null, "Agents and models"), agentsErr ? errorBox(agentsErr) : null,
      h("ul", { class: "list" }, list.map((a) => h("li", { class: "item" }, h("div", { class: "grow" },
        h("strong", null, a.name || a.id), a.id === agents.defaultId ? pill("default", "ok") : null,
        h("div", { class: "small muted" }, "model ", h("code", null, (a.model && a.model.primary) || "—"),
          a.model && a.model.fallbacks && a.model.fallbacks.length ? ", then " + a.model.fallbacks.join(", ") : ""))))),
      models ? h("p", { class: "small" }, "Models: ", (models.models || []).map((m, i) => [i ? ", " : "",
        h("code", null, m.provider + "/" + m.id), m.available === false ? h("span", { class: "warn" }, " (" + (m.unavailableReason || "unavailable") + ")") : ""])) : null);
  }
  function drawSessions() {
    const hl = S.health || {};
    const count = (hl.agents || []).reduce((n, a) => n + ((a.sessions && a.sessions.count) || 0), 0);
    const recent = (hl.sessions && hl.sessions.recent) || [];
    put(seCard, h("h3", null, "Sessions"), h("p", null, count + (count === 1 ? " session" : " sessions")),
      h("ul", { class: "list" }, recent.slice(0, 5).map((r) => h("li", { class: "item" },
        h("div", { class: "grow mono" }, r.key), h("span", { class: "small muted" }, "updated ", ago(r.updatedAt))))));
  }
  async function loadStatus() {
    try {
      const s = await rpc("status", {});
      s.at = Date.now();
      statusErr = null;
      // CPU: cumulative process time from status.processCpu {userMs, systemMs}, when the gateway reports it.
      const c = s.processCpu;
      if (c && typeof c.userMs === "number" && typeof c.systemMs === "number") {
        const total = c.userMs + c.systemMs;
        cpuText = prevCpu && s.uptimeMs > prevCpu.up
          ? ((100 * (total - prevCpu.total)) / (s.uptimeMs - prevCpu.up)).toFixed(2) + " % of a core (last minute)"
          : s.uptimeMs ? ((100 * total) / s.uptimeMs).toFixed(2) + " % of a core (since start)" : "—";
        prevCpu = { total, up: s.uptimeMs };
      }
      status = s;
    } catch (e) { statusErr = e; }
    drawGateway();
  }
  async function loadChannels() {
    try { chan = await rpc("channels.status", {}); } catch { /* health still shows them */ }
    drawChannels();
  }
  async function loadAgents() {
    try { [agents, models] = await Promise.all([rpc("agents.list", {}), rpc("models.list", {})]); agentsErr = null; } catch (e) { agentsErr = e; }
    drawAgents();
  }
  function mark(what) {
    S.events++;
    live.dataset.events = S.events;
    live.dataset.last = what;
    put(live, "Live: last event ", h("strong", null, what), " ", ago(now()), ".");
  }
  drawGateway(); drawChannels(); drawAgents(); drawSessions();
  loadStatus(); loadChannels(); loadAgents();
  return {
    event(name, p) {
      if (name === "health") {
        mark("health");
        drawChannels(); drawSessions();
        loadStatus();
        // Health carries liveness; when it lacks transport activity, channels.status has it.
        const chs = Object.values(p.channels || {});
        if (chs.length && !chs.some((c) => "lastTransportActivityAt" in c)) loadChannels();
      } else if (name === "tick") mark("tick");
      else if (name === "config.changed") { mark("config.changed"); loadAgents(); }
      else if (name === "sessions.changed") mark("sessions.changed");
    },
  };
}

function chat(root) {
  const sd = (S.hello.snapshot && S.hello.snapshot.sessionDefaults) || {};
  const defKey = sd.mainSessionKey || "agent:main:main";
  let key = store.get(K.chat) || defKey, rows = new Map(), defaults = null, models = [], lastModel = null;
  const runs = new Map();
  const pick = (k) => { key = k; store.set(K.chat, key); lastModel = null; load(); };
  const sel = h("select", { id: "chat-session", "aria-label": "Session", onchange: () => pick(sel.value) });
  // A new conversation is a new session key; the gateway creates the session with its first message.
  const fresh = btn("New", () => pick("agent:" + (sd.defaultAgentId || "main") + ":panel-" + uuid().slice(0, 8)));
  fresh.id = "chat-new";
  const msel = h("select", { id: "chat-model-select", "aria-label": "Model of this session", onchange: () => setModel() });
  const modelEl = h("span", { class: "small muted", id: "chat-model" });
  const msgs = h("div", { class: "msgs", id: "chat-log", role: "log", "aria-live": "polite", tabindex: "0" });
  const input = h("textarea", { id: "chat-input", rows: "2", placeholder: "Message", title: "Enter sends, Shift+Enter starts a new line", "aria-label": "Message",
    onkeydown: (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } } });
  const sendBtn = h("button", { type: "button", class: "primary", id: "chat-send", onclick: () => send() }, "Send");
  const stopBtn = h("button", { type: "button", class: "danger", id: "chat-stop", disabled: true, onclick: () => abort() }, "Stop");
  const out = h("div");
  root.append(h("div", { class: "chat" }, h("div", { class: "bar" }, h("h2", null, "Chat"), sel, fresh, msel, modelEl), out, msgs,
    h("div", { class: "composer" }, input, sendBtn, stopBtn)));

  function bubble(role, text) {
    const body = h("span", { class: "body" }, text);
    const meta = h("span", { class: "meta" });
    const el = h("div", { class: "msg " + role }, body, meta);
    return { el, body, meta };
  }
  const nearBottom = () => msgs.scrollHeight - msgs.scrollTop - msgs.clientHeight < 80;
  const toBottom = () => { msgs.scrollTop = msgs.scrollHeight; };
  const modelRef = (r) => (r && r.model ? (r.modelProvider ? r.modelProvider + "/" : "") + r.model : null);
  function drawSessions() {
    const keys = new Set([defKey, key, ...rows.keys()]);
    put(sel, [...keys].map((k) => h("option", { value: k }, (rows.get(k) && rows.get(k).label ? rows.get(k).label + " — " : "") + k)));
    sel.value = key;
    drawModel();
  }
  function drawModel() {
    const r = rows.get(key) || {};
    const m = lastModel || r.modelOverride || modelRef(r) || modelRef(defaults);
    modelEl.textContent = m ? "answers with " + m : "";
    put(msel, h("option", { value: "" }, "default model (" + (modelRef(defaults) || "agent default") + ")"),
      models.map((x) => h("option", { value: x.provider + "/" + x.id }, x.provider + "/" + x.id)),
      r.modelOverride && !models.some((x) => x.provider + "/" + x.id === r.modelOverride) ? h("option", { value: r.modelOverride }, r.modelOverride) : null);
    msel.value = r.modelOverride || "";
  }
  async function setModel() {
    try {
      const res = await rpc("sessions.patch", { key, model: msel.value || null });
      if (res && res.entry) rows.set(key, res.entry);
      lastModel = null;
      drawSessions();
    } catch (e) { put(out, errorBox(e)); drawModel(); }
  }
  async function load() {
    put(out);
    runs.clear();
    stopBtn.disabled = true;
    try {
      const [list, hist, ms] = await Promise.all([rpc("sessions.list", { limit: 100 }), rpc("chat.history", { sessionKey: key, limit: 100 }),
        rpc("models.list", {})]);
      rows = new Map((list.sessions || []).map((r) => [r.key, r]));
      defaults = list.defaults;
      models = ms.models || [];
      drawSessions();
      put(msgs, ...(hist.messages || []).filter((m) => m.role === "user" || m.role === "assistant" || m.role === "system")
        .map((m) => {
          const b = bubble(m.role, textOf(m.content));
          if (m.timestamp) b.meta.textContent = new Date(m.timestamp).toLocaleTimeString();
          return b.el;
        }));
      if (!msgs.children.length) msgs.append(h("p", { class: "muted", id: "chat-empty" }, "No messages in this session yet."));
      const active = (hist.sessionInfo && hist.sessionInfo.activeRunIds) || [];
      for (const id of active) runFor(id);
      toBottom();
    } catch (e) { put(out, errorBox(e)); }
  }
  function runFor(runId) {
    let b = runs.get(runId);
    if (!b) {
      b = bubble("assistant streaming", "…");
      b.el.dataset.run = runId;
      const empty = msgs.querySelector("#chat-empty");
      if (empty) empty.remove();
      msgs.append(b.el);
      runs.set(runId, b);
    }
    stopBtn.disabled = false;
    return b;
  }
  function finish(runId, b, note) {
    b.el.classList.remove("streaming");
    b.el.dataset.state = "done";
    if (note) b.meta.textContent = note;
    runs.delete(runId);
    stopBtn.disabled = runs.size === 0;
  }
  async function send() {
    const text = input.value;
    if (!text.trim()) return;
    const runId = uuid();
    const empty = msgs.querySelector("#chat-empty");
    if (empty) empty.remove();
    msgs.append(bubble("user", text).el);
    input.value = "";
    runFor(runId);
    toBottom();
    try {
      await rpc("chat.send", { sessionKey: key, message: text, idempotencyKey: runId });
    } catch (e) {
      const b = runs.get(runId);
      if (b) { b.el.classList.add("error"); b.body.textContent = "Not sent: " + e.message; finish(runId, b); }
      input.value = text;
    }
  }
  async function abort() {
    const ids = [...runs.keys()];
    const params = { sessionKey: key };
    if (ids.length === 1) params.runId = ids[0];
    await act(stopBtn, () => rpc("chat.abort", params), out);
  }
  load();
  return {
    resume: load,
    event(name, p) {
      if (name === "chat" && p.sessionKey === key) {
        const follow = nearBottom();
        const b = runFor(p.runId);
        if (p.state === "status") b.meta.textContent = String(p.phase || "").replace(/_/g, " ") + "…";
        else if (p.state === "delta") { b.body.textContent = textOf(p.message && p.message.content) || b.body.textContent; b.meta.textContent = "streaming…"; }
        else if (p.state === "final") { if (p.message) b.body.textContent = textOf(p.message.content); finish(p.runId, b, new Date().toLocaleTimeString()); }
        else if (p.state === "aborted") finish(p.runId, b, "stopped");
        else if (p.state === "error") { b.el.classList.add("error"); b.body.textContent = p.errorMessage || "The run failed."; finish(p.runId, b); }
        if (follow) toBottom();
      } else if (name === "agent" && runs.has(p.runId)) {
        const d = p.data || {};
        if (p.stream === "tool") runs.get(p.runId).meta.textContent = "tool " + (d.name || "") + " " + (d.phase || "") + "…";
        if (p.stream === "lifecycle" && d.phase === "model" && d.provider) { lastModel = d.provider + "/" + d.model; drawModel(); }
      } else if (name === "sessions.changed") {
        if (p.session) rows.set(p.sessionKey, p.session);
        else rows.delete(p.sessionKey);
        if (p.sessionKey === key) lastModel = null;
        if (!sel.matches(":focus") && !msel.matches(":focus")) drawSessions();
      }
    },
  };
}

function channels(root) {
  const out = h("div", { "aria-live": "polite" });
  const list = h("div", { class: "grid", id: "ch-list" });
  const pairing = h("div", { id: "ch-pairing" });
  const refresh = btn("Refresh", () => act(refresh, load, out));
  const probeAll = btn("Probe all", () => act(probeAll, () => load(true), out));
  root.append(h("div", { class: "bar" }, h("h2", { class: "grow" }, "Channels"), refresh, probeAll), out, list,
    h("section", { class: "card" }, h("h3", null, "Waiting pairing requests"),
      h("p", { class: "small muted" }, "People who wrote to a channel and are not allowed yet. Approving adds them to the channel's allow list."), pairing));

  // One card per channel, kept across refreshes: a refresh rewrites its title and facts but
  // keeps its buttons, so the state shown stays live (a health event after Start) while the
  // pointer or the keyboard focus rests on a button.
  const cards = new Map();
  function card(id, label, a) {
    let c = cards.get(id);
    if (!c) {
      c = { title: h("h3"), facts: h("div") };
      c.toggle = btn("Start", () => act(c.toggle, async () => { await rpc(c.running ? "channels.stop" : "channels.start", { channel: id }); await load(); }, out));
      c.probe = btn("Probe", () => act(c.probe, () => load(true, id), out));
      c.el = h("section", { class: "card", "data-channel": id }, c.title, c.facts, h("div", { class: "bar" }, c.toggle, c.probe));
      cards.set(id, c);
    }
    const probe = a.probe;
    c.running = a.running;
    c.toggle.textContent = a.running ? "Stop" : "Start";
    put(c.title, label, " ", channelState(a));
    put(c.facts, kv([
      a.name && ["Bot", a.name],
      ["Running", a.running ? "yes" + (a.mode ? " (" + a.mode + ")" : "") : "no"],
      ["Last progress", lastProgress(a) ? ago(lastProgress(a)) : "never"],
      ["Connected since", a.connected && a.lastConnectedAt ? ago(a.lastConnectedAt) : "—"],
      ["Last message in", ago(a.lastInboundAt)],
      ["Last message out", ago(a.lastOutboundAt)],
      a.reconnectAttempts ? ["Reconnects", String(a.reconnectAttempts)] : null,
      a.dmPolicy && ["Direct messages", a.dmPolicy],
      a.lastError && ["Last error", h("span", { class: "bad" }, a.lastError)],
      probe && ["Probe", probe.ok === false ? h("span", { class: "bad", "data-probe": "failed" }, "failed: " + (probe.error || ""))
        : h("span", { class: "ok", "data-probe": "ok" }, "ok" + (probe.elapsedMs != null ? " in " + probe.elapsedMs + " ms" : "")
          + (probe.result && probe.result.bot && probe.result.bot.username ? " (@" + probe.result.bot.username + ")" : ""))],
    ]));
    return c.el;
  }
  let probed = {};
  let shown = "";
  async function load(probe, only, quiet) {
    const params = probe ? { probe: true, timeoutMs: 8000 } : {};
    if (only) params.channel = only;
    const st = await rpc("channels.status", params);
    for (const id of st.channelOrder || []) {
      const a = (st.channelAccounts[id] || [])[0];
      if (a && a.probe) probed[id] = a.probe;
    }
    const ids = st.channelOrder || [];
    for (const id of [...cards.keys()]) if (!ids.includes(id)) cards.delete(id);
    const els = ids.map((id) => {
      const a = Object.assign({}, (st.channelAccounts[id] || [])[0] || st.channels[id] || {});
      if (!a.probe && probed[id]) a.probe = probed[id];
      return card(id, st.channelLabels[id] || id, a);
    });
    // The cards are updated in place; the list is rebuilt only when channels came or went
    // (moving a focused button out of the document would drop the focus).
    const same = els.length === list.children.length && els.every((el, i) => list.children[i] === el);
    if (!same) put(list, ...els);
    if (!ids.length) put(list, h("p", { class: "muted" }, "No chat channel is configured (channels in openclaw.json)."));
    await loadPairing(quiet);
  }
  // Like the cards, each request's line is kept while the request waits and lines come and go
  // one at a time, so a refresh never takes a button from under the pointer or the focus.
  const lines = new Map();
  const waiting = h("ul", { class: "list" });
  const nobody = h("p", { class: "muted", id: "ch-no-pairing" }, "No one is waiting.");
  async function loadPairing(quiet) {
    let r;
    try { r = await rpc("channels.pairing.list", {}); } catch (e) { put(pairing, errorBox(e)); return; }
    const reqs = r.requests || [];
    const sig = JSON.stringify(reqs);
    if (quiet && sig === shown) return;
    shown = sig;
    const ids = new Set(reqs.map((q) => q.requestId));
    for (const [id, li] of lines) if (!ids.has(id)) { li.remove(); lines.delete(id); }
    for (const q of reqs) if (!lines.has(q.requestId)) { const li = pairingLine(q); lines.set(q.requestId, li); waiting.append(li); }
    const show = reqs.length ? waiting : nobody;
    if (pairing.firstChild !== show) put(pairing, show);
  }
  function pairingLine(q) {
    const line = h("div", { class: "acts" });
    const ok = btn("Approve", () => act(ok, async () => {
      const res = await rpc("channels.pairing.approve", { channel: q.channel, accountId: q.accountId || "default", requestId: q.requestId, notify: true });
      put(out, notice("Approved " + (q.senderLabel || q.senderId) + " on " + (q.channelLabel || q.channel)
        + (res && res.notification === "sent" ? "; they were told." : "."), "ok"));
      await loadPairing();
    }, out), "primary");
    const no = btn("Dismiss", () => act(no, async () => {
      await rpc("channels.pairing.dismiss", { channel: q.channel, accountId: q.accountId || "default", requestId: q.requestId });
      put(out, notice("Dismissed the request from " + (q.senderLabel || q.senderId) + ".", "ok"));
      await loadPairing();
    }, out));
    line.append(ok, no);
    return h("li", { class: "item", "data-request": q.requestId }, h("div", { class: "grow" },
      h("strong", null, q.senderLabel || q.senderId), " on ", q.channelLabel || q.channel,
      h("div", { class: "small muted" }, "code ", h("code", null, q.requestId), " · asked ", ago(Date.parse(q.createdAt)),
        q.expiresAt ? " · expires " + new Date(q.expiresAt).toLocaleTimeString() : "")), line);
  }
  load().catch((e) => put(out, errorBox(e)));
  return { event(name) { if (name === "health") load(false, null, true).catch(() => {}); } };
}

function sessions(root) {
  const out = h("div", { "aria-live": "polite" });
  const list = h("ul", { class: "list", id: "se-list" });
  let rows = [], models = [], defaults = null;
  const refresh = btn("Refresh", () => act(refresh, load, out));
  root.append(h("div", { class: "bar" }, h("h2", { class: "grow" }, "Sessions"), refresh), out, h("section", { class: "card" }, list));

  function item(r) {
    const label = h("input", { value: r.label || "", placeholder: "label", "aria-label": "Label of " + r.key, maxlength: "512",
      onchange: () => patch(r, { label: label.value.trim() || null }) });
    const def = defaults && defaults.model ? (defaults.modelProvider ? defaults.modelProvider + "/" : "") + defaults.model : "default";
    const model = h("select", { "aria-label": "Model of " + r.key, onchange: () => patch(r, { model: model.value || null }) },
      h("option", { value: "" }, "agent default (" + def + ")"),
      models.map((m) => h("option", { value: m.provider + "/" + m.id }, m.provider + "/" + m.id)));
    if (r.modelOverride && !models.some((m) => m.provider + "/" + m.id === r.modelOverride)) model.append(h("option", { value: r.modelOverride }, r.modelOverride));
    model.value = r.modelOverride || "";
    const open = btn("Chat", () => { store.set(K.chat, r.key); go("chat"); });
    const reset = btn("Reset", () => act(reset, async () => {
      await rpc("sessions.reset", { key: r.key });
      put(out, notice("Reset " + r.key + ": it starts a new conversation.", "ok"));
    }, out));
    const del = btn("Delete", () => {
      if (del.dataset.armed) {
        act(del, async () => {
          const res = await rpc("sessions.delete", { key: r.key });
          put(out, notice(res && res.deleted === false ? r.key + " was already gone." : "Deleted " + r.key + ".", "ok"));
          await load();
        }, out);
      } else {
        del.dataset.armed = "1";
        del.textContent = "Confirm delete";
        setTimeout(() => { delete del.dataset.armed; del.textContent = "Delete"; }, 4000);
      }
    }, "danger");
    return h("li", { class: "item", "data-key": r.key }, h("div", { class: "grow" }, r.label ? [h("strong", null, r.label), " "] : null,
      h("code", null, r.key), r.status === "running" ? [" ", pill("running", "warn")] : null,
      h("div", { class: "small muted" }, "updated ", ago(r.updatedAt), r.totalTokens ? " · " + r.totalTokens + " tokens" : "",
        r.lastRunError ? h("span", { class: "bad" }, " · last run failed: " + r.lastRunError) : ""),
      h("div", { class: "bar" }, label, model)), h("div", { class: "acts" }, open, reset, del));
  }
  async function patch(r, change) {
    try {
      await rpc("sessions.patch", Object.assign({ key: r.key }, change));
      put(out, notice("Saved " + Object.keys(change).join(" and ") + " of " + r.key + ".", "ok"));
    } catch (e) { put(out, errorBox(e)); }
  }
  function draw() {
    put(list, ...rows.map(item));
    if (!rows.length) put(list, h("li", { class: "muted" }, "No sessions yet. Chat or a channel message starts one."));
  }
  async function load() {
    const [l, m] = await Promise.all([rpc("sessions.list", { limit: 200 }), rpc("models.list", {})]);
    rows = l.sessions || [];
    defaults = l.defaults;
    models = m.models || [];
    draw();
  }
  let redraw = null;
  load().catch((e) => put(out, errorBox(e)));
  return {
    event(name, p) {
      if (name !== "sessions.changed") return;
      const i = rows.findIndex((r) => r.key === p.sessionKey);
      if (p.session && i >= 0) rows[i] = p.session;
      else if (p.session) rows.unshift(p.session);
      else if (i >= 0) rows.splice(i, 1);
      // Redraw unless someone is typing in this list; coalesce bursts.
      clearTimeout(redraw);
      redraw = setTimeout(() => { if (!list.contains(document.activeElement)) draw(); }, 300);
    },
    leave() { clearTimeout(redraw); },
  };
}

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];
function logs(root) {
  let cursor = null, file = null, timer = null, busy = false, stopped = false, count = 0;
  let min = store.get(K.level) || "info";
  const box = h("div", { class: "logs", id: "log-lines", role: "log", tabindex: "0", "aria-label": "Log lines" });
  const out = h("div");
  const level = h("select", { id: "log-level", "aria-label": "Lowest level shown", onchange: () => { min = level.value; store.set(K.level, min); filter(); } },
    LEVELS.slice(0, 5).map((l) => h("option", { value: l }, l + (l === "error" ? "" : " and above"))));
  level.value = min;
  const pause = h("input", { type: "checkbox", id: "log-pause", onchange: () => (pause.checked ? halt() : poll()) });
  const state = h("span", { class: "small muted", id: "log-state" });
  root.append(h("div", { class: "bar" }, h("h2", { class: "grow" }, "Logs"), h("label", null, "Level ", level), h("label", null, pause, "Pause"), state), out, box);

  const rank = (l) => Math.max(0, LEVELS.indexOf(l));
  const apply = (el) => { el.hidden = rank(el.dataset.level) < rank(min); };
  function filter() { for (const el of box.children) apply(el); box.scrollTop = box.scrollHeight; }
  function line(text) {
    let j = null;
    try { j = JSON.parse(text); } catch { /* plain line */ }
    const lv = j && typeof j.level === "string" ? j.level.toLowerCase() : "info";
    const t = j && typeof j.time === "string" ? j.time.replace(/^.*T/, "").replace(/\..*$|[+-]\d\d:\d\d$/, "") : "";
    const el = h("div", { class: "lv-" + lv, "data-level": lv }, j ? [t, " ", lv.toUpperCase().padEnd(5), " ", j.subsystem ? "[" + j.subsystem + "] " : "", String(j.message ?? j["1"] ?? "")] : text);
    apply(el);
    return el;
  }
  async function poll() {
    clearTimeout(timer);
    timer = null;
    if (stopped || busy || pause.checked || document.hidden) return;
    busy = true;
    try {
      const r = await rpc("logs.tail", cursor == null ? { limit: 300, maxBytes: 250000 } : { cursor, limit: 500, maxBytes: 250000 });
      if (r.reset || (file && r.file !== file)) put(box);
      file = r.file;
      cursor = r.cursor;
      const follow = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
      const frag = document.createDocumentFragment();
      for (const l of r.lines || []) if (typeof l === "string") frag.append(line(l));
      box.append(frag);
      count += (r.lines || []).length;
      while (box.children.length > LOG_KEEP) box.firstChild.remove();
      if (follow) box.scrollTop = box.scrollHeight;
      state.textContent = "following " + (file || "the log");
      put(out);
    } catch (e) {
      put(out, errorBox(e));
    }
    busy = false;
    if (!stopped && !pause.checked && !document.hidden) timer = setTimeout(poll, LOG_POLL_MS);
  }
  function halt() { clearTimeout(timer); timer = null; state.textContent = pause.checked ? "paused" : "paused while hidden"; }
  const vis = () => (document.hidden ? halt() : poll());
  document.addEventListener("visibilitychange", vis);
  poll();
  return { leave() { stopped = true; halt(); document.removeEventListener("visibilitychange", vis); } };
}

function config(root) {
  let base = null, loaded = "", exists = true;
  const out = h("div", { id: "cfg-result", "aria-live": "polite" });
  const info = h("div", { id: "cfg-info" });
  const ta = h("textarea", { class: "editor", id: "cfg-raw", spellcheck: "false", "aria-label": "openclaw.json (JSON5)",
    oninput: () => { save.disabled = ta.value === loaded; } });
  const eff = h("pre", { id: "cfg-effective" });
  const reload = btn("Reload", () => act(reload, () => load(true), out));
  const save = h("button", { type: "button", class: "primary", id: "cfg-save", disabled: true, onclick: () => act(save, doSave, out) }, "Save");
  root.append(h("div", { class: "bar" }, h("h2", { class: "grow" }, "Config"), reload, save), info, out, ta,
    h("p", { class: "small muted" }, "Secrets show as ", h("code", null, REDACTED), ": leave them as they are to keep them."),
    h("details", { class: "card" }, h("summary", null, "Effective config (secrets redacted)"), eff));

  const dirty = () => ta.value !== loaded;
  async function load(force) {
    const r = await rpc("config.get", {});
    base = r.hash || null;
    exists = r.exists !== false;
    if (force || !dirty()) { loaded = r.raw ?? ""; ta.value = loaded; save.disabled = true; }
    const issues = r.issues || [];
    put(info, kv([
      ["File", h("code", null, r.path || "—")],
      ["Hash", h("code", { id: "cfg-hash" }, base ? base.slice(-12) : "none (no file yet)")],
      ["State", r.valid === false ? h("span", { class: "bad" }, "invalid") : h("span", { class: "ok" }, "valid")],
    ]), issues.length ? notice("The file on disk has problems:", "bad", h("ul", null, issues.map((i) => h("li", null, (i.path ? i.path + ": " : "") + i.message)))) : null,
    (r.warnings || []).length ? notice("Warnings:", "", h("ul", null, r.warnings.map((w) => h("li", null, typeof w === "string" ? w : w.message || JSON.stringify(w))))) : null);
    eff.textContent = JSON.stringify(r.resolved ?? r.config ?? null, null, 2);
  }
  function outcome(r) {
    const paths = r.changedPaths || [];
    if (r.restart) return ["restarting", "Saved. The gateway is restarting to apply it" + (r.restart.reason ? " (" + r.restart.reason + ")" : "") + "."];
    if (paths.length) return ["hot", "Saved and applied (hot): " + paths.join(", ") + "."];
    return ["none", "Saved: no change in effect."];
  }
  function showOutcome(kind, text) {
    put(out, h("div", { class: "notice ok", role: "status", id: "cfg-outcome", "data-outcome": kind }, text));
  }
  async function doSave() {
    put(out);
    const params = { raw: ta.value };
    if (base && exists) params.baseHash = base;
    try {
      const r = await rpc("config.set", params);
      loaded = ta.value;
      base = r.hash || base;
      save.disabled = true;
      const [kind, text] = outcome(r);
      // A restart closes this socket: keep the outcome for the page shown after reconnecting.
      if (kind === "restarting") store.set(K.outcome, JSON.stringify([kind, text]));
      showOutcome(kind, text);
      if (kind !== "restarting") await load(false);
    } catch (e) {
      const d = e.details || {};
      if (d.code === "CONFIG_BASE_HASH_MISMATCH") {
        const fresh = btn("Load the current file", () => act(fresh, async () => { await load(true); put(out); }, out), "primary");
        put(out, h("div", { class: "notice bad", role: "alert", id: "cfg-error", "data-code": d.code },
          "Not saved: the config changed on the gateway after you loaded it. Load the current file, then make your change again. ", fresh));
      } else if (d.code === "INVALID_CONFIG") {
        put(out, h("div", { class: "notice bad", role: "alert", id: "cfg-error", "data-code": d.code },
          "Not saved: the gateway would not start with this config.",
          h("ul", null, (d.issues || []).map((i) => h("li", null, h("code", null, i.path || "(file)"), ": " + i.message)))));
      } else {
        put(out, h("div", { class: "notice bad", role: "alert", id: "cfg-error", "data-code": d.code || e.code }, "Not saved: " + e.message));
      }
    }
  }
  const kept = store.get(K.outcome);
  store.set(K.outcome, null);
  load(true).then(() => { if (kept) showOutcome(...JSON.parse(kept)); }, (e) => put(out, errorBox(e)));
  return {
    resume() {
      store.set(K.outcome, null);
      load(false).catch((e) => put(out, errorBox(e)));
    },
    event(name, p) {
      if (name !== "config.changed" || (p.hash && p.hash === base)) return;
      if (!dirty()) load(true).catch(() => {});
      else if (!info.querySelector("#cfg-changed")) {
        const n = notice("The file changed on the gateway while you were editing: saving now will be refused. Reload to see it.", "bad");
        n.id = "cfg-changed";
        info.prepend(n);
      }
    },
  };
}

function devices(root) {
  const out = h("div", { id: "dev-out", "aria-live": "polite" });
  const me = h("p", { class: "small", id: "dev-me" });
  const body = h("div", { id: "dev-body" });
  const refresh = btn("Refresh", () => act(refresh, load, out));
  root.append(h("div", { class: "bar" }, h("h2", { class: "grow" }, "Devices"), refresh), me, out, body);
  let myId = null;
  identity().then((id) => {
    myId = id.id;
    put(me, "This browser: device ", h("code", null, id.id.slice(0, 16) + "…"), " · confirmation code ", h("strong", null, confirmCode(id.id)));
  }, () => {});

  function who(d) { return d.operatorLabel || d.displayName || d.clientId || (d.deviceId || "").slice(0, 12); }
  async function load() {
    let r;
    try {
      r = await rpc("device.pair.list", {});
    } catch (e) {
      if (/unknown method/i.test(e.message)) {
        put(body, notice("This gateway does not pair devices yet: browsers sign in with the gateway token. (" + e.message + ")", "", null));
        body.firstChild.id = "dev-unsupported";
        return;
      }
      throw e;
    }
    const pending = Array.isArray(r.pending) ? r.pending : [];
    const paired = Array.isArray(r.paired) ? r.paired : [];
    const decide = (method, q, verb) => {
      const b = btn(verb, () => act(b, async () => {
        await rpc(method, { requestId: q.requestId });
        put(out, notice((verb === "Approve" ? "Approved " : "Rejected ") + who(q) + ".", "ok"));
        await load();
      }, out), verb === "Approve" ? "primary" : "danger");
      return b;
    };
    put(body, 
      h("section", { class: "card" }, h("h3", null, "Waiting for approval"), pending.length ? h("ul", { class: "list", id: "dev-pending" }, pending.map((q) => h("li", { class: "item", "data-request": q.requestId },
        h("div", { class: "grow" }, h("strong", null, who(q)), " code ", h("strong", { class: "mono" }, confirmCode(q.deviceId)), q.isRepair ? " " : "", q.isRepair ? pill("re-approval", "warn") : null,
          h("div", { class: "small muted" }, [q.platform, q.remoteIp, q.browserOrigin, (q.scopes || []).join(", ")].filter(Boolean).join(" · "), " · asked ", ago(q.ts)),
          h("div", { class: "small muted" }, "request ", h("code", null, q.requestId))),
        h("div", { class: "acts" }, decide("device.pair.approve", q, "Approve"), decide("device.pair.reject", q, "Reject"))))) : h("p", { class: "muted" }, "No device is waiting.")),
      h("section", { class: "card" }, h("h3", null, "Paired devices"), paired.length ? h("ul", { class: "list", id: "dev-paired" }, paired.map((d) => {
        const rm = btn("Remove", () => {
          if (!rm.dataset.armed) { rm.dataset.armed = "1"; rm.textContent = "Confirm remove"; return; }
          act(rm, async () => { await rpc("device.pair.remove", { deviceId: d.deviceId }); put(out, notice("Removed " + who(d) + ".", "ok")); await load(); }, out);
        }, "danger");
        return h("li", { class: "item", "data-device": d.deviceId }, h("div", { class: "grow" }, h("strong", null, who(d)), d.deviceId === myId ? pill("this browser", "ok") : null,
          d.connected ? [" ", pill("connected", "ok")] : null,
          h("div", { class: "small muted" }, [d.platform, d.remoteIp, d.approvedVia && "approved " + d.approvedVia, (d.scopes || []).join(", ")].filter(Boolean).join(" · "),
            d.lastSeenAtMs ? [" · seen ", ago(d.lastSeenAtMs)] : null)), h("div", { class: "acts" }, rm));
      })) : h("p", { class: "muted" }, "No paired device.")));
  }
  load().catch((e) => put(out, errorBox(e)));
  return { event(name) { if (name.startsWith("device.pair.")) load().catch(() => {}); } };
}

const PAGES = { overview, chat, channels, sessions, logs, config, devices };

// ---- start -----------------------------------------------------------------------------------

function clock() {
  if (document.hidden) return;
  for (const el of document.querySelectorAll("[data-ts]")) el.textContent = agoText(Number(el.dataset.ts));
  for (const el of document.querySelectorAll("[data-since]")) el.textContent = dur(now() - Number(el.dataset.since));
}

function start() {
  readFragment();
  ui = frame();
  conn = new Conn(gatewayUrl());
  conn.on("state", onState);
  conn.on("hello", (hello) => {
    S.hello = hello;
    S.health = (hello.snapshot && hello.snapshot.health) || null;
    show(false);
  });
  conn.on("gap", () => show(false));
  conn.on("*", (name, p) => {
    if (name === "health") { S.health = p; S.healthAt = Date.now(); }
    if (page && page.event) page.event(name, p);
  });
  window.addEventListener("popstate", () => show(true));
  // A #token= or one-time link opened in a tab that already shows the panel: sign in with it.
  window.addEventListener("hashchange", () => {
    if (!/(^|[#&])(token|bootstrapToken|gatewayUrl)=/.test(location.hash)) return;
    readFragment();
    conn.url = gatewayUrl();
    conn.open();
  });
  setInterval(clock, CLOCK_MS);
  conn.open();
}

start();
