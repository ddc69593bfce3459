//! The Slack channel against the fake Slack (Web API and Socket Mode): DMs, mention gating in
//! channels, thread replies, acks only after the journal has the message (exactly once across
//! `kill -9` and redelivery), `disconnect` handled by opening the next socket first, a silent
//! socket noticed and replaced in bounded time, refused tokens, 429s, chunking, pairing and
//! `send`. Every answer is counted at the fake, so a test fails on a lost message as well as on
//! a duplicate.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{FakeLlm, Flavor, Reply};
use crate::support::fake_slack::{APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlack, PostFault, Posted};
use crate::support::*;

/// Short liveness timings so the watchdog acts within a test.
const PING_MS: u64 = 200;
const PONG_MS: u64 = 300;

/// How long to keep watching after the expected answers arrived, so a duplicate would show.
const SETTLE: Duration = Duration::from_millis(700);

fn config(fake: &FakeSlack, slack: Value) -> Value {
    let mut c = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "channels": {"slack": {"appToken": APP_TOKEN, "botToken": BOT_TOKEN, "apiRoot": fake.api_root(),
                               "dmPolicy": "open", "allowFrom": ["*"], "groupPolicy": "open"}},
    });
    merge(&mut c["channels"]["slack"], slack);
    c
}

fn builder(config: Value) -> GwBuilder {
    Gw::builder()
        .config(config)
        .env("OPENCLAW_CHANNEL_BACKOFF_MIN_MS", "50")
        .env("OPENCLAW_CHANNEL_BACKOFF_MAX_MS", "500")
        .env("OPENCLAW_CHANNEL_RETRY_BASE_MS", "50")
        .env("OPENCLAW_SLACK_PING_INTERVAL_MS", &PING_MS.to_string())
        .env("OPENCLAW_SLACK_PONG_TIMEOUT_MS", &PONG_MS.to_string())
        .env("OPENCLAW_SLACK_SILENT_AFTER_MS", "3000")
}

fn model(fake: &FakeLlm) -> Value {
    json!({"models": {"providers": {"mock": {"baseUrl": fake.base_url(), "apiKey": "k", "api": "openai-completions",
                                             "models": [{"id": "echo", "contextWindow": 32768}]}}},
           "agents": {"defaults": {"model": "mock/echo"}}})
}

/// Waits for `n` answers in `channel`, then [`SETTLE`] longer; returns them all.
fn settled(fake: &FakeSlack, channel: &str, n: usize) -> Vec<Posted> {
    wait_for(WAIT, || fake.posted_in(channel).len() >= n);
    std::thread::sleep(SETTLE);
    fake.posted_in(channel)
}

async fn status(gw: &Gw) -> Value {
    let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
    c.call("channels.status", json!({})).await["channelAccounts"]["slack"][0].clone()
}

fn status_until(gw: &Gw, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = block_on(status(gw));
        if pred(&s) || Instant::now() >= deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connected(fake: &FakeSlack) -> bool {
    wait_for(WAIT, || fake.open_connections() >= 1)
}

#[test]
fn dms_channel_mentions_and_threads_are_answered_once_and_acked() {
    let fake = FakeSlack::start(Duration::from_secs(3));
    let gw = builder(config(&fake, json!({}))).start();
    assert!(connected(&fake), "no Socket Mode connection:\n{}", gw.lines().join("\n"));
    let s = status_until(&gw, |s| s["connected"] == true);
    assert_eq!((s["mode"].as_str(), s["healthState"].as_str(), s["running"].as_bool()), (Some("socket"), Some("healthy"), Some(true)));

    let (env, _) = fake.push_message("D0ANN", "im", "U0ANN", "hello &amp; welcome", None);
    let sent = settled(&fake, "D0ANN", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].text.contains("[offline]") && sent[0].text.contains("hello & welcome"), "{}", sent[0].text);
    assert_eq!(sent[0].thread_ts, None, "a DM outside a thread is answered in the DM");
    assert!(fake.acks().iter().any(|(id, _)| *id == env), "the envelope was acknowledged");

    // In a channel only a mention is answered; Slack sends it as `message` and `app_mention`.
    fake.push_message("C0GEN", "channel", "U0ANN", "nobody asked the bot", None);
    fake.push_mention("C0GEN", "U0ANN", "what time is it");
    let sent = settled(&fake, "C0GEN", 1);
    assert_eq!(sent.len(), 1, "one answer for the mention, none for the rest: {sent:?}");
    assert!(sent[0].text.contains("what time is it") && !sent[0].text.contains("<@"), "{}", sent[0].text);

    // A message in a thread is answered in that thread.
    fake.push_message("C0GEN", "channel", "U0ANN", &format!("<@{BOT_USER}> and in the thread?"), Some("1699999999.000100"));
    let sent = settled(&fake, "C0GEN", 2);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].thread_ts.as_deref(), Some("1699999999.000100"));

    // Edits, joins and other bots are not answered (nor our own posts, which the fake echoes).
    for (subtype, bot) in [(Some("message_changed"), None), (Some("channel_join"), None), (None, Some("B0OTHER"))] {
        let mut ev = json!({"type": "message", "channel": "D0ANN", "channel_type": "im", "user": "U0ANN", "text": "x", "ts": "1.5"});
        if let Some(st) = subtype {
            ev["subtype"] = json!(st);
        }
        if let Some(b) = bot {
            ev["bot_id"] = json!(b);
        }
        fake.push_event(ev);
    }
    assert_eq!(settled(&fake, "D0ANN", 1).len(), 1, "{:?}", fake.posted());
    assert!(wait_for(WAIT, || fake.unacked() == 0), "every envelope is acknowledged, skipped ones too");
    assert_eq!(fake.connections(), 1, "one socket all along");
}

#[test]
fn refresh_opens_the_next_socket_first_and_loses_nothing() {
    let fake = FakeSlack::start(Duration::from_secs(5));
    let gw = builder(config(&fake, json!({}))).start();
    assert!(connected(&fake));
    status_until(&gw, |s| s["connected"] == true);
    // The next URL takes a while: meanwhile the old socket keeps delivering.
    fake.set_open_delay(Duration::from_millis(800));
    fake.disconnect("refresh_requested");
    std::thread::sleep(Duration::from_millis(100));
    let (env, _) = fake.push_message("D0BOB", "im", "U0BOB", "during the refresh", None);
    let t0 = Instant::now();
    let mut always_connected = true;
    while t0.elapsed() < Duration::from_millis(1500) {
        always_connected &= block_on(status(&gw))["connected"] == true;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(wait_for(WAIT, || fake.connections() == 2), "no second socket");
    assert!(always_connected, "the status showed a gap during a refresh");
    let sent = settled(&fake, "D0BOB", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let deliveries: Vec<_> = fake.deliveries().into_iter().filter(|d| d.envelope_id == env).collect();
    assert_eq!(deliveries.len(), 1, "answered from the old socket without a redelivery: {deliveries:?}");
    assert_eq!(fake.acks().iter().find(|(id, _)| *id == env).map(|a| a.1), Some(1), "acknowledged on the old socket");
    assert!(wait_for(WAIT, || fake.closed_by_client() == [1]), "the old socket was closed: {:?}", fake.closed_by_client());
    assert_eq!(fake.open_connections(), 1);
    fake.push_message("D0BOB", "im", "U0BOB", "on the new socket", None);
    assert_eq!(settled(&fake, "D0BOB", 2).len(), 2);
}

#[test]
fn a_silent_socket_is_noticed_reported_and_replaced_in_bounded_time() {
    let fake = FakeSlack::start(Duration::from_millis(1500));
    let gw = builder(config(&fake, json!({}))).start();
    assert!(connected(&fake));
    status_until(&gw, |s| s["connected"] == true);
    fake.set_open_delay(Duration::from_millis(1500));
    fake.go_silent();
    let silent_at = Instant::now();
    // Swallowed by the deaf socket; Slack redelivers it once the ack is overdue.
    fake.push_message("D0CAT", "im", "U0CAT", "anyone there?", None);
    let s = status_until(&gw, |s| s["connected"] == false);
    let noticed = silent_at.elapsed();
    assert_eq!((s["connected"].as_bool(), s["running"].as_bool()), (Some(false), Some(true)), "{s}");
    assert!(s["lastError"].as_str().is_some_and(|e| e.contains("silent") && e.contains("pong")), "{s}");
    let bound = Duration::from_millis(PING_MS + PONG_MS + 400);
    assert!(noticed <= bound, "noticed after {noticed:?}, bound {bound:?}");
    let s = status_until(&gw, |s| s["connected"] == true);
    assert_eq!(s["healthState"], "healthy", "{s}");
    assert!(s["reconnectAttempts"].as_u64().is_some_and(|n| n >= 1), "{s}");
    let sent = settled(&fake, "D0CAT", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(fake.deliveries().iter().any(|d| d.retry_attempt >= 1 && d.conn == 2), "{:?}", fake.deliveries());
}

#[test]
fn refused_tokens_and_disabled_socket_mode_stop_the_channel_without_a_loop() {
    let fake = FakeSlack::start(Duration::from_secs(3));
    fake.set_bot_token_valid(false);
    let gw = builder(config(&fake, json!({}))).start();
    let s = status_until(&gw, |s| s["healthState"] == "auth-failed");
    assert_eq!((s["running"].as_bool(), s["connected"].as_bool()), (Some(false), Some(false)), "{s}");
    assert!(s["lastError"].as_str().is_some_and(|e| e.contains("invalid_auth") && e.contains("botToken")), "{s}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(fake.calls(), ["auth.test"], "no retry with a refused token");
    drop(gw);

    let fake = FakeSlack::start(Duration::from_secs(3));
    fake.set_app_token_valid(false);
    let gw = builder(config(&fake, json!({}))).start();
    let s = status_until(&gw, |s| s["healthState"] == "auth-failed");
    assert!(s["lastError"].as_str().is_some_and(|e| e.contains("invalid_auth") && e.contains("appToken")), "{s}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(fake.calls_to("apps.connections.open"), 1, "{:?}", fake.calls());
    drop(gw);

    let fake = FakeSlack::start(Duration::from_secs(3));
    let gw = builder(config(&fake, json!({}))).start();
    assert!(connected(&fake));
    fake.disconnect("link_disabled");
    let s = status_until(&gw, |s| s["running"] == false);
    assert!(s["lastError"].as_str().is_some_and(|e| e.contains("link_disabled") && e.contains("Socket Mode")), "{s}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!((fake.calls_to("apps.connections.open"), fake.connections()), (1, 1));
}

#[test]
fn every_message_is_answered_once_across_kill_9_and_redelivery() {
    let fake = FakeSlack::start(Duration::from_millis(1000));
    let cfg = config(&fake, json!({}));
    let mut gw = builder(cfg.clone()).start();
    assert!(connected(&fake));
    fake.push_message("D0A", "im", "U0A", "first, answered before the crash", None);
    assert_eq!(settled(&fake, "D0A", 1).len(), 1);
    // Recorded, its ack lost and its answer stalled when the gateway dies.
    fake.drop_acks(1);
    fake.inject(PostFault::Stall);
    let (env_b, _) = fake.push_message("D0B", "im", "U0B", "second, in flight at the crash", None);
    assert!(wait_for(WAIT, || fake.calls_to("chat.postMessage") == 2), "{:?}", fake.calls());
    assert!(fake.unacked() >= 1);
    gw.signal(9);
    assert!(gw.wait_exit(WAIT).is_some());
    // Sent while the gateway is down: Slack holds it for the next socket.
    fake.push_message("D0C", "im", "U0C", "third, while the gateway is down", None);
    let home = gw.home.clone();
    drop(gw);
    let gw2 = builder(cfg).home(home).start();
    let all = ["D0A", "D0B", "D0C"];
    wait_for(WAIT, || all.iter().all(|c| !fake.posted_in(c).is_empty()));
    std::thread::sleep(Duration::from_millis(1500));
    for c in all {
        assert_eq!(fake.posted_in(c).len(), 1, "{c} answered exactly once: {:?}\n{}", fake.posted(), gw2.lines().join("\n"));
    }
    assert!(fake.deliveries().iter().any(|d| d.envelope_id == env_b && d.retry_attempt >= 1), "{:?}", fake.deliveries());
    assert!(wait_for(WAIT, || fake.unacked() == 0), "the redelivered envelope was acknowledged");
}

#[test]
fn long_answers_are_split_in_the_thread_and_429_is_honoured() {
    let fake = FakeSlack::start(Duration::from_secs(5));
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    let para = "This sentence is part of a long answer. ".repeat(3);
    llm.push(Reply::text(&[&para, "\n\n", &para, "\n\n", &para]));
    let mut cfg = config(&fake, json!({"textChunkLimit": 150}));
    merge(&mut cfg, model(&llm));
    let _gw = builder(cfg).start();
    assert!(connected(&fake));
    fake.inject(PostFault::RateLimited(1));
    let pushed = Instant::now();
    fake.push_message("C0LONG", "channel", "U0ANN", &format!("<@{BOT_USER}> tell me a lot"), Some("1699999999.000200"));
    let sent = settled(&fake, "C0LONG", 3);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent[0].at - pushed >= Duration::from_secs(1), "Retry-After was honoured");
    for s in &sent {
        assert_eq!(s.text, para.trim(), "split at the paragraph breaks");
        assert_eq!(s.thread_ts.as_deref(), Some("1699999999.000200"), "every piece goes to the thread");
    }
    assert_eq!(fake.calls_to("chat.postMessage"), 4, "three pieces and the one refused with 429");
}

#[test]
fn pairing_and_send_reach_slack() {
    let fake = FakeSlack::start(Duration::from_secs(3));
    let gw = builder(config(&fake, json!({"dmPolicy": "pairing", "allowFrom": []}))).start();
    assert!(connected(&fake));
    fake.push_message("D0NEW", "im", "U0NEW", "hi, who are you?", None);
    let sent = settled(&fake, "D0NEW", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].text.contains("Pairing code:") && sent[0].text.contains("openclaw pairing approve slack"), "{}", sent[0].text);
    let code = sent[0].text.split("Pairing code: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.pairing", "operator.write"]).await;
        let ok = c.request("channels.pairing.approve", json!({"channel": "slack", "accountId": "default", "requestId": code})).await;
        assert_eq!(ok["payload"]["senderId"], "U0NEW", "{ok}");
        let r = c.request("send", json!({"to": "C0OPS", "message": "from the operator", "channel": "slack", "idempotencyKey": "k1"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let bad = c.request("send", json!({"to": "#general", "message": "x", "channel": "slack", "idempotencyKey": "k2"})).await;
        assert_eq!(bad["ok"], false, "{bad}");
    });
    fake.push_message("D0NEW", "im", "U0NEW", "now?", None);
    let sent = settled(&fake, "D0NEW", 2);
    assert!(sent.len() == 2 && sent[1].text.contains("[offline]"), "{sent:?}");
    assert_eq!(fake.posted_in("C0OPS").iter().map(|p| p.text.as_str()).collect::<Vec<_>>(), ["from the operator"]);
    let (rc, out, err) =
        Cmd::new(gw.home.clone()).args(["message", "send", "--channel", "slack", "--to", "user:U0DM", "-m", "hello"]).output(WAIT);
    assert_eq!(rc, 0, "{out}{err}");
    assert_eq!(fake.posted_in("D0DM").len(), 1, "a user target goes to the DM conversations.open names: {:?}", fake.posted());
}
