//! The Discord channel against the fake Discord gateway and REST API: Identify and heartbeats,
//! zombie detection and Resume, invalid sessions and reconnect requests, fatal close codes, REST
//! rate limits, finding the gateway through REST, and durability across a `kill -9`. Every answer
//! is counted at the fake, so a test fails on a lost message as well as on a duplicate.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::fake_discord::{BOT_ID, FakeDiscord, RestFault, Sent};
use crate::support::*;

const BOT_TOKEN: &str = "T";

/// Short heartbeats so the watchdog acts within a test.
const HEARTBEAT_MS: u64 = 300;

/// A gateway with the Discord channel on `fake`, open to everyone, with short backoffs.
fn builder(fake: &FakeDiscord) -> GwBuilder {
    builder_with(fake, json!({"gatewayUrl": fake.gateway_url()}))
}

/// [`builder`] with `discord` merged into the channel block (without a `gatewayUrl` the gateway
/// asks `GET /gateway/bot` where to connect).
fn builder_with(fake: &FakeDiscord, discord: Value) -> GwBuilder {
    let mut config = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "channels": {"discord": {"token": BOT_TOKEN, "apiRoot": fake.api_root(), "dmPolicy": "open", "allowFrom": ["*"]}},
    });
    merge(&mut config["channels"]["discord"], discord);
    Gw::builder()
        .config(config)
        .env("OPENCLAW_CHANNEL_BACKOFF_MIN_MS", "50")
        .env("OPENCLAW_CHANNEL_BACKOFF_MAX_MS", "500")
        .env("OPENCLAW_CHANNEL_RETRY_BASE_MS", "50")
}

/// Answers the bot created in `channel`.
fn answers(fake: &FakeDiscord, channel: &str) -> Vec<Sent> {
    fake.sent().into_iter().filter(|s| s.channel_id == channel).collect()
}

/// How long to keep watching after the expected answers arrived, so a duplicate would show.
const SETTLE: Duration = Duration::from_millis(600);

/// Waits for `n` answers in `channel`, then [`SETTLE`] longer.
fn settled_answers(fake: &FakeDiscord, channel: &str, n: usize) -> Vec<Sent> {
    wait_for(WAIT, || answers(fake, channel).len() >= n);
    std::thread::sleep(SETTLE);
    answers(fake, channel)
}

/// The Discord account in `channels.status` (the result is checked against the schema).
async fn status(c: &mut Client) -> Value {
    c.call("channels.status", json!({})).await["channelAccounts"]["discord"][0].clone()
}

/// Polls `channels.status` until `pred` holds; returns the account (the last one seen when it
/// never held, for the caller's assertion to show).
async fn status_until(c: &mut Client, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    let mut s = status(c).await;
    while !pred(&s) && Instant::now() < deadline {
        smol::Timer::after(Duration::from_millis(20)).await;
        s = status(c).await;
    }
    s
}

/// REST requests with this method and path (API root included), faulted ones too.
fn rest_count(fake: &FakeDiscord, method: &str, path: &str) -> usize {
    fake.rest_calls().iter().filter(|(m, t)| m == method && t == path).count()
}

fn post_messages(fake: &FakeDiscord, channel: &str) -> usize {
    rest_count(fake, "POST", &format!("/api/v10/channels/{channel}/messages"))
}

fn post_typing(fake: &FakeDiscord, channel: &str) -> usize {
    rest_count(fake, "POST", &format!("/api/v10/channels/{channel}/typing"))
}

#[test]
fn dm_is_answered_once_after_identify_with_intents_and_a_jittered_first_heartbeat() {
    let interval = Duration::from_millis(1000);
    let fake = FakeDiscord::start(BOT_TOKEN, interval.as_millis() as u64);
    let gw = builder(&fake).start();
    assert!(fake.wait_live(WAIT), "the gateway never identified:\n{}", gw.lines().join("\n"));
    let identify = &fake.identifies()[0];
    assert_eq!(identify["intents"], 37377, "GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT");
    assert_eq!(identify["token"], BOT_TOKEN, "Identify carries the bare token");
    assert_eq!(identify["properties"]["os"], "linux");

    fake.push_dm("500", "222", "hello there");
    let sent = settled_answers(&fake, "500", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].content.contains("[offline]") && sent[0].content.contains("hello there"), "{}", sent[0].content);
    assert!(sent[0].nonce.as_ref().is_some_and(|n| n.len() <= 25), "answers carry a nonce");

    // Guild messages are answered only when they mention the bot; the mention is stripped.
    fake.push_guild("9", "600", "222", "nobody asked you", false);
    fake.push_guild("9", "600", "222", &format!("<@{BOT_ID}> what time is it"), true);
    let sent = settled_answers(&fake, "600", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].content.contains("what time is it") && !sent[0].content.contains("<@"), "{}", sent[0].content);

    // The first heartbeat comes `interval * jitter` after Hello. One sample cannot tell a
    // jitter from a full interval, three connections can (all three near the full interval
    // without jitter happens with a chance of about 1e-5).
    let mut delays = Vec::new();
    for round in 0..3 {
        if round > 0 {
            let before = fake.connections();
            fake.request_reconnect();
            assert!(wait_for(WAIT, || fake.connections() > before && fake.live()), "no reconnect after op 7");
        }
        assert!(wait_for(interval * 2, || fake.first_heartbeat_delay().is_some()), "no heartbeat on connection {round}");
        delays.extend(fake.first_heartbeat_delay());
    }
    assert!(delays.iter().all(|d| *d <= interval + Duration::from_millis(100)), "first heartbeats after {delays:?}, interval {interval:?}");
    assert!(delays.iter().min().is_some_and(|d| *d < interval - Duration::from_millis(50)), "no jitter: {delays:?}");
    // Nor a heartbeat at once, which the two checks above would let through (three draws all
    // under 20 ms of a 1 s interval: a chance of about 1e-5).
    assert!(delays.iter().max().is_some_and(|d| *d >= Duration::from_millis(20)), "heartbeats sent at Hello: {delays:?}");
    assert_eq!((fake.identifies().len(), fake.resumes().len(), fake.connections()), (1, 2, 3));
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
        let s = status(&mut c).await;
        assert_eq!(
            (s["running"].as_bool(), s["connected"].as_bool(), s["name"].as_str()),
            (Some(true), Some(true), Some("testbot")),
            "{s}"
        );
        assert_eq!((s["mode"].as_str(), s["healthState"].as_str()), (Some("gateway"), Some("healthy")));
    });
}

#[test]
fn zombie_connection_is_dropped_and_resumed_without_losing_a_message() {
    let fake = FakeDiscord::start(BOT_TOKEN, HEARTBEAT_MS);
    let gw = builder(&fake).start();
    assert!(fake.wait_live(WAIT));
    assert!(wait_for(WAIT, || fake.heartbeats() >= 1));
    let pushes = block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read", "operator.write"]).await;
        fake.set_ack_heartbeats(false);
        let t0 = Instant::now();
        let (mut saw_down, mut resumed_after) = (None, None);
        // Messages pushed, and whether one provably went out while no connection was live (then
        // only the Resume's replay can deliver it). Heartbeats stay unacknowledged, so each
        // resumed connection turns zombie again and gives another try should a push race the
        // Resume.
        let (mut pushes, mut replayed) = (0, false);
        while t0.elapsed() < WAIT && (saw_down.is_none() || resumed_after.is_none() || !replayed) {
            if !replayed && !fake.live() {
                fake.push_dm("700", "333", "are you there?");
                pushes += 1;
                replayed = !fake.live();
            }
            if resumed_after.is_none() && !fake.resumes().is_empty() {
                resumed_after = Some(t0.elapsed());
            }
            let s = status(&mut c).await;
            if saw_down.is_none() && s["connected"] == false && s["lastError"].as_str().is_some_and(|e| e.contains("ACK")) {
                saw_down = Some(s);
            }
            smol::Timer::after(Duration::from_millis(5)).await;
        }
        let down = saw_down.expect("channels.status never showed the zombie connection as down");
        assert_eq!(down["running"], true, "{down}");
        let resumed_after = resumed_after.expect("no Resume after the zombie connection");
        let limit = Duration::from_millis(4 * HEARTBEAT_MS + 500);
        assert!(resumed_after <= limit, "resumed after {resumed_after:?}; expected within ~3 heartbeat intervals");
        assert!(replayed, "no message could be pushed while the connection was down ({pushes} tries)");
        assert_eq!(fake.identifies().len(), 1, "a zombie is resumed, not re-identified");
        assert!(fake.resumes()[0]["session_id"].as_str().is_some_and(|s| !s.is_empty()));
        fake.set_ack_heartbeats(true);
        let s = status_until(&mut c, |s| s["connected"] == true).await;
        assert_eq!((s["connected"].as_bool(), s["healthState"].as_str()), (Some(true), Some("healthy")), "{s}");
        assert!(s["reconnectAttempts"].as_u64().is_some_and(|n| n >= 1), "{s}");
        pushes
    });
    let sent = settled_answers(&fake, "700", pushes);
    assert_eq!(sent.len(), pushes, "each message pushed is answered once: {sent:?}");
}

#[test]
fn invalid_session_identifies_afresh_and_reconnect_request_resumes() {
    let fake = FakeDiscord::start(BOT_TOKEN, 1000);
    let _gw = builder(&fake).start();
    assert!(fake.wait_live(WAIT));
    assert_eq!(fake.identifies().len(), 1);

    fake.invalidate_session(false);
    assert!(wait_for(WAIT, || fake.identifies().len() == 2 && fake.live()), "no fresh Identify after op 9 false");
    assert_eq!(fake.resumes().len(), 0, "a non-resumable session is not resumed");

    fake.request_reconnect();
    assert!(wait_for(WAIT, || fake.resumes().len() == 1 && fake.live()), "no Resume after op 7");
    fake.invalidate_session(true);
    assert!(wait_for(WAIT, || fake.resumes().len() == 2 && fake.live()), "no Resume after op 9 true");
    fake.close_with(4000, "Unknown error.");
    assert!(wait_for(WAIT, || fake.resumes().len() == 3 && fake.live()), "no Resume after close 4000");
    assert_eq!(fake.identifies().len(), 2);
    let sessions: Vec<String> = fake.resumes().iter().map(|r| r["session_id"].as_str().unwrap_or_default().to_string()).collect();
    assert!(sessions.windows(2).all(|w| w[0] == w[1]), "every Resume names the second session: {sessions:?}");

    fake.push_dm("701", "334", "still here?");
    assert_eq!(settled_answers(&fake, "701", 1).len(), 1);
}

#[test]
fn rejected_token_stops_the_channel_without_a_reconnect_loop() {
    let fake = FakeDiscord::start(BOT_TOKEN, 1000);
    fake.set_token_valid(false);
    let gw = builder(&fake).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
        let s = status_until(&mut c, |s| s["healthState"] == "auth-failed").await;
        assert_eq!(
            (s["running"].as_bool(), s["connected"].as_bool(), s["healthState"].as_str()),
            (Some(false), Some(false), Some("auth-failed")),
            "{s}"
        );
        assert!(s["lastError"].as_str().is_some_and(|e| e.contains("4004") && e.contains("channels.discord.token")), "{s}");
        smol::Timer::after(Duration::from_secs(2)).await;
        assert_eq!((fake.identifies().len(), fake.connections()), (1, 1), "the channel kept reconnecting with a rejected token");
        assert_eq!(status(&mut c).await["healthState"], "auth-failed");
    });
}

#[test]
fn disallowed_intents_stop_the_channel_with_the_fix() {
    let fake = FakeDiscord::start(BOT_TOKEN, 1000);
    let gw = builder(&fake).start();
    assert!(fake.wait_live(WAIT));
    fake.close_with(4014, "Disallowed intent(s).");
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
        let s = status_until(&mut c, |s| s["running"] == false).await;
        assert_eq!(s["running"], false, "{s}");
        let e = s["lastError"].as_str().unwrap_or_default();
        assert!(e.contains("Message Content intent") && e.contains("Privileged Gateway Intents"), "{s}");
        smol::Timer::after(Duration::from_secs(1)).await;
        assert_eq!(fake.connections(), 1, "no reconnect after 4014");
    });
}

#[test]
fn rate_limited_send_is_retried_after_retry_after_and_delivered_once() {
    let fake = FakeDiscord::start(BOT_TOKEN, 1000);
    let _gw = builder(&fake).start();
    assert!(fake.wait_live(WAIT));
    let retry_after = Duration::from_millis(600);
    // Two: the "typing…" call may take the first one; the send then meets the second.
    fake.inject_rest(RestFault::RateLimited { retry_after_secs: retry_after.as_secs_f64() });
    fake.inject_rest(RestFault::RateLimited { retry_after_secs: retry_after.as_secs_f64() });
    let pushed = Instant::now();
    fake.push_dm("702", "335", "hello");
    let sent = settled_answers(&fake, "702", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let took = sent[0].at - pushed;
    assert!(took >= retry_after, "answered {took:?} after the message; retry_after was {retry_after:?}");
    assert!(post_messages(&fake, "702") >= 2, "the send never met the 429: {:?}", fake.rest_calls());
}

#[test]
fn gateway_is_found_through_rest_when_not_configured() {
    let fake = FakeDiscord::start(BOT_TOKEN, 1000);
    let _gw = builder_with(&fake, json!({})).start();
    assert!(fake.wait_live(WAIT), "the gateway named by GET /gateway/bot was never identified on");
    assert_eq!(rest_count(&fake, "GET", "/api/v10/gateway/bot"), 1);
    // A reconnect goes to READY's resume URL; the gateway is not asked for again.
    fake.drop_connection();
    assert!(wait_for(WAIT, || fake.resumes().len() == 1 && fake.live()), "no Resume after a dropped connection");
    assert_eq!(rest_count(&fake, "GET", "/api/v10/gateway/bot"), 1);
    fake.push_dm("706", "339", "found you");
    assert_eq!(settled_answers(&fake, "706", 1).len(), 1);
}

#[test]
fn token_rejected_when_asking_for_the_gateway_stops_the_channel() {
    let fake = FakeDiscord::start(BOT_TOKEN, 1000);
    fake.set_token_valid(false);
    let gw = builder_with(&fake, json!({})).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
        let s = status_until(&mut c, |s| s["healthState"] == "auth-failed").await;
        assert_eq!((s["running"].as_bool(), s["healthState"].as_str()), (Some(false), Some("auth-failed")), "{s}");
        assert!(s["lastError"].as_str().is_some_and(|e| e.contains("401") && e.contains("channels.discord.token")), "{s}");
        smol::Timer::after(Duration::from_secs(1)).await;
        assert_eq!(rest_count(&fake, "GET", "/api/v10/gateway/bot"), 1, "the channel kept asking with a rejected token");
        assert_eq!(fake.connections(), 0);
    });
}

#[test]
fn messages_survive_a_kill_and_the_restart_resumes_the_session() {
    let fake = FakeDiscord::start(BOT_TOKEN, 1000);
    let mut gw = builder(&fake).start();
    assert!(fake.wait_live(WAIT));
    // Answered before the kill: the restart must not answer it again.
    fake.push_dm("703", "336", "first, answered before the crash");
    assert!(wait_for(WAIT, || answers(&fake, "703").len() == 1 && post_typing(&fake, "703") == 1), "{:?}", fake.rest_calls());
    // Recorded, and its answer on the way when the gateway dies: the restart delivers it. The
    // two stalls hold its "typing…" and its answer (REST faults are taken in arrival order).
    fake.inject_rest(RestFault::Stall);
    fake.inject_rest(RestFault::Stall);
    fake.push_dm("705", "338", "second, in flight at the crash");
    assert!(wait_for(WAIT, || post_messages(&fake, "705") == 1 && post_typing(&fake, "705") == 1), "{:?}", fake.rest_calls());
    gw.signal(9);
    assert!(gw.wait_exit(WAIT).is_some());
    assert!(wait_for(WAIT, || !fake.live()));
    // Discord buffers this for the session; only a Resume of that session gets it.
    fake.push_dm("704", "337", "third, while the gateway is down");

    let home = gw.home.clone();
    let gw2 = builder(&fake).home(home).start();
    assert!(fake.wait_live(WAIT), "{}", gw2.lines().join("\n"));
    assert_eq!(fake.identifies().len(), 1, "the restart identified afresh instead of resuming");
    assert_eq!(fake.resumes().len(), 1);
    let all = [("703", "answered before the kill"), ("705", "in flight at the kill"), ("704", "sent while down")];
    wait_for(WAIT, || all.iter().all(|(channel, _)| !answers(&fake, channel).is_empty()));
    std::thread::sleep(SETTLE);
    for (channel, what) in all {
        assert_eq!(answers(&fake, channel).len(), 1, "the message {what} is answered exactly once: {:?}", fake.sent());
    }
}
