"""The official Control UI (dist/control-ui of the npm package `openclaw`) in real headless
Chromium against our real gateway, which serves it from `gateway.controlUi.root`.

Same approach as the control panel's harness (tests/browser/harness.py on the panel branch): the
gateway binary in a temporary home, selenium + chromedriver, every WebSocket frame recorded through
the DevTools performance log, and the test's own WebSocket client (websocket-client, which selenium
depends on) to ask the gateway what happened. Checks:
  - each page loads with no error banner, callout or alert visible (the UI's own markers, from its
    CSS and templates: ERROR_MARKERS), and the UI stays connected;
  - a config save through the raw editor of Config > Advanced applies: the running gateway answers
    `agent.identity.get` with the new name, and the file holds it;
  - the Logs page tails live: a line the gateway logs after the page is open shows up in it;
  - a chat with the offline responder shows the streamed answer;
  - a note appended to the session by another client (`chat.inject`) reaches the open Chat page as a
    `session.message` event and is shown;
  - no request is answered `unknown method` (the census of every method called is printed);
  - the gateway's CPU and RSS with the UI open on Chat, idle, for 60 s are printed;
  - a screenshot per page goes to docs/official-ui/<page>.png.

Usage: python3 tests/browser/official_ui.py <openclaw binary> <dist/control-ui directory>
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "official-ui"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
TOKEN = "official-ui-test-token-0123456789"
# The name the config save gives the main agent (through the UI's raw config editor).
SAVED_NAME = "Chromium Tester"
PAGES = [("chat", "/chat"), ("sessions", "/sessions"), ("channels", "/settings/channels"), ("config", "/settings/general"),
         ("config-advanced", "/settings/advanced"), ("logs", "/logs"), ("debug", "/debug"), ("devices", "/settings/devices")]

# Deep text of the page: the UI renders in shadow roots, which innerText does not enter.
DEEP_TEXT = """
function walk(n, out) {
  if (n.shadowRoot) walk(n.shadowRoot, out);
  for (const c of n.childNodes) {
    if (c.nodeType === 3) out.push(c.textContent);
    else if (c.nodeType === 1 || c.nodeType === 11) walk(c, out);
  }
}
const out = []; walk(document.body, out); return out.join(' ');
"""
DEEP_FIND = """
const sel = arguments[0];
function find(n) {
  const hit = n.querySelector && n.querySelector(sel);
  if (hit) return hit;
  const all = n.querySelectorAll ? n.querySelectorAll('*') : [];
  for (const e of all) { if (e.shadowRoot) { const f = find(e.shadowRoot); if (f) return f; } }
  return null;
}
return find(document);
"""


# What the UI shows when something failed: danger callouts (most pages), the plugin pages' error
# banners, the Chat page's error card and history error, settings save errors, per-field config
# errors, error states of session surfaces and cron, `role="alert"` spans (device lists, session
# actions), the login gate (shown when the connection fails) and the fallback of a view that could
# not mount. Only visible elements count.
ERROR_MARKERS = [".callout.danger", ".oc-banner-error", ".chat-error", ".chat-history-error", ".settings-status--error",
                 ".cfg-field__error", ".board-session-surface__state--error", ".cron-error-banner",
                 ".systems-callout--error", "[role=alert]", ".login-gate", ".mount-fallback"]
DEEP_VISIBLE = """
const sels = arguments[0], out = [];
function visible(e) {
  if (!e.getClientRects().length) return false;
  const s = getComputedStyle(e);
  return s.visibility !== 'hidden' && s.display !== 'none' && s.opacity !== '0';
}
function scan(n) {
  for (const sel of sels) {
    for (const e of (n.querySelectorAll ? n.querySelectorAll(sel) : [])) {
      if (visible(e)) out.push(sel + ': ' + (e.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 160));
    }
  }
  for (const e of (n.querySelectorAll ? n.querySelectorAll('*') : [])) { if (e.shadowRoot) scan(e.shadowRoot); }
}
scan(document); return out;
"""
# Clicks the first button (in any shadow root) whose text or aria-label is arguments[0].
DEEP_CLICK = """
const want = arguments[0];
function find(n) {
  for (const e of (n.querySelectorAll ? n.querySelectorAll('button') : [])) {
    if (e.textContent.trim() === want || e.getAttribute('aria-label') === want) return e;
  }
  for (const e of (n.querySelectorAll ? n.querySelectorAll('*') : [])) {
    if (e.shadowRoot) { const f = find(e.shadowRoot); if (f) return f; }
  }
  return null;
}
const b = find(document); if (b) b.click(); return !!b;
"""
# How many elements show exactly arguments[0] as their whole text, counting only the innermost.
DEEP_COUNT_TEXT = """
const want = arguments[0]; let n = 0;
function scan(root) {
  for (const e of (root.querySelectorAll ? root.querySelectorAll('*') : [])) {
    if (e.shadowRoot) scan(e.shadowRoot);
    if (e.textContent.trim() === want && ![...e.children].some(c => c.textContent.trim() === want)) n++;
  }
}
scan(document); return n;
"""
# Sets a textarea's text the way typing does (an input event the UI's components listen to).
SET_VALUE = """
const [el, text] = arguments;
el.value = text;
el.dispatchEvent(new Event('input', {bubbles: true, composed: true}));
el.dispatchEvent(new Event('change', {bubbles: true, composed: true}));
"""


def wait_for(pred, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except Exception as e:  # noqa: BLE001 - a page still rendering can raise anything
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Gateway:
    def __init__(self, binary, ui_root):
        self.home = Path(tempfile.mkdtemp(prefix="official-ui-gw-"))
        # Its own log file: the default one in /tmp/openclaw is shared by every gateway on the host.
        cfg = {"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN},
                           "controlUi": {"root": str(Path(ui_root).resolve())}},
               "logging": {"file": str(self.home / "gateway.log")}}
        (self.home / ".openclaw").mkdir()
        self.config_path = self.home / ".openclaw" / "openclaw.json"
        self.config_path.write_text(json.dumps(cfg, indent=2))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
        env.update({"HOME": str(self.home)})
        self.lines = []
        self.proc = subprocess.Popen([binary, "gateway", "--port", "0"], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        line = wait_for(lambda: next((l for l in self.lines if "listening on ws://" in l), None), what="the gateway")
        self.port = int(line.split("listening on ws://", 1)[1].split(",")[0].split()[0].rsplit(":", 1)[1])

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.home, ignore_errors=True)


class Rpc:
    """The test's own operator connection to the gateway (token auth, no device, from loopback).
    Kept only as long as one check needs it: it does not answer the gateway's pings while idle."""

    def __init__(self, port):
        import websocket
        # No Origin header: a browser-like client without a device identity gets no scopes.
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/", timeout=10, suppress_origin=True)
        self.n = 0
        challenge = json.loads(self.ws.recv())
        assert challenge.get("event") == "connect.challenge", challenge
        hello = self.call("connect", {"minProtocol": 4, "maxProtocol": 4, "role": "operator",
                                      "scopes": ["operator.admin", "operator.read", "operator.write"],
                                      "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
                                      "auth": {"token": TOKEN}})
        self.conn_id = hello["server"]["connId"]

    def call(self, method, params):
        self.n += 1
        rid = f"t{self.n}"
        self.ws.send(json.dumps({"type": "req", "id": rid, "method": method, "params": params}))
        while True:
            frame = json.loads(self.ws.recv())
            if frame.get("type") == "res" and frame.get("id") == rid:
                if not frame.get("ok"):
                    raise AssertionError(f"{method} failed: {frame.get('error')}")
                return frame.get("payload")

    def close(self):
        self.ws.close()


def short_conn(conn_id):
    """The connection id as the gateway's log lines abbreviate it."""
    return conn_id if len(conn_id) <= 12 else f"{conn_id[:8]}…{conn_id[-4:]}"


class Browser:
    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        self.profile = tempfile.mkdtemp(prefix="official-ui-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-sync", f"--user-data-dir={self.profile}",
                  "--window-size=1440,900"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        opts.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
        self.driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
        self.sent, self.received = [], []

    def drain(self):
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            method, params = msg.get("method"), msg.get("params", {})
            if method in ("Network.webSocketFrameSent", "Network.webSocketFrameReceived"):
                resp = params.get("response", {})
                if resp.get("opcode") != 1:
                    continue
                try:
                    frame = json.loads(resp.get("payloadData", ""))
                except ValueError:
                    continue
                (self.sent if method.endswith("Sent") else self.received).append(frame)

    def text(self):
        return self.driver.execute_script(DEEP_TEXT) or ""

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def error_markers(b):
    return b.driver.execute_script(DEEP_VISIBLE, ERROR_MARKERS) or []


def rpc_call(port, method, params):
    rpc = Rpc(port)
    try:
        return rpc.call(method, params)
    finally:
        rpc.close()


def save_config_through_the_raw_editor(b, base, gw):
    """Config > Advanced > Raw: reveal, give the main agent a name, Save; the gateway applies it."""
    b.driver.get(f"{base}/settings/advanced")
    wait_for(lambda: b.driver.execute_script(DEEP_CLICK, "Raw"), what="the Raw switch of Config > Advanced")
    wait_for(lambda: b.driver.execute_script(DEEP_CLICK, "Toggle raw config redaction"), what="the reveal button")
    box = wait_for(lambda: b.driver.execute_script(DEEP_FIND, "textarea"), what="the raw config editor")
    raw = wait_for(lambda: box.get_attribute("value"), what="the config in the raw editor")
    cfg = json.loads(raw)
    assert cfg["gateway"]["auth"]["token"] != TOKEN, "the editor shows the token redacted"
    cfg["agents"] = {"list": [{"id": "main", "identity": {"name": SAVED_NAME}}]}
    b.driver.execute_script(SET_VALUE, box, json.dumps(cfg, indent=2))
    time.sleep(0.5)
    assert b.driver.execute_script(DEEP_CLICK, "Save"), "no Save button"
    assert rpc_call(gw.port, "agent.identity.get", {"agentId": "main"})["name"] != SAVED_NAME, "not before the save"
    wait_for(lambda: rpc_call(gw.port, "agent.identity.get", {"agentId": "main"})["name"] == SAVED_NAME, timeout=20,
             what="the running gateway to apply the saved config (agent.identity.get)")
    on_disk = json.loads(gw.config_path.read_text())
    assert on_disk["agents"]["list"][0]["identity"]["name"] == SAVED_NAME, on_disk
    assert on_disk["gateway"]["auth"]["token"] == TOKEN, "the redacted token was kept, not overwritten"
    time.sleep(2)
    b.driver.save_screenshot(str(SHOTS / "config-saved.png"))
    return error_markers(b)


def logs_tail_live(b, base, gw):
    """Logs: a connection made after the page is open logs a line, and the page shows it."""
    b.driver.get(f"{base}/logs")
    wait_for(lambda: "client connected" in b.text(), what="log lines on the Logs page")
    late = Rpc(gw.port)
    marker = f"conn={short_conn(late.conn_id)}"
    try:
        wait_for(lambda: marker in b.text(), timeout=20, what=f"the new log line ({marker}) on the Logs page")
    finally:
        late.close()
    return error_markers(b)


def chat_with_the_offline_responder(b, base):
    b.driver.get(f"{base}/chat")
    box = wait_for(lambda: b.driver.execute_script(DEEP_FIND, "textarea"), what="the chat composer")
    from selenium.webdriver.common.keys import Keys
    box.click()
    box.send_keys("hello from chromium")
    box.send_keys(Keys.ENTER)
    wait_for(lambda: (b.drain(), any(f.get("event") == "chat" and f.get("payload", {}).get("state") == "final"
                                     for f in b.received))[1], what="the final chat event")
    wait_for(lambda: "You said" in b.text(), what="the offline answer on the page")
    time.sleep(1)
    shown = b.driver.execute_script(DEEP_COUNT_TEXT, "hello from chromium")
    assert shown == 1, f"the message sent is shown {shown} times"


def injected_note_reaches_the_chat(b, gw):
    """Another client appends to the session; the open Chat page gets it as `session.message`."""
    note = f"note from another client {os.getpid()}"
    rpc_call(gw.port, "chat.inject", {"sessionKey": "main", "message": note})
    wait_for(lambda: (b.drain(), any(f.get("event") == "session.message" and note in json.dumps(f.get("payload", {}).get("message"))
                                     for f in b.received))[1], what="session.message with the note")
    wait_for(lambda: note in b.text(), what="the note on the Chat page")
    time.sleep(1)
    for text in (note, "hello from chromium"):
        shown = b.driver.execute_script(DEEP_COUNT_TEXT, text)
        assert shown == 1, f"{text!r} is shown {shown} times"


def measure_idle(gw, seconds):
    def ticks():
        f = Path(f"/proc/{gw.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])

    def rss_kib():
        line = next(l for l in Path(f"/proc/{gw.proc.pid}/status").read_text().splitlines() if l.startswith("VmRSS:"))
        return int(line.split()[1])
    t0, start, peak = ticks(), time.monotonic(), rss_kib()
    while time.monotonic() - start < seconds:
        time.sleep(1)
        peak = max(peak, rss_kib())
    cpu = (ticks() - t0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - start) * 100
    print(f"gateway with the official UI open on Chat for {seconds:.0f} s: CPU {cpu:.2f} %, RSS {rss_kib()} KiB (peak {peak} KiB)")


def step(failures, name, f, *args):
    """Runs one check; a failure is recorded (with what the page showed) and the next check runs."""
    t0 = time.monotonic()
    try:
        banners = f(*args)
    except Exception as e:  # noqa: BLE001 - report every failed check, then go on
        failures.append(f"{name}: {e}")
        print(f"FAIL {name} ({time.monotonic() - t0:.1f}s): {e}", flush=True)
        return
    if banners:
        failures.append(f"{name}: error banner {banners}")
    print(f"{'FAIL' if banners else 'ok  '} {name} ({time.monotonic() - t0:.1f}s){' ' + str(banners) if banners else ''}", flush=True)


def census(b, failures):
    """Every method the UI called, and how each was answered; any `unknown method` fails."""
    by_id = {f.get("id"): f for f in b.received if f.get("type") == "res"}
    seen = {}
    for f in b.sent:
        if f.get("type") != "req":
            continue
        res = by_id.get(f.get("id"), {})
        err = (res.get("error") or {}).get("message", "")
        seen.setdefault(f["method"], set()).add("ok" if res.get("ok") else (err or "no answer"))
    for m in sorted(seen):
        print(f"  {m}: {', '.join(sorted(seen[m]))}")
        if any(e.startswith("unknown method") for e in seen[m]):
            failures.append(f"{m} answered unknown method")
    if "chat.send" not in seen:
        failures.append("the UI never sent chat.send")
    return len(seen)


def main():
    binary, ui_root = sys.argv[1], sys.argv[2]
    SHOTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    gw = Gateway(binary, ui_root)
    b = Browser()
    failures = []
    try:
        base = f"http://127.0.0.1:{gw.port}"
        b.driver.get(f"{base}/chat#token={TOKEN}")
        wait_for(lambda: (b.drain(), any(f.get("type") == "res" and isinstance(f.get("payload"), dict)
                                         and f["payload"].get("type") == "hello-ok" for f in b.received))[1],
                 what="hello-ok from our gateway")
        for name, route in PAGES:
            def visit(route=route, name=name):
                b.driver.get(f"{base}{route}")
                time.sleep(6)
                b.drain()
                b.driver.save_screenshot(str(SHOTS / f"{name}.png"))
                print(f"page {name}: {len(b.text())} chars of text")
                return error_markers(b)
            step(failures, f"page {name}", visit)
        step(failures, "config save applies", save_config_through_the_raw_editor, b, base, gw)
        step(failures, "logs tail live", logs_tail_live, b, base, gw)
        step(failures, "chat with the offline responder", chat_with_the_offline_responder, b, base)
        step(failures, "a note from another client reaches the open chat", injected_note_reaches_the_chat, b, gw)
        time.sleep(1)
        b.driver.save_screenshot(str(SHOTS / "chat-answer.png"))
        step(failures, "no error banner on the chat page after the run", lambda: error_markers(b))
        b.drain()
        measure_idle(gw, float(os.environ.get("OFFICIAL_UI_IDLE_SECONDS", "60")))
        b.drain()
    finally:
        b.quit()
        gw.stop()

    methods = census(b, failures)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"ok: {len(PAGES)} pages with no error banner, a config save, live logs, a chat and its session.message, "
          f"{methods} methods, no unknown method ({time.monotonic() - started:.0f} s); screenshots in {SHOTS}")


if __name__ == "__main__":
    main()
