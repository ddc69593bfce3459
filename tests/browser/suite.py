"""The control panel's browser tests, in the order they run (later ones use what earlier ones
made: the chat session, the paired Telegram user). `run.py` runs them."""

import json
import os
import signal
import time
import urllib.parse
from collections import Counter

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from harness import (BASE_PATH, SCREENSHOTS, SERVED_BY_GATEWAY, Browser, FakeGateway, FakeTelegram, ForwardingProxy, Gateway,
                     PanelServer, Schema, SlowModel, wait_for)

TOKEN = "panel-test-token-5d1f0c"
TG_TOKEN = "123456:PANEL-test-bot"
MODEL_KEY = "sk-panel-test-key"
MAIN = "agent:main:main"
# Methods the panel may call: what the gateway implements today, and the device pairing methods
# the back end will add (official shapes).
PAIRING_METHODS = {"device.pair.list", "device.pair.approve", "device.pair.reject", "device.pair.remove"}
# The official refusals (notes A.1, A.2), as the scripted gateway sends them.
PAIRING_REQUIRED = {"code": "NOT_PAIRED", "message": "pairing required: device is not approved yet",
                    "details": {"code": "PAIRING_REQUIRED", "reason": "not-paired", "requestId": "req-1234",
                                "remediationHint": "Approve this device from the pending pairing requests.",
                                "recommendedNextStep": "wait_then_retry", "retryable": True, "pauseReconnect": False,
                                "requestedRole": "operator"}}
TOKEN_MISSING = {"code": "INVALID_REQUEST", "message": "unauthorized: gateway token missing (open the dashboard URL and paste the token in Control UI settings)",
                 "details": {"code": "AUTH_TOKEN_MISSING", "authReason": "token_missing", "canRetryWithDeviceToken": False,
                             "recommendedNextStep": "update_auth_credentials"}}
DEVICE_TOKEN_MISMATCH = {"code": "INVALID_REQUEST", "message": "unauthorized: device token mismatch (rotate/reissue device token)",
                         "details": {"code": "AUTH_DEVICE_TOKEN_MISMATCH", "authReason": "device_token_mismatch",
                                     "canRetryWithDeviceToken": False, "recommendedNextStep": "update_auth_credentials"}}

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Context:
    """What the tests share: one gateway with a fake Telegram and a slow fake model, the static
    panel server, the main browser, and the frame and console checks run after every test."""

    def __init__(self, binary, skip):
        self.binary = binary
        self.Skip = skip
        self.schema = Schema()
        self.report = []
        self.browsers = []
        self.marks = {}
        self.frames = Counter()
        self.frames_checked = 0
        self.cleanup = []
        self.tg = FakeTelegram(TG_TOKEN)
        self.slow = SlowModel(words=120, gap=0.25)
        # The dev server allows WebSocket connections to any loopback port (the gateways and the
        # pairing proxy of this run); the gateway itself will send connect-src 'self'.
        self.server = None if SERVED_BY_GATEWAY else PanelServer("ws://127.0.0.1:* ws://localhost:*")
        self._dev_server = self.server
        self.version = os.popen(f"'{binary}' --version").read().split()[-1]
        self.gw = self.start_gateway(fast=True)
        self.browser = self.new_browser()

    # set-up -----------------------------------------------------------------------------------
    def config(self, **extra):
        c = {
            "gateway": {"mode": "local", "auth": {"mode": "token", "token": "${PANEL_GW_TOKEN}"},
                        "trustedProxies": ["127.0.0.1"]},
            "channels": {"telegram": {"botToken": "${PANEL_TG_TOKEN}", "apiRoot": self.tg.api_root}},
            "models": {"providers": {"slow": {"baseUrl": self.slow.base_url, "apiKey": "${PANEL_MODEL_KEY}",
                                              "api": "openai-completions", "models": [{"id": "slow", "contextWindow": 32768}]}}},
        }
        if self.server:
            c["gateway"]["controlUi"] = {"allowedOrigins": [self.server.origin]}
        for k, v in extra.items():
            c[k] = v
        return c

    def start_gateway(self, fast, config=None):
        env = {"PANEL_GW_TOKEN": TOKEN, "PANEL_TG_TOKEN": TG_TOKEN, "PANEL_MODEL_KEY": MODEL_KEY}
        if fast:
            # Events often enough to watch them; the Telegram long poll short.
            env.update({"OPENCLAW_HEALTH_INTERVAL_MS": "3000", "OPENCLAW_TICK_INTERVAL_MS": "2000",
                        "OPENCLAW_CHANNEL_POLL_TIMEOUT_MS": "2000", "OPENCLAW_CHANNEL_STALL_GRACE_MS": "2000",
                        "OPENCLAW_CHANNEL_BACKOFF_MIN_MS": "100", "OPENCLAW_CHANNEL_BACKOFF_MAX_MS": "400"})
        gw = Gateway(self.binary, config or self.config(), env)
        self.cleanup.append(gw.stop)
        return gw

    def new_browser(self, **kw):
        b = Browser(**kw)
        self.browsers.append(b)
        self.marks[id(b)] = (0, 0)
        return b

    def quit_browser(self, b):
        self.check(b)
        self.browsers.remove(b)
        b.quit()

    def url(self, route="", token=None, gw=None, port=None):
        """The panel's address, with `#token=` and (from the static server) `gatewayUrl=`."""
        gw = gw or self.gw
        port = port or gw.port
        base = (f"http://127.0.0.1:{port}" if SERVED_BY_GATEWAY else self.server.origin) + BASE_PATH + route
        frag = {}
        if token:
            frag["token"] = token
        if not SERVED_BY_GATEWAY:
            frag["gatewayUrl"] = f"ws://127.0.0.1:{port}"
        return base + ("#" + urllib.parse.urlencode(frag) if frag else "")

    def dev_url(self, gateway_ws, token=None, host="127.0.0.1"):
        """The panel from the static server (started here when the gateway serves the panel),
        pointed at `gateway_ws`: for the scripted gateway and the origin test."""
        if self._dev_server is None:
            self._dev_server = PanelServer("ws://127.0.0.1:* ws://localhost:*", base_path="/ui/")
            self.cleanup.append(self._dev_server.stop)
        frag = {"gatewayUrl": gateway_ws}
        if token:
            frag["token"] = token
        return f"http://{host}:{self._dev_server.port}{self._dev_server.base}#" + urllib.parse.urlencode(frag)

    def hello(self, b=None):
        """The last hello-ok payload the browser received."""
        b = b or self.browser
        b.drain()
        for _, f in reversed(b.received):
            if f.get("type") == "res" and isinstance(f.get("payload"), dict) and f["payload"].get("type") == "hello-ok":
                return f["payload"]
        return None

    @property
    def backend(self):
        """Whether the gateway has the device pairing back end (it advertises device.pair.list)."""
        h = self.hello()
        return bool(h and "device.pair.list" in h.get("features", {}).get("methods", []))

    def need_backend(self, what):
        if not self.backend:
            if os.environ.get("PANEL_EXPECT_BACKEND", "1") != "0":
                raise AssertionError(f"{what}: the gateway does not advertise device.pair.list (PANEL_EXPECT_BACKEND=0 skips instead)")
            raise self.Skip(f"needs the device-pairing back end ({what}); this gateway answers unknown method for device.pair.list")

    # checks after every test ------------------------------------------------------------------
    def before(self, t):
        # Tests run in order and share the main browser; when only some are picked (run.py NAME),
        # the panel is opened here.
        if t is not overview_is_live_from_events and self.browser.js("return !document.getElementById('conn-state')"):
            self.browser.get(self.url(token=TOKEN))
            self.browser.wait_state("connected")
        for b in self.browsers:
            b.drain()
            self.marks[id(b)] = (len(b.sent), len(b.console))

    def after(self, t):
        for b in list(self.browsers):
            self.check(b)

    def check(self, b):
        """Every frame the browser sent since the last check validates; the console has no error."""
        b.drain()
        sent_mark, console_mark = self.marks.get(id(b), (0, 0))
        problems = []
        for _, frame in b.sent[sent_mark:]:
            errors = self.schema.check_request(frame)
            method = frame.get("method")
            self.frames_checked += 1
            self.frames[method] += 1
            if errors:
                problems.append(f"frame {json.dumps(frame)[:300]}: {errors}")
        for e in b.console[console_mark:]:
            if e.get("level") == "SEVERE":
                problems.append(f"console error: {e.get('message')}")
        self.marks[id(b)] = (len(b.sent), len(b.console))
        assert not problems, "\n".join(problems)

    def failed(self, t):
        for i, b in enumerate(self.browsers):
            try:
                b.screenshot(f"FAILED-{t.__name__}-{i}")
                b.drain()
                self.marks[id(b)] = (len(b.sent), len(b.console))
            except Exception:  # noqa: BLE001 - best effort
                pass
        print("gateway stderr (last 20 lines):\n  " + "\n  ".join(self.gw.lines[-20:]))

    def close(self):
        for b in list(self.browsers):
            try:
                b.quit()
            except Exception:  # noqa: BLE001
                pass
        for f in reversed(self.cleanup):
            f()
        self.tg.stop()
        self.slow.stop()
        if self.server:
            self.server.stop()


def count(b, method, since=0):
    b.drain()
    return sum(1 for _, f in b.sent[since:] if f.get("method") == method)


def sent(b, method):
    """The params of every `method` request the browser sent so far."""
    b.drain()
    return [f.get("params") for _, f in b.sent if f.get("method") == method]


def chat_once(b, text):
    """Sends `text` in Chat and waits for the offline responder's answer to it."""
    b.find("#chat-input").send_keys(text + Keys.ENTER)
    wait_for(lambda: any(f'You said: "{text}"' in e.text for e in b.finds("#chat-log .msg.assistant[data-state=done]")),
             what=f"the answer to {text!r}")


def set_editor(b, text):
    b.js("const t = document.getElementById('cfg-raw'); t.value = arguments[0]; t.dispatchEvent(new Event('input'));", text)


def editor(b):
    return b.js("return document.getElementById('cfg-raw').value")


# ---- the tests ---------------------------------------------------------------------------------

@test
def overview_is_live_from_events(ctx):
    """Opens /#token=…: the token leaves the address bar and stays in this tab only; Overview shows
    the version, the process, Telegram's real liveness, and changes with health and tick events."""
    b = ctx.browser
    b.get(ctx.url(token=TOKEN))
    b.wait_state("connected")
    assert "#" not in b.driver.current_url and TOKEN not in b.driver.current_url, b.driver.current_url
    stored = b.js("return Object.keys(sessionStorage).filter(k => k.startsWith('openclaw.panel.token ')).map(k => sessionStorage.getItem(k))")
    assert stored == [TOKEN], stored
    assert b.js("return localStorage.length") == 0
    b.wait_text("#ov-version", ctx.version)
    b.wait_text('#ov-channels [data-channel="telegram"]', "healthy")
    b.wait_text('#ov-channels [data-channel="telegram"]', "last progress")
    b.wait_text("#ov-memory", "MiB")
    live = "const e = document.getElementById('ov-live'); return e ? [Number(e.dataset.events || 0), e.dataset.last || ''] : [0, '']"
    n0 = b.js(live)[0]
    wait_for(lambda: b.js(live)[1] == "health" and b.js(live)[0] >= n0 + 2, what="health and tick events on Overview")
    b.screenshot("overview")
    if SERVED_BY_GATEWAY:
        one_time_dashboard_link(ctx)


def one_time_dashboard_link(ctx):
    """`openclaw dashboard --no-open --json`'s browserUrl: a fresh browser opens it, the fragment
    leaves the address bar, the panel connects once with {bootstrapToken} and then comes back with
    its own device token; the same link in another browser is refused with the official code."""
    rc, out, err = ctx.gw.cli("dashboard", "--no-open", "--json")
    assert rc == 0, (rc, out, err)
    d = json.loads(out)
    assert set(d) >= {"url", "browserUrl", "browserBootstrapExpiresAtMs", "httpUrl", "wsUrl", "port", "tokenIncluded"}, d
    frag = urllib.parse.parse_qs(urllib.parse.urlsplit(d["browserUrl"]).fragment)
    once = frag["bootstrapToken"][0]
    assert frag["bootstrapProfile"] == ["owner"] and TOKEN not in d["browserUrl"], d["browserUrl"]
    ob = ctx.new_browser()
    ob.get(d["browserUrl"])
    ob.wait_state("connected")
    assert "#" not in ob.driver.current_url and once not in ob.driver.current_url, ob.driver.current_url
    connects = sent(ob, "connect")
    assert connects[0].get("auth") == {"bootstrapToken": once}, connects[0].get("auth")
    hello = ctx.hello(ob)
    assert hello["auth"].get("deviceToken") and "operator.admin" in hello["auth"]["scopes"], hello["auth"]
    assert ob.js("return Object.keys(sessionStorage).filter(k => k.startsWith('openclaw.panel.token ')).length") == 0
    ob.wait_text("#ov-version", ctx.version)
    ob.driver.refresh()
    ob.wait_state("connected")
    assert sent(ob, "connect")[-1].get("auth") == {"deviceToken": hello["auth"]["deviceToken"]}, sent(ob, "connect")[-1]
    ctx.quit_browser(ob)
    again = ctx.new_browser()
    again.get(d["browserUrl"])
    again.wait_text("#signin-msg", "already used or has expired")
    ctx.quit_browser(again)


@test
def pages_are_reachable_by_keyboard_and_by_address(ctx):
    """Tab reaches the page links, Enter opens one; the address is a real path under the base
    path, a reload of it shows the same page (history routing), Back works."""
    b = ctx.browser
    b.js("document.activeElement && document.activeElement.blur()")
    for _ in range(25):
        ActionChains(b.driver).send_keys(Keys.TAB).perform()
        if b.js("return document.activeElement && document.activeElement.dataset.route") == "sessions":
            break
    else:
        raise AssertionError("Tab never reached the Sessions link")
    ActionChains(b.driver).send_keys(Keys.ENTER).perform()
    b.find('.page[data-page="sessions"]')
    assert b.js("return document.querySelector('nav a[aria-current=page]').dataset.route") == "sessions"
    assert urllib.parse.urlsplit(b.driver.current_url).path == BASE_PATH + "sessions", b.driver.current_url
    b.driver.refresh()
    b.wait_state("connected")
    b.find('.page[data-page="sessions"]')
    b.driver.back()
    b.find('.page[data-page="overview"]')


@test
def chat_streams_the_offline_answer(ctx):
    """Chat in the main session with the offline responder: the answer appears piece by piece."""
    b = ctx.browser
    b.nav("chat")
    wait_for(lambda: b.find("#chat-session").get_attribute("value") == MAIN, what="the main session selected")
    b.js("""window.__seen = [];
      const log = document.getElementById('chat-log');
      new MutationObserver(() => {
        const s = log.querySelector('.msg.assistant.streaming .body');
        if (s) window.__seen.push(s.textContent.length);
      }).observe(log, {subtree: true, childList: true, characterData: true});""")
    b.drain()
    mark = len(b.received)
    text = "hello from the browser test"
    b.find("#chat-input").send_keys(text)
    b.find("#chat-send").click()
    answer = wait_for(lambda: b.js("const d = [...document.querySelectorAll('#chat-log .msg.assistant[data-state=done] .body')].pop(); return d ? d.textContent : ''"),
                      what="the final answer")
    assert answer.startswith("[offline]") and f'You said: "{text}"' in answer, answer
    # The offline responder answers at once, so the gateway sends few deltas; the slow model of
    # the next test shows word-by-word streaming.
    seen = b.js("return window.__seen")
    assert any(1 < n < len(answer) for n in seen), f"no partial answer was drawn before the final one: {seen}"
    b.drain()
    deltas = [f for _, f in b.received[mark:] if f.get("event") == "chat" and f["payload"].get("state") == "delta"]
    assert deltas, "no chat delta event"
    assert b.find("#chat-model").text.startswith("answers with")
    b.screenshot("chat")


@test
def chat_stop_aborts_a_streaming_answer(ctx):
    """A new session answered by a slow streaming model (chosen in Chat): Stop ends the run and
    the partial answer stays, marked stopped."""
    b = ctx.browser
    b.nav("chat")
    b.find("#chat-new").click()
    key = wait_for(lambda: (lambda v: v if v.startswith("agent:main:panel-") else None)(b.find("#chat-session").get_attribute("value")),
                   what="a new session key")
    Select(b.find("#chat-model-select")).select_by_value("slow/slow")
    b.wait_text("#chat-model", "slow/slow")
    b.js("""window.__seen = [];
      const log = document.getElementById('chat-log');
      new MutationObserver(() => {
        const s = log.querySelector('.msg.assistant.streaming .body');
        if (s) window.__seen.push(s.textContent);
      }).observe(log, {subtree: true, childList: true, characterData: true});""")
    b.find("#chat-input").send_keys("count for me, slowly")
    b.find("#chat-send").click()
    wait_for(lambda: "word3" in b.js("const s = document.querySelector('#chat-log .msg.assistant.streaming .body'); return s ? s.textContent : ''"),
             what="the slow answer streaming")
    b.screenshot("chat-streaming")
    seen = b.js("return window.__seen")
    words = sorted({t for t in seen if t.startswith("word")}, key=len)
    assert len(words) >= 3 and all(b_.startswith(a) for a, b_ in zip(words, words[1:])), f"not drawn word by word: {seen}"
    b.find("#chat-stop").click()
    meta = wait_for(lambda: b.js("const d = [...document.querySelectorAll('#chat-log .msg.assistant[data-state=done]')].pop(); return d ? d.querySelector('.meta').textContent : ''"),
                    what="the stopped answer")
    assert meta == "stopped", meta
    body = b.js("return [...document.querySelectorAll('#chat-log .msg.assistant')].pop().querySelector('.body').textContent")
    assert "word3" in body and "word119" not in body, body
    abort = sent(b, "chat.abort")
    assert abort and abort[-1]["sessionKey"] == key, abort
    b.screenshot("chat-stopped")
    # Back to the main session for the tests after this one.
    Select(b.find("#chat-session")).select_by_value(MAIN)


@test
def channels_page_approves_a_telegram_pairing_request(ctx):
    """Someone unknown writes to the bot (fake Telegram) and gets a pairing code; the Channels
    page lists the request; a second request appears on the next `health` event while the pointer
    rests on the first one's Approve (that line is kept, not rebuilt); Approve lets the first
    person in, they are told, and the agent answers them; Dismiss sends the second away."""
    b = ctx.browser
    ctx.tg.push_private(4242, "hi, can I talk to the bot?")
    m = ctx.tg.wait_sent(lambda m: m["chat_id"] == "4242" and "Pairing code:" in m["text"], what="the pairing code message")
    code = m["text"].split("Pairing code: ", 1)[1].split()[0]
    b.nav("channels")
    item = b.find(f'#ch-pairing [data-request="{code}"]')
    assert "@user4242" in item.text and "Telegram" in item.text, item.text
    b.wait_text('#ch-list [data-channel="telegram"]', "healthy")
    b.screenshot("channels")
    # Someone else asks while the pointer rests on the first Approve.
    approve = b.find(f'#ch-pairing [data-request="{code}"] button.primary')
    ActionChains(b.driver).move_to_element(approve).perform()
    ctx.tg.push_private(4343, "let me in")
    m = ctx.tg.wait_sent(lambda m: m["chat_id"] == "4343" and "Pairing code:" in m["text"], what="the second pairing code")
    other = m["text"].split("Pairing code: ", 1)[1].split()[0]
    b.find(f'#ch-pairing [data-request="{other}"]', timeout=8)
    assert b.js("return document.querySelector(arguments[0]) === arguments[1]",
                f'#ch-pairing [data-request="{code}"] button.primary', approve), "the hovered line was rebuilt"
    b.click_button(f'#ch-pairing [data-request="{code}"]', "Approve")
    b.wait_text(".page", "Approved @user4242 on Telegram; they were told.")
    ctx.tg.wait_sent(lambda m: m["chat_id"] == "4242" and "approved" in m["text"].lower(), what="the approval notice")
    wait_for(lambda: not b.finds(f'#ch-pairing [data-request="{code}"]'), what="the approved request gone from the list")
    b.click_button(f'#ch-pairing [data-request="{other}"]', "Dismiss")
    b.wait_text(".page", "Dismissed the request from @user4343.")
    b.find("#ch-no-pairing")
    ctx.tg.push_private(4242, "now?")
    ctx.tg.wait_sent(lambda m: m["chat_id"] == "4242" and "[offline]" in m["text"], what="the agent's answer to the approved user")


@test
def channels_page_stops_starts_and_probes(ctx):
    """Stop, Start and Probe on the Telegram card, each showing the channel's real state. The
    connection is slowed so the card shows the start first; the gateway's `health` event then
    brings "healthy" while the pointer still rests on the button (the card is updated in place,
    not skipped, and not rebuilt under the pointer)."""
    b = ctx.browser
    b.nav("channels")
    card = '#ch-list [data-channel="telegram"]'
    b.click_button(card, "Stop")
    b.wait_text(card, "stopped")
    ctx.tg.getme_delay = 1.5
    try:
        b.click_button(card, "Start")
        b.wait_text(card, "connecting")
        toggle = b.js("return document.querySelector(arguments[0] + ' .bar button')", card)
        b.wait_text(card, "healthy", timeout=8)
    finally:
        ctx.tg.getme_delay = 0.0
    assert b.js("return document.querySelector(arguments[0] + ' .bar button') === arguments[1]", card, toggle), "the button was replaced"
    assert toggle.text == "Stop", toggle.text
    b.click_button(card, "Probe")
    b.wait_text('#ch-list [data-channel="telegram"] [data-probe="ok"]', "@panel_test_bot")


@test
def sessions_page_labels_resets_and_deletes(ctx):
    """Sessions lists the main session (where Telegram direct messages go too) and the one made in
    Chat; a label is saved (and comes back through sessions.changed), the main session is reset,
    the other one deleted after a confirmation."""
    b = ctx.browser
    b.nav("sessions")
    wait_for(lambda: b.finds("#se-list li"), what="the session list")
    keys = [e.get_attribute("data-key") for e in b.finds("#se-list [data-key]")]
    need_main, need_other = MAIN not in keys, not any(k.startswith("agent:main:panel-") for k in keys)
    if need_main or need_other:
        # Run on its own: make the two sessions in Chat first.
        b.nav("chat")
        if need_main:
            wait_for(lambda: b.find("#chat-session").get_attribute("value") == MAIN, what="the main session in Chat")
            chat_once(b, "hello main")
        if need_other:
            b.find("#chat-new").click()
            chat_once(b, "hello other")
        b.nav("sessions")
    wait_for(lambda: len(b.finds("#se-list [data-key]")) >= 2, what="the session list")
    other = next(e.get_attribute("data-key") for e in b.finds("#se-list [data-key]") if e.get_attribute("data-key").startswith("agent:main:panel-"))
    main = b.find(f'#se-list [data-key="{MAIN}"]')
    label = main.find_element(By.CSS_SELECTOR, "input")
    label.clear()
    label.send_keys("Panel test session" + Keys.TAB)
    b.wait_text(".page", f"Saved label of {MAIN}.")
    wait_for(lambda: b.js(f"return document.querySelector('#se-list [data-key=\"{MAIN}\"] input').value") == "Panel test session",
             what="the label after sessions.changed")
    b.screenshot("sessions")
    b.click_button(f'#se-list [data-key="{MAIN}"]', "Reset")
    b.wait_text(".page", f"Reset {MAIN}")
    b.click_button(f'#se-list [data-key="{other}"]', "Delete")
    b.click_button(f'#se-list [data-key="{other}"]', "Confirm delete")
    b.wait_text(".page", f"Deleted {other}.")
    wait_for(lambda: not b.finds(f'#se-list [data-key="{other}"]'), what="the deleted session to leave the list")
    assert {"key": MAIN, "label": "Panel test session"} in sent(b, "sessions.patch")
    assert sent(b, "sessions.delete")[-1] == {"key": other}


@test
def config_save_refuses_a_stale_hash_then_applies_a_good_one(ctx):
    """The raw editor: a save based on a hash that changed meanwhile is refused in place, an
    invalid config shows the gateway's issues in place, a good one says what the reload did."""
    b = ctx.browser
    b.nav("config")
    wait_for(lambda: '"gateway"' in editor(b), what="the config text")
    original = json.loads(editor(b))
    mine = dict(original, logging={"level": "debug"})
    set_editor(b, json.dumps(mine, indent=2) + "\n")
    # Meanwhile the file changes on the gateway host.
    disk = json.loads(ctx.gw.config_path.read_text())
    disk["meta"] = {"lastTouchedBy": "someone else"}
    ctx.gw.config_path.write_text(json.dumps(disk, indent=2) + "\n")
    b.wait_text("#cfg-info", "changed on the gateway while you were editing")
    b.find("#cfg-save").click()
    err = b.find('#cfg-error[data-code="CONFIG_BASE_HASH_MISMATCH"]')
    assert "changed on the gateway after you loaded it" in err.text, err.text
    b.screenshot("config-stale")
    err.find_element(By.XPATH, ".//button").click()
    wait_for(lambda: "someone else" in editor(b), what="the current file in the editor")
    # Invalid: a typo the gateway would not start with.
    bad = json.loads(editor(b))
    bad["gateway"]["prot"] = 1
    set_editor(b, json.dumps(bad, indent=2))
    b.find("#cfg-save").click()
    err = b.find('#cfg-error[data-code="INVALID_CONFIG"]')
    assert "gateway.prot" in err.text, err.text
    # Good: a hot change.
    good = json.loads(editor(b))
    del good["gateway"]["prot"]
    good["logging"] = {"level": "debug"}
    set_editor(b, json.dumps(good, indent=2) + "\n")
    b.find("#cfg-save").click()
    out = b.find('#cfg-outcome[data-outcome="hot"]')
    assert "logging" in out.text, out.text
    assert json.loads(ctx.gw.config_path.read_text())["logging"] == {"level": "debug"}
    b.screenshot("config")
    # Only formatting: saved, no change in effect.
    set_editor(b, editor(b).rstrip("\n") + "\n\n")
    b.find("#cfg-save").click()
    b.find('#cfg-outcome[data-outcome="none"]')
    sets = sent(b, "config.set")
    assert len(sets) == 4 and all("baseHash" in p for p in sets), sets


@test
def config_restart_is_reported_across_the_reconnect(ctx):
    """A change that needs a restart: the gateway says shutdown and closes (1012), the panel shows
    it is reconnecting, comes back by itself, and still says what the save did."""
    b = ctx.browser
    b.nav("config")
    wait_for(lambda: '"gateway"' in editor(b), what="the config text")
    connects = count(b, "connect")
    cfg = json.loads(editor(b))
    cfg["gateway"]["push"] = {}
    set_editor(b, json.dumps(cfg, indent=2) + "\n")
    b.find("#cfg-save").click()
    b.wait_text("#cfg-outcome", "restarting")
    wait_for(lambda: count(b, "connect") > connects and b.state() == "connected", what="the reconnect after the restart")
    b.drain()
    assert any(f.get("event") == "shutdown" for _, f in b.received), "no shutdown event seen"
    b.find('#cfg-outcome[data-outcome="restarting"]')


@test
def logs_page_tails_only_while_visible(ctx):
    """Logs reads the log by cursor every 2 s while shown and visible; the level filter hides
    lines in place; a hidden tab or another page sends nothing."""
    b = ctx.browser
    b.nav("logs")
    wait_for(lambda: b.js("return document.querySelectorAll('#log-lines div').length") > 3, what="log lines")
    Select(b.find("#log-level")).select_by_value("warn")
    assert b.js("return [...document.querySelectorAll('#log-lines div')].filter(d => !d.hidden && !['warn','error','fatal'].includes(d.dataset.level)).length") == 0
    Select(b.find("#log-level")).select_by_value("debug")
    assert b.js("return [...document.querySelectorAll('#log-lines div[data-level=debug]')].filter(d => !d.hidden).length") > 0
    Select(b.find("#log-level")).select_by_value("info")
    b.screenshot("logs")
    n = count(b, "logs.tail")
    time.sleep(4.5)
    assert count(b, "logs.tail") >= n + 2, "Logs should follow the file while visible"
    # The browser says the tab is hidden (as when it is in the background).
    b.js("Object.defineProperty(document, 'hidden', {configurable: true, get: () => true}); document.dispatchEvent(new Event('visibilitychange'))")
    time.sleep(0.5)
    n = count(b, "logs.tail")
    time.sleep(5)
    assert count(b, "logs.tail") == n, "Logs asked while hidden"
    b.js("delete document.hidden; document.dispatchEvent(new Event('visibilitychange'))")
    wait_for(lambda: count(b, "logs.tail") > n, what="Logs to resume when visible")
    b.nav("overview")
    time.sleep(0.5)
    n = count(b, "logs.tail")
    time.sleep(4)
    assert count(b, "logs.tail") == n, "Logs kept asking after leaving the page"


@test
def overview_sends_nothing_but_event_driven_refreshes(ctx):
    """No polling: over 10 s on Overview the panel only refreshes status in answer to health
    events (channel liveness comes in the health event itself)."""
    b = ctx.browser
    b.nav("overview")
    time.sleep(1.5)
    b.drain()
    sent_mark, recv_mark = len(b.sent), len(b.received)
    time.sleep(10)
    b.drain()
    methods = Counter(f.get("method") for _, f in b.sent[sent_mark:])
    healths = sum(1 for _, f in b.received[recv_mark:] if f.get("event") == "health")
    # Health summaries carry lastTransportActivityAt: no channels.status after each one.
    assert set(methods) <= {"status"}, methods
    assert healths >= 2 and sum(methods.values()) <= 2 * healths + 2, (methods, healths)
    ctx.report.append(f"no polling: over 10 s on Overview with a health event every 3 s ({healths} seen), the panel sent {dict(methods)}")


@test
def devices_page_shows_this_browser_and_degrades_without_pairing(ctx):
    """Devices shows this browser's id and confirmation code, and the paired and waiting devices;
    on a gateway without device pairing it says so in place."""
    b = ctx.browser
    b.nav("devices")
    b.wait_text("#dev-me", "confirmation code")
    if ctx.backend:
        b.find("#dev-body .card")
    else:
        b.wait_text("#dev-unsupported", "does not pair devices yet")
    b.screenshot("devices")


@test
def phone_width_and_dark_scheme(ctx):
    """At 360 px with a dark system scheme every page fits the width and is dark."""
    pb = ctx.new_browser(width=400, height=800)
    pb.cdp("Emulation.setDeviceMetricsOverride", {"width": 360, "height": 780, "deviceScaleFactor": 2, "mobile": True})
    pb.cdp("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    pb.get(ctx.url(token=TOKEN))
    pb.wait_state("connected")
    bg = pb.js("return getComputedStyle(document.documentElement).backgroundColor")
    rgb = [int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]]
    assert sum(rgb) < 150, f"not dark: {bg}"
    for route in ("overview", "chat", "channels", "sessions", "logs", "config", "devices"):
        pb.js("arguments[0].click()", pb.find(f'nav a[data-route="{route}"]'))
        pb.find(f'.page[data-page="{route}"]')
        time.sleep(0.8)
        width = pb.js("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{route} is wider than the phone: {width}"
        if route in ("overview", "chat", "channels"):
            pb.screenshot(f"phone-dark-{route}")
    ctx.quit_browser(pb)


@test
def a_wrong_or_missing_token_shows_the_sign_in_form(ctx):
    """No token: the sign-in form. A wrong one: the form says the gateway refused it (never a
    blank page), nothing is kept; the right one typed in the form gets in."""
    wb = ctx.new_browser()
    wb.get(ctx.url())
    wb.find('[data-screen="signin"]')
    assert wb.js("return document.getElementById('signin-msg').textContent") == ""
    wb.get(ctx.url(token="not-the-token"))
    wb.wait_text("#signin-msg", "The gateway refused this token")
    wb.wait_text("#signin-msg", "token mismatch")
    assert wb.state() == "signin"
    assert wb.js("return Object.keys(sessionStorage).filter(k => k.startsWith('openclaw.panel.token ')).length") == 0
    wb.screenshot("sign-in")
    wb.find("#token").send_keys(TOKEN + Keys.ENTER)
    wb.wait_state("connected")
    wb.find('.page[data-page="overview"]')
    ctx.quit_browser(wb)


@test
def an_origin_the_gateway_does_not_allow_is_explained(ctx):
    """The panel opened from an origin missing in gateway.controlUi.allowedOrigins (localhost
    instead of 127.0.0.1): the gateway's refusal is shown with its code, not a blank page."""
    ob = ctx.new_browser()
    ob.get(ctx.dev_url(f"ws://localhost:{ctx.gw.port}", token=TOKEN, host="localhost"))
    screen = ob.find('[data-screen="fatal"]')
    assert "origin not allowed" in screen.text and "CONTROL_UI_ORIGIN_NOT_ALLOWED" in screen.text, screen.text
    ctx.quit_browser(ob)


@test
def device_pairing_flows_against_a_scripted_gateway(ctx):
    """The device flows of the back end to come, against a scripted gateway that answers with the
    official shapes: the pairing wait with the request id and confirmation code, retried every 5 s
    until approved; the device token from hello-ok kept and used alone in a new tab; the Devices
    page approving another browser; CPU from status.processCpu; a 4001 close after which the
    refused device token leads to the sign-in form with the reason."""
    state = {"revoked": False}

    def script(n, params):
        auth = params.get("auth", {})
        if "deviceToken" in auth:
            return ("refuse", DEVICE_TOKEN_MISMATCH, 1008) if state["revoked"] else ("accept", {"deviceToken": "dtok-1"})
        if "token" not in auth:
            return ("refuse", TOKEN_MISSING, 1008)
        if n < 3:
            err = json.loads(json.dumps(PAIRING_REQUIRED))
            err["details"]["deviceId"] = params["device"]["id"]
            return ("refuse", err, 1008)
        return ("accept", {"deviceToken": "dtok-1", "issuedAtMs": int(time.time() * 1000)})

    fake = FakeGateway(script)
    ctx.cleanup.append(fake.stop)
    fb = ctx.new_browser()
    fb.get(ctx.dev_url(fake.ws_url, token=TOKEN))
    fb.find('[data-screen="pairing"]')
    fb.wait_text("#pair-request", "req-1234")
    dev = fake.connects[0]["device"]["id"]
    code = (dev[:4] + "-" + dev[4:8]).upper()
    fb.wait_text("#pair-code", code)
    fb.screenshot("pairing-wait")
    fb.wait_state("connected", timeout=20)
    assert len(fake.connects) == 3 and all(c["auth"]["token"] == TOKEN for c in fake.connects), fake.connects
    fb.wait_text("#ov-cpu", "% of a core")
    fb.nav("devices")
    item = fb.find('#dev-pending [data-request="req-other"]')
    assert "ABAB-ABAB" in item.text and "203.0.113.9" in item.text, item.text
    assert "this browser" in fb.text(f'#dev-paired [data-device="{dev}"]')
    fb.screenshot("devices-pairing")
    fb.click_button('#dev-pending [data-request="req-other"]', "Approve")
    fb.wait_text(".page", "Approved Phone browser.")
    wait_for(lambda: not fb.finds('#dev-pending [data-request="req-other"]'), what="the approved request to leave the list")
    fb.click_button('#dev-pending [data-request="req-third"]', "Reject")
    fb.wait_text(".page", "Rejected Tablet browser.")
    wait_for(lambda: not fb.finds("#dev-pending"), what="no request left waiting")
    assert [r["params"] for r in fake.requests if r["method"] == "device.pair.approve"] == [{"requestId": "req-other"}]
    assert [r["params"] for r in fake.requests if r["method"] == "device.pair.reject"] == [{"requestId": "req-third"}]
    # A new tab has no shared token: the device token alone signs it in.
    first = fb.driver.current_window_handle
    fb.driver.switch_to.new_window("tab")
    fb.get(ctx.dev_url(fake.ws_url))
    fb.wait_state("connected")
    assert fake.connects[-1]["auth"] == {"deviceToken": "dtok-1"}, fake.connects[-1].get("auth")
    # Closed as a slow consumer (1008): the page says why, reconnects by itself.
    fb.js("""window.__states = [];
      const pill = document.getElementById('conn-state'), banner = document.querySelector('.banner');
      new MutationObserver(() => window.__states.push(pill.dataset.state + ' ' + (banner.hidden ? '' : banner.textContent)))
        .observe(document.querySelector('header'), {subtree: true, attributes: true, childList: true, characterData: true});
      new MutationObserver(() => window.__states.push(pill.dataset.state + ' ' + (banner.hidden ? '' : banner.textContent)))
        .observe(banner, {subtree: true, attributes: true, childList: true, characterData: true});""")
    n = len(fake.connects)
    fake.close_all(1008, "slow consumer")
    wait_for(lambda: len(fake.connects) >= n + 2 and len(fake.live) == 2 and fb.state() == "connected", what="both tabs reconnected after 1008")
    states = fb.js("return window.__states")
    assert any(x.startswith("reconnecting") and "slow consumer" in x for x in states), states
    # This browser is removed from its own Devices page: the gateway answers, closes with 4001,
    # refuses the device token from then on; both tabs end at the sign-in form saying why.
    state["revoked"] = True
    fb.driver.switch_to.window(first)
    fb.click_button(f'#dev-paired [data-device="{dev}"]', "Remove")
    fb.click_button(f'#dev-paired [data-device="{dev}"]', "Confirm remove")
    fb.wait_text("#signin-msg", "credentials changed (device removed)")
    assert [r["params"] for r in fake.requests if r["method"] == "device.pair.remove"] == [{"deviceId": dev}]
    fb.driver.switch_to.window(fb.driver.window_handles[-1])
    fb.wait_text("#signin-msg", "credentials changed")
    ctx.quit_browser(fb)


@test
def a_paired_browser_signs_in_with_its_device_token(ctx):
    """[back end] hello-ok.auth.deviceToken is kept; a new tab without the shared token connects
    with {deviceToken} alone."""
    ctx.need_backend("hello-ok.auth.deviceToken")
    hello = ctx.hello()
    assert hello["auth"].get("deviceToken"), "hello-ok carried no deviceToken"
    b = ctx.browser
    b.driver.switch_to.new_window("tab")
    b.get(ctx.url())
    b.wait_state("connected")
    connects = sent(b, "connect")
    assert connects[-1].get("auth") == {"deviceToken": hello["auth"]["deviceToken"]}, connects[-1].get("auth")
    b.driver.close()
    b.driver.switch_to.window(b.driver.window_handles[0])


@test
def a_remote_browser_waits_for_approval_then_gets_in(ctx):
    """[back end] A browser reaching the gateway through a proxy (X-Forwarded-For, a non-loopback
    address) gets pairing required and waits with its request id and code; the owner's Devices
    page lists it live; `openclaw devices approve` lets it in."""
    ctx.need_backend("device pairing for non-loopback browsers")
    proxy = ForwardingProxy(ctx.gw.port)
    ctx.cleanup.append(proxy.stop)
    rb = ctx.new_browser()
    rb.get(ctx.url(token=TOKEN, port=proxy.port))
    rb.find('[data-screen="pairing"]')
    rid = wait_for(lambda: (lambda t: t if t != "—" else None)(rb.text("#pair-request")), what="the request id")
    code = rb.text("#pair-code")
    rb.screenshot("pairing-wait-real")
    b = ctx.browser
    b.nav("devices")
    item = b.find(f'#dev-pending [data-request="{rid}"]')
    assert code in item.text, (code, item.text)
    rc, out, err = ctx.gw.cli("devices", "approve", rid)
    assert rc == 0, (rc, out, err)
    rb.wait_state("connected", timeout=20)
    ctx.quit_browser(rb)


@test
def a_save_of_redacted_text_keeps_the_secrets(ctx):
    """[back end] config.get redacts secrets to __OPENCLAW_REDACTED__; saving that text back (with
    an unrelated change) must keep the real secrets in the file."""
    secret = "sk-literal-secret-in-the-file"
    cfg = ctx.config()
    cfg["models"]["providers"]["slow"]["apiKey"] = secret
    gw = ctx.start_gateway(fast=False, config=cfg)
    rb = ctx.new_browser()
    rb.get(ctx.url("config", token=TOKEN, gw=gw))
    rb.wait_state("connected")
    wait_for(lambda: "__OPENCLAW_REDACTED__" in rb.js("const t = document.getElementById('cfg-raw'); return t ? t.value : ''"),
             what="the redacted secret in the editor")
    text = editor(rb)
    assert secret not in text
    edited = json.loads(text)
    edited["logging"] = {"level": "debug"}
    set_editor(rb, json.dumps(edited, indent=2) + "\n")
    rb.find("#cfg-save").click()
    outcome = wait_for(lambda: rb.finds("#cfg-outcome") or rb.finds("#cfg-error"), what="the save's outcome")
    on_disk = gw.config_path.read_text()
    ctx.quit_browser(rb)
    gw.stop()
    if secret in on_disk and "__OPENCLAW_REDACTED__" not in on_disk:
        return
    if "__OPENCLAW_REDACTED__" in on_disk and not ctx.backend and os.environ.get("PANEL_EXPECT_BACKEND", "1") == "0":
        raise ctx.Skip("needs the back end to restore redacted secrets on config.set: today the file gets __OPENCLAW_REDACTED__")
    raise AssertionError(f"the save did not keep the secret: {outcome[0].text!r}\n{on_disk}")


@test
def idle_cpu_with_the_panel_open(ctx):
    """Gateway CPU (utime + stime from /proc/<pid>/stat) over PANEL_CPU_SECONDS (60) with default
    intervals: first without a browser, then with the panel open on Overview. The gate is 1 % of
    a core (DESIGN.md §4); the goal 0.1 %."""
    secs = int(os.environ.get("PANEL_CPU_SECONDS", "60"))
    if secs <= 0:
        raise ctx.Skip("PANEL_CPU_SECONDS=0")
    gw = ctx.start_gateway(fast=False)
    hz = os.sysconf("SC_CLK_TCK")

    def measure():
        t0, w0 = gw.cpu_ticks(), time.monotonic()
        time.sleep(secs)
        t1, w1 = gw.cpu_ticks(), time.monotonic()
        return 100.0 * (t1 - t0) / hz / (w1 - w0), t1 - t0

    time.sleep(2)
    base, base_ticks = measure()
    cb = ctx.new_browser()
    cb.get(ctx.url(token=TOKEN, gw=gw))
    cb.wait_state("connected")
    cb.wait_text("#ov-memory", "MiB")
    time.sleep(3)
    cb.drain()
    sent_mark = len(cb.sent)
    pct, ticks = measure()
    cb.drain()
    methods = Counter(f.get("method") for _, f in cb.sent[sent_mark:])
    ctx.report.append(f"gateway CPU over {secs} s, default intervals: {base:.3f} % of a core without a browser ({base_ticks} ticks of 1/{hz} s), "
                      f"{pct:.3f} % with the panel open on Overview ({ticks} ticks); the panel sent {sum(methods.values())} requests {dict(methods)}")
    ctx.quit_browser(cb)
    gw.stop()
    assert pct < 1.0, pct


@test
def every_frame_the_panel_sent_was_valid(ctx):
    """All frames of this run were checked after each test (RequestFrame, and the method's
    *Params where the schema has one); here the totals."""
    for b in ctx.browsers:
        ctx.check(b)
    assert ctx.frames_checked > 0
    allowed = set(ctx.hello()["features"]["methods"]) | PAIRING_METHODS | {"connect"}
    unknown = set(ctx.frames) - allowed
    assert not unknown, f"the panel called methods the gateway does not have: {unknown}"
    with_params = sorted(m for m in ctx.frames if ctx.schema.has_params(m))
    without = sorted(m for m in ctx.frames if not ctx.schema.has_params(m))
    ctx.report.append(f"frames validated: {ctx.frames_checked} requests, {len(ctx.frames)} methods; "
                      f"with a *Params definition: {', '.join(with_params)}; RequestFrame only (no params schema): {', '.join(without) or 'none'}")
    shots = sorted(p.name for p in SCREENSHOTS.glob("*.png") if not p.name.startswith(("FAILED", "smoke")))
    ctx.report.append(f"screenshots: {', '.join(shots)}")
