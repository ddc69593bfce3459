//! IRC: one client connection to one server, plain or TLS.
//!
//! The receiver registers (optional `PASS`, optional SASL PLAIN through `CAP`, `NICK`, `USER`),
//! takes another nick when the chosen one is in use, joins the configured channels and records
//! every `PRIVMSG` addressed to the bot or said in a joined channel. A server that says nothing
//! for `poll_timeout` is pinged; one that still says nothing `stall_grace` later is dropped and
//! reconnected with backoff. `ERROR` before registration (a bad server password), a rejected SASL
//! login or an unusable nick stop the channel with a clear `lastError`.
//!
//! Outbound text goes through the live connection: every line of an answer becomes its own
//! `PRIVMSG`, split at character boundaries so the line the server relays (with our
//! `nick!user@host` in front) stays within the 512-byte protocol limit, and paced by a small
//! token bucket so a long answer does not trip the server's flood protection. IRC has no message
//! ids: a message is journaled under the connection's start time and its sequence on it.

use serde_json::{Value, json};
use smol::channel::{Receiver, Sender};
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::journal::Inbound;
use super::{Backoff, HealthState, Link, SendError};
use crate::clock::now_ms;
use crate::config::channels as cfg;
use crate::limits;

/// The protocol limit for one line, CRLF included.
const LINE_MAX: usize = 512;
/// The most we buffer of one incoming line (message tags may add up to 8 KiB before it).
const READ_LINE_MAX: usize = 8 * 1024 + LINE_MAX;
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

/// One parsed line: `:prefix COMMAND params… :trailing`.
#[derive(Debug, PartialEq)]
struct Message {
    prefix: Option<String>,
    command: String,
    params: Vec<String>,
}

impl Message {
    fn parse(line: &str) -> Option<Message> {
        let mut rest = line.trim_end_matches(['\r', '\n']);
        // Message tags are not used.
        if let Some(r) = rest.strip_prefix('@') {
            rest = r.split_once(' ').map(|(_, r)| r).unwrap_or("");
        }
        rest = rest.trim_start_matches(' ');
        let mut prefix = None;
        if let Some(r) = rest.strip_prefix(':') {
            let (p, r) = r.split_once(' ')?;
            prefix = Some(p.to_string());
            rest = r.trim_start_matches(' ');
        }
        let (command, mut rest) = match rest.split_once(' ') {
            Some((c, r)) => (c, r),
            None => (rest, ""),
        };
        if command.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_string());
                break;
            }
            match rest.split_once(' ') {
                Some((p, r)) => {
                    params.push(p.to_string());
                    rest = r;
                }
                None => {
                    params.push(rest.to_string());
                    break;
                }
            }
        }
        Some(Message { prefix, command: command.to_ascii_uppercase(), params })
    }

    fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// The nick in the prefix (`nick!user@host`).
    fn nick(&self) -> &str {
        let p = self.prefix.as_deref().unwrap_or("");
        p.split(['!', '@']).next().unwrap_or("")
    }
}

/// Reads CRLF- (or LF-) terminated lines, at most [`READ_LINE_MAX`] bytes each. Cancel-safe: a
/// dropped `next` loses nothing.
struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    async fn next(&mut self) -> std::io::Result<Option<String>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Ok(Some(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string()));
            }
            if self.buf.len() > READ_LINE_MAX {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "the server sent a line over 8 KiB"));
            }
            let mut chunk = [0u8; 2048];
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
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
    match register(client, link, &mut lines, &mut writer).await {
        Ok(()) => {}
        Err(end) => return end,
    }
    run(client, link, &mut lines, &mut writer).await
}

/// Registration, up to 001; then the JOINs.
async fn register<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    client: &Client,
    link: &Link,
    lines: &mut Lines<R>,
    w: &mut W,
) -> Result<(), End> {
    let c = &client.cfg;
    if c.sasl.is_some() {
        write_line(w, "CAP LS 302").await?;
    }
    if let Some(p) = &c.password {
        write_line(w, &format!("PASS :{}", p.expose())).await?;
    }
    let mut nick = c.nick.clone();
    let mut attempt = 0;
    write_line(w, &format!("NICK {nick}")).await?;
    write_line(w, &format!("USER {} 0 * :{}", c.username, c.realname)).await?;
    let deadline = Instant::now() + REGISTER_TIMEOUT;
    let mut cap_done = c.sasl.is_none();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = async { lines.next().await.map_err(|e| End::Retry(format!("the IRC connection failed while registering: {e}"))) }
            .or(async {
                smol::Timer::after(left).await;
                Err(End::Retry(format!("the server did not finish registration within {} s", REGISTER_TIMEOUT.as_secs())))
            })
            .await?;
        let Some(line) = line else {
            return Err(End::Retry("the server closed the connection while registering".into()));
        };
        let Some(m) = Message::parse(&line) else { continue };
        match m.command.as_str() {
            "PING" => write_line(w, &format!("PONG :{}", m.param(0))).await?,
            "CAP" => match m.param(1) {
                "LS" if !cap_done => {
                    // `CAP * LS * :…` continues on the next line; the last one has no `*`.
                    let caps = m.params.last().map(String::as_str).unwrap_or("");
                    if caps.split(' ').any(|cap| cap == "sasl" || cap.starts_with("sasl=")) {
                        write_line(w, "CAP REQ :sasl").await?;
                    } else if m.param(2) != "*" {
                        log::warn!(target: "channels", "irc: the server offers no SASL; registering without it");
                        cap_done = true;
                        write_line(w, "CAP END").await?;
                    }
                }
                "ACK" => write_line(w, "AUTHENTICATE PLAIN").await?,
                "NAK" => {
                    log::warn!(target: "channels", "irc: the server refused SASL; registering without it");
                    cap_done = true;
                    write_line(w, "CAP END").await?;
                }
                _ => {}
            },
            "AUTHENTICATE" if m.param(0) == "+" => {
                if let Some((user, pass)) = &c.sasl {
                    let payload = crate::encoding::base64(format!("{user}\0{user}\0{}", pass.expose()).as_bytes());
                    let mut rest = payload.as_str();
                    while rest.len() >= 400 {
                        let (head, tail) = rest.split_at(400);
                        write_line(w, &format!("AUTHENTICATE {head}")).await?;
                        rest = tail;
                    }
                    write_line(w, &format!("AUTHENTICATE {}", if rest.is_empty() { "+" } else { rest })).await?;
                }
            }
            "903" => {
                cap_done = true;
                write_line(w, "CAP END").await?;
            }
            "902" | "904" | "905" | "906" => {
                return Err(End::Fatal(
                    format!(
                        "the IRC server rejected the SASL login ({} {}); check channels.irc.sasl",
                        m.command,
                        m.params.last().cloned().unwrap_or_default()
                    ),
                    HealthState::AuthFailed,
                ));
            }
            "433" | "437" | "436" => {
                attempt += 1;
                if attempt > NICK_ATTEMPTS {
                    return Err(End::Retry(format!("every nick tried ({} and {NICK_ATTEMPTS} others) is in use", c.nick)));
                }
                nick = alt_nick(&c.nick, attempt);
                log::info!(target: "channels", "irc: nick in use; trying {nick}");
                write_line(w, &format!("NICK {nick}")).await?;
            }
            "432" => {
                return Err(End::Fatal(
                    format!("the server refused the nick {nick:?} (432 Erroneous nickname); change channels.irc.nick"),
                    HealthState::Error,
                ));
            }
            "464" => {
                return Err(End::Fatal(
                    "the IRC server rejected the password (464); check channels.irc.password".into(),
                    HealthState::AuthFailed,
                ));
            }
            "465" => {
                return Err(End::Fatal(
                    format!("the IRC server banned this connection (465 {})", m.params.last().cloned().unwrap_or_default()),
                    HealthState::Error,
                ));
            }
            "ERROR" => {
                let why = m.param(0).to_string();
                let lower = why.to_ascii_lowercase();
                if lower.contains("password") || lower.contains("access denied") {
                    return Err(End::Fatal(
                        format!("the IRC server refused the connection: {why} (check channels.irc.password)"),
                        HealthState::AuthFailed,
                    ));
                }
                return Err(End::Retry(format!("the IRC server closed the connection while registering: {why}")));
            }
            "001" => {
                let me = if m.param(0).is_empty() { nick.clone() } else { m.param(0).to_string() };
                {
                    let mut l = lock(&client.live);
                    l.nick = me.clone();
                    l.prefix = None;
                }
                if !cap_done {
                    write_line(w, "CAP END").await?;
                }
                link.connected(Some(me));
                for ch in &c.channels {
                    write_line(w, &format!("JOIN {ch}")).await?;
                }
                return Ok(());
            }
            _ => {}
        }
    }
}

/// Token bucket for outbound lines.
struct Flood {
    clock: Instant,
}

impl Flood {
    /// How long until the next line may go (zero: now).
    fn wait(&self) -> Duration {
        let window = FLOOD_INTERVAL * FLOOD_BURST;
        let now = Instant::now();
        self.clock.saturating_duration_since(now).saturating_sub(window - FLOOD_INTERVAL)
    }

    fn sent(&mut self) {
        self.clock = self.clock.max(Instant::now()) + FLOOD_INTERVAL;
    }
}

enum Event {
    Line(std::io::Result<Option<String>>),
    Out(Option<Outgoing>),
    Tick,
}

/// The registered connection: server lines in, queued lines out, the silence watchdog.
async fn run<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(client: &Client, link: &Link, lines: &mut Lines<R>, w: &mut W) -> End {
    let (tx, rx): (Sender<Outgoing>, Receiver<Outgoing>) = smol::channel::bounded(limits::CHANNEL_CONCURRENT_MESSAGES);
    lock(&client.live).out = Some(tx);
    let conn = now_ms();
    let mut seq: u64 = 0;
    let mut queue: VecDeque<(String, Option<Done>)> = VecDeque::new();
    let mut flood = Flood { clock: Instant::now() };
    let mut last_heard = Instant::now();
    let mut pinged: Option<Instant> = None;
    let ping_after = link.tuning.poll_timeout;
    let pong_wait = link.tuning.stall_grace;
    loop {
        while !queue.is_empty() && flood.wait().is_zero() {
            if let Some((line, done)) = queue.pop_front() {
                if let Err(e) = write_line(w, &line).await {
                    if let Some(d) = done {
                        let _ = d.try_send(Err("the IRC connection failed".into()));
                    }
                    return e;
                }
                flood.sent();
                if let Some(d) = done {
                    let _ = d.try_send(Ok(()));
                    link.status().last_outbound_at = Some(now_ms());
                }
            }
        }
        let tick = if queue.is_empty() { Duration::from_millis(1000) } else { flood.wait().max(Duration::from_millis(10)) };
        let take_more = queue.is_empty();
        let ev = async { Event::Line(lines.next().await) }
            .or(async { if take_more { Event::Out(rx.recv().await.ok()) } else { std::future::pending().await } })
            .or(async {
                smol::Timer::after(tick).await;
                Event::Tick
            })
            .await;
        match ev {
            Event::Tick => {
                let silent = last_heard.elapsed();
                match pinged {
                    Some(at) if at.elapsed() >= pong_wait => {
                        return End::Retry(format!(
                            "the IRC server stopped answering (silent for {} s, no reply to PING)",
                            silent.as_secs()
                        ));
                    }
                    None if silent >= ping_after => {
                        pinged = Some(Instant::now());
                        if let Err(e) = write_line(w, &format!("PING :openclaw-{}", now_ms())).await {
                            return e;
                        }
                    }
                    _ => {}
                }
            }
            Event::Out(None) => return End::Retry("the outbound queue closed".into()),
            Event::Out(Some(o)) => {
                let n = o.lines.len();
                for (i, line) in o.lines.into_iter().enumerate() {
                    queue.push_back((line, (i + 1 == n).then(|| o.done.clone())));
                }
            }
            Event::Line(Err(e)) => return End::Retry(format!("the IRC connection failed: {e}")),
            Event::Line(Ok(None)) => return End::Retry("the IRC server closed the connection".into()),
            Event::Line(Ok(Some(line))) => {
                last_heard = Instant::now();
                pinged = None;
                link.activity();
                let Some(m) = Message::parse(&line) else { continue };
                match m.command.as_str() {
                    "PING" => {
                        if let Err(e) = write_line(w, &format!("PONG :{}", m.param(0))).await {
                            return e;
                        }
                    }
                    "ERROR" => return End::Retry(format!("the IRC server closed the connection: {}", m.param(0))),
                    "NICK" => {
                        let mut l = lock(&client.live);
                        if m.nick().eq_ignore_ascii_case(&l.nick) {
                            l.nick = m.param(0).to_string();
                            l.prefix = None;
                        }
                    }
                    "JOIN" => {
                        let mut l = lock(&client.live);
                        if m.nick().eq_ignore_ascii_case(&l.nick) {
                            l.prefix = m.prefix.clone();
                            log::info!(target: "channels", "irc: joined {}", m.param(0));
                        }
                    }
                    "KICK" => {
                        let l = lock(&client.live);
                        if m.param(1).eq_ignore_ascii_case(&l.nick) {
                            log::warn!(target: "channels", "irc: kicked from {} by {}: {}", m.param(0), m.nick(), m.param(2));
                        }
                    }
                    "403" | "405" | "471" | "473" | "474" | "475" | "476" | "477" => {
                        log::warn!(target: "channels", "irc: cannot join {}: {} ({})", m.param(1), m.params.last().cloned().unwrap_or_default(), m.command);
                        link.status().last_error =
                            Some(format!("cannot join {}: {}", m.param(1), m.params.last().cloned().unwrap_or_default()));
                    }
                    "PRIVMSG" => {
                        let me = lock(&client.live).nick.clone();
                        seq += 1;
                        if let Some(msg) = inbound(&m, &me, &format!("{conn}-{seq}")) {
                            if let Err(e) = link.accept(msg).await {
                                return End::Retry(format!("cannot record an incoming message: {e}"));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Whether `text` starts with `nick` as an address (`nick: …`, `nick, …`, `nick …`, `@nick …`);
/// returns the text after it.
fn addressed<'a>(text: &'a str, nick: &str) -> Option<&'a str> {
    let t = text.trim_start();
    let t = t.strip_prefix('@').unwrap_or(t);
    if nick.is_empty() || t.len() < nick.len() || !t.is_char_boundary(nick.len()) {
        return None;
    }
    let (head, rest) = t.split_at(nick.len());
    if !head.eq_ignore_ascii_case(nick) {
        return None;
    }
    match rest.chars().next() {
        None => Some(""),
        Some(':' | ',' | ' ' | ';') => Some(rest.trim_start_matches([':', ',', ';']).trim_start()),
        _ => None,
    }
}

/// A PRIVMSG the agent should see.
fn inbound(m: &Message, me: &str, id: &str) -> Option<Inbound> {
    let sender = m.nick();
    if sender.is_empty() || sender.eq_ignore_ascii_case(me) || sender.contains('.') {
        // Our own echo, or a server notice.
        return None;
    }
    let to = m.param(0);
    let mut text = m.param(1).to_string();
    if let Some(ctcp) = text.strip_prefix('\u{1}') {
        let ctcp = ctcp.trim_end_matches('\u{1}');
        // /me is a message; other CTCP queries (VERSION, PING…) are not for the agent.
        text = format!("* {sender} {}", ctcp.strip_prefix("ACTION ")?);
    }
    let group = !to.eq_ignore_ascii_case(me);
    let (text, mentioned) = match addressed(&text, me) {
        Some(rest) if group => (rest.to_string(), true),
        _ => (text, false),
    };
    let text = text.trim().to_string();
    if text.is_empty() {
        return None;
    }
    Some(Inbound {
        id: id.to_string(),
        chat: if group { to.to_string() } else { sender.to_string() },
        sender: sender.to_string(),
        sender_label: sender.to_string(),
        group,
        mentioned,
        text,
        reply_to: None,
        cursor: None,
        received_at: 0,
    })
}

#[cfg(test)]
mod tests {
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
    fn flood_control_allows_a_burst_then_paces() {
        let mut f = Flood { clock: Instant::now() };
        for _ in 0..FLOOD_BURST {
            assert!(f.wait().is_zero());
            f.sent();
        }
        assert!(!f.wait().is_zero());
    }
}
