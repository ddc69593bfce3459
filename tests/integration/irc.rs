//! The IRC channel against a real ngIRCd started on a free loopback port: direct messages and
//! mentioned channel messages answered once, answers split within the 512-byte line limit, nick
//! collisions, a wrong server password that stops the channel, a silent server noticed and
//! recovered, exactly-once across `kill -9`, and `send`. Skipped (with a message) when the
//! `ngircd` binary is not installed; CI installs it.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{FakeLlm, Flavor, Reply};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);
pub(super) const SERVER_PASS: &str = "serverpw";

fn ngircd_binary() -> Option<PathBuf> {
    ["/usr/sbin/ngircd", "/usr/bin/ngircd", "/usr/local/sbin/ngircd", "/usr/local/bin/ngircd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A real ngIRCd on 127.0.0.1:`port`, killed on drop.
pub(super) struct Ircd {
    child: Child,
    pub(super) port: u16,
    _dir: TempDir,
}

impl Ircd {
    pub(super) fn start() -> Option<Ircd> {
        let Some(bin) = ngircd_binary() else {
            eprintln!("SKIPPED: the `ngircd` binary is not installed (apt-get install ngircd); the IRC tests need a real server");
            return None;
        };
        let dir = TempDir::new("ngircd");
        let port = free_port();
        let conf = dir.path().join("ngircd.conf");
        let pid = dir.path().join("ngircd.pid");
        std::fs::write(
            &conf,
            format!(
                "[Global]\nName = irc.test.local\nInfo = test\nAdminInfo1 = test\nAdminInfo2 = test\nAdminEMail = test@invalid\n\
                 Listen = 127.0.0.1\nPorts = {port}\nPassword = {SERVER_PASS}\nMotdPhrase = test\nPidFile = {}\n\
                 [Limits]\nMaxConnectionsIP = 0\nMaxNickLength = 30\nMaxJoins = 0\nMaxPenaltyTime = 0\nPingTimeout = 120\nPongTimeout = 20\n\
                 [Options]\nPAM = no\nIdent = no\nDNS = no\n\
                 [Channel]\nName = #test\nTopic = test channel\nModes = +n\n",
                pid.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        // As root, run it as nobody directly, so the pid we hold is ngircd's own.
        let root = unsafe { libc::geteuid() } == 0;
        let mut cmd = if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        let child = cmd.arg("-n").arg("-f").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let ircd = Ircd { child, port, _dir: dir };
        assert!(wait_for(Duration::from_secs(10), || TcpStream::connect(("127.0.0.1", port)).is_ok()), "ngircd did not start");
        Some(ircd)
    }

    fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Ircd {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A person on the server.
pub(super) struct User {
    nick: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pub(super) seen: Vec<String>,
}

impl User {
    pub(super) fn connect(port: u16, nick: &str) -> User {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut u = User { nick: nick.to_string(), reader: BufReader::new(s.try_clone().unwrap()), writer: s, seen: Vec::new() };
        u.line(&format!("PASS {SERVER_PASS}"));
        u.line(&format!("NICK {nick}"));
        u.line(&format!("USER {nick} 0 * :{nick}"));
        assert!(u.wait(WAIT, |l| l.split(' ').nth(1) == Some("001")).is_some(), "{nick} not registered: {:?}", u.seen);
        u
    }

    pub(super) fn line(&mut self, l: &str) {
        self.writer.write_all(format!("{l}\r\n").as_bytes()).unwrap();
    }

    fn join(&mut self, chan: &str) {
        self.line(&format!("JOIN {chan}"));
        assert!(self.wait(WAIT, |l| l.split(' ').nth(1) == Some("366")).is_some());
    }

    /// Reads until a line matches (answering PINGs); every line is kept in `seen`.
    pub(super) fn wait(&mut self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let mut buf = String::new();
            match self.reader.read_line(&mut buf) {
                Ok(0) => return None,
                Ok(_) => {
                    let l = buf.trim_end().to_string();
                    if let Some(t) = l.strip_prefix("PING ") {
                        self.line(&format!("PONG {t}"));
                    }
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return Some(l);
                    }
                }
                Err(_) => continue,
            }
        }
        None
    }

    /// PRIVMSG texts from `from` to `to` seen so far, after reading for `settle`.
    fn privmsgs(&mut self, from: &str, to: &str, settle: Duration) -> Vec<String> {
        self.wait(settle, |_| false);
        let head = format!(":{from}!");
        let cmd = format!(" PRIVMSG {to} :");
        self.seen.iter().filter(|l| l.starts_with(&head)).filter_map(|l| l.split_once(&cmd).map(|(_, t)| t.to_string())).collect()
    }
}

pub(super) fn config(ircd: &Ircd, nick: &str, extra: Value) -> Value {
    let mut c = json!({
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
        "channels": {"irc": {"host": "127.0.0.1", "port": ircd.port, "tls": false, "nick": nick, "password": SERVER_PASS,
                             "channels": ["#test"], "dmPolicy": "open", "allowFrom": ["*"],
                             "groupPolicy": "open"}}
    });
    merge(&mut c["channels"]["irc"], extra);
    c
}

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

async fn irc_status(gw: &Gw, probe: bool) -> Value {
    let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.read"]).await;
    let r = c.request("channels.status", json!({"probe": probe})).await;
    assert_eq!(r["ok"], true, "{r}");
    r["payload"]["channelAccounts"]["irc"][0].clone()
}

fn status_until(gw: &Gw, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = block_on(irc_status(gw, false));
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "status never matched; last: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the gateway's nick has joined #test (seen by `watcher`, who is in it).
fn wait_joined(watcher: &mut User, nick: &str) {
    let needle = format!(":{nick}!");
    assert!(watcher.wait(WAIT, |l| l.starts_with(&needle) && l.contains(" JOIN ")).is_some(), "{nick} never joined: {:?}", watcher.seen);
}

#[test]
fn direct_and_mentioned_channel_messages_are_answered_once_and_unmentioned_ones_ignored() {
    let Some(ircd) = Ircd::start() else { return };
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    let mut cfg = config(&ircd, "ocbot", json!({}));
    merge(&mut cfg, model(&llm));
    let mut alice = User::connect(ircd.port, "alice");
    alice.join("#test");
    let gw = builder(cfg).start();
    wait_joined(&mut alice, "ocbot");
    let s = status_until(&gw, WAIT, |s| s["connected"] == true);
    assert_eq!((s["name"].as_str(), s["mode"].as_str()), (Some("ocbot"), Some("irc")), "{s}");
    assert_eq!(s["baseUrl"], format!("irc://127.0.0.1:{}", ircd.port));

    llm.push(Reply::text(&["direct answer"]));
    alice.line("PRIVMSG ocbot :hello in private");
    assert!(alice.wait(WAIT, |l| l.ends_with("PRIVMSG alice :direct answer")).is_some(), "{:?}", alice.seen);

    alice.line("PRIVMSG #test :just chatting, nobody addressed");
    llm.push(Reply::text(&["channel answer"]));
    alice.line("PRIVMSG #test :ocbot: what is up");
    assert!(alice.wait(WAIT, |l| l.ends_with("PRIVMSG #test :channel answer")).is_some(), "{:?}", alice.seen);
    assert_eq!(llm.count(), 2, "the unmentioned message never reached the model");
    assert!(llm.requests()[1].last_user_text().contains("what is up"));
    assert_eq!(alice.privmsgs("ocbot", "alice", Duration::from_millis(700)), ["direct answer"]);
    assert_eq!(alice.privmsgs("ocbot", "#test", Duration::ZERO), ["channel answer"]);
    let s = block_on(irc_status(&gw, true));
    assert_eq!(s["probe"]["ok"], true, "{s}");
    assert!(s["lastInboundAt"].is_u64() && s["lastOutboundAt"].is_u64(), "{s}");
}

#[test]
fn long_answers_are_split_within_the_line_limit_and_send_delivers() {
    let Some(ircd) = Ircd::start() else { return };
    let mut bob = User::connect(ircd.port, "bob");
    bob.join("#test");
    let gw = builder(config(&ircd, "ocbot", json!({}))).start();
    wait_joined(&mut bob, "ocbot");
    let long = format!("{} end\nsecond line", "ünïcödé words ".repeat(80));
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, &gw.token, &["operator.write"]).await;
        let r = c.request("send", json!({"to": "#test", "message": long, "channel": "irc", "idempotencyKey": "k1"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let r = c.request("send", json!({"to": "bob", "message": "just for you", "channel": "irc", "idempotencyKey": "k2"})).await;
        assert_eq!(r["ok"], true, "{r}");
        let bad = c.request("send", json!({"to": "two words", "message": "x", "channel": "irc", "idempotencyKey": "k3"})).await;
        assert_eq!(bad["ok"], false, "{bad}");
    });
    assert!(bob.wait(WAIT, |l| l.ends_with("PRIVMSG bob :just for you")).is_some(), "{:?}", bob.seen);
    let lines = bob.privmsgs("ocbot", "#test", Duration::from_millis(500));
    assert!(lines.len() >= 3, "{lines:?}");
    assert!(bob.seen.iter().all(|l| l.len() + 2 <= 512), "a relayed line over 512 bytes");
    let joined = lines.join(" ");
    assert_eq!(joined.matches("ünïcödé").count(), 80, "nothing lost or cut inside a character: {lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("second line"));
    let (rc, out, err) =
        Cmd::new(gw.home.clone()).args(["message", "send", "--channel", "irc", "--to", "#test", "from", "the", "cli"]).output(WAIT);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(bob.wait(WAIT, |l| l.ends_with("PRIVMSG #test :from the cli")).is_some());
}

#[test]
fn a_taken_nick_gets_an_alternative() {
    let Some(ircd) = Ircd::start() else { return };
    let mut squatter = User::connect(ircd.port, "ocbot");
    squatter.join("#test");
    let gw = builder(config(&ircd, "ocbot", json!({}))).start();
    wait_joined(&mut squatter, "ocbot_");
    let s = status_until(&gw, WAIT, |s| s["connected"] == true);
    assert_eq!(s["name"], "ocbot_");
    squatter.line("PRIVMSG #test :ocbot_, hi");
    assert!(squatter.wait(WAIT, |l| l.starts_with(":ocbot_!") && l.contains("PRIVMSG #test :[offline]")).is_some(), "{:?}", squatter.seen);
    let _ = squatter.nick.len();
}

#[test]
fn a_wrong_server_password_stops_the_channel_with_a_clear_error() {
    let Some(ircd) = Ircd::start() else { return };
    let gw = builder(config(&ircd, "ocbot", json!({"password": "wrong"}))).start();
    let s = status_until(&gw, WAIT, |s| s["running"] == false && s["lastError"].is_string());
    assert_eq!(s["connected"], false);
    assert_eq!(s["healthState"], "auth-failed", "{s}");
    assert!(s["lastError"].as_str().unwrap().contains("channels.irc.password"), "{s}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(block_on(irc_status(&gw, false))["reconnectAttempts"], 0, "no retry loop");
}

#[test]
fn a_silent_server_is_noticed_and_the_channel_reconnects() {
    let Some(ircd) = Ircd::start() else { return };
    let gw = builder(config(&ircd, "ocbot", json!({}))).start();
    status_until(&gw, WAIT, |s| s["connected"] == true);
    ircd.signal(libc::SIGSTOP);
    let s = status_until(&gw, WAIT, |s| s["connected"] == false);
    assert!(s["lastError"].as_str().unwrap_or("").contains("stopped answering"), "{s}");
    ircd.signal(libc::SIGCONT);
    let s = status_until(&gw, WAIT, |s| s["connected"] == true);
    assert!(s["reconnectAttempts"].as_u64().unwrap() >= 1, "{s}");
    let mut carol = User::connect(ircd.port, "carol");
    carol.line("PRIVMSG ocbot :back?");
    assert!(carol.wait(WAIT, |l| l.contains("PRIVMSG carol :[offline]")).is_some(), "{:?}", carol.seen);
}

#[test]
fn a_message_is_answered_exactly_once_across_kill_9() {
    let Some(ircd) = Ircd::start() else { return };
    let llm = FakeLlm::start(Flavor::OpenAi, None);
    llm.push(Reply::slow(&["never", " finished"], Duration::from_millis(800)));
    llm.push(Reply::text(&["answer after the restart"]));
    let mut cfg = config(&ircd, "ocbot", json!({}));
    merge(&mut cfg, model(&llm));
    let mut dave = User::connect(ircd.port, "dave");
    dave.join("#test");
    let mut gw = builder(cfg.clone()).start();
    wait_joined(&mut dave, "ocbot");
    dave.line("PRIVMSG ocbot :remember me");
    assert!(wait_for(WAIT, || llm.count() == 1));
    gw.signal(9);
    gw.wait_exit(WAIT);
    let home = gw.home.clone();
    drop(gw);
    let _gw = builder(cfg).home(home).start();
    assert!(dave.wait(WAIT, |l| l.ends_with("PRIVMSG dave :answer after the restart")).is_some(), "{:?}", dave.seen);
    assert_eq!(dave.privmsgs("ocbot", "dave", Duration::from_millis(800)), ["answer after the restart"]);
    assert_eq!(llm.count(), 2);
}

#[test]
fn the_bot_identifies_to_nickserv_after_registering_and_before_joining() {
    let Some(ircd) = Ircd::start() else { return };
    // ngIRCd has no services: a client under the nick NickServ plays it.
    let mut nickserv = User::connect(ircd.port, "NickServ");
    nickserv.join("#test");
    let cfg = config(&ircd, "ocbot", json!({"nickserv": {"password": "${OC_TEST_NICKSERV_PW}"}}));
    let gw = builder(cfg).env("OC_TEST_NICKSERV_PW", "hunter2-secret").start();
    let identify = nickserv.wait(WAIT, |l| l.contains(" PRIVMSG NickServ :IDENTIFY "));
    assert_eq!(
        identify.as_deref().and_then(|l| l.split_once(" PRIVMSG ")).map(|(_, t)| t),
        Some("NickServ :IDENTIFY ocbot hunter2-secret")
    );
    assert!(identify.unwrap().starts_with(":ocbot!"));
    wait_joined(&mut nickserv, "ocbot");
    let pos = |needle: &str| nickserv.seen.iter().position(|l| l.starts_with(":ocbot!") && l.contains(needle));
    assert!(pos(" PRIVMSG NickServ ") < pos(" JOIN "), "{:?}", nickserv.seen);
    status_until(&gw, WAIT, |s| s["connected"] == true);
    let log = std::fs::read_to_string(gw.log_file()).unwrap_or_default();
    assert!(!log.contains("hunter2-secret"), "the NickServ password reached the log");
}

#[test]
fn unknown_senders_get_a_pairing_code_and_are_answered_once_approved() {
    let Some(ircd) = Ircd::start() else { return };
    let mut carol = User::connect(ircd.port, "carol");
    carol.join("#test");
    let gw = builder(config(&ircd, "ocbot", json!({"dmPolicy": "pairing", "allowFrom": []}))).start();
    wait_joined(&mut carol, "ocbot");
    carol.line("PRIVMSG ocbot :hi, who are you?");
    let line = carol.wait(WAIT, |l| l.contains("PRIVMSG carol :Pairing code: ")).unwrap_or_else(|| panic!("{:?}", carol.seen));
    let code = line.split("Pairing code: ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert!(carol.wait(WAIT, |l| l.contains(&format!("PRIVMSG carol :openclaw pairing approve irc {code}"))).is_some(), "{:?}", carol.seen);
    // No answer to the message itself.
    let before = carol.privmsgs("ocbot", "carol", Duration::from_millis(700));
    assert!(before.iter().all(|t| !t.contains("[offline]")), "{before:?}");
    let (rc, out, err) = Cmd::new(gw.home.clone()).args(["pairing", "approve", "irc", &code]).output(WAIT);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("Approved irc sender carol"), "{out}");
    carol.line("PRIVMSG ocbot :now?");
    assert!(carol.wait(WAIT, |l| l.contains("PRIVMSG carol :") && l.contains("[offline]")).is_some(), "{:?}", carol.seen);
    let after = carol.privmsgs("ocbot", "carol", Duration::from_millis(700));
    assert_eq!(after.iter().filter(|t| t.contains("[offline]")).count(), 1, "answered once: {after:?}");
    assert!(!after.iter().any(|t| t.contains("Pairing code") && !before.contains(t)), "a second pairing code: {after:?}");
}
