//! IRC: one client connection to one server, plain or TLS.
//!
//! The receiver registers (optional `PASS`, optional SASL PLAIN through `CAP`, `NICK`, `USER`),
//! takes another nick when the chosen one is in use, joins the configured channels and records
//! every `PRIVMSG` addressed to the bot or said in a joined channel. A server that says nothing
//! for `poll_timeout` is pinged; one that still says nothing `stall_grace` later is dropped and
//! reconnected with backoff. With `nickserv.password` set, the bot identifies to NickServ right
//! after 001, before joining. `ERROR` before registration (a bad server password), a rejected SASL
//! login or an unusable nick stop the channel with a clear `lastError`.
//!
//! Outbound text goes through the live connection: every line of an answer becomes its own
//! `PRIVMSG`, split at character boundaries so the line the server relays (with our
//! `nick!user@host` in front) stays within the 512-byte protocol limit, and paced by a small
//! token bucket so a long answer does not trip the server's flood protection. IRC has no message
//! ids: a message is journaled under the connection's start time and its sequence on it.

mod connection;
mod register;
mod wire;

use serde_json::{Value, json};
use smol::channel::Sender;
use smol::future::FutureExt;
use smol::io::{AsyncWrite, AsyncWriteExt};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Backoff, HealthState, Link, SendError};
use crate::config::channels as cfg;
use crate::limits;
use wire::Lines;

/// The protocol limit for one line, CRLF included.
const LINE_MAX: usize = 512;
/// How long registration (up to 001) may take.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);
/// Flood control: a burst of this many lines, then one per interval.
const FLOOD_BURST: u32 = 5;
const FLOOD_INTERVAL: Duration = Duration::from_millis(500);
/// How long a send waits for its lines to be written (they may queue behind flood control).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a send waits for a connection before it counts as a failed attempt.
const CONNECT_WAIT: Duration = Duration::from_secs(20);
/// Nick attempts when the configured one is taken.
const NICK_ATTEMPTS: usize = 8;
/// Assumed length of our `user@host` before the server shows it to us.
const HOST_GUESS: usize = 63;

/// Who waits for a send: told once its last line is written.
type Done = Sender<Result<(), String>>;

/// Lines to write on the live connection, and who waits for them.
struct Outgoing {
    lines: Vec<String>,
    done: Done,
}

#[derive(Default)]
struct Live {
    /// The queue into the current connection; `None` while disconnected.
    out: Option<Sender<Outgoing>>,
    nick: String,
    /// `nick!user@host` as the server relays us (from our own JOIN echo).
    prefix: Option<String>,
}

#[derive(Clone)]
pub struct Client {
    cfg: Arc<cfg::Irc>,
    live: Arc<Mutex<Live>>,
}

fn lock(live: &Mutex<Live>) -> std::sync::MutexGuard<'_, Live> {
    live.lock().unwrap_or_else(|p| p.into_inner())
}

impl Client {
    pub fn new(c: &cfg::Irc) -> Result<Client, String> {
        if c.host.is_none() {
            return Err("no server: set channels.irc.host (and port, tls, nick, channels)".into());
        }
        Ok(Client { cfg: Arc::new(c.clone()), live: Arc::default() })
    }

    /// Sends `text` to a channel (`#chan`) or a nick; each line its own `PRIVMSG`.
    pub async fn send(&self, to: &str, text: &str) -> Result<String, SendError> {
        let target = target(to).map_err(SendError::Permanent)?;
        // Right after a start (or a reconnect) the worker may resume an answer before the
        // connection is registered: wait for it a while instead of burning the attempts.
        let until = Instant::now() + CONNECT_WAIT;
        while lock(&self.live).out.is_none() && Instant::now() < until {
            smol::Timer::after(Duration::from_millis(100)).await;
        }
        let (out, budget) = {
            let l = lock(&self.live);
            let prefix_len = l.prefix.as_ref().map(String::len).unwrap_or(l.nick.len() + 2 + self.cfg.username.len().min(10) + HOST_GUESS);
            (l.out.clone(), text_budget(prefix_len, &target))
        };
        let Some(out) = out else {
            return Err(SendError::Transient { message: "not connected to the IRC server".into(), retry_after: None });
        };
        let lines: Vec<String> = split_lines(text, budget).into_iter().map(|piece| format!("PRIVMSG {target} :{piece}")).collect();
        if lines.is_empty() {
            return Err(SendError::Permanent("nothing to send: the text is empty".into()));
        }
        let (done, wait) = smol::channel::bounded(1);
        out.send(Outgoing { lines, done })
            .await
            .map_err(|_| SendError::Transient { message: "the IRC connection closed".into(), retry_after: None })?;
        let result = async { wait.recv().await.unwrap_or_else(|_| Err("the IRC connection closed before the message was written".into())) }
            .or(async {
                smol::Timer::after(SEND_TIMEOUT).await;
                Err(format!("the message was not written within {} s", SEND_TIMEOUT.as_secs()))
            })
            .await;
        result.map(|_| String::new()).map_err(|message| SendError::Transient { message, retry_after: None })
    }

    /// The live connection, as it is (IRC has no separate API to ask).
    pub async fn probe(&self) -> Result<Value, String> {
        let l = lock(&self.live);
        if l.out.is_some() {
            Ok(json!({"bot": {"username": l.nick}, "server": self.cfg.server_url()}))
        } else {
            Err(format!("not connected to {}", self.cfg.server_url()))
        }
    }
}

/// `#chan`, `nick`, `irc:#chan`, `channel:#chan`, `user:nick` → the PRIVMSG target.
fn target(to: &str) -> Result<String, String> {
    let t = to.trim();
    let t = t.strip_prefix("irc:").unwrap_or(t);
    let t = t.strip_prefix("channel:").or_else(|| t.strip_prefix("user:")).unwrap_or(t);
    if t.is_empty() || t.len() > 64 || t.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == ':') {
        return Err(format!("not an IRC channel or nick: {to:?}"));
    }
    Ok(t.to_string())
}

/// The text bytes that fit one PRIVMSG to `target` as relayed with a prefix of `prefix_len`.
fn text_budget(prefix_len: usize, target: &str) -> usize {
    // ":" prefix " PRIVMSG " target " :" text CRLF
    LINE_MAX.saturating_sub(1 + prefix_len + 9 + target.len() + 2 + 2).max(32)
}

/// Splits `text` into lines of at most `budget` bytes, at character boundaries (at a space when
/// one is near), without CR, LF or NUL; blank lines are dropped.
fn split_lines(text: &str, budget: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line: String = line.chars().filter(|c| *c != '\r' && *c != '\0').collect();
        let mut rest = line.trim_end();
        while !rest.is_empty() {
            if rest.len() <= budget {
                out.push(rest.to_string());
                break;
            }
            // The last char boundary within the budget, then a space in its last quarter.
            let mut cut = 0;
            for (i, c) in rest.char_indices() {
                if i + c.len_utf8() > budget {
                    break;
                }
                cut = i + c.len_utf8();
            }
            if cut == 0 {
                break;
            }
            let (head, _) = rest.split_at(cut);
            let at = match head.rfind(' ') {
                Some(sp) if sp > cut * 3 / 4 => sp,
                _ => cut,
            };
            let (piece, tail) = rest.split_at(at);
            out.push(piece.to_string());
            rest = tail.strip_prefix(' ').unwrap_or(tail);
        }
    }
    out
}

/// Why a connection ended.
enum End {
    Retry(String),
    Fatal(String, HealthState),
}

/// The receiver: connects, and reconnects with backoff until the channel is stopped.
pub async fn receive(client: Client, link: Link) {
    let mut backoff = Backoff::new(&link.tuning);
    loop {
        let started = Instant::now();
        let end = session(&client, &link).await;
        lock(&client.live).out = None;
        if started.elapsed() >= link.tuning.healthy_after {
            backoff.reset();
        }
        match end {
            End::Fatal(why, state) => {
                link.fatal(&why, state);
                return;
            }
            End::Retry(why) => {
                link.disconnected(&why);
                link.pause(&mut backoff, None).await;
            }
        }
    }
}

async fn write_line<W: AsyncWrite + Unpin>(w: &mut W, line: &str) -> Result<(), End> {
    let mut bytes = line.as_bytes().to_vec();
    bytes.truncate(LINE_MAX - 2);
    bytes.extend_from_slice(b"\r\n");
    async {
        w.write_all(&bytes).await?;
        w.flush().await
    }
    .or(async {
        smol::Timer::after(limits::CHANNEL_REQUEST_TIMEOUT).await;
        Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "a write to the server stalled"))
    })
    .await
    .map_err(|e| End::Retry(format!("write to the IRC server failed: {e}")))
}

/// The nick after `n` collisions: `bot`, `bot_`, `bot__`, then `bot1`, `bot2`, … within 30 bytes.
fn alt_nick(base: &str, n: usize) -> String {
    let base: String = base.chars().take(24).collect();
    if n <= 2 { format!("{base}{}", "_".repeat(n)) } else { format!("{base}{}", n - 2) }
}

/// One connection, from connect to its end.
async fn session(client: &Client, link: &Link) -> End {
    let c = &client.cfg;
    let host = c.host.clone().unwrap_or_default();
    let url = crate::url::Url { https: c.tls, host: host.clone(), port: c.port, path: "/".into() };
    let stream = match crate::net::client::connect(&url, limits::CHANNEL_CONNECT_TIMEOUT).await {
        Ok(s) => s,
        Err(e) => return End::Retry(format!("cannot connect to {}: {e}", c.server_url())),
    };
    let (reader, mut writer) = smol::io::split(stream);
    let mut lines = Lines { inner: reader, buf: Vec::new() };
    match register::register(client, link, &mut lines, &mut writer).await {
        Ok(()) => {}
        Err(end) => return end,
    }
    connection::run(client, link, &mut lines, &mut writer).await
}

#[cfg(test)]
mod tests {
    use super::wire::{Message, addressed, inbound};
    use super::*;

    #[test]
    fn lines_parse() {
        let m = Message::parse(":alice!~a@127.0.0.1 PRIVMSG #test :hello there").unwrap();
        assert_eq!((m.nick(), m.command.as_str(), m.param(0), m.param(1)), ("alice", "PRIVMSG", "#test", "hello there"));
        let m = Message::parse("PING :irc.test.local").unwrap();
        assert_eq!((m.prefix.as_deref(), m.command.as_str(), m.param(0)), (None, "PING", "irc.test.local"));
        let m = Message::parse("@time=x :srv 001 bot :Welcome").unwrap();
        assert_eq!((m.command.as_str(), m.param(0)), ("001", "bot"));
        for bad in ["", ":", ":onlyprefix", "   "] {
            assert!(Message::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn mentions_and_dms() {
        let m = Message::parse(":ann!u@h PRIVMSG #c :Bot: what time is it").unwrap();
        let i = inbound(&m, "bot", "1").unwrap();
        assert!(i.group && i.mentioned);
        assert_eq!((i.chat.as_str(), i.text.as_str()), ("#c", "what time is it"));
        let m = Message::parse(":ann!u@h PRIVMSG #c :bottle of water").unwrap();
        assert!(!inbound(&m, "bot", "2").unwrap().mentioned);
        let m = Message::parse(":ann!u@h PRIVMSG bot :hi").unwrap();
        let i = inbound(&m, "bot", "3").unwrap();
        assert!(!i.group);
        assert_eq!(i.chat, "ann");
        let m = Message::parse(":ann!u@h PRIVMSG bot :\u{1}VERSION\u{1}").unwrap();
        assert!(inbound(&m, "bot", "4").is_none());
        let m = Message::parse(":ann!u@h PRIVMSG bot :\u{1}ACTION waves\u{1}").unwrap();
        assert_eq!(inbound(&m, "bot", "5").unwrap().text, "* ann waves");
        let m = Message::parse(":bot!u@h PRIVMSG #c :echo").unwrap();
        assert!(inbound(&m, "bot", "6").is_none());
        assert_eq!(addressed("é", "bot"), None);
        assert_eq!(addressed("bö", "bo"), None);
    }

    #[test]
    fn long_text_splits_at_char_boundaries_within_the_budget() {
        let text = "é".repeat(600) + "\nsecond line\r\n\n" + &"word ".repeat(200);
        let budget = text_budget(40, "#chan");
        let lines = split_lines(&text, budget);
        assert!(lines.iter().all(|l| l.len() <= budget && !l.contains(['\r', '\n'])));
        assert_eq!(lines.iter().map(|l| l.chars().filter(|c| *c == 'é').count()).sum::<usize>(), 600);
        assert!(lines.contains(&"second line".to_string()));
        assert!(lines.iter().filter(|l| l.starts_with("word")).all(|l| !l.starts_with(' ')));
        assert!(split_lines("\n\r\n", 100).is_empty());
        assert_eq!(":n!u@h PRIVMSG #chan :".len() + text_budget(5, "#chan") + 2, 512);
    }

    #[test]
    fn targets_and_nicks() {
        assert_eq!(target("irc:#chan").unwrap(), "#chan");
        assert_eq!(target("user:ann").unwrap(), "ann");
        for bad in ["", "a b", "#a,#b", "x\r\nQUIT"] {
            assert!(target(bad).is_err(), "{bad:?}");
        }
        assert_eq!(alt_nick("bot", 1), "bot_");
        assert_eq!(alt_nick("bot", 3), "bot1");
    }

    #[test]
    fn nickserv_identify_names_the_configured_account() {
        let ns = cfg::NickServ { password: crate::config::secret::Secret::new("s3cret pw"), service: "NickServ".into() };
        assert_eq!(register::identify_line(&ns, "bot"), "PRIVMSG NickServ :IDENTIFY bot s3cret pw");
        let ns = cfg::NickServ { service: "AuthServ".into(), ..ns };
        assert_eq!(register::identify_line(&ns, "bot"), "PRIVMSG AuthServ :IDENTIFY bot s3cret pw");
    }
}
