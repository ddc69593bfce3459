//! The WhatsApp channel against the fake Graph API: the webhook handshake, signed deliveries (and
//! forged, unsigned or unverifiable ones), redeliveries of the same `wamid`, status-only
//! notifications, Graph faults and retries, rejected access tokens, DM pairing with the real CLI,
//! durability across a `kill -9`, the `send` RPC and `openclaw message send`, and chunking. Every
//! answer is counted at the fake, so a test fails on a lost message as well as on a duplicate.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{DEFAULT_PIECES, FakeLlm, Flavor, Reply};
use crate::support::fake_whatsapp::{
    CONTACT_NAME, DISPLAY_PHONE_NUMBER, FakeWhatsApp, Fault, STATUS_RECIPIENT, Sent, signature, status_notification, text_notification,
};
use crate::support::*;

const ACCESS_TOKEN: &str = "AT";
const PHONE_ID: &str = "123";
const APP_SECRET: &str = "S";
const VERIFY_TOKEN: &str = "VT";
const WEBHOOK: &str = "/whatsapp/webhook";
const LLM_KEY: &str = "mock-key";

/// CLI commands may take a moment on a loaded machine.
const CLI_LIMIT: Duration = Duration::from_secs(20);
/// How long to keep watching after the expected answers arrived, so a duplicate would show.
const SETTLE: Duration = Duration::from_millis(700);

/// The gateway section plus an open WhatsApp channel on `fake`.
fn config(fake: &FakeWhatsApp) -> Value {
    json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "channels": {"whatsapp": {
            "accessToken": ACCESS_TOKEN, "phoneNumberId": PHONE_ID, "appSecret": APP_SECRET, "verifyToken": VERIFY_TOKEN,
            "graphRoot": fake.graph_root(), "dmPolicy": "open", "allowFrom": ["*"],
        }},
    })
}

/// `config` with a fake model as the default (`mock/echo`).
fn config_with_model(fake: &FakeWhatsApp, llm: &FakeLlm) -> Value {
    let mut c = config(fake);
    merge(
        &mut c,
        json!({
            "models": {"providers": {"mock": {"baseUrl": llm.base_url(), "apiKey": LLM_KEY, "api": "openai-completions",
                                              "models": [{"id": "echo", "contextWindow": 32768}]}}},
            "agents": {"defaults": {"model": "mock/echo"}},
        }),
    );
    c
}

/// A gateway with `cfg` and short channel backoffs.
fn builder(cfg: Value) -> GwBuilder {
    Gw::builder()
        .config(cfg)
        .env("OPENCLAW_CHANNEL_BACKOFF_MIN_MS", "50")
        .env("OPENCLAW_CHANNEL_BACKOFF_MAX_MS", "500")
        .env("OPENCLAW_CHANNEL_RETRY_BASE_MS", "50")
}

fn start(fake: &FakeWhatsApp) -> Gw {
    builder(config(fake)).start()
}

/// POSTs `body` to the webhook with `signature` (or none).
async fn post(port: u16, body: &str, signature: Option<&str>) -> HttpResponse {
    match signature {
        Some(s) => http_post(port, WEBHOOK, &[("X-Hub-Signature-256", s)], body).await,
        None => http_post(port, WEBHOOK, &[], body).await,
    }
}

/// POSTs `body` signed with the app secret, as Meta would.
async fn post_signed(port: u16, body: &str) -> HttpResponse {
    post(port, body, Some(&signature(APP_SECRET, body.as_bytes()))).await
}

/// A signed text message from `from`, expecting the webhook to take it (200).
async fn deliver(port: u16, from: &str, wamid: &str, text: &str) {
    let r = post_signed(port, &text_notification(PHONE_ID, from, wamid, text)).await;
    assert_eq!(r.status, 200, "webhook refused {wamid}: {}", r.text());
}

/// Messages the fake accepted for `to`.
fn answers(fake: &FakeWhatsApp, to: &str) -> Vec<Sent> {
    fake.sent().into_iter().filter(|s| s.to == to).collect()
}

/// Waits for `n` answers to `to`, then a little longer so a duplicate would show.
fn settled(fake: &FakeWhatsApp, to: &str, n: usize) -> Vec<Sent> {
    wait_for(WAIT, || answers(fake, to).len() >= n);
    std::thread::sleep(SETTLE);
    answers(fake, to)
}

/// `POST /<v>/<phone id>/messages` requests the fake read (faulted and refused ones included).
fn message_posts(fake: &FakeWhatsApp, phone_id: &str) -> usize {
    let path = format!("/v21.0/{phone_id}/messages");
    fake.calls().iter().filter(|(m, t)| m == "POST" && *t == path).count()
}

/// `GET /<v>/<phone id>` requests (the credential check).
fn phone_lookups(fake: &FakeWhatsApp) -> usize {
    let path = format!("/v21.0/{PHONE_ID}");
    fake.calls().iter().filter(|(m, t)| m == "GET" && *t == path).count()
}

/// The WhatsApp account in `channels.status` (the whole result is checked against the schema).
async fn account(c: &mut Client) -> Value {
    status(c).await["channelAccounts"]["whatsapp"][0].clone()
}

async fn status(c: &mut Client) -> Value {
    c.call("channels.status", json!({})).await
}

/// Polls `channels.status` until the WhatsApp account satisfies `ok`; returns it.
async fn wait_account(c: &mut Client, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let a = account(c).await;
        if ok(&a) {
            return a;
        }
        assert!(Instant::now() < deadline, "the WhatsApp account never became {what}: {a:#}");
        smol::Timer::after(Duration::from_millis(25)).await;
    }
}

/// Waits until the credential check succeeded (so it consumed no injected fault).
async fn wait_connected(gw: &Gw) -> Value {
    let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
    let a = wait_account(&mut c, "connected", |a| a["connected"] == true).await;
    c.close().await;
    a
}

#[test]
fn the_subscription_handshake_answers_the_challenge_only_for_the_verify_token() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let gw = start(&fake);
    block_on(async {
        let ok = format!("{WEBHOOK}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=abc123");
        let r = http_get(gw.port, &ok).await;
        assert_eq!((r.status, r.text().as_str()), (200, "abc123"), "the challenge is echoed as the bare body");

        let r = http_get(gw.port, &format!("{WEBHOOK}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=abc123")).await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert!(!r.text().contains("abc123"), "a refused handshake does not echo the challenge: {}", r.text());
        let r = http_get(gw.port, &format!("{WEBHOOK}?hub.mode=subscribe&hub.challenge=abc123")).await;
        assert_eq!(r.status, 403, "a missing verify token is refused: {}", r.text());
        let r = http_get(gw.port, &format!("{WEBHOOK}?hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=abc123")).await;
        assert_eq!(r.status, 400, "{}", r.text());
    });
    assert!(fake.sent().is_empty());
}

#[test]
fn without_verify_token_and_app_secret_the_webhook_refuses_everything() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let mut cfg = config(&fake);
    let wa = cfg["channels"]["whatsapp"].as_object_mut().unwrap();
    wa.remove("verifyToken");
    wa.remove("appSecret");
    let gw = builder(cfg).start();
    block_on(async {
        wait_connected(&gw).await;
        let r = http_get(gw.port, &format!("{WEBHOOK}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=abc123")).await;
        assert_eq!(r.status, 403, "no verifyToken configured: {}", r.text());
        assert!(!r.text().contains("abc123"));

        // Signed with the secret Meta would use: there is nothing to check it against.
        let body = text_notification(PHONE_ID, "15551230000", "wamid.NOSECRET", "let me in");
        for secret in [APP_SECRET, "anything"] {
            let r = post(gw.port, &body, Some(&signature(secret, body.as_bytes()))).await;
            assert_eq!(r.status, 403, "no appSecret configured: {}", r.text());
            assert!(r.text().contains("appSecret"), "the refusal says what to set: {}", r.text());
        }
        let r = post(gw.port, &body, None).await;
        assert_eq!(r.status, 403, "{}", r.text());
    });
    std::thread::sleep(SETTLE);
    assert!(fake.sent().is_empty(), "a refused delivery must not reach the agent: {:?}", fake.sent());
    assert_eq!(message_posts(&fake, PHONE_ID), 0);
}

#[test]
fn a_signed_delivery_is_answered_once_and_reported_in_channels_status() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
        let a = wait_account(&mut c, "connected", |a| a["connected"] == true).await;
        assert_eq!(a["running"], true, "{a:#}");
        assert_eq!(a["healthState"], "healthy", "{a:#}");
        assert_eq!(a["mode"], "webhook", "{a:#}");
        assert_eq!(a["webhookPath"], WEBHOOK, "{a:#}");
        assert_eq!(a["name"], DISPLAY_PHONE_NUMBER, "the phone number from the lookup: {a:#}");
        assert_eq!(a["baseUrl"], fake.graph_root(), "{a:#}");
        assert_eq!(a["tokenSource"], "config", "{a:#}");
        assert!(a["lastInboundAt"].is_null() && a["lastOutboundAt"].is_null(), "no traffic yet: {a:#}");
        assert!(a["lastError"].is_null(), "{a:#}");

        deliver(gw.port, "15551234567", "wamid.HELLO1", "hello there").await;
        let sent = settled(&fake, "15551234567", 1);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].body.contains("[offline]") && sent[0].body.contains("hello there"), "the agent's answer: {}", sent[0].body);
        assert_eq!(sent[0].raw["messaging_product"], "whatsapp");
        assert_eq!(sent[0].raw["type"], "text");
        assert_eq!(fake.sent().len(), 1, "nothing else was sent: {:?}", fake.sent());
        assert_eq!(message_posts(&fake, PHONE_ID), 1, "one send on the configured API version: {:?}", fake.calls());

        let a = wait_account(&mut c, "updated after the answer", |a| a["lastOutboundAt"].is_u64()).await;
        assert!(a["lastInboundAt"].is_u64(), "{a:#}");
        assert!(a["lastInboundAt"].as_u64() <= a["lastOutboundAt"].as_u64(), "{a:#}");
        assert_eq!((a["connected"].as_bool(), a["running"].as_bool()), (Some(true), Some(true)), "{a:#}");
        let s = status(&mut c).await;
        let summary = &s["channels"]["whatsapp"];
        assert_eq!(summary["mode"], "webhook", "{s:#}");
        assert_eq!(summary["connected"], true, "{s:#}");
        assert!(summary["lastInboundAt"].is_u64() && summary["lastOutboundAt"].is_u64(), "{s:#}");
        assert!(s["channelOrder"].as_array().unwrap().contains(&json!("whatsapp")), "{s:#}");
    });
}

#[test]
fn forged_or_unsigned_deliveries_are_refused_and_never_answered() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let gw = start(&fake);
    block_on(async {
        let from = "15550009999";
        let forged = text_notification(PHONE_ID, from, "wamid.FORGED", "forged instructions");
        let r = post(gw.port, &forged, None).await;
        assert_eq!(r.status, 401, "unsigned: {}", r.text());
        let r = post(gw.port, &forged, Some(&signature("not-the-secret", forged.as_bytes()))).await;
        assert_eq!(r.status, 401, "signed with another secret: {}", r.text());
        // A valid signature of a different body (the body was tampered with on the way).
        let original = text_notification(PHONE_ID, from, "wamid.FORGED", "harmless");
        let r = post(gw.port, &forged, Some(&signature(APP_SECRET, original.as_bytes()))).await;
        assert_eq!(r.status, 401, "tampered body: {}", r.text());
        let good = signature(APP_SECRET, forged.as_bytes());
        for bad in ["sha256=zz", "sha256=", "sha1=0123", good.trim_start_matches("sha256=")] {
            let r = post(gw.port, &forged, Some(bad)).await;
            assert_eq!(r.status, 401, "malformed signature {bad:?}: {}", r.text());
        }

        // The real one afterwards: only it is answered.
        deliver(gw.port, from, "wamid.REAL", "the real one").await;
    });
    let sent = settled(&fake, "15550009999", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].body.contains("the real one") && !sent[0].body.contains("forged"), "{}", sent[0].body);
    assert_eq!(fake.sent().len(), 1, "{:?}", fake.sent());
}

#[test]
fn a_redelivered_notification_is_answered_once() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let gw = start(&fake);
    let from = "15550004444";
    let body = text_notification(PHONE_ID, from, "wamid.TWICE", "only once please");
    block_on(async {
        // Meta retries when it did not see the 200 in time: the same wamid, back to back.
        for _ in 0..2 {
            let r = post_signed(gw.port, &body).await;
            assert_eq!(r.status, 200, "a repeat is acknowledged too, or Meta keeps retrying: {}", r.text());
        }
    });
    let sent = settled(&fake, from, 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    block_on(async {
        // And a late repeat, after the answer went out.
        let r = post_signed(gw.port, &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
    });
    std::thread::sleep(SETTLE);
    assert_eq!(answers(&fake, from).len(), 1, "{:?}", fake.sent());
    assert_eq!(message_posts(&fake, PHONE_ID), 1);
}

#[test]
fn status_notifications_and_other_numbers_are_acknowledged_and_ignored() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let gw = start(&fake);
    block_on(async {
        for st in ["sent", "delivered", "read", "failed"] {
            let r = post_signed(gw.port, &status_notification(PHONE_ID, "wamid.OUT1", st)).await;
            assert_eq!(r.status, 200, "status {st}: {}", r.text());
        }
        // A message for another phone number of the same business account is not ours.
        let other = text_notification("999", "15550005555", "wamid.OTHER", "for someone else");
        let r = post_signed(gw.port, &other).await;
        assert_eq!(r.status, 200, "{}", r.text());
        // A text message afterwards is the barrier: once it is answered, anything else would be too.
        deliver(gw.port, "15550006666", "wamid.AFTER", "after the statuses").await;
    });
    let sent = settled(&fake, "15550006666", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].body.contains("after the statuses"), "{}", sent[0].body);
    assert_eq!(fake.sent().len(), 1, "statuses and other numbers get no answer: {:?}", fake.sent());
    assert!(answers(&fake, STATUS_RECIPIENT).is_empty() && answers(&fake, "15550005555").is_empty());
}

#[test]
fn a_signed_message_without_its_wamid_is_refused_with_the_missing_field_and_never_answered() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let gw = start(&fake);
    block_on(async {
        let mut body: Value = serde_json::from_str(&text_notification(PHONE_ID, "15550007777", "wamid.X", "no id")).unwrap();
        body["entry"][0]["changes"][0]["value"]["messages"][0].as_object_mut().unwrap().remove("id");
        let r = post_signed(gw.port, &body.to_string()).await;
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("missing field `id`"), "the error names the field: {}", r.text());
        // The barrier: a well-formed message afterwards is answered, the broken one never.
        deliver(gw.port, "15550008888", "wamid.GOOD", "well formed").await;
    });
    let sent = settled(&fake, "15550008888", 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(answers(&fake, "15550007777").is_empty(), "{:?}", fake.sent());
}

#[test]
fn graph_outages_and_rate_limits_are_retried_until_the_answer_arrives_once() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let gw = start(&fake);
    block_on(async {
        wait_connected(&gw).await;
    });
    fake.inject(Fault::Status(503));
    fake.inject(Fault::RateLimited);
    fake.inject(Fault::Status(500));
    let from = "15550007777";
    block_on(deliver(gw.port, from, "wamid.RETRY", "through the storm"));
    let sent = settled(&fake, from, 1);
    assert_eq!(sent.len(), 1, "{sent:?}\n{}", gw.lines().join("\n"));
    assert!(sent[0].body.contains("through the storm"), "{}", sent[0].body);
    assert_eq!(message_posts(&fake, PHONE_ID), 4, "three faults, then the send that worked: {:?}", fake.calls());
    assert_eq!(fake.sent().len(), 1);
}

#[test]
fn an_unknown_phone_number_id_stops_the_channel_and_the_webhook_defers_to_meta() {
    // A phone number id the Graph API does not know: the lookup is refused with 400, code 100
    // (subcode 33), which no retry can fix. The channel stops with a clear status, and the webhook
    // answers 503 so Meta keeps the message and delivers it again once the config is fixed,
    // instead of a 200 for a message that could never be answered.
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let mut cfg = config(&fake);
    cfg["channels"]["whatsapp"]["phoneNumberId"] = json!("999");
    let gw = builder(cfg).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
        let a = wait_account(&mut c, "not-configured", |a| a["healthState"] == "not-configured").await;
        assert_eq!(a["running"], false, "{a:#}");
        assert!(a["lastError"].as_str().unwrap_or("").contains("phoneNumberId"), "{a:#}");
    });
    let lookups = fake.calls().len();
    let body = text_notification("999", "15550008888", "wamid.PERM1", "first");
    let r = block_on(post_signed(gw.port, &body));
    assert_eq!(r.status, 503, "{}", r.text());
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(fake.calls().len(), lookups, "no lookup loop and no send: {:?}", fake.calls());
    assert!(fake.sent().is_empty());
}

#[test]
fn a_rejected_access_token_stops_the_channel_without_a_lookup_loop() {
    // A revoked token (401, code 190, subcode 463), then a token that was never valid.
    for revoked in [true, false] {
        let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
        let mut cfg = config(&fake);
        if revoked {
            fake.set_token_valid(false);
        } else {
            cfg["channels"]["whatsapp"]["accessToken"] = json!("WRONG-TOKEN");
        }
        let gw = builder(cfg).start();
        block_on(async {
            let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
            let a = wait_account(&mut c, "auth-failed", |a| a["healthState"] == "auth-failed").await;
            assert_eq!((a["running"].as_bool(), a["connected"].as_bool()), (Some(false), Some(false)), "{a:#}");
            let err = a["lastError"].as_str().unwrap_or_else(|| panic!("no lastError: {a:#}"));
            assert!(err.contains("access token") && err.contains("channels.whatsapp.accessToken"), "{err}");
            assert!(!err.contains("WRONG-TOKEN"), "no secret in the error: {err}");
            let s = status(&mut c).await;
            assert_eq!(s["channels"]["whatsapp"]["healthState"], "auth-failed", "{s:#}");
        });
        let before = phone_lookups(&fake);
        std::thread::sleep(Duration::from_secs(2));
        let after = phone_lookups(&fake);
        assert!(after <= 2 && after == before, "rejected credentials are not retried (revoked: {revoked}): {:?}", fake.calls());
        assert!(fake.sent().is_empty());
    }
}

#[test]
fn an_unknown_sender_gets_a_pairing_code_and_is_answered_after_cli_approval() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let mut cfg = config(&fake);
    let wa = cfg["channels"]["whatsapp"].as_object_mut().unwrap();
    wa.remove("dmPolicy");
    wa.remove("allowFrom");
    let gw = builder(cfg).start();
    let from = "15557770001";
    block_on(deliver(gw.port, from, "wamid.PAIR1", "hi, who are you?"));
    let sent = settled(&fake, from, 1);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = &sent[0].body;
    assert!(!text.contains("[offline]"), "the agent must not run for an unknown sender: {text}");
    assert!(text.contains(from), "the sender's id is in the pairing message: {text}");
    let marker = "openclaw pairing approve whatsapp ";
    let at = text.find(marker).unwrap_or_else(|| panic!("no approve command in {text:?}")) + marker.len();
    let code: String = text[at..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    assert_eq!(code.len(), 8, "an 8-character code: {text:?}");
    assert!(code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()), "{code}");
    assert!(text.contains(&format!("Pairing code: {code}")), "{text}");

    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.pairing"]).await;
        let list = c.call("channels.pairing.list", json!({"channel": "whatsapp"})).await;
        let requests = list["requests"].as_array().unwrap();
        assert_eq!(requests.len(), 1, "{list:#}");
        assert_eq!(requests[0]["requestId"], code.as_str(), "{list:#}");
        assert_eq!(requests[0]["channel"], "whatsapp", "{list:#}");
        assert_eq!(requests[0]["senderId"], from, "{list:#}");
        assert_eq!(requests[0]["senderLabel"], CONTACT_NAME, "{list:#}");
    });

    let (code_rc, out, err) = Cmd::new(gw.home.clone()).args(["pairing", "approve", "whatsapp", &code]).output(CLI_LIMIT);
    assert_eq!(code_rc, 0, "{out}{err}");
    assert!(out.contains("Approved") && out.contains(from), "{out}");

    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.pairing"]).await;
        let list = c.call("channels.pairing.list", json!({"channel": "whatsapp"})).await;
        assert_eq!(list["requests"], json!([]), "approved requests are no longer pending: {list:#}");
        deliver(gw.port, from, "wamid.PAIR2", "now can we talk?").await;
    });
    let sent = settled(&fake, from, 2);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].body.contains("[offline]") && sent[1].body.contains("now can we talk?"), "the agent answers: {}", sent[1].body);
}

#[test]
fn a_message_acknowledged_before_a_kill_9_is_answered_once_after_the_restart() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let llm = FakeLlm::start(Flavor::OpenAi, Some(LLM_KEY));
    // A slow answer, so the first gateway cannot have finished when it is killed. If the kill
    // lands before the model was even asked, the restarted gateway gets this reply instead.
    llm.push(Reply::slow(&["Slow", " answer", "."], Duration::from_millis(400)));
    let cfg = config_with_model(&fake, &llm);
    let gw = builder(cfg.clone()).start();
    let home = gw.home.clone();
    let from = "15550003333";
    let body = text_notification(PHONE_ID, from, "wamid.DURABLE", "do not lose me");
    let r = block_on(post_signed(gw.port, &body));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut gw = gw;
    gw.signal(libc::SIGKILL);
    gw.wait_exit(WAIT).expect("killed");
    drop(gw);
    assert!(fake.sent().is_empty(), "answered before the kill, so the test proves nothing: {:?}", fake.sent());

    let gw = builder(cfg).home(home).start();
    let sent = settled(&fake, from, 1);
    assert_eq!(sent.len(), 1, "{sent:?}\n{}", gw.lines().join("\n"));
    let default = DEFAULT_PIECES.concat();
    assert!(sent[0].body == default || sent[0].body == "Slow answer.", "{}", sent[0].body);
    assert!(llm.count() >= 1 && llm.requests().iter().all(|r| r.last_user_text().contains("do not lose me")), "{:?}", llm.requests());
    // The repeat Meta sends because the first gateway died is recognised after the restart.
    let r = block_on(post_signed(gw.port, &body));
    assert_eq!(r.status, 200, "{}", r.text());
    std::thread::sleep(SETTLE);
    assert_eq!(fake.sent().len(), 1, "{:?}", fake.sent());
}

#[test]
fn the_send_rpc_and_the_message_send_cli_reach_whatsapp_once_per_idempotency_key() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let gw = start(&fake);
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.write"]).await;
        let params = json!({"to": "+15550001", "message": "hello from the operator", "channel": "whatsapp", "idempotencyKey": "wa-k1"});
        let first = c.call("send", params.clone()).await;
        assert_eq!(first["channel"], "whatsapp", "{first:#}");
        assert!(first["messageId"].as_str().is_some_and(|id| id.starts_with("wamid.")), "the Graph message id: {first:#}");
        let sent = fake.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!((sent[0].to.as_str(), sent[0].body.as_str()), ("15550001", "hello from the operator"));

        let again = c.call("send", params).await;
        assert_eq!(again["messageId"], first["messageId"], "the same key returns the first result: {again:#}");
        assert_eq!(fake.sent().len(), 1, "not sent twice: {:?}", fake.sent());

        let other = c
            .call(
                "send",
                json!({"to": "whatsapp:+15550001", "message": "hello from the operator", "channel": "whatsapp",
                                         "idempotencyKey": "wa-k2"}),
            )
            .await;
        assert_ne!(other["messageId"], first["messageId"], "{other:#}");
        assert_eq!(fake.sent().len(), 2, "another key is another message: {:?}", fake.sent());
        assert_eq!(fake.sent()[1].to, "15550001");

        let r = c.request("send", json!({"to": "not a number", "message": "x", "channel": "whatsapp", "idempotencyKey": "wa-k3"})).await;
        assert_eq!(r["ok"], false, "{r:#}");
        assert!(r["error"]["message"].as_str().unwrap_or("").contains("phone number"), "{r:#}");
        assert_eq!(message_posts(&fake, PHONE_ID), 2, "a target that is no number is refused before Graph: {:?}", fake.calls());
    });

    let url = gw.url();
    let (code, out, err) = Cmd::new(gw.home.clone())
        .args(["message", "send", "--channel", "whatsapp", "--to", "+15550002", "--url", &url, "--token", TOKEN, "hello"])
        .output(CLI_LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("+15550002") && out.contains("whatsapp"), "{out}");
    let sent = answers(&fake, "15550002");
    assert_eq!(sent.len(), 1, "{:?}", fake.sent());
    assert_eq!(sent[0].body, "hello");
}

#[test]
fn a_long_answer_arrives_in_order_in_pieces_within_text_chunk_limit() {
    let fake = FakeWhatsApp::start(ACCESS_TOKEN, PHONE_ID);
    let llm = FakeLlm::start(Flavor::OpenAi, Some(LLM_KEY));
    let answer = "The first sentence is short. The second one is a bit longer. Here comes the third sentence. \
                  A fourth follows it closely. The fifth sentence ends the story. And a sixth, just to be sure.";
    // Streamed in uneven pieces that do not follow the sentence boundaries.
    let (a, rest) = answer.split_at(37);
    let (b, c) = rest.split_at(71);
    llm.push(Reply::text(&[a, b, c]));
    let mut cfg = config_with_model(&fake, &llm);
    cfg["channels"]["whatsapp"]["textChunkLimit"] = json!(50);
    let gw = builder(cfg).start();
    let from = "15550002222";
    block_on(deliver(gw.port, from, "wamid.LONG", "tell me a story"));
    assert!(wait_for(WAIT, || !answers(&fake, from).is_empty()), "no answer:\n{}", gw.lines().join("\n"));
    // Wait until the pieces stop coming.
    let mut n = 0;
    while answers(&fake, from).len() != n {
        n = answers(&fake, from).len();
        std::thread::sleep(SETTLE);
    }
    let pieces: Vec<String> = answers(&fake, from).into_iter().map(|s| s.body).collect();
    assert!(pieces.len() >= 4, "{} characters at 50 per message: {pieces:#?}", answer.chars().count());
    for p in &pieces {
        assert!(!p.is_empty() && p.chars().count() <= 50, "piece over the limit: {p:?} ({})", p.chars().count());
        assert_eq!(p.trim(), p, "pieces are cut at spaces, not padded: {p:?}");
    }
    assert_eq!(pieces.join(" "), answer, "in order and nothing lost");
    assert_eq!(fake.sent().len(), pieces.len());
}
