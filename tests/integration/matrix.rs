//! The Matrix channel against a real Synapse started on a free loopback port (SQLite, two or
//! three users registered through the shared-secret admin API): invites from allowed senders
//! joined, direct messages answered once, mention gating in rooms, exactly-once across `kill -9`,
//! a rejected token, `send`, and rate limits (`M_LIMIT_EXCEEDED`) waited out. Skipped (with a
//! message) when Synapse is not installed: set `SYNAPSE_PYTHON` to a Python that has
//! `matrix-synapse` (CI makes a venv), or have it importable by `python3`.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{FakeLlm, Flavor, Reply};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "test-shared-secret";

fn synapse_python() -> Option<String> {
    let candidates: Vec<String> = std::env::var("SYNAPSE_PYTHON").ok().into_iter().chain(["python3".to_string()]).collect();
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import synapse.app.homeserver"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; the status and the JSON body.
fn http(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        let (chunk, tail) = tail.split_at(n);
        out.push_str(chunk);
        rest = tail.strip_prefix("\r\n").unwrap_or(tail);
    }
    out
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// A real Synapse, killed on drop.
pub(super) struct Synapse {
    child: Child,
    port: u16,
    _dir: TempDir,
}

pub(super) struct Account {
    pub(super) user_id: String,
    token: String,
}

impl Synapse {
    pub(super) fn start(rate_limited: bool) -> Option<Synapse> {
        let Some(py) = synapse_python() else {
            eprintln!(
                "SKIPPED: Synapse is not installed (pip install matrix-synapse, then SYNAPSE_PYTHON=<venv>/bin/python); the Matrix tests need a real homeserver"
            );
            return None;
        };
        let dir = TempDir::new("synapse");
        let port = free_port();
        let d = dir.path().display();
        let limits = if rate_limited {
            "rc_message: {per_second: 0.5, burst_count: 2}\n"
        } else {
            "rc_message: {per_second: 1000, burst_count: 1000}\n"
        };
        let conf = format!(
            "server_name: \"localhost\"\npid_file: {d}/homeserver.pid\nlisteners:\n  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    type: http\n    tls: false\n    x_forwarded: false\n    resources:\n      - names: [client]\n        compress: false\n\
             database:\n  name: sqlite3\n  args:\n    database: {d}/homeserver.db\nmedia_store_path: {d}/media_store\nsigning_key_path: {d}/localhost.signing.key\n\
             registration_shared_secret: \"{SECRET}\"\nmacaroon_secret_key: \"m\"\nform_secret: \"f\"\nreport_stats: false\nenable_registration: false\ntrusted_key_servers: []\nsuppress_key_server_warning: true\n\
             presence:\n  enabled: false\nurl_preview_enabled: false\n{limits}rc_registration: {{per_second: 1000, burst_count: 1000}}\nrc_login:\n  address: {{per_second: 1000, burst_count: 1000}}\n  account: {{per_second: 1000, burst_count: 1000}}\n  failed_attempts: {{per_second: 1000, burst_count: 1000}}\n\
             rc_joins:\n  local: {{per_second: 1000, burst_count: 1000}}\n  remote: {{per_second: 1000, burst_count: 1000}}\nrc_joins_per_room: {{per_second: 1000, burst_count: 1000}}\n\
             rc_invites:\n  per_room: {{per_second: 1000, burst_count: 1000}}\n  per_user: {{per_second: 1000, burst_count: 1000}}\n  per_issuer: {{per_second: 1000, burst_count: 1000}}\nrc_room_creation: {{per_second: 1000, burst_count: 1000}}\n"
        );
        let path = dir.path().join("homeserver.yaml");
        std::fs::write(&path, conf).unwrap();
        let ok = Command::new(&py)
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(&path)
            .arg("--generate-keys")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "synapse --generate-keys failed");
        let log = std::fs::File::create(dir.path().join("synapse.log")).unwrap();
        let child = Command::new(&py)
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Synapse { child, port, _dir: dir };
        assert!(
            wait_for(Duration::from_secs(60), || TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http(port, "GET", "/_matrix/client/versions", None, None).0 == 200),
            "synapse did not start"
        );
        Some(s)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Registers a user through the shared-secret admin API.
    pub(super) fn register(&self, user: &str, password: &str) -> Account {
        let (_, n) = http(self.port, "GET", "/_synapse/admin/v1/register", None, None);
        let nonce = n["nonce"].as_str().unwrap().to_string();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, SECRET.as_bytes());
        let mac = ring::hmac::sign(&key, format!("{nonce}\0{user}\0{password}\0notadmin").as_bytes());
        let mac: String = mac.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let body = json!({"nonce": nonce, "username": user, "password": password, "admin": false, "mac": mac});
        let (status, v) = http(self.port, "POST", "/_synapse/admin/v1/register", None, Some(&body));
        assert_eq!(status, 200, "{v}");
        Account { user_id: v["user_id"].as_str().unwrap().into(), token: v["access_token"].as_str().unwrap().into() }
    }

    pub(super) fn create_room(&self, by: &Account, invite: &[&str], direct: bool) -> String {
        let body = json!({"preset": "private_chat", "invite": invite, "is_direct": direct, "name": "test"});
        let (status, v) = http(self.port, "POST", "/_matrix/client/v3/createRoom", Some(&by.token), Some(&body));
        assert_eq!(status, 200, "{v}");
        v["room_id"].as_str().unwrap().to_string()
    }

    fn join(&self, who: &Account, room: &str) {
        let (status, v) = http(self.port, "POST", &format!("/_matrix/client/v3/join/{}", enc(room)), Some(&who.token), Some(&json!({})));
        assert_eq!(status, 200, "{v}");
    }

    pub(super) fn say(&self, who: &Account, room: &str, text: &str) {
        let txn = format!("t{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
        let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}", enc(room));
        let (status, v) = http(self.port, "PUT", &path, Some(&who.token), Some(&json!({"msgtype": "m.text", "body": text})));
        assert_eq!(status, 200, "{v}");
    }

    pub(super) fn members(&self, who: &Account, room: &str) -> Vec<String> {
        let (_, v) = http(self.port, "GET", &format!("/_matrix/client/v3/rooms/{}/joined_members", enc(room)), Some(&who.token), None);
        v["joined"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    /// Bodies of the messages `sender` posted in `room`, oldest first.
    fn messages_from(&self, reader: &Account, room: &str, sender: &str) -> Vec<String> {
        let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100", enc(room));
        let (_, v) = http(self.port, "GET", &path, Some(&reader.token), None);
        let mut out: Vec<String> = v["chunk"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
                    .filter_map(|e| e["content"]["body"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.reverse();
        out
    }

    pub(super) fn wait_messages(&self, reader: &Account, room: &str, sender: &str, n: usize) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let m = self.messages_from(reader, room, sender);
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn builder(cfg: Value) -> GwBuilder {
    Gw::builder()
        .config(cfg)
        .env("OPENCLAW_CHANNEL_POLL_TIMEOUT_MS", "1000")
        .env("OPENCLAW_CHANNEL_STALL_GRACE_MS", "2000")
        .env("OPENCLAW_CHANNEL_BACKOFF_MIN_MS", "100")
        .env("OPENCLAW_CHANNEL_BACKOFF_MAX_MS", "400")
        .env("OPENCLAW_CHANNEL_RETRY_BASE_MS", "50")
}

pub(super) fn config(hs: &Synapse, matrix: Value) -> Value {
    let mut c = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "channels": {"matrix": {"homeserver": hs.url(), "userId": "@ocbot:localhost", "password": "botpw",
                                "dmPolicy": "open", "allowFrom": ["*"], "groupPolicy": "open"}}
    });
    merge(&mut c["channels"]["matrix"], matrix);
    // `"password": null` in the patch means: no password.
    if let Some(m) = c["channels"]["matrix"].as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    c
}

fn model(fake: &FakeLlm) -> Value {
    json!({"models": {"providers": {"mock": {"baseUrl": fake.base_url(), "apiKey": "k", "api": "openai-completions",
                                             "models": [{"id": "echo", "contextWindow": 32768}]}}},
           "agents": {"defaults": {"model": "mock/echo"}}})
}

async fn matrix_status(gw: &Gw, probe: bool) -> Value {
    let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
    let r = c.request("channels.status", json!({"probe": probe})).await;
    assert_eq!(r["ok"], true, "{r}");
    r["payload"]["channelAccounts"]["matrix"][0].clone()
}

fn status_until(gw: &Gw, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = block_on(matrix_status(gw, false));
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "status never matched; last: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_invite_is_joined_and_direct_and_mentioned_room_messages_are_answered_once() {
    let Some(hs) = Synapse::start(false) else { return };
    let bot = hs.register("ocbot", "botpw");
    let alice = hs.register("alice", "alicepw");
    let carol = hs.register("carol", "carolpw");
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    let mut cfg = config(&hs, json!({}));
    merge(&mut cfg, model(&llm));
    let gw = builder(cfg).start();
    let s = status_until(&gw, |s| s["connected"] == true);
    assert_eq!((s["name"].as_str(), s["mode"].as_str()), (Some("@ocbot:localhost"), Some("sync")), "{s}");

    let dm = hs.create_room(&alice, &[&bot.user_id], true);
    assert!(wait_for(WAIT, || hs.members(&alice, &dm).contains(&bot.user_id)), "the invite was not accepted");
    llm.push(Reply::text(&["direct answer"]));
    hs.say(&alice, &dm, "hello in private");
    assert_eq!(hs.wait_messages(&alice, &dm, &bot.user_id, 1), ["direct answer"]);

    let room = hs.create_room(&alice, &[&bot.user_id, &carol.user_id], false);
    hs.join(&carol, &room);
    assert!(wait_for(WAIT, || hs.members(&alice, &room).len() == 3));
    hs.say(&alice, &room, "just chatting among people");
    llm.push(Reply::text(&["room answer"]));
    hs.say(&carol, &room, "ocbot: what is up");
    assert_eq!(hs.wait_messages(&alice, &room, &bot.user_id, 1), ["room answer"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(llm.count(), 2, "the unmentioned message never reached the model");
    assert!(llm.requests()[1].last_user_text().contains("what is up"));
    assert_eq!(hs.messages_from(&alice, &dm, &bot.user_id), ["direct answer"], "answered once");
    assert_eq!(hs.messages_from(&alice, &room, &bot.user_id), ["room answer"]);

    let s = block_on(matrix_status(&gw, true));
    assert_eq!(s["probe"]["ok"], true, "{s}");
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.write"]).await;
        let r = c.request("send", json!({"to": dm, "message": "from the operator", "channel": "matrix", "idempotencyKey": "k1"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let bad = c.request("send", json!({"to": "@alice:localhost", "message": "x", "channel": "matrix", "idempotencyKey": "k2"})).await;
        assert_eq!(bad["ok"], false, "{bad}");
    });
    assert_eq!(hs.wait_messages(&alice, &dm, &bot.user_id, 2), ["direct answer", "from the operator"]);
}

#[test]
fn invites_from_senders_outside_the_allowlist_are_not_joined() {
    let Some(hs) = Synapse::start(false) else { return };
    let bot = hs.register("ocbot", "botpw");
    let eve = hs.register("eve", "evepw");
    let gw = builder(config(&hs, json!({"dmPolicy": "allowlist", "allowFrom": ["@alice:localhost"], "groupPolicy": "allowlist"}))).start();
    status_until(&gw, |s| s["connected"] == true);
    let room = hs.create_room(&eve, &[&bot.user_id], true);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!hs.members(&eve, &room).contains(&bot.user_id));
}

#[test]
fn a_message_is_answered_exactly_once_across_kill_9() {
    let Some(hs) = Synapse::start(false) else { return };
    let bot = hs.register("ocbot", "botpw");
    let alice = hs.register("alice", "alicepw");
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    llm.push(Reply::slow(&["never", " finished"], Duration::from_millis(1000)));
    llm.push(Reply::text(&["answer after the restart"]));
    llm.push(Reply::text(&["second answer"]));
    let mut cfg = config(&hs, json!({}));
    merge(&mut cfg, model(&llm));
    let mut gw = builder(cfg.clone()).start();
    status_until(&gw, |s| s["connected"] == true);
    let dm = hs.create_room(&alice, &[&bot.user_id], true);
    assert!(wait_for(WAIT, || hs.members(&alice, &dm).contains(&bot.user_id)));
    hs.say(&alice, &dm, "remember me");
    assert!(wait_for(WAIT, || llm.count() == 1));
    gw.signal(9);
    gw.wait_exit(WAIT);
    hs.say(&alice, &dm, "said while the gateway was down");
    let home = gw.home.clone();
    drop(gw);
    let gw = builder(cfg).home(home).start();
    let mut got = hs.wait_messages(&alice, &dm, &bot.user_id, 2);
    std::thread::sleep(Duration::from_millis(1500));
    got.sort();
    if got.len() != 2 {
        eprintln!("gateway log:\n{}", gw.lines().join("\n"));
    }
    assert_eq!(got, ["answer after the restart", "second answer"]);
    assert_eq!(hs.messages_from(&alice, &dm, &bot.user_id).len(), 2, "each message answered exactly once");
    assert_eq!(llm.count(), 3);
}

#[test]
fn a_rejected_access_token_stops_the_channel() {
    let Some(hs) = Synapse::start(false) else { return };
    let gw = builder(config(&hs, json!({"accessToken": "syt_not_a_token", "password": null}))).start();
    let s = status_until(&gw, |s| s["running"] == false && s["lastError"].is_string());
    assert_eq!(s["healthState"], "auth-failed", "{s}");
    assert!(s["lastError"].as_str().unwrap().contains("channels.matrix.accessToken"), "{s}");
}

#[test]
fn rate_limited_sends_wait_as_told_and_all_arrive_with_an_access_token() {
    let Some(hs) = Synapse::start(true) else { return };
    let bot = hs.register("ocbot", "botpw");
    let alice = hs.register("alice", "alicepw");
    let gw = builder(config(&hs, json!({"accessToken": bot.token, "password": null}))).start();
    status_until(&gw, |s| s["connected"] == true);
    let dm = hs.create_room(&alice, &[&bot.user_id], true);
    assert!(wait_for(WAIT, || hs.members(&alice, &dm).contains(&bot.user_id)));
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.write"]).await;
        for i in 0..4 {
            let r = c
                .request("send", json!({"to": dm, "message": format!("note {i}"), "channel": "matrix", "idempotencyKey": format!("n{i}")}))
                .await;
            assert_eq!(r["ok"], true, "{r}");
        }
    });
    assert_eq!(hs.messages_from(&alice, &dm, &bot.user_id), ["note 0", "note 1", "note 2", "note 3"]);
    assert!(gw.lines().iter().any(|l| l.contains("M_LIMIT_EXCEEDED")), "a 429 was met and waited out");
}

#[test]
fn a_long_answer_is_split_at_the_text_limit_and_every_part_arrives_in_order() {
    let Some(hs) = Synapse::start(false) else { return };
    let bot = hs.register("ocbot", "botpw");
    let alice = hs.register("alice", "alicepw");
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    let mut cfg = config(&hs, json!({}));
    merge(&mut cfg, model(&llm));
    let gw = builder(cfg).start();
    status_until(&gw, |s| s["connected"] == true);
    let dm = hs.create_room(&alice, &[&bot.user_id], true);
    assert!(wait_for(WAIT, || hs.members(&alice, &dm).contains(&bot.user_id)), "the invite was not accepted");
    // 1500 numbered words, about 10 000 characters: three parts at Matrix's 4000.
    let long: String = (0..1500).map(|i| format!("w{i:04}ü")).collect::<Vec<_>>().join(" ");
    llm.push(Reply::text(&[&long]));
    hs.say(&alice, &dm, "tell me everything");
    let parts = hs.wait_messages(&alice, &dm, &bot.user_id, 3);
    assert_eq!(parts.len(), 3, "{:?}", parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>());
    assert!(parts.iter().all(|p| p.chars().count() <= 4000), "a part over the limit");
    let words: Vec<&str> = parts.iter().flat_map(|p| p.split_whitespace()).collect();
    assert_eq!(words, long.split_whitespace().collect::<Vec<_>>(), "parts missing, altered or out of order");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(hs.messages_from(&alice, &dm, &bot.user_id).len(), 3, "sent once");
}

#[test]
fn unknown_senders_get_a_pairing_code_and_are_answered_once_approved() {
    let Some(hs) = Synapse::start(false) else { return };
    let bot = hs.register("ocbot", "botpw");
    let dave = hs.register("dave", "davepw");
    let gw = builder(config(&hs, json!({"dmPolicy": "pairing", "allowFrom": []}))).start();
    status_until(&gw, |s| s["connected"] == true);
    let dm = hs.create_room(&dave, &[&bot.user_id], true);
    assert!(wait_for(WAIT, || hs.members(&dave, &dm).contains(&bot.user_id)), "the invite was not accepted");
    hs.say(&dave, &dm, "hi, who are you?");
    let sent = hs.wait_messages(&dave, &dm, &bot.user_id, 1);
    let text = sent.first().cloned().unwrap_or_default();
    assert!(text.contains("Pairing code:") && text.contains("openclaw pairing approve matrix"), "{sent:?}");
    let code = text.split("Pairing code: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let (rc, out, err) = Cmd::new(gw.home.clone()).args(["pairing", "approve", "matrix", &code]).output(WAIT);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("Approved matrix sender @dave:localhost"), "{out}");
    assert_eq!(hs.messages_from(&dave, &dm, &bot.user_id).len(), 1, "no answer before approval");
    hs.say(&dave, &dm, "now?");
    let sent = hs.wait_messages(&dave, &dm, &bot.user_id, 2);
    assert!(sent.len() == 2 && sent[1].contains("[offline]"), "{sent:?}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(hs.messages_from(&dave, &dm, &bot.user_id).len(), 2, "answered once");
}

#[test]
fn an_encrypted_room_is_reported_in_the_status_and_told_so_instead_of_silence() {
    let Some(hs) = Synapse::start(false) else { return };
    let bot = hs.register("ocbot", "botpw");
    let erin = hs.register("erin", "erinpw");
    let gw = builder(config(&hs, json!({}))).start();
    status_until(&gw, |s| s["connected"] == true);
    let body = json!({"preset": "private_chat", "invite": [&bot.user_id], "is_direct": true, "name": "secret",
                      "initial_state": [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]});
    let (status, v) = http(hs.port, "POST", "/_matrix/client/v3/createRoom", Some(&erin.token), Some(&body));
    assert_eq!(status, 200, "{v}");
    let room = v["room_id"].as_str().unwrap().to_string();
    assert!(wait_for(WAIT, || hs.members(&erin, &room).contains(&bot.user_id)), "the invite was not accepted");
    // What a client with encryption sends: ciphertext the gateway cannot read.
    for txn in ["t1", "t2"] {
        let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.encrypted/{txn}", enc(&room));
        let cipher = json!({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": format!("AwgAEn{txn}"), "device_id": "ERINDEV",
                            "sender_key": "c2VuZGVya2V5", "session_id": "c2Vzc2lvbg"});
        let (status, v) = http(hs.port, "PUT", &path, Some(&erin.token), Some(&cipher));
        assert_eq!(status, 200, "{v}");
    }
    let s = status_until(&gw, |s| s["warnings"].as_array().is_some_and(|w| !w.is_empty()));
    let warning = s["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains(&room) && warning.contains("encrypted") && warning.contains("not support"), "{s}");
    assert_eq!(s["connected"], true, "{s}");
    let said = hs.wait_messages(&erin, &room, &bot.user_id, 1);
    assert!(said.len() == 1 && said[0].contains("encrypted") && said[0].contains("unsupported"), "{said:?}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(hs.messages_from(&erin, &room, &bot.user_id).len(), 1, "told once, not once per message");
    assert_eq!(block_on(matrix_status(&gw, false))["warnings"].as_array().map(Vec::len), Some(1));
}
