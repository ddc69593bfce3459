"""The official Control UI (dist/control-ui of the npm package `openclaw`) in real headless
Chromium against our real gateway, which serves it from `gateway.controlUi.root`.

Same approach as the control panel's harness (tests/browser/harness.py on the panel branch): the
gateway binary in a temporary home, selenium + chromedriver, every WebSocket frame recorded through
the DevTools performance log. Checks:
  - each page loads and the UI stays connected;
  - no request is answered `unknown method` (the census of every method called is printed);
  - a chat with the offline responder shows the streamed answer;
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
# Methods other work delivers (device pairing: device.pair.*, on its own branch).
ELSEWHERE = {"device.pair.list"}
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
        cfg = {"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN},
                           "controlUi": {"root": str(Path(ui_root).resolve())}}}
        (self.home / ".openclaw").mkdir()
        (self.home / ".openclaw" / "openclaw.json").write_text(json.dumps(cfg, indent=2))
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


def main():
    binary, ui_root = sys.argv[1], sys.argv[2]
    SHOTS.mkdir(parents=True, exist_ok=True)
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
            b.driver.get(f"{base}{route}")
            time.sleep(8)
            b.drain()
            b.driver.save_screenshot(str(SHOTS / f"{name}.png"))
            text = b.text()
            print(f"page {name}: {len(text)} chars of text")
        # Chat with the offline responder.
        b.driver.get(f"{base}/chat")
        box = wait_for(lambda: b.driver.execute_script(DEEP_FIND, "textarea"), what="the chat composer")
        from selenium.webdriver.common.keys import Keys
        box.click()
        box.send_keys("hello from chromium")
        box.send_keys(Keys.ENTER)
        wait_for(lambda: (b.drain(), any(f.get("event") == "chat" and f.get("payload", {}).get("state") == "final"
                                         for f in b.received))[1], what="the final chat event")
        wait_for(lambda: "You said" in b.text(), what="the offline answer on the page")
        time.sleep(2)
        b.driver.save_screenshot(str(SHOTS / "chat-answer.png"))
        b.drain()
        # The gateway's cost with the UI open on Chat, idle, for 60 s.
        def ticks():
            f = Path(f"/proc/{gw.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return int(f[11]) + int(f[12])
        def rss_kib():
            line = next(l for l in Path(f"/proc/{gw.proc.pid}/status").read_text().splitlines() if l.startswith("VmRSS:"))
            return int(line.split()[1])
        seconds = float(os.environ.get("OFFICIAL_UI_IDLE_SECONDS", "60"))
        t0, start, peak = ticks(), time.monotonic(), rss_kib()
        while time.monotonic() - start < seconds:
            time.sleep(1)
            peak = max(peak, rss_kib())
        cpu = (ticks() - t0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - start) * 100
        print(f"gateway with the official UI open on Chat for {seconds:.0f} s: CPU {cpu:.2f} %, RSS {rss_kib()} KiB (peak {peak} KiB)")
        b.drain()
    finally:
        b.quit()
        gw.stop()

    # Census: every method the UI called, and how each was answered.
    by_id = {f.get("id"): f for f in b.received if f.get("type") == "res"}
    census = {}
    for f in b.sent:
        if f.get("type") != "req":
            continue
        res = by_id.get(f.get("id"), {})
        ok = res.get("ok")
        err = (res.get("error") or {}).get("message", "")
        census.setdefault(f["method"], set()).add("ok" if ok else (err or "no answer"))
    for m in sorted(census):
        print(f"  {m}: {', '.join(sorted(census[m]))}")
        if any(e.startswith("unknown method") for e in census[m]) and m not in ELSEWHERE:
            failures.append(f"{m} answered unknown method")
    if "chat.send" not in census:
        failures.append("the UI never sent chat.send")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"ok: {len(PAGES)} pages, {len(census)} methods, no unknown method; screenshots in {SHOTS}")


if __name__ == "__main__":
    main()
