//! The Telegram channel against the fake Bot API: answers in the same chat exactly once (across a
//! restart and a `kill -9`), the access policies and pairing, a stalled poll and a 409 conflict
//! noticed and recovered while `channels.status` tells the truth, bad tokens that stop instead
//! of looping, retries on 429, chunked answers, `send` and `openclaw message send`.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{FakeLlm, Flavor, Reply};
use crate::support::fake_telegram::{FakeTelegram, Fault};
use crate::support::*;

const BOT_TOKEN: &str = "123456:TEST-token";
const WAIT: Duration = Duration::from_secs(15);

fn config(tg: &FakeTelegram, channel: Value) -> Value {
    let mut c = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": tg.api_root()}}
    });
    merge(&mut c["channels"]["telegram"], channel);
    c
}

fn open() -> Value {
    json!({"dmPolicy": "open", "allowFrom": ["*"]})
}

/// Fast timings: a 1 s long poll, a 1 s stall grace, short backoffs.
fn builder(cfg: Value) -> GwBuilder {
    Gw::builder()
        .config(cfg)
        .env("OPENCLAW_CHANNEL_POLL_TIMEOUT_MS", "1000")
        .env("OPENCLAW_CHANNEL_STALL_GRACE_MS", "1000")
        .env("OPENCLAW_CHANNEL_BACKOFF_MIN_MS", "100")
        .env("OPENCLAW_CHANNEL_BACKOFF_MAX_MS", "400")
        .env("OPENCLAW_CHANNEL_RETRY_BASE_MS", "50")
}

fn model(fake: &FakeLlm) -> Value {
    json!({"models": {"providers": {"mock": {"baseUrl": fake.base_url(), "apiKey": "k", "api": "openai-completions",
                                             "models": [{"id": "echo", "contextWindow": 32768}]}}},
           "agents": {"defaults": {"model": "mock/echo"}}})
}

async fn telegram_status(gw: &Gw, probe: bool) -> Value {
    let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
    let r = c.request("channels.status", json!({"probe": probe})).await;
    assert_eq!(r["ok"], true, "{r}");
    r["payload"]["channelAccounts"]["telegram"][0].clone()
}

/// Polls `channels.status` until `pred` holds; returns the account.
async fn status_until(gw: &Gw, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = telegram_status(gw, false).await;
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "status never matched; last: {s}");
        smol::Timer::after(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_direct_message_is_answered_once_in_the_same_chat() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let gw = builder(config(&tg, open())).start();
    tg.push_private(42, "hello there");
    let sent = tg.wait_sent(1, WAIT);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].chat_id, "42");
    assert!(sent[0].text.contains("[offline]"), "the offline model answered: {}", sent[0].text);
    assert!(tg.chat_actions().iter().any(|(c, a)| c == "42" && a == "typing"));
    // The offset confirmed the update, and nothing else was sent.
    assert!(wait_for(WAIT, || tg.pending_updates() == 0));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tg.sent().len(), 1);
    let polls = tg.polls();
    assert!(polls.iter().all(|p| p.timeout == Some(1) && p.allowed_updates == Some(json!(["message"]))), "{polls:?}");
    smol::block_on(async {
        let s = status_until(&gw, WAIT, |s| s["lastOutboundAt"].is_u64()).await;
        assert_eq!((s["running"].clone(), s["connected"].clone(), s["mode"].clone()), (json!(true), json!(true), json!("polling")), "{s}");
        assert!(s["lastInboundAt"].is_u64() && s["lastError"].is_null(), "{s}");
        assert_eq!(s["name"], "@test_bot");
        // health carries the per-channel state too.
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
        let h = c.request("health", json!({})).await;
        assert_eq!(h["payload"]["channels"]["telegram"]["connected"], true, "{h}");
        assert_eq!(h["payload"]["channelOrder"], json!(["telegram"]));
    });
}

#[test]
fn bot_api_calls_reuse_keep_alive_connections() {
    let tg = FakeTelegram::start_keep_alive(BOT_TOKEN);
    let _gw = builder(config(&tg, open())).start();
    for (i, user) in [51, 52, 53].into_iter().enumerate() {
        tg.push_private(user, "hello");
        assert_eq!(tg.wait_sent(i + 1, WAIT).len(), i + 1);
    }
    let calls = tg.calls("getme") + tg.calls("getupdates") + tg.calls("sendmessage") + tg.calls("sendchataction");
    // Each reply is a chat action and a message besides the polls; the long poll holds one
    // connection while a send uses another, so a few connections serve them all.
    assert!(calls >= 10, "{calls} calls");
    assert!(tg.connections() <= 4, "{} connections for {calls} calls", tg.connections());
}

#[test]
fn an_update_without_its_message_id_is_confirmed_and_skipped_not_answered() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let gw = builder(config(&tg, open())).start();
    tg.push_private_without(43, "broken", "message_id");
    tg.push_private(44, "well formed");
    let sent = tg.wait_sent(1, WAIT);
    assert_eq!(sent[0].chat_id, "44", "{sent:?}");
    // Both updates were confirmed (the broken one is not asked for forever), only one answered.
    assert!(wait_for(WAIT, || tg.pending_updates() == 0));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tg.sent().len(), 1, "{:?}", tg.sent());
    let line = gw.wait_line("cannot be read and was skipped", WAIT).expect("a log line says why the update was skipped");
    assert!(line.contains("missing field `message_id`"), "{line}");
}

#[test]
fn unknown_senders_get_a_pairing_code_and_are_answered_once_approved() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let gw = builder(config(&tg, json!({}))).start();
    tg.push_private(77, "hi, who are you?");
    let sent = tg.wait_sent(1, WAIT);
    let text = &sent[0].text;
    assert!(text.contains("Pairing code:") && text.contains("openclaw pairing approve telegram"), "{text}");
    let code = text.split("Pairing code: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(code.len(), 8);
    // A second message while pending gets no second code.
    tg.push_private(77, "hello?");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(tg.sent().len(), 1, "no new code while one is pending");
    smol::block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.pairing"]).await;
        let list = c.request("channels.pairing.list", json!({"channel": "telegram"})).await;
        assert_eq!(list["payload"]["requests"][0]["requestId"], json!(code), "{list}");
        assert_eq!(list["payload"]["requests"][0]["senderId"], "77");
        let wrong =
            c.request("channels.pairing.approve", json!({"channel": "telegram", "accountId": "default", "requestId": "ZZZZZZZZ"})).await;
        assert_eq!(wrong["error"]["code"], "INVALID_REQUEST", "{wrong}");
        let ok = c
            .request("channels.pairing.approve", json!({"channel": "telegram", "accountId": "default", "requestId": code, "notify": true}))
            .await;
        assert_eq!(ok["payload"]["senderId"], "77", "{ok}");
        assert_eq!(ok["payload"]["notification"], "sent");
    });
    tg.push_private(77, "now?");
    let sent = tg.wait_sent(3, WAIT);
    assert!(sent[1].text.contains("approved"), "{sent:?}");
    assert!(sent[2].text.contains("[offline]"), "{sent:?}");
    assert!(gw.state_dir().join("credentials/telegram-allowFrom.json").exists());
}

#[test]
fn pairing_approve_from_the_cli_works_with_the_gateway_running() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let gw = builder(config(&tg, json!({}))).start();
    tg.push_private(78, "hello");
    let sent = tg.wait_sent(1, WAIT);
    let code = sent[0].text.split("Pairing code: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let (rc, out, err) = Cmd::new(gw.home.clone()).args(["pairing", "list"]).output(WAIT);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains(&code) && out.contains("telegram"), "{out}");
    let (rc, _, err) = Cmd::new(gw.home.clone()).args(["pairing", "approve", "telegram", "NOPE2345"]).output(WAIT);
    assert_eq!(rc, 1);
    assert!(err.contains("No pending telegram pairing request"), "{err}");
    let (rc, out, err) = Cmd::new(gw.home.clone()).args(["pairing", "approve", "telegram", &code.to_lowercase()]).output(WAIT);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("Approved telegram sender 78"), "{out}");
    tg.push_private(78, "and now?");
    let sent = tg.wait_sent(2, WAIT);
    assert!(sent[1].text.contains("[offline]"), "{sent:?}");
}

#[test]
fn group_messages_need_an_allowed_group_and_a_mention() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let gw = builder(config(&tg, json!({"groups": {"-1001": {}}}))).start();
    tg.push_group(-1002, 5, "@test_bot hello from a group nobody allowed");
    tg.push_group(-1001, 5, "talking among ourselves");
    tg.push_group(-1001, 5, "@test_bot what time is it?");
    let sent = tg.wait_sent(1, WAIT);
    assert_eq!(sent[0].chat_id, "-1001");
    assert!(sent[0].reply_to.is_some(), "group answers reply to the message");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(tg.sent().len(), 1, "{:?}", tg.sent());
    assert!(wait_for(WAIT, || tg.pending_updates() == 0), "ignored messages are confirmed too");
    // Dropped before the journal: a busy group costs no disk writes.
    let journal = std::fs::read_to_string(gw.state_dir().join("channels/telegram/journal.jsonl")).unwrap();
    assert!(
        journal.contains("what time is it") && !journal.contains("among ourselves") && !journal.contains("nobody allowed"),
        "{journal}"
    );
}

#[test]
fn a_stalled_poll_is_noticed_reported_and_recovered() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let gw = builder(config(&tg, open())).start();
    smol::block_on(status_until(&gw, WAIT, |s| s["connected"] == true));
    tg.inject("getUpdates", Fault::Stall);
    let started = Instant::now();
    let s = smol::block_on(status_until(&gw, WAIT, |s| s["connected"] == false));
    assert!(s["lastError"].as_str().unwrap_or("").contains("stalled"), "{s}");
    assert_eq!(s["running"], true);
    // Poll timeout 1 s + grace 1 s (+ the poll that was already waiting): noticed within ~4 s.
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    tg.push_private(9, "are you back?");
    let sent = tg.wait_sent(1, WAIT);
    assert_eq!(sent[0].chat_id, "9");
    let s = smol::block_on(status_until(&gw, WAIT, |s| s["connected"] == true));
    assert!(s["reconnectAttempts"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["lastError"].is_null(), "{s}");
}

#[test]
fn a_conflict_is_a_clear_error_not_a_tight_loop_and_502s_are_survived() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    for _ in 0..4 {
        tg.inject("getUpdates", Fault::Conflict);
    }
    let gw = builder(config(&tg, open())).start();
    assert!(wait_for(WAIT, || tg.calls("getUpdates") >= 1));
    let first_conflict = Instant::now();
    let s = smol::block_on(status_until(&gw, WAIT, |s| s["lastError"].as_str().is_some_and(|e| e.contains("409"))));
    assert!(s["lastError"].as_str().unwrap().contains("another bot instance"), "{s}");
    assert_eq!(s["connected"], false);
    // Exponential backoff between conflicts (windows 100, 200, 400, 400 ms, each wait at least
    // half its window): the poll after the fourth conflict comes no sooner than 550 ms after the
    // first, where a tight loop would take a few milliseconds.
    assert!(wait_for(WAIT, || tg.calls("getUpdates") >= 5));
    let waited = first_conflict.elapsed();
    assert!(waited >= Duration::from_millis(500), "four conflicts in {waited:?}: a tight loop");
    assert!(tg.calls("getUpdates") <= 6, "{} polls", tg.calls("getUpdates"));
    tg.inject("getUpdates", Fault::Status(502));
    tg.inject("getUpdates", Fault::Drop);
    tg.push_private(3, "hello after the trouble");
    let sent = tg.wait_sent(1, WAIT);
    assert_eq!(sent.len(), 1);
    smol::block_on(status_until(&gw, WAIT, |s| s["connected"] == true && s["lastError"].is_null()));
}

#[test]
fn a_rejected_token_stops_the_channel_with_a_clear_status() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    tg.set_token_valid(false);
    let gw = builder(config(&tg, open())).start();
    let s = smol::block_on(status_until(&gw, WAIT, |s| s["healthState"] == "auth-failed"));
    assert_eq!((s["running"].clone(), s["connected"].clone()), (json!(false), json!(false)), "{s}");
    assert!(s["lastError"].as_str().unwrap().contains("rejected the bot token"), "{s}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(tg.calls("getMe"), 1, "no retry loop on a rejected token");
    assert_eq!(tg.calls("getUpdates"), 0);
    // probe says so too, and the CLI shows it.
    let p = smol::block_on(telegram_status(&gw, true));
    assert_eq!(p["probe"]["ok"], false, "{p}");
    let (_, out, _) = Cmd::new(gw.home.clone()).args(["channels", "status", "--probe"]).output(WAIT);
    assert!(out.contains("Telegram (default)") && out.contains("rejected the bot token"), "{out}");
    // Fixed token + channels.start: running again.
    tg.set_token_valid(true);
    smol::block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.admin"]).await;
        let r = c.request("channels.start", json!({"channel": "telegram"})).await;
        assert_eq!(r["ok"], true, "{r}");
        status_until(&gw, WAIT, |s| s["connected"] == true).await;
        let r = c.request("channels.stop", json!({"channel": "telegram"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let s = status_until(&gw, WAIT, |s| s["running"] == false).await;
        assert_eq!(s["healthState"], "stopped");
        let r = c.request("channels.start", json!({"channel": "discord"})).await;
        assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{r}");
    });
}

#[test]
fn answers_are_retried_after_429_and_split_at_the_limit() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    let para = "This sentence is part of a long answer. ".repeat(3);
    llm.push(Reply::text(&[&para, "\n\n", &para, "\n\n", &para]));
    let mut cfg = config(&tg, json!({"dmPolicy": "open", "allowFrom": ["*"], "textChunkLimit": 150}));
    merge(&mut cfg, model(&llm));
    let _gw = builder(cfg).start();
    tg.inject("sendMessage", Fault::RetryAfter(1));
    let started = Instant::now();
    tg.push_private(11, "tell me a lot");
    let sent = tg.wait_sent(3, WAIT);
    assert!(started.elapsed() >= Duration::from_secs(1), "retry_after was honoured");
    assert_eq!(sent.len(), 3, "{sent:?}");
    for s in &sent {
        assert!(s.text.chars().count() <= 150, "{}", s.text);
        assert_eq!(s.text, para.trim(), "split at the paragraph breaks");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tg.sent().len(), 3, "nothing sent twice");
}

#[test]
fn every_message_is_answered_exactly_once_across_kill_9_and_a_restart() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    // The first run is slow, so the gateway dies while the answer is being written.
    llm.push(Reply::slow(&["never", " finished"], Duration::from_millis(800)));
    let mut cfg = config(&tg, open());
    merge(&mut cfg, model(&llm));
    let mut gw = builder(cfg.clone()).start();
    tg.push_private(21, "first message");
    // Recorded and confirmed upstream, the model is running: kill -9 now.
    assert!(wait_for(WAIT, || tg.pending_updates() == 0 && llm.count() == 1));
    gw.signal(9);
    gw.wait_exit(WAIT);
    assert!(tg.sent().is_empty());
    tg.push_private(21, "second message, sent while the gateway was down");
    let home = gw.home.clone();
    drop(gw);
    let mut gw = builder(cfg.clone()).home(home.clone()).start();
    let sent = tg.wait_sent(2, WAIT);
    assert_eq!(sent.len(), 2, "{sent:?}");
    // Then a graceful restart while a third answer is in progress.
    llm.push(Reply::slow(&["third", " answer"], Duration::from_millis(800)));
    tg.push_private(21, "third message");
    assert!(wait_for(WAIT, || llm.count() >= 4));
    gw.signal(15);
    assert_eq!(gw.wait_exit(WAIT), Some(0));
    drop(gw);
    let _gw = builder(cfg).home(home).start();
    let sent = tg.wait_sent(3, WAIT);
    std::thread::sleep(Duration::from_millis(800));
    let sent_now = tg.sent();
    assert_eq!(sent_now.len(), 3, "each message answered exactly once: {sent_now:?}");
    assert_eq!(sent.len(), 3);
    assert_eq!(tg.pending_updates(), 0);
}

#[test]
fn send_rpc_and_message_send_cli_deliver_text() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let gw = builder(config(&tg, open())).start();
    smol::block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.write"]).await;
        let r =
            c.request("send", json!({"to": "555", "message": "from the operator", "channel": "telegram", "idempotencyKey": "k1"})).await;
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["payload"]["channel"], "telegram");
        let again =
            c.request("send", json!({"to": "555", "message": "from the operator", "channel": "telegram", "idempotencyKey": "k1"})).await;
        assert_eq!(again["payload"], r["payload"], "the same idempotency key is not sent twice");
        let bad = c.request("send", json!({"to": "555", "message": "x", "channel": "teams", "idempotencyKey": "k2"})).await;
        assert_eq!(bad["error"]["code"], "INVALID_REQUEST", "{bad}");
        let media = c.request("send", json!({"to": "555", "mediaUrl": "http://x/y.png", "idempotencyKey": "k3"})).await;
        assert_eq!(media["error"]["code"], "INVALID_REQUEST", "{media}");
    });
    let (rc, out, err) =
        Cmd::new(gw.home.clone()).args(["message", "send", "--channel", "telegram", "--to", "556", "hello", "world"]).output(WAIT);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("Sent to 556"), "{out}");
    tg.inject("sendMessage", Fault::Status(400));
    let (rc, _, err) = Cmd::new(gw.home.clone()).args(["message", "send", "--to", "557", "-m", "refused"]).output(WAIT);
    assert_eq!(rc, 1, "{err}");
    let sent = tg.sent();
    assert_eq!(
        sent.iter().map(|s| (s.chat_id.as_str(), s.text.as_str())).collect::<Vec<_>>(),
        [("555", "from the operator"), ("556", "hello world")]
    );
}

#[test]
fn a_config_change_restarts_only_that_channel_and_disabling_stops_it() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let cfg = config(&tg, open());
    let gw = builder(cfg.clone()).env("OPENCLAW_CONFIG_POLL_MS", "50").start();
    smol::block_on(status_until(&gw, WAIT, |s| s["connected"] == true));
    let mut off = cfg.clone();
    off["channels"]["telegram"]["enabled"] = json!(false);
    std::fs::write(gw.state_dir().join("openclaw.json"), off.to_string()).unwrap();
    let s = smol::block_on(status_until(&gw, WAIT, |s| s["healthState"] == "disabled"));
    assert_eq!(s["running"], false);
    tg.push_private(8, "anyone?");
    std::thread::sleep(Duration::from_millis(600));
    assert!(tg.sent().is_empty(), "a disabled channel does not poll");
    std::fs::write(gw.state_dir().join("openclaw.json"), cfg.to_string()).unwrap();
    let sent = tg.wait_sent(1, WAIT);
    assert_eq!(sent[0].chat_id, "8", "re-enabled: the waiting message is answered");
    assert!(gw.lines().iter().any(|l| l.contains("telegram: config changed; restarting the channel")));
}

/// Under a notify-aware service manager (a fake `$NOTIFY_SOCKET` here): `READY=1` with a status
/// line, `WATCHDOG=1` while everything makes progress, no pings while a channel stays
/// disconnected past its recovery budget (so systemd would restart the gateway), pings again once
/// it recovers, and `STOPPING=1` on the way out.
#[test]
fn the_service_watchdog_is_pinged_only_while_the_gateway_and_its_channels_make_progress() {
    use std::os::unix::net::UnixDatagram;
    let tg = FakeTelegram::start(BOT_TOKEN);
    let dir = TempDir::new("notify");
    let socket = dir.path().join("notify.sock");
    let server = UnixDatagram::bind(&socket).unwrap();
    let got: std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>> = Default::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = server.recv(&mut buf) {
            sink.lock().unwrap().push((Instant::now(), String::from_utf8_lossy(&buf[..n]).into_owned()));
        }
    });
    let pings_since = |t: Instant| got.lock().unwrap().iter().filter(|(at, m)| *at >= t && m.lines().any(|l| l == "WATCHDOG=1")).count();
    let mut gw = builder(config(&tg, open()))
        .env("NOTIFY_SOCKET", socket.to_str().unwrap())
        .env("WATCHDOG_USEC", "400000")
        .env("OPENCLAW_CHANNEL_RECOVERY_BUDGET_MS", "1500")
        .start();
    assert!(
        wait_for(WAIT, || got.lock().unwrap().iter().any(|(_, m)| m.starts_with("READY=1\nSTATUS=ready"))),
        "{:?}",
        got.lock().unwrap()
    );
    assert!(wait_for(WAIT, || got.lock().unwrap().iter().any(|(_, m)| m.contains("STATUS=") && m.contains("telegram connected"))));
    let healthy = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    assert!(pings_since(healthy) >= 3, "pinged every 200 ms while healthy: {:?}", got.lock().unwrap());

    // The Bot API goes away for a while: every call is dropped.
    for _ in 0..40 {
        tg.inject("getMe", Fault::Drop);
        tg.inject("getUpdates", Fault::Drop);
    }
    assert!(gw.wait_line("withholding the service manager's pings", WAIT).is_some(), "{:?}", gw.lines());
    let stuck = Instant::now();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(pings_since(stuck), 0, "no pings while the channel is stuck");
    assert!(got.lock().unwrap().iter().any(|(_, m)| m.contains("STATUS=") && m.contains("telegram reconnecting")));

    // Once the faults are used up the channel reconnects and the pings come back.
    assert!(gw.wait_line("pings resumed", Duration::from_secs(60)).is_some(), "{:?}", gw.lines());
    let again = Instant::now();
    std::thread::sleep(Duration::from_millis(700));
    assert!(pings_since(again) >= 2);
    gw.signal(libc::SIGTERM);
    gw.wait_exit(WAIT);
    assert!(got.lock().unwrap().iter().any(|(_, m)| m.starts_with("STOPPING=1")));
}

/// The next `health` event whose Telegram summary satisfies `pred`, with the time it took.
async fn health_until(c: &mut Client, limit: Duration, pred: impl Fn(&Value) -> bool) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let left = limit.saturating_sub(started.elapsed());
        let ev = c.event("health", left).await.unwrap_or_else(|| panic!("no matching health event within {limit:?}"));
        let summary = &ev["payload"]["channels"]["telegram"];
        if pred(summary) {
            return (summary.clone(), started.elapsed());
        }
    }
}

/// A channel's state changes reach clients as a `health` event within about a second, not at the
/// next periodic one (60 s by default, left so here): a stop, a start that connects, a token the
/// service then rejects. Changes that come together share one event.
#[test]
fn health_events_follow_the_channel_state() {
    let tg = FakeTelegram::start(BOT_TOKEN);
    let gw = builder(config(&tg, open())).start();
    const SOON: Duration = Duration::from_secs(3);
    smol::block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.admin"]).await;
        status_until(&gw, WAIT, |s| s["connected"] == true).await;
        // The start-up's own event (250 ms after the channel started) goes out first; a stop
        // before it would ride on it.
        smol::Timer::after(Duration::from_millis(400)).await;

        let r = c.request("channels.stop", json!({"channel": "telegram"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let (s, took) = health_until(&mut c, SOON, |s| s["running"] == false).await;
        assert_eq!((s["healthState"].as_str(), s["connected"].as_bool()), (Some("stopped"), Some(false)), "{s}");
        // The event waits 250 ms after the change for more to come; the answer to the stop left
        // the gateway just after it (slack for a loaded machine).
        assert!(took >= Duration::from_millis(100), "changes are gathered a moment first: {took:?}");

        let r = c.request("channels.start", json!({"channel": "telegram"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let (s, took) = health_until(&mut c, SOON, |s| s["healthState"] == "healthy").await;
        assert_eq!((s["running"].as_bool(), s["connected"].as_bool()), (Some(true), Some(true)), "{s}");
        assert!(took < SOON, "{took:?}");
        // The start and the connection came within the settling time: one event, not two.
        smol::Timer::after(Duration::from_millis(1500)).await;
        assert!(c.event("health", Duration::from_millis(100)).await.is_none(), "nothing changed since, so no event");

        tg.set_token_valid(false);
        let (s, _) = health_until(&mut c, SOON, |s| s["healthState"] == "auth-failed").await;
        assert_eq!(s["running"], false, "{s}");
        assert!(s["lastError"].as_str().is_some_and(|e| e.contains("rejected the bot token")), "{s}");
    });
}
