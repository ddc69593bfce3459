//! All seven channels at once: the five fakes, a real ngIRCd and a real Synapse, one gateway with
//! every channel configured. Each must report connected, answer one direct message (the offline
//! responder, no model configured), and then the gateway's resident memory is read: the figure
//! for the issue note. Run with `OPENCLAW_TEST_BIN=<release binary>` to measure the shipped
//! build. Skipped (with a message) when ngIRCd or Synapse is missing, like the IRC and Matrix
//! tests.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::{irc, matrix};
use crate::support::fake_discord::FakeDiscord;
use crate::support::fake_signal::FakeSignal;
use crate::support::fake_slack::{APP_TOKEN, BOT_TOKEN, FakeSlack};
use crate::support::fake_telegram::FakeTelegram;
use crate::support::fake_whatsapp::{self, FakeWhatsApp};
use crate::support::*;

const SEVEN: [&str; 7] = ["telegram", "discord", "whatsapp", "irc", "matrix", "signal", "slack"];
/// Synapse on a busy 2-core machine is the slow one; the rest connect within a second or two.
const CONNECT_WAIT: Duration = Duration::from_secs(60);
const ANSWER_WAIT: Duration = Duration::from_secs(30);
const SIGNAL_ACCOUNT: &str = "+15550000001";
const SIGNAL_PEER: &str = "+15557654321";
/// A generous ceiling for the debug build; the release figure is far lower and goes in the note.
const RSS_BOUND_KIB: u64 = 24 * 1024;

async fn accounts(gw: &Gw) -> Value {
    let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
    c.call("channels.status", json!({})).await.get("channelAccounts").cloned().unwrap_or(Value::Null)
}

/// Polls `channels.status` until every one of the seven accounts says connected.
fn wait_all_connected(gw: &Gw) -> Value {
    let deadline = Instant::now() + CONNECT_WAIT;
    loop {
        let a = block_on(accounts(gw));
        if SEVEN.iter().all(|c| a[c][0]["connected"] == true) {
            return a;
        }
        let missing: Vec<_> = SEVEN.iter().filter(|c| a[*c][0]["connected"] != true).collect();
        assert!(Instant::now() < deadline, "not connected: {missing:?}\n{a:#}\ngateway log:\n{}", gw.lines().join("\n"));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn offline_answer(channel: &str, texts: &[String]) {
    assert_eq!(texts.len(), 1, "{channel}: exactly one answer: {texts:?}");
    assert!(texts[0].contains("[offline]"), "{channel}: the offline responder answered: {texts:?}");
}

#[test]
fn all_seven_channels_connected_at_once_each_answer_a_dm_and_what_that_costs() {
    // The real servers first: without either there is nothing to measure.
    let Some(ircd) = irc::Ircd::start() else { return };
    let Some(hs) = matrix::Synapse::start(false) else { return };
    let bot = hs.register("ocbot", "botpw");
    let alice = hs.register("alice", "alicepw");
    let mut irc_user = irc::User::connect(ircd.port, "alice");

    let tg = FakeTelegram::start("1:tok");
    let dc = FakeDiscord::start("dtok", 30_000);
    let wa = FakeWhatsApp::start("watok", "123");
    let slack = FakeSlack::start(Duration::from_secs(3));
    let sig = FakeSignal::start(SIGNAL_ACCOUNT);

    let open = json!({"dmPolicy": "open", "allowFrom": ["*"]});
    let mut cfg = irc::config(&ircd, "ocbot", json!({}));
    merge(&mut cfg, matrix::config(&hs, json!({})));
    merge(
        &mut cfg,
        json!({"channels": {
            "telegram": {"botToken": "1:tok", "apiRoot": tg.api_root()},
            "discord": {"token": "dtok", "apiRoot": dc.api_root(), "gatewayUrl": dc.gateway_url()},
            "whatsapp": {"accessToken": "watok", "phoneNumberId": "123", "appSecret": "s", "graphRoot": wa.graph_root()},
            "slack": {"appToken": APP_TOKEN, "botToken": BOT_TOKEN, "apiRoot": slack.api_root()},
            "signal": {"account": SIGNAL_ACCOUNT, "httpUrl": sig.url()},
        }}),
    );
    for channel in SEVEN {
        merge(&mut cfg["channels"][channel], open.clone());
    }
    // Default timings throughout: the memory figure is the one a user's gateway would show.
    let gw = Gw::builder().config(cfg).start();
    let status = wait_all_connected(&gw);
    assert_eq!(status["whatsapp"][0]["mode"], "webhook");

    // One direct message through each channel, so every channel's receive and send paths have
    // run once before memory is read.
    tg.push_private(1, "hi");
    dc.push_dm("5001", "6001", "hi");
    let body = fake_whatsapp::text_notification("123", "15550001", "wamid.X", "hi");
    let signature = fake_whatsapp::signature("s", body.as_bytes());
    let r = block_on(http_post(
        gw.port,
        "/whatsapp/webhook",
        &[("x-hub-signature-256", &signature), ("content-type", "application/json")],
        &body,
    ));
    assert_eq!(r.status, 200);
    slack.push_message("D0ANN", "im", "U0ANN", "hi", None);
    sig.push_dm(SIGNAL_PEER, "hi");
    irc_user.line("PRIVMSG ocbot :hi");
    let dm = hs.create_room(&alice, &[&bot.user_id], true);
    assert!(wait_for(ANSWER_WAIT, || hs.members(&alice, &dm).contains(&bot.user_id)), "the Matrix invite was not accepted");
    hs.say(&alice, &dm, "hi");

    offline_answer("telegram", &tg.wait_sent(1, ANSWER_WAIT).into_iter().map(|s| s.text).collect::<Vec<_>>());
    offline_answer("discord", &dc.wait_sent(1, ANSWER_WAIT).into_iter().map(|s| s.content).collect::<Vec<_>>());
    offline_answer("whatsapp", &wa.wait_sent(1, ANSWER_WAIT).into_iter().map(|s| s.body).collect::<Vec<_>>());
    assert!(wait_for(ANSWER_WAIT, || !slack.posted_in("D0ANN").is_empty()), "no Slack answer");
    offline_answer("slack", &slack.posted_in("D0ANN").into_iter().map(|p| p.text).collect::<Vec<_>>());
    offline_answer("signal", &sig.wait_sent(1, ANSWER_WAIT).into_iter().map(|s| s.text).collect::<Vec<_>>());
    let irc_answer = irc_user.wait(ANSWER_WAIT, |l| l.starts_with(":ocbot!") && l.contains(" PRIVMSG alice :"));
    assert!(irc_answer.is_some_and(|l| l.contains("[offline]")), "no IRC answer: {:?}", irc_user.seen);
    offline_answer("matrix", &hs.wait_messages(&alice, &dm, &bot.user_id, 1));

    // Let the answers' buffers settle, and check nothing dropped out meanwhile.
    std::thread::sleep(Duration::from_secs(2));
    wait_all_connected(&gw);
    let rss = rss_kib(gw.child.id()).expect("VmRSS");
    // The split says where a change went: the binary's pages (RssFile) or heap and stacks.
    let part = |field| status_kib(gw.child.id(), field).map_or("?".to_string(), |k| k.to_string());
    eprintln!("RSS with all seven channels connected: {rss} KiB (RssAnon {} KiB, RssFile {} KiB)", part("RssAnon"), part("RssFile"));
    assert!(rss < RSS_BOUND_KIB, "{rss} KiB");
}
