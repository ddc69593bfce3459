//! The Signal channel against the fake signal-cli daemon: direct messages answered once (receipts,
//! typing and the account's own sync messages ignored), group mention gating with the answer
//! quoting the question, exactly once across `kill -9` while the daemon replays its buffer, a
//! dropped, a silent and an unreachable daemon noticed and recovered with `channels.status`
//! telling the truth and no hot loop, an unknown account stopping the channel, chunking and
//! retries, pairing, `send` and `openclaw message send` to a number and a group, hot reload.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{FakeLlm, Flavor, Reply};
use crate::support::fake_signal::{FakeSignal, Fault};
use crate::support::*;

const ME: &str = "+15550000001";
const ANN: &str = "+15557654321";
const GROUP: &str = "Pmpi+EfPWmsxW2eWr9Gm3nL1gQ1TbUcA2HMmRtDYeRM=";
const WAIT: Duration = Duration::from_secs(15);

fn config(sig: &FakeSignal, channel: Value) -> Value {
    let mut c = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "channels": {"signal": {"account": ME, "httpUrl": sig.url()}}
    });
    merge(&mut c["channels"]["signal"], channel);
    c
}

fn open() -> Value {
    json!({"dmPolicy": "open", "allowFrom": ["*"]})
}

/// Fast timings: the stream counts as dead after 1 s + 1 s of silence, short backoffs.
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

async fn signal_status(gw: &Gw, probe: bool) -> Value {
    let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
    let r = c.request("channels.status", json!({"probe": probe})).await;
    assert_eq!(r["ok"], true, "{r}");
    r["payload"]["channelAccounts"]["signal"][0].clone()
}

/// Polls `channels.status` until `pred` holds; returns the account.
fn status_until(gw: &Gw, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    smol::block_on(async {
        let deadline = Instant::now() + limit;
        loop {
            let s = signal_status(gw, false).await;
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "status never matched; last: {s}");
            smol::Timer::after(Duration::from_millis(50)).await;
        }
    })
}

fn error_of(s: &Value) -> &str {
    s["lastError"].as_str().unwrap_or("")
}

#[test]
fn a_direct_message_is_answered_once_and_receipts_typing_and_sync_are_ignored() {
    let sig = FakeSignal::start(ME);
    let gw = builder(config(&sig, open())).start();
    sig.push_noise(ANN);
    sig.push_dm(ANN, "hello there");
    let sent = sig.wait_sent(1, WAIT);
    assert_eq!(sent[0].to, ANN);
    assert!(sent[0].text.contains("[offline]"), "the offline model answered: {}", sent[0].text);
    assert_eq!(sent[0].quote_timestamp, None, "a direct answer quotes nothing");
    assert!(sig.typing().iter().any(|t| t == ANN));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(sig.sent().len(), 1, "{:?}", sig.sent());
    let s = status_until(&gw, WAIT, |s| s["lastOutboundAt"].is_u64());
    assert_eq!((s["running"].clone(), s["connected"].clone(), s["mode"].clone()), (json!(true), json!(true), json!("sse")), "{s}");
    assert!(s["lastInboundAt"].is_u64() && s["lastError"].is_null(), "{s}");
    // Only the message reached the journal.
    let journal = std::fs::read_to_string(gw.state_dir().join("channels/signal/journal.jsonl")).unwrap();
    assert!(journal.contains("hello there") && !journal.contains("from my phone"), "{journal}");
    let p = smol::block_on(signal_status(&gw, true));
    assert_eq!(p["probe"]["ok"], true, "{p}");
}

#[test]
fn group_messages_need_an_allowed_group_and_a_mention_and_the_answer_quotes() {
    let sig = FakeSignal::start(ME);
    let _gw = builder(config(&sig, json!({"groups": {GROUP: {}}}))).start();
    sig.push_group("T3RoZXJHcm91cElkT3RoZXJHcm91cElkT3RoZXI=", ANN, "hello from a group nobody allowed", true);
    sig.push_group(GROUP, ANN, "talking among ourselves", false);
    let asked = sig.push_group(GROUP, ANN, "what time is it?", true);
    let sent = sig.wait_sent(1, WAIT);
    assert_eq!(sent[0].to, format!("group:{GROUP}"));
    assert_eq!(sent[0].quote_timestamp, Some(asked), "the answer quotes the question");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(sig.sent().len(), 1, "{:?}", sig.sent());
}

#[test]
fn every_message_is_answered_exactly_once_across_kill_9_while_the_daemon_replays() {
    let sig = FakeSignal::start(ME);
    sig.set_replay(true);
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    llm.push(Reply::slow(&["never", " finished"], Duration::from_millis(800)));
    let mut cfg = config(&sig, open());
    merge(&mut cfg, model(&llm));
    let mut gw = builder(cfg.clone()).start();
    sig.push_dm(ANN, "first message");
    assert!(wait_for(WAIT, || sig.pending() == 0 && llm.count() == 1));
    gw.signal(9);
    gw.wait_exit(WAIT);
    assert!(sig.sent().is_empty());
    sig.push_dm(ANN, "second message, sent while the gateway was down");
    let home = gw.home.clone();
    drop(gw);
    // The new stream replays the first message too: the journal knows it.
    let _gw = builder(cfg).home(home).start();
    let sent = sig.wait_sent(2, WAIT);
    std::thread::sleep(Duration::from_millis(1000));
    let now = sig.sent();
    assert_eq!(now.len(), 2, "each message answered exactly once: {now:?}");
    assert_eq!(sent.len(), 2);
    assert!(llm.count() <= 3, "the replayed message did not reach the model again: {}", llm.count());
}

#[test]
fn a_dropped_stream_is_noticed_reported_and_recovered() {
    let sig = FakeSignal::start(ME);
    let gw = builder(config(&sig, open())).start();
    status_until(&gw, WAIT, |s| s["connected"] == true);
    // The next stream closes mid-stream after one event; the two reconnects after it find the
    // daemon failing its health check, so the status can be seen saying so.
    sig.inject("events", Fault::DropAfter(1));
    for _ in 0..3 {
        sig.inject("check", Fault::Status(503));
    }
    sig.drop_streams();
    sig.push_dm(ANN, "one");
    sig.push_dm(ANN, "two");
    let started = Instant::now();
    let s = status_until(&gw, WAIT, |s| s["connected"] == false && error_of(s).contains("health check"));
    assert!(error_of(&s).contains("HTTP 503"), "{s}");
    assert_eq!(s["running"], true);
    let sent = sig.wait_sent(2, WAIT);
    assert!(started.elapsed() < Duration::from_secs(8), "recovered in {:?}", started.elapsed());
    assert_eq!(sent.len(), 2, "{sent:?}");
    let s = status_until(&gw, WAIT, |s| s["connected"] == true);
    assert!(s["reconnectAttempts"].as_u64().unwrap() >= 2 && s["lastError"].is_null(), "{s}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sig.sent().len(), 2, "nothing answered twice");
}

#[test]
fn a_silent_stream_is_noticed_within_its_grace_and_recovered() {
    let sig = FakeSignal::start(ME);
    let gw = builder(config(&sig, open())).start();
    status_until(&gw, WAIT, |s| s["connected"] == true);
    sig.set_silent(true);
    let started = Instant::now();
    let s = status_until(&gw, WAIT, |s| s["connected"] == false);
    assert!(error_of(&s).contains("silent"), "{s}");
    // 1 s poll timeout + 1 s grace after the last keepalive.
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    sig.set_silent(false);
    sig.push_dm(ANN, "are you back?");
    let sent = sig.wait_sent(1, WAIT);
    assert_eq!(sent[0].to, ANN);
    status_until(&gw, WAIT, |s| s["connected"] == true && s["lastError"].is_null());
}

#[test]
fn an_unreachable_daemon_gives_a_clear_status_and_backs_off() {
    let sig = FakeSignal::start(ME);
    let mut cfg = config(&sig, open());
    cfg["channels"]["signal"]["httpUrl"] = json!(format!("http://127.0.0.1:{}", free_port()));
    let gw = builder(cfg).start();
    let s = status_until(&gw, WAIT, |s| error_of(s).contains("unreachable"));
    assert!(error_of(&s).contains("signal-cli daemon") && error_of(&s).contains("daemon --http"), "{s}");
    assert_eq!(
        (s["running"].clone(), s["connected"].clone(), s["healthState"].clone()),
        (json!(true), json!(false), json!("reconnecting"))
    );
    drop(gw);

    // A daemon that answers but fails its health check: retried with backoff, not in a loop.
    for _ in 0..50 {
        sig.inject("check", Fault::Status(503));
    }
    let _gw = builder(config(&sig, open())).start();
    assert!(wait_for(WAIT, || sig.calls("check") >= 1));
    std::thread::sleep(Duration::from_millis(2000));
    let checks = sig.calls("check");
    // Windows of 100, 200, 400, 400… ms, each wait at least half its window: at most ~12 in 2 s.
    assert!((3..=14).contains(&checks), "{checks} health checks in 2 s");
    assert_eq!(sig.calls("events"), 0, "no stream opened while the daemon is unhealthy");
}

#[test]
fn an_account_the_daemon_does_not_know_stops_the_channel() {
    let sig = FakeSignal::start(ME);
    let mut cfg = config(&sig, open());
    cfg["channels"]["signal"]["account"] = json!("+15559999999");
    let gw = builder(cfg).start();
    let s = status_until(&gw, WAIT, |s| s["healthState"] == "not-configured");
    assert_eq!((s["running"].clone(), s["connected"].clone()), (json!(false), json!(false)), "{s}");
    assert!(error_of(&s).contains("does not know account +15559999999"), "{s}");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(sig.calls("events"), 1, "no retry loop");
}

#[test]
fn answers_are_split_at_the_limit_and_transient_send_errors_retried() {
    let sig = FakeSignal::start(ME);
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    let para = "This sentence is part of a long answer. ".repeat(3);
    llm.push(Reply::text(&[&para, "\n\n", &para, "\n\n", &para]));
    let mut cfg = config(&sig, json!({"dmPolicy": "open", "allowFrom": ["*"], "textChunkLimit": 150}));
    merge(&mut cfg, model(&llm));
    let _gw = builder(cfg).start();
    sig.inject("send", Fault::RpcError(-3, "Failed to send message due to network error"));
    sig.inject("send", Fault::Delivery("NETWORK_FAILURE"));
    sig.inject("send", Fault::Status(502));
    sig.push_dm(ANN, "tell me a lot");
    let sent = sig.wait_sent(3, WAIT);
    assert_eq!(sent.len(), 3, "{sent:?}");
    for s in &sent {
        assert!(s.text.chars().count() <= 150, "{}", s.text);
        assert_eq!(s.text, para.trim(), "split at the paragraph breaks");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sig.sent().len(), 3, "nothing sent twice");
    assert_eq!(sig.calls("send"), 6, "three failed attempts before the first piece went, then two more pieces");
}

#[test]
fn unknown_senders_get_a_pairing_code_and_are_answered_once_approved() {
    let sig = FakeSignal::start(ME);
    let gw = builder(config(&sig, json!({}))).start();
    sig.push_dm(ANN, "hi, who are you?");
    let sent = sig.wait_sent(1, WAIT);
    let text = &sent[0].text;
    assert!(text.contains("Pairing code:") && text.contains("openclaw pairing approve signal"), "{text}");
    let code = text.split("Pairing code: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let (rc, out, err) = Cmd::new(gw.home.clone()).args(["pairing", "approve", "signal", &code]).output(WAIT);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("Approved signal sender +15557654321"), "{out}");
    let stored = std::fs::read_to_string(gw.state_dir().join("credentials/signal-allowFrom.json")).unwrap_or_default();
    assert!(stored.contains("+15557654321"), "{stored}");
    sig.push_dm(ANN, "now?");
    let sent = sig.wait_sent(2, WAIT);
    assert!(sent[1].text.contains("[offline]"), "{sent:?}");
    assert!(sent.iter().all(|s| s.to == ANN));
}

#[test]
fn send_rpc_and_message_send_cli_reach_a_number_and_a_group() {
    let sig = FakeSignal::start(ME);
    let gw = builder(config(&sig, open())).start();
    smol::block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.write"]).await;
        let r = c
            .request("send", json!({"to": "+15551112222", "message": "from the operator", "channel": "signal", "idempotencyKey": "k1"}))
            .await;
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["payload"]["channel"], "signal");
        let bad = c.request("send", json!({"to": "bob", "message": "x", "channel": "signal", "idempotencyKey": "k2"})).await;
        assert_eq!(bad["ok"], false, "{bad}");
    });
    let group = format!("group:{GROUP}");
    let (rc, out, err) =
        Cmd::new(gw.home.clone()).args(["message", "send", "--channel", "signal", "--to", &group, "hello", "group"]).output(WAIT);
    assert_eq!(rc, 0, "{out}{err}");
    sig.inject("send", Fault::RpcError(-1, "The user +15553334444 is not registered."));
    let (rc, _, err) =
        Cmd::new(gw.home.clone()).args(["message", "send", "--channel", "signal", "--to", "+15553334444", "-m", "x"]).output(WAIT);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("not registered"), "{err}");
    let sent: Vec<(String, String)> = sig.sent().into_iter().map(|s| (s.to, s.text)).collect();
    assert_eq!(sent, [("+15551112222".to_string(), "from the operator".to_string()), (group, "hello group".to_string())]);
}

#[test]
fn a_config_change_restarts_the_channel_and_disabling_stops_it() {
    let sig = FakeSignal::start(ME);
    let cfg = config(&sig, open());
    let gw = builder(cfg.clone()).env("OPENCLAW_CONFIG_POLL_MS", "50").start();
    status_until(&gw, WAIT, |s| s["connected"] == true);
    let mut off = cfg.clone();
    off["channels"]["signal"]["enabled"] = json!(false);
    std::fs::write(gw.state_dir().join("openclaw.json"), off.to_string()).unwrap();
    status_until(&gw, WAIT, |s| s["healthState"] == "disabled");
    assert!(wait_for(WAIT, || sig.open_streams() == 0), "a disabled channel closes its stream");
    sig.push_dm(ANN, "anyone?");
    std::thread::sleep(Duration::from_millis(600));
    assert!(sig.sent().is_empty());
    std::fs::write(gw.state_dir().join("openclaw.json"), cfg.to_string()).unwrap();
    let sent = sig.wait_sent(1, WAIT);
    assert_eq!(sent[0].to, ANN, "re-enabled: the waiting message is answered");
}
