"""Support for the control panel's real-browser tests: the gateway binary in a temporary home,
a static server for panel/ (until the gateway serves it), a fake Telegram Bot API, a fake
OpenAI-compatible model that streams slowly, headless Chromium driven by selenium with every
WebSocket frame the page sends recorded through the DevTools protocol, and the schema checks.

Everything listens on 127.0.0.1 and nothing leaves this machine.
"""

import http.server
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PANEL_DIR = ROOT / "panel"
SCHEMA_PATH = ROOT / "protocol" / "protocol.schema.json"
SCREENSHOTS = ROOT / "target" / "browser-screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

# The gateway serves the panel itself on its own port: no static server runs, the page is the
# gateway's own origin and no gatewayUrl fragment is needed. PANEL_SERVED_BY_GATEWAY=0 serves
# panel/ from a small static server instead (to try the front end against an older gateway).
SERVED_BY_GATEWAY = os.environ.get("PANEL_SERVED_BY_GATEWAY", "1") != "0"
BASE_PATH = os.environ.get("PANEL_BASE_PATH", "/" if SERVED_BY_GATEWAY else "/ui/")

WAIT = 20.0


def wait_for(pred, timeout=WAIT, interval=0.05, what="condition"):
    """Polls `pred` until it returns something truthy; raises with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except Exception as e:  # noqa: BLE001 - a page still rendering can raise anything
            last = e
            time.sleep(interval)
            continue
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class QuietServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that does not print a traceback when a client hangs up."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the gateway -----------------------------------------------------------------------------

class Gateway:
    """`openclaw gateway --port 0` in a fresh home, its stderr collected, its port read back."""

    def __init__(self, binary, config, env=None, args=()):
        self.binary = binary
        self.home = Path(tempfile.mkdtemp(prefix="panel-gw-"))
        self.config_path = self.home / ".openclaw" / "openclaw.json"
        self.config_path.parent.mkdir(parents=True)
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")
        (self.home / "tmp").mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
        self.env.update({"HOME": str(self.home), "TMPDIR": str(self.home / "tmp")})
        self.env.update(env or {})
        self.lines = []
        self.proc = subprocess.Popen([binary, "gateway", "--port", "0", *args], env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        line = wait_for(lambda: next((l for l in self.lines if "listening on ws://" in l), None), what="the gateway to listen")
        addr = line.split("listening on ws://", 1)[1].split(",")[0].split()[0]
        self.port = int(addr.rsplit(":", 1)[1])
        wait_for(lambda: any(l.endswith("[gateway] ready") for l in self.lines), what="the gateway to be ready")

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if os.environ.get("PANEL_TEST_ECHO"):
                print("[gw]", line.rstrip("\n"), flush=True)

    @property
    def pid(self):
        return self.proc.pid

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.port}"

    def cpu_ticks(self):
        """utime + stime of the process, in clock ticks (/proc/<pid>/stat fields 14 and 15)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def signal(self, sig):
        self.proc.send_signal(sig)

    def cli(self, *args, timeout=30):
        """Runs `openclaw <args>` as this gateway's user (same home)."""
        r = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.home, ignore_errors=True)


# ---- the panel's static server (until the gateway serves it) ---------------------------------

PANEL_FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
               "app.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"}


def csp(extra_connect=""):
    """The Content-Security-Policy the gateway is to send with the panel (see the panel's report)."""
    connect = "'self'" + (" " + extra_connect if extra_connect else "")
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src {connect}; base-uri 'self'; form-action 'none'; frame-ancestors 'none'; "
            "require-trusted-types-for 'script'; trusted-types 'none'")


def render_index(base_path):
    """index.html with the base-path contract applied: `<base href>` and the meta tag."""
    text = (PANEL_DIR / "index.html").read_text()
    assert '<meta name="openclaw-base-path" content="/">' in text and '<base href="/">' in text
    return (text.replace('<meta name="openclaw-base-path" content="/">', f'<meta name="openclaw-base-path" content="{base_path}">')
                .replace('<base href="/">', f'<base href="{base_path}">'))


class PanelServer:
    """Serves panel/ under BASE_PATH with the headers the gateway will send; unknown page paths
    under the base fall back to index.html (history routing), unknown files are 404."""

    def __init__(self, gateway_ws_origin, base_path=BASE_PATH):
        self.base = base_path
        self.misses = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                if path + "/" == server.base:
                    return self.reply(308, b"", "text/plain", {"Location": server.base})
                if not path.startswith(server.base):
                    server.misses.append(path)
                    return self.reply(404, b"not found\n", "text/plain")
                rel = path[len(server.base):]
                if rel in PANEL_FILES and rel != "index.html":
                    return self.reply(200, (PANEL_DIR / rel).read_bytes(), PANEL_FILES[rel])
                last = rel.rsplit("/", 1)[-1]
                if "." in last and rel != "index.html":
                    server.misses.append(path)
                    return self.reply(404, b"not found\n", "text/plain")
                body = render_index(server.base).encode()
                return self.reply(200, body, PANEL_FILES["index.html"])

            def reply(self, status, body, ctype, extra=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Content-Security-Policy", csp(gateway_ws_origin))
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("Referrer-Policy", "no-referrer")
                self.send_header("X-Frame-Options", "DENY")
                self.send_header("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- a fake Telegram Bot API -----------------------------------------------------------------

class FakeTelegram:
    """`POST /bot<token>/<method>`: getMe, long-polled getUpdates with offset confirmation,
    sendMessage and sendChatAction, as the Bot API documents them."""

    BOT_ID = 7000001

    def __init__(self, token):
        self.token = token
        self.cond = threading.Condition()
        self.pending = []
        self.sent = []
        self.next_update = 100000001
        self.next_message = 1
        self.stopping = False
        # Seconds getMe takes to answer: a test slows the connection to see the steps before it.
        self.getme_delay = 0.0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = dict(urllib.parse.parse_qsl(raw.decode()))
                m = re.match(r"^/bot([^/]+)/(\w+)$", urllib.parse.urlsplit(self.path).path)
                if not m:
                    return self.send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                if m.group(1) != fake.token:
                    return self.send(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                status, result = fake.call(m.group(2).lower(), body)
                self.send(status, {"ok": True, "result": result} if status == 200 else result)

            def send(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def api_root(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def call(self, method, body):
        if method == "getme":
            time.sleep(self.getme_delay)
            return 200, {"id": self.BOT_ID, "is_bot": True, "first_name": "Panel Test", "username": "panel_test_bot"}
        if method == "getupdates":
            offset = body.get("offset")
            timeout = min(float(body.get("timeout") or 0), 30.0)
            deadline = time.monotonic() + timeout
            with self.cond:
                if offset is not None:
                    self.pending = [u for u in self.pending if u["update_id"] >= int(offset)]
                while not self.pending and not self.stopping and time.monotonic() < deadline:
                    self.cond.wait(max(0.0, deadline - time.monotonic()))
                return 200, list(self.pending)
        if method == "sendmessage":
            with self.cond:
                msg_id = self.next_message
                self.next_message += 1
                self.sent.append({"chat_id": str(body.get("chat_id")), "text": body.get("text", "")})
                self.cond.notify_all()
            return 200, {"message_id": msg_id, "date": int(time.time()), "chat": {"id": body.get("chat_id"), "type": "private"},
                         "from": {"id": self.BOT_ID, "is_bot": True, "first_name": "Panel Test"}, "text": body.get("text", "")}
        if method in ("sendchataction", "deletewebhook", "setmycommands"):
            return 200, True
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def push_private(self, user_id, text):
        with self.cond:
            update_id = self.next_update
            self.next_update += 1
            msg_id = self.next_message
            self.next_message += 1
            user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "username": f"user{user_id}"}
            chat = {"id": user_id, "type": "private", "first_name": f"User{user_id}", "username": f"user{user_id}"}
            self.pending.append({"update_id": update_id, "message": {"message_id": msg_id, "from": user, "chat": chat,
                                                                      "date": int(time.time()), "text": text}})
            self.cond.notify_all()
        return update_id

    def wait_sent(self, pred, timeout=WAIT, what="a message sent to Telegram"):
        return wait_for(lambda: next((m for m in list(self.sent) if pred(m)), None), timeout, what=what)

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- a fake model that streams slowly (for abort) --------------------------------------------

class SlowModel:
    """`POST /v1/chat/completions` with `stream: true`: one word every `gap` seconds, as SSE chunks
    in the OpenAI shape; enough time for a person (or a test) to press Stop."""

    def __init__(self, words=60, gap=0.25):
        fake = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                fake.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for i in range(words):
                        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": int(time.time()), "model": "slow",
                                 "choices": [{"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(gap)
                    end = {"id": "c1", "object": "chat.completion.chunk", "created": int(time.time()), "model": "slow",
                           "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                    self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
                    self.wfile.flush()
                except OSError:
                    pass  # the gateway hung up (abort)
                self.close_connection = True

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- a proxy that makes the browser look remote (device pairing tests) ------------------------

class ForwardingProxy:
    """A TCP proxy on 127.0.0.1 that adds `X-Forwarded-For: <ip>` to each request head before it
    reaches the gateway, as a reverse proxy in front of it would. With the proxy's address in
    `gateway.trustedProxies`, the gateway sees a browser on a non-loopback address. The address
    is only a header value: nothing is ever sent to it."""

    def __init__(self, target_port, client_ip="203.0.113.7"):
        self.target_port = target_port
        self.client_ip = client_ip
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            line, rest = head.split(b"\r\n", 1)
            head = line + f"\r\nX-Forwarded-For: {self.client_ip}".encode() + b"\r\n" + rest
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            upstream.sendall(head)
            pair = {client: upstream, upstream: client}
            while True:
                ready, _, _ = select.select(list(pair), [], [], 60)
                if not ready:
                    break
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)
        except OSError:
            pass
        finally:
            client.close()

    def stop(self):
        self.closed = True
        self.sock.close()


# ---- the protocol schema ---------------------------------------------------------------------

class Schema:
    """Validates request frames against `RequestFrame` and the method's `*Params` definition."""

    def __init__(self):
        import jsonschema
        self.jsonschema = jsonschema
        doc = json.loads(SCHEMA_PATH.read_text())
        self.defs = doc["definitions"]
        self.methods = doc["methods"]
        self._cache = {}

    def validator(self, name):
        if name not in self._cache:
            self._cache[name] = self.jsonschema.Draft7Validator({"$ref": f"#/definitions/{name}", "definitions": self.defs})
        return self._cache[name]

    @staticmethod
    def params_definition(method):
        """`channels.pairing.approve` → `ChannelsPairingApproveParams` (the schema's naming)."""
        return "".join(p[:1].upper() + p[1:] for p in re.split(r"[.\-]", method)) + "Params"

    def check_request(self, frame):
        """Every violation of one sent frame, as strings (empty when valid)."""
        errors = [f"RequestFrame: {e.message} at {list(e.absolute_path)}" for e in self.validator("RequestFrame").iter_errors(frame)]
        method = frame.get("method")
        if method not in self.methods:
            errors.append(f"method {method!r} is not in the schema's methods table")
        name = self.params_definition(method or "")
        if name in self.defs:
            params = frame.get("params", {})
            errors += [f"{name}: {e.message} at {list(e.absolute_path)}" for e in self.validator(name).iter_errors(params)]
        return errors

    def has_params(self, method):
        return self.params_definition(method) in self.defs


# ---- the browser -----------------------------------------------------------------------------

class Browser:
    """Headless Chromium through chromedriver, in a fresh profile. The DevTools performance log
    (Network domain) records every WebSocket frame sent and received, across page loads, without
    touching the page; the browser log gives the JavaScript console."""

    def __init__(self, width=1280, height=900):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        self.profile = tempfile.mkdtemp(prefix="panel-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
                  "--disable-dev-shm-usage", "--disable-features=Translate,MediaRouter,OptimizationHints",
                  "--password-store=basic", f"--user-data-dir={self.profile}", f"--window-size={width},{height}"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        opts.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
        self.driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
        self.driver.set_script_timeout(30)
        self.sent = []       # (ts, frame) the page sent
        self.received = []   # (ts, frame) the page received
        self.sockets = []    # URLs of the WebSockets the page opened
        self.console = []    # browser log entries

    # logs
    def drain(self):
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            method, params = msg.get("method"), msg.get("params", {})
            if method == "Network.webSocketCreated":
                self.sockets.append(params.get("url"))
            elif method in ("Network.webSocketFrameSent", "Network.webSocketFrameReceived"):
                resp = params.get("response", {})
                if resp.get("opcode") != 1:
                    continue
                try:
                    frame = json.loads(resp.get("payloadData", ""))
                except ValueError:
                    frame = {"unparsed": resp.get("payloadData")}
                (self.sent if method.endswith("Sent") else self.received).append((time.time(), frame))
        self.console += self.driver.get_log("browser")

    def console_errors(self, since=0):
        self.drain()
        return [e for e in self.console[since:] if e.get("level") == "SEVERE"]

    def sent_methods(self, since=0):
        self.drain()
        return [f.get("method") for _, f in self.sent[since:]]

    # page
    def get(self, url):
        self.driver.get(url)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def find(self, css, timeout=WAIT):
        from selenium.webdriver.common.by import By
        return wait_for(lambda: next((e for e in self.driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None),
                        timeout, what=f"a visible {css}")

    def finds(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click_button(self, css, label, timeout=WAIT):
        """Clicks the button labelled `label` inside the first visible `css`, finding it again if
        the page redrew it meanwhile."""
        def attempt():
            self.find(css, 2).find_element(By.XPATH, f".//button[normalize-space()='{label}']").click()
            return True
        from selenium.webdriver.common.by import By
        return wait_for(attempt, timeout, what=f"a click on {label!r} in {css}")

    def text(self, css, timeout=WAIT):
        return self.find(css, timeout).text

    def wait_text(self, css, needle, timeout=WAIT):
        return wait_for(lambda: needle in (self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css) or ""),
                        timeout, what=f"{needle!r} in {css}")

    def state(self):
        return self.js("const e = document.getElementById('conn-state'); return e ? e.dataset.state : null")

    def wait_state(self, state, timeout=WAIT):
        return wait_for(lambda: self.state() == state, timeout, what=f"connection state {state!r} (now {self.state()!r})")

    def nav(self, route):
        self.find(f'nav a[data-route="{route}"]').click()
        self.find(f'.page[data-page="{route}"]')

    def screenshot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def cdp(self, cmd, params=None):
        return self.driver.execute_cdp_cmd(cmd, params or {})

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


# ---- a scripted gateway, for the flows the real one cannot show yet -------------------------

class FakeGateway:
    """A stand-in for the gateway's WebSocket side that follows a script: each `connect` is
    answered by `script(n, params)` with ("refuse", error, close_code) or ("accept", auth), and
    requests get small payloads in the official shapes. It shows the panel's device pairing and
    device-token flows before the real back end exists. It does not check signatures: the real
    gateway does that in the other tests."""

    def __init__(self, script):
        import asyncio
        import websockets
        self.script = script
        self.connects = []
        self.requests = []
        self.live = set()
        self.pending = [{"requestId": "req-other", "deviceId": "ab" * 32, "publicKey": "AAAA", "displayName": "Phone browser",
                         "platform": "Linux armv8l", "clientId": "openclaw-control-ui", "clientMode": "webchat", "role": "operator",
                         "roles": ["operator"], "scopes": ["operator.read"], "remoteIp": "203.0.113.9", "silent": False,
                         "isRepair": False, "ts": int(time.time() * 1000)},
                        {"requestId": "req-third", "deviceId": "cd" * 32, "publicKey": "BBBB", "displayName": "Tablet browser",
                         "platform": "Linux aarch64", "clientId": "openclaw-control-ui", "clientMode": "webchat", "role": "operator",
                         "roles": ["operator"], "scopes": ["operator.read"], "remoteIp": "203.0.113.10", "silent": False,
                         "isRepair": False, "ts": int(time.time() * 1000)}]
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def main():
            self.server = await websockets.serve(self._serve, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()
            await self.server.wait_closed()

        threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True).start()
        started.wait(10)

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}"

    async def _serve(self, ws):
        now = int(time.time() * 1000)
        await ws.send(json.dumps({"type": "event", "event": "connect.challenge", "payload": {"nonce": f"nonce-{now}", "ts": now}}))
        try:
            req = json.loads(await ws.recv())
        except Exception:  # noqa: BLE001 - the page went away
            return
        self.connects.append(req.get("params", {}))
        action = self.script(len(self.connects), req.get("params", {}))
        if action[0] == "refuse":
            _, error, code = action
            await ws.send(json.dumps({"type": "res", "id": req["id"], "ok": False, "error": error}))
            await ws.close(code, error["message"][:120])
            return
        hello = {"type": "hello-ok", "protocol": 4, "server": {"version": "fake", "connId": "c1"},
                 "features": {"methods": ["health", "status", "channels.status", "agents.list", "models.list", "device.pair.list",
                                          "device.pair.approve", "device.pair.reject", "device.pair.remove"],
                              "events": ["tick", "health", "device.pair.requested", "device.pair.resolved"]},
                 "snapshot": {"presence": [], "health": {"ok": True, "ts": now, "channels": {}, "channelOrder": [], "agents": []},
                              "stateVersion": {"presence": 0, "health": 0}, "uptimeMs": 5000},
                 "auth": dict({"role": "operator", "scopes": req["params"].get("scopes", [])}, **action[1]),
                 "policy": {"maxPayload": 26214400, "maxBufferedBytes": 52428800, "tickIntervalMs": 30000}}
        await ws.send(json.dumps({"type": "res", "id": req["id"], "ok": True, "payload": hello}))
        self.live.add(ws)
        try:
            async for raw in ws:
                r = json.loads(raw)
                self.requests.append(r)
                await ws.send(json.dumps(self._answer(r)))
                if r.get("method") == "device.pair.remove":
                    # As the official gateway: the answer first, then 4001 for the removed device's sockets.
                    for other in list(self.live):
                        await other.close(4001, "device removed")
                if r.get("method") in ("device.pair.approve", "device.pair.reject"):
                    for other in list(self.live):
                        await other.send(json.dumps({"type": "event", "event": "device.pair.resolved", "seq": 1,
                                                     "payload": {"requestId": r["params"]["requestId"], "deviceId": "ab" * 32,
                                                                 "decision": "approved" if r["method"].endswith("approve") else "rejected",
                                                                 "ts": int(time.time() * 1000)}}))
        except Exception:  # noqa: BLE001 - closed
            pass
        finally:
            self.live.discard(ws)

    def _answer(self, r):
        m, rid, now = r.get("method"), r.get("id"), int(time.time() * 1000)
        ok = lambda p: {"type": "res", "id": rid, "ok": True, "payload": p}  # noqa: E731
        if m == "status":
            return ok({"runtimeVersion": "fake", "pid": 4242, "uptimeMs": 60000, "processMemory": {"rssBytes": 3 * 1048576},
                       "processCpu": {"userMs": 120, "systemMs": 60}, "gateway": {"clients": 1, "listeners": ["127.0.0.1:1"]}})
        if m == "channels.status":
            return ok({"ts": now, "channelOrder": [], "channelLabels": {}, "channels": {}, "channelAccounts": {}, "channelDefaultAccountId": {}})
        if m == "agents.list":
            return ok({"defaultId": "main", "mainKey": "main", "scope": "per-sender", "agents": [{"id": "main", "name": "main"}]})
        if m == "models.list":
            return ok({"models": []})
        if m == "device.pair.list":
            me = self.connects[-1].get("device", {}).get("id", "x")
            return ok({"pending": self.pending, "paired": [{"deviceId": me, "publicKey": "AAAA", "platform": "Linux x86_64",
                                                            "clientId": "openclaw-control-ui", "clientMode": "webchat", "role": "operator",
                                                            "scopes": ["operator.admin"], "approvedVia": "owner", "createdAtMs": now,
                                                            "approvedAtMs": now, "lastSeenAtMs": now, "connected": True}]})
        if m in ("device.pair.approve", "device.pair.reject"):
            self.pending = [p for p in self.pending if p["requestId"] != r["params"]["requestId"]]
            return ok({"requestId": r["params"]["requestId"], "device": {"deviceId": "ab" * 32}} if m.endswith("approve")
                      else {"requestId": r["params"]["requestId"], "deviceId": "cd" * 32})
        if m == "device.pair.remove":
            return ok({"deviceId": r["params"]["deviceId"]})
        return {"type": "res", "id": rid, "ok": False, "error": {"code": "INVALID_REQUEST", "message": f"unknown method: {m}"}}

    def close_all(self, code, reason):
        import asyncio

        async def go():
            for ws in list(self.live):
                await ws.close(code, reason)
        asyncio.run_coroutine_threadsafe(go(), self.loop).result(10)

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.close)
