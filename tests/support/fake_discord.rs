//! A fake Discord for the Discord channel: the gateway (WebSocket, JSON encoding, API v10) and
//! the few REST routes a bot needs (`/api/v10`), following the public developer docs.
//!
//! Gateway: Hello (op 10) on connect; Identify (op 2) → READY, or Resume (op 6) → replay of the
//! session's missed dispatches then RESUMED, or Invalid Session (op 9, `d: false`) when the
//! session is unknown; Heartbeat (op 1) → ACK (op 11) unless switched off, so tests can build a
//! zombie connection. Each session keeps its own sequence and event log, as Discord does, so a
//! Resume replays exactly what the bot missed. The test can push messages, invalidate the
//! session, ask for a reconnect (op 7), cut the socket, or close with any code.
//!
//! REST: `users/@me`, `gateway/bot`, create message (length and empty checks, nonce dedupe with
//! `enforce_nonce`), create DM and typing, every answer with rate-limit headers, and injected
//! faults (429 with `Retry-After`, a plain status, a dropped connection, a stall) consumed in
//! order. Everything is recorded so tests can prove what the gateway did and how often.
//!
//! Plain `ws://` and `http://` on 127.0.0.1: TLS is the transport's business, not the protocol's.
//! HTTP itself (reading the request, writing the answer, accepting) is [`super::fake_http`]'s.

use super::fake_http::{self, Request, reason};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{self, Message, WebSocket};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The bot's user id (also its application id, as for most bots).
pub const BOT_ID: &str = "900000000000000001";

/// Largest WebSocket frame or message accepted from the bot.
const MAX_FRAME: usize = 1 << 20;
/// Read timeout on a gateway socket: how often its thread looks at the test's commands.
const POLL: Duration = Duration::from_millis(20);
/// Milliseconds from the Unix epoch to the Discord epoch (2015-01-01), for snowflakes.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// A message the bot created through REST.
#[derive(Debug, Clone)]
pub struct Sent {
    pub channel_id: String,
    pub content: String,
    pub nonce: Option<String>,
    /// When the fake accepted it (for pacing and retry-delay checks).
    pub at: Instant,
}

/// A fault for the next REST call; queued faults are consumed in order, one per request.
#[derive(Debug, Clone)]
pub enum RestFault {
    /// 429 with `Retry-After` (whole seconds, rounded up, as Discord sends it),
    /// `X-RateLimit-Reset-After` and the JSON body's `retry_after` (exact).
    RateLimited { retry_after_secs: f64 },
    /// This status with its reason phrase as a plain-text body (e.g. 502 "Bad Gateway").
    Status(u16),
    /// Close the connection without answering.
    Drop,
    /// Keep the connection open and never answer (until the fake is dropped).
    Stall,
}

/// What the test asks the live connection's thread to do.
enum Cmd {
    Send(String),
    Invalid(bool),
    Reconnect,
    Drop,
    Close(u16, String),
}

/// One gateway session: its sequence and the dispatches a Resume may replay.
#[derive(Default)]
struct Session {
    seq: u64,
    log: Vec<(u64, String)>,
}

impl Session {
    /// Numbers a dispatch and returns its frame; READY and RESUMED are never replayed.
    fn record(&mut self, t: &str, d: Value) -> String {
        self.seq += 1;
        let frame = json!({"op": 0, "t": t, "s": self.seq, "d": d}).to_string();
        if t != "READY" && t != "RESUMED" {
            self.log.push((self.seq, frame.clone()));
        }
        frame
    }
}

/// The identified (or resumed) connection that receives dispatches now.
struct Live {
    conn: u64,
    session: String,
    tx: mpsc::Sender<Cmd>,
}

#[derive(Default)]
struct Gateway {
    sessions: HashMap<String, Session>,
    /// The session pushes are numbered in while no connection is live.
    last_session: Option<String>,
    /// Dispatches pushed while no connection was live: (session they were numbered in, t, d).
    /// A Resume of that session replays them from its log; a fresh Identify delivers them all
    /// after READY, so a message sent while the bot was away still arrives.
    undelivered: Vec<(Option<String>, String, Value)>,
    live: Option<Live>,
    sessions_made: u64,
    connections: usize,
    latest_conn: u64,
    hello_at: Option<Instant>,
    first_heartbeat: Option<Duration>,
    heartbeats: Vec<(Instant, Value)>,
    identifies: Vec<Value>,
    resumes: Vec<Value>,
}

#[derive(Default)]
struct Rest {
    faults: VecDeque<RestFault>,
    calls: Vec<(String, String)>,
    sent: Vec<Sent>,
    /// (channel, nonce) → the message created with it, for `enforce_nonce`.
    nonces: HashMap<(String, String), Value>,
}

struct Shared {
    token: String,
    heartbeat_ms: u64,
    gw_port: u16,
    rest_port: u16,
    token_valid: AtomicBool,
    ack: AtomicBool,
    stop: AtomicBool,
    gw: Mutex<Gateway>,
    rest: Mutex<Rest>,
    last_id: Mutex<u64>,
}

impl Shared {
    fn gateway_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.gw_port)
    }

    /// A snowflake from the clock, strictly increasing across the fake.
    fn next_id(&self) -> String {
        let ms = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64).saturating_sub(DISCORD_EPOCH_MS);
        let mut last = self.last_id.lock().unwrap();
        *last = (ms << 22).max(*last + 1);
        last.to_string()
    }

    /// Sends a dispatch to the live connection, or queues it for the next Resume / Identify.
    fn dispatch(&self, t: &str, d: Value) {
        let mut g = self.gw.lock().unwrap();
        let g = &mut *g;
        if let Some(live) = &g.live {
            let frame = g.sessions.entry(live.session.clone()).or_default().record(t, d.clone());
            if live.tx.send(Cmd::Send(frame)).is_ok() {
                return;
            }
            g.live = None;
            g.undelivered.push((g.last_session.clone(), t.to_string(), d));
            return;
        }
        let tag = g.last_session.clone().filter(|s| g.sessions.contains_key(s));
        if let Some(s) = &tag {
            g.sessions.get_mut(s).unwrap().record(t, d.clone());
        }
        g.undelivered.push((tag, t.to_string(), d));
    }

    /// Takes the live connection (it stops receiving dispatches at once) and gives it `cmd`.
    fn command_live(&self, cmd: Cmd) -> Option<String> {
        let live = self.gw.lock().unwrap().live.take()?;
        let _ = live.tx.send(cmd);
        Some(live.session)
    }

    fn forget(&self, session: &str) {
        let mut g = self.gw.lock().unwrap();
        g.sessions.remove(session);
        if g.last_session.as_deref() == Some(session) {
            g.last_session = None;
        }
    }
}

/// A running fake Discord (gateway + REST) on 127.0.0.1. Dropping it stops both listeners.
pub struct FakeDiscord {
    shared: Arc<Shared>,
}

impl FakeDiscord {
    /// Starts both listeners; `token` is the raw bot token (Identify carries it bare, REST as
    /// `Bot <token>`), `heartbeat_interval_ms` goes into Hello (Discord uses 41250).
    pub fn start(token: &str, heartbeat_interval_ms: u64) -> FakeDiscord {
        let gw = TcpListener::bind("127.0.0.1:0").unwrap();
        let rest = TcpListener::bind("127.0.0.1:0").unwrap();
        let shared = Arc::new(Shared {
            token: token.to_string(),
            heartbeat_ms: heartbeat_interval_ms,
            gw_port: gw.local_addr().unwrap().port(),
            rest_port: rest.local_addr().unwrap().port(),
            token_valid: AtomicBool::new(true),
            ack: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            gw: Mutex::new(Gateway::default()),
            rest: Mutex::new(Rest::default()),
            last_id: Mutex::new(0),
        });
        fake_http::spawn_accept_loop(gw, shared.clone(), stopped, serve_gateway);
        fake_http::spawn_accept_loop(rest, shared.clone(), stopped, serve_rest);
        FakeDiscord { shared }
    }

    /// The REST base to configure: `http://127.0.0.1:<port>/api/v10`.
    pub fn api_root(&self) -> String {
        format!("http://127.0.0.1:{}/api/v10", self.shared.rest_port)
    }

    /// The gateway URL (also what `GET /gateway/bot` and READY's `resume_gateway_url` say).
    pub fn gateway_url(&self) -> String {
        self.shared.gateway_url()
    }

    /// A direct message from `author_id` in `channel_id` (no `guild_id`, as Discord sends DMs);
    /// returns the message id. See [`dm_channel_id`] for the channel REST gives that user.
    pub fn push_dm(&self, channel_id: &str, author_id: &str, content: &str) -> String {
        let id = self.shared.next_id();
        self.shared.dispatch("MESSAGE_CREATE", message(&id, channel_id, None, user(author_id), content, Vec::new()));
        id
    }

    /// A guild message; with `mention_bot` the bot user is in `mentions` (the content is sent
    /// as given, so include `<@BOT_ID>` yourself when the text should show it). Returns the id.
    pub fn push_guild(&self, guild_id: &str, channel_id: &str, author_id: &str, content: &str, mention_bot: bool) -> String {
        let id = self.shared.next_id();
        let mentions = if mention_bot { vec![bot_user()] } else { Vec::new() };
        self.shared.dispatch("MESSAGE_CREATE", message(&id, channel_id, Some(guild_id), user(author_id), content, mentions));
        id
    }

    /// Messages created through REST so far (nonce duplicates are not counted twice).
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.rest.lock().unwrap().sent.clone()
    }

    /// Waits until at least `n` messages were created or `limit` passed; returns them all.
    pub fn wait_sent(&self, n: usize, limit: Duration) -> Vec<Sent> {
        super::wait_for(limit, || self.sent().len() >= n);
        self.sent()
    }

    /// The `d` of every Identify received (including refused ones).
    pub fn identifies(&self) -> Vec<Value> {
        self.shared.gw.lock().unwrap().identifies.clone()
    }

    /// The `d` of every Resume received (including refused ones).
    pub fn resumes(&self) -> Vec<Value> {
        self.shared.gw.lock().unwrap().resumes.clone()
    }

    /// Heartbeats (op 1 from the bot) received on all connections.
    pub fn heartbeats(&self) -> usize {
        self.shared.gw.lock().unwrap().heartbeats.len()
    }

    /// Time from Hello to the first heartbeat on the latest connection (Discord asks for
    /// `heartbeat_interval * jitter` with jitter in [0, 1)).
    pub fn first_heartbeat_delay(&self) -> Option<Duration> {
        self.shared.gw.lock().unwrap().first_heartbeat
    }

    /// Gateway connections accepted (WebSocket handshake done) so far.
    pub fn connections(&self) -> usize {
        self.shared.gw.lock().unwrap().connections
    }

    /// Whether a connection is open and identified or resumed.
    pub fn live(&self) -> bool {
        self.shared.gw.lock().unwrap().live.is_some()
    }

    /// Waits up to `limit` for [`FakeDiscord::live`].
    pub fn wait_live(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.live() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.live()
    }

    /// `false`: heartbeats are recorded but never ACKed, so the connection looks like a zombie.
    pub fn set_ack_heartbeats(&self, ack: bool) {
        self.shared.ack.store(ack, Ordering::SeqCst);
    }

    /// Sends Invalid Session (op 9, `d: resumable`) on the live connection, which then counts as
    /// unauthenticated (it may Identify or Resume again). With `false` the session is forgotten
    /// (the latest one when no connection is live), so a Resume of it gets op 9 `false`.
    pub fn invalidate_session(&self, resumable: bool) {
        let session = self.shared.command_live(Cmd::Invalid(resumable));
        if !resumable {
            let session = session.or_else(|| self.shared.gw.lock().unwrap().last_session.clone());
            if let Some(s) = session {
                self.shared.forget(&s);
            }
        }
    }

    /// Sends Reconnect (op 7) on the live connection; the session stays resumable.
    pub fn request_reconnect(&self) {
        self.shared.command_live(Cmd::Reconnect);
    }

    /// Shuts the live connection's TCP socket down without a close frame (session stays
    /// resumable), as a network failure would.
    pub fn drop_connection(&self) {
        self.shared.command_live(Cmd::Drop);
    }

    /// Closes the live connection with this code and reason. The session stays resumable,
    /// except for 4007 (invalid seq) and 4009 (session timed out), after which Discord wants a
    /// fresh Identify.
    pub fn close_with(&self, code: u16, reason: &str) {
        if let Some(s) = self.shared.command_live(Cmd::Close(code, reason.to_string()))
            && (code == 4007 || code == 4009)
        {
            self.shared.forget(&s);
        }
    }

    /// `false`: Identify and Resume are closed with 4004 and REST answers 401.
    pub fn set_token_valid(&self, valid: bool) {
        self.shared.token_valid.store(valid, Ordering::SeqCst);
    }

    /// Queues a fault for a coming REST call (consumed in order, one per request).
    pub fn inject_rest(&self, fault: RestFault) {
        self.shared.rest.lock().unwrap().faults.push_back(fault);
    }

    /// (method, request target) of every REST request, faulted ones included.
    pub fn rest_calls(&self) -> Vec<(String, String)> {
        self.shared.rest.lock().unwrap().calls.clone()
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        fake_http::wake(self.shared.gw_port);
        fake_http::wake(self.shared.rest_port);
    }
}

/// The DM channel id `POST /users/@me/channels` gives for `user_id` (deterministic, so a test
/// can push a DM in the same channel the bot will answer in).
pub fn dm_channel_id(user_id: &str) -> String {
    let n: u64 = user_id.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    format!("{}", 800_000_000_000_000_000 + n % 100_000_000_000_000_000)
}

fn bot_user() -> Value {
    json!({"id": BOT_ID, "username": "testbot", "discriminator": "0", "global_name": null, "avatar": null, "bot": true})
}

fn user(id: &str) -> Value {
    json!({"id": id, "username": format!("user{id}"), "discriminator": "0", "global_name": format!("User {id}"), "avatar": null, "bot": false})
}

/// A Message object as the gateway and REST give it.
fn message(id: &str, channel_id: &str, guild_id: Option<&str>, author: Value, content: &str, mentions: Vec<Value>) -> Value {
    let ts = iso_now();
    let mut m = json!({
        "id": id, "channel_id": channel_id, "author": author, "content": content, "timestamp": ts,
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": mentions,
        "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0,
    });
    if let Some(g) = guild_id {
        m["guild_id"] = json!(g);
        m["member"] = json!({"roles": [], "joined_at": ts, "deaf": false, "mute": false, "flags": 0});
    }
    m
}

/// ISO 8601 UTC with microseconds, Discord's timestamp format.
fn iso_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00", rem / 3600, rem % 3600 / 60, rem % 60, now.subsec_micros())
}

/// Whether the fake was dropped: the accept loops' stop flag.
fn stopped(s: &Shared) -> bool {
    s.stop.load(Ordering::SeqCst)
}

// ---- Gateway ---------------------------------------------------------------------------------

fn frame(op: u8, d: Value) -> String {
    json!({"op": op, "d": d, "s": null, "t": null}).to_string()
}

/// How a payload or command left the connection.
enum Flow {
    Go,
    End,
}

/// One gateway connection; `session` is the session it last identified or resumed (kept after
/// op 7 / op 9 so a 1000 close still ends it, as on Discord).
struct Conn {
    s: Arc<Shared>,
    conn: u64,
    tx: mpsc::Sender<Cmd>,
    session: Option<String>,
    /// Identified or resumed and not since invalidated or told to reconnect.
    authed: bool,
}

fn serve_gateway(s: Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let config = WebSocketConfig::default().max_frame_size(Some(MAX_FRAME)).max_message_size(Some(MAX_FRAME));
    let Ok(mut ws) = tungstenite::accept_with_config(stream, Some(config)) else { return };
    // Short reads so one thread interleaves the bot's frames with the test's commands.
    let _ = ws.get_ref().set_read_timeout(Some(POLL));
    let (tx, rx) = mpsc::channel();
    let conn = {
        let mut g = s.gw.lock().unwrap();
        g.connections += 1;
        g.latest_conn = g.connections as u64;
        g.hello_at = Some(Instant::now());
        g.first_heartbeat = None;
        g.latest_conn
    };
    let mut c = Conn { s, conn, tx, session: None, authed: false };
    if send(&mut ws, frame(10, json!({"heartbeat_interval": c.s.heartbeat_ms}))).is_ok() {
        c.run(&mut ws, &rx);
    }
    c.leave();
}

fn send(ws: &mut WebSocket<TcpStream>, text: String) -> Result<(), tungstenite::Error> {
    ws.send(Message::text(text))
}

impl Conn {
    fn run(&mut self, ws: &mut WebSocket<TcpStream>, rx: &mpsc::Receiver<Cmd>) {
        loop {
            if self.s.stop.load(Ordering::SeqCst) {
                return;
            }
            while let Ok(cmd) = rx.try_recv() {
                if let Flow::End = self.command(ws, cmd) {
                    return;
                }
            }
            let flow = match ws.read() {
                Ok(Message::Text(t)) => self.payload(ws, t.as_str()),
                // Binary means ETF or compression, which this fake does not speak.
                Ok(Message::Binary(_)) => self.close(ws, 4002, "Decode error."),
                Ok(Message::Close(frame)) => {
                    // Discord invalidates the session when the bot closes with 1000 or 1001.
                    if let (Some(f), Some(s)) = (&frame, &self.session)
                        && matches!(u16::from(f.code), 1000 | 1001)
                    {
                        self.s.forget(s);
                    }
                    self.leave();
                    Flow::Go // tungstenite answers the close; the next read ends the loop
                }
                Ok(_) => Flow::Go,
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Flow::Go,
                Err(_) => Flow::End,
            };
            if let Flow::End = flow {
                return;
            }
        }
    }

    fn command(&mut self, ws: &mut WebSocket<TcpStream>, cmd: Cmd) -> Flow {
        let r = match cmd {
            Cmd::Send(text) => send(ws, text),
            Cmd::Invalid(resumable) => {
                self.authed = false;
                send(ws, frame(9, json!(resumable)))
            }
            Cmd::Reconnect => {
                self.authed = false;
                send(ws, frame(7, Value::Null))
            }
            Cmd::Drop => {
                let _ = ws.get_ref().shutdown(Shutdown::Both);
                return Flow::End;
            }
            Cmd::Close(code, reason) => return self.close(ws, code, &reason),
        };
        if r.is_ok() { Flow::Go } else { Flow::End }
    }

    /// Stops being the live connection (if it still is).
    fn leave(&self) {
        let mut g = self.s.gw.lock().unwrap();
        if g.live.as_ref().is_some_and(|l| l.conn == self.conn) {
            g.live = None;
        }
    }

    /// Sends a close frame, then waits briefly for the bot's answer before dropping the socket.
    fn close(&mut self, ws: &mut WebSocket<TcpStream>, code: u16, reason: &str) -> Flow {
        self.leave();
        let _ = ws.close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }));
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            match ws.read() {
                Err(tungstenite::Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
                Ok(_) => {}
            }
        }
        Flow::End
    }

    fn payload(&mut self, ws: &mut WebSocket<TcpStream>, text: &str) -> Flow {
        let Ok(v) = serde_json::from_str::<Value>(text) else { return self.close(ws, 4002, "Decode error.") };
        let Some(op) = v.get("op").and_then(Value::as_u64) else { return self.close(ws, 4002, "Decode error.") };
        let d = v.get("d").cloned().unwrap_or(Value::Null);
        match op {
            1 => {
                let ack = self.s.ack.load(Ordering::SeqCst);
                {
                    let mut g = self.s.gw.lock().unwrap();
                    let now = Instant::now();
                    g.heartbeats.push((now, d));
                    if g.latest_conn == self.conn && g.first_heartbeat.is_none() {
                        g.first_heartbeat = g.hello_at.map(|h| now - h);
                    }
                }
                if ack && send(ws, frame(11, Value::Null)).is_err() {
                    return Flow::End;
                }
                Flow::Go
            }
            2 => self.identify(ws, d),
            6 => self.resume(ws, d),
            _ if !self.authed => self.close(ws, 4003, "Not authenticated."),
            // Presence update, voice state update, request guild members: accepted, ignored.
            3 | 4 | 8 => Flow::Go,
            _ => self.close(ws, 4001, "Unknown opcode."),
        }
    }

    fn token_ok(&self, d: &Value) -> bool {
        self.s.token_valid.load(Ordering::SeqCst) && d["token"].as_str() == Some(self.s.token.as_str())
    }

    /// Makes this connection the live one for `session`; a previous live connection is cut,
    /// as Discord does when a session moves to a new socket.
    fn go_live(&mut self, g: &mut Gateway, session: &str) {
        if let Some(old) = g.live.take()
            && old.conn != self.conn
        {
            let _ = old.tx.send(Cmd::Drop);
        }
        g.live = Some(Live { conn: self.conn, session: session.to_string(), tx: self.tx.clone() });
        g.last_session = Some(session.to_string());
        self.session = Some(session.to_string());
        self.authed = true;
    }

    fn identify(&mut self, ws: &mut WebSocket<TcpStream>, d: Value) -> Flow {
        self.s.gw.lock().unwrap().identifies.push(d.clone());
        if self.authed {
            return self.close(ws, 4005, "Already authenticated.");
        }
        if !self.token_ok(&d) {
            return self.close(ws, 4004, "Authentication failed.");
        }
        if !d["intents"].is_u64() {
            return self.close(ws, 4013, "Invalid intent(s).");
        }
        let shared = self.s.clone();
        let frames = {
            let mut g = shared.gw.lock().unwrap();
            g.sessions_made += 1;
            let id = format!("{:032x}", 0x5e55_1000_u64 + g.sessions_made);
            let mut sess = Session::default();
            let mut ready = json!({
                "v": 10, "user": bot_user(), "session_id": id, "session_type": "normal",
                "resume_gateway_url": self.s.gateway_url(), "guilds": [], "private_channels": [],
                "application": {"id": BOT_ID, "flags": 0},
            });
            if let Some(shard) = d.get("shard") {
                ready["shard"] = shard.clone();
            }
            let mut frames = vec![sess.record("READY", ready)];
            for (_, t, d) in std::mem::take(&mut g.undelivered) {
                frames.push(sess.record(&t, d));
            }
            g.sessions.insert(id.clone(), sess);
            self.go_live(&mut g, &id);
            frames
        };
        self.send_all(ws, frames)
    }

    fn resume(&mut self, ws: &mut WebSocket<TcpStream>, d: Value) -> Flow {
        self.s.gw.lock().unwrap().resumes.push(d.clone());
        if self.authed {
            return self.close(ws, 4005, "Already authenticated.");
        }
        if !self.token_ok(&d) {
            return self.close(ws, 4004, "Authentication failed.");
        }
        let id = d["session_id"].as_str().unwrap_or_default().to_string();
        let seq = d["seq"].as_u64().unwrap_or(0);
        let shared = self.s.clone();
        let outcome = {
            let mut guard = shared.gw.lock().unwrap();
            let g = &mut *guard;
            match g.sessions.get(&id).map(|sess| sess.seq) {
                None => None,
                Some(last) if seq > last => {
                    g.sessions.remove(&id);
                    Some(None)
                }
                Some(_) => {
                    let sess = g.sessions.get_mut(&id).unwrap();
                    let mut frames: Vec<String> = sess.log.iter().filter(|(s, _)| *s > seq).map(|(_, f)| f.clone()).collect();
                    frames.push(sess.record("RESUMED", json!({})));
                    g.undelivered.retain(|(tag, _, _)| tag.as_deref() != Some(id.as_str()));
                    self.go_live(g, &id);
                    Some(Some(frames))
                }
            }
        };
        match outcome {
            // Unknown (or forgotten) session: Invalid Session, not resumable.
            None => self.send_all(ws, vec![frame(9, json!(false))]),
            Some(None) => self.close(ws, 4007, "Invalid seq."),
            Some(Some(frames)) => self.send_all(ws, frames),
        }
    }

    fn send_all(&mut self, ws: &mut WebSocket<TcpStream>, frames: Vec<String>) -> Flow {
        for f in frames {
            if send(ws, f).is_err() {
                return Flow::End;
            }
        }
        Flow::Go
    }
}

// ---- REST ------------------------------------------------------------------------------------

/// An answer: status, extra headers, content type and body.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: Vec<u8>,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer { status, headers: Vec::new(), content_type: "application/json", body: body.to_string().into_bytes() }
}

fn form_error(field: &str, code: &str, message: &str) -> Answer {
    answer(
        400,
        json!({"message": "Invalid Form Body", "code": 50035, "errors": {field: {"_errors": [{"code": code, "message": message}]}}}),
    )
}

fn serve_rest(s: Arc<Shared>, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    // A request the fake cannot frame is closed unanswered: the client under test never sends
    // one, so no Discord-shaped refusal is worth faking.
    let Ok(req) = fake_http::read_request(&mut stream, fake_http::MAX_BODY) else { return };
    let fault = {
        let mut r = s.rest.lock().unwrap();
        r.calls.push((req.method.clone(), req.target.clone()));
        r.faults.pop_front()
    };
    let path = req.path().to_string();
    let bucket = format!("{:08x}", path.bytes().filter(|b| !b.is_ascii_digit()).fold(7u32, |h, b| h.wrapping_mul(31) ^ b as u32));
    let mut reset_after = 1.0;
    let mut remaining = 4;
    let a = match fault {
        Some(RestFault::Drop) => {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        Some(RestFault::Stall) => {
            while !s.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        Some(RestFault::RateLimited { retry_after_secs }) => {
            reset_after = retry_after_secs;
            remaining = 0;
            let mut a = answer(429, json!({"message": "You are being rate limited.", "retry_after": retry_after_secs, "global": false}));
            a.headers.push(("Retry-After", format!("{}", retry_after_secs.ceil() as u64)));
            a.headers.push(("X-RateLimit-Scope", "user".into()));
            a
        }
        Some(RestFault::Status(status)) => {
            Answer { status, headers: Vec::new(), content_type: "text/plain", body: reason(status).as_bytes().to_vec() }
        }
        None => route(&s, &req, &path),
    };
    // Every answer carries the rate-limit headers, as Discord's do.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let (remaining, reset, reset_after) = (remaining.to_string(), format!("{:.3}", now + reset_after), format!("{reset_after:.3}"));
    let mut headers = vec![
        ("X-RateLimit-Limit", "5"),
        ("X-RateLimit-Remaining", remaining.as_str()),
        ("X-RateLimit-Reset", reset.as_str()),
        ("X-RateLimit-Reset-After", reset_after.as_str()),
        ("X-RateLimit-Bucket", bucket.as_str()),
    ];
    headers.extend(a.headers.iter().map(|(k, v)| (*k, v.as_str())));
    fake_http::respond(&mut stream, a.status, a.content_type, &headers, &a.body);
}

fn route(s: &Shared, req: &Request, path: &str) -> Answer {
    let Some(rest) = path.strip_prefix("/api/v10/") else {
        return answer(404, json!({"message": "404: Not Found", "code": 0}));
    };
    let auth = req.header("authorization");
    if !s.token_valid.load(Ordering::SeqCst) || auth != Some(format!("Bot {}", s.token).as_str()) {
        return answer(401, json!({"message": "401: Unauthorized", "code": 0}));
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let body = || serde_json::from_slice::<Value>(&req.body).ok().filter(Value::is_object);
    let invalid_json = || answer(400, json!({"message": "The request body contains invalid JSON.", "code": 50109}));
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["users", "@me"]) => answer(200, bot_user()),
        ("GET", ["gateway", "bot"]) => answer(
            200,
            json!({"url": s.gateway_url(), "shards": 1, "session_start_limit":
                {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}}),
        ),
        ("POST", ["users", "@me", "channels"]) => {
            let Some(b) = body() else { return invalid_json() };
            let Some(recipient) = b["recipient_id"].as_str().filter(|r| !r.is_empty() && r.bytes().all(|c| c.is_ascii_digit())) else {
                return form_error("recipient_id", "NUMBER_TYPE_COERCE", "Value is not snowflake.");
            };
            answer(
                200,
                json!({"id": dm_channel_id(recipient), "type": 1, "last_message_id": null, "flags": 0, "recipients": [user(recipient)]}),
            )
        }
        ("POST", ["channels", id, "messages"]) if !id.is_empty() => match body() {
            Some(b) => create_message(s, id, &b),
            None => invalid_json(),
        },
        ("POST", ["channels", id, "typing"]) if !id.is_empty() => {
            Answer { status: 204, headers: Vec::new(), content_type: "application/json", body: Vec::new() }
        }
        (_, ["users", "@me"] | ["gateway", "bot"] | ["users", "@me", "channels"] | ["channels", _, "messages" | "typing"]) => {
            answer(405, json!({"message": "405: Method Not Allowed", "code": 0}))
        }
        _ => answer(404, json!({"message": "404: Not Found", "code": 0})),
    }
}

/// `POST /channels/{id}/messages`: Discord's checks, then the created (or deduplicated) message.
fn create_message(s: &Shared, channel_id: &str, b: &Value) -> Answer {
    let content = b["content"].as_str().unwrap_or_default();
    let nonce = match &b["nonce"] {
        Value::String(n) => Some(n.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if content.chars().count() > 2000 {
        return form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.");
    }
    if nonce.as_ref().is_some_and(|n| n.chars().count() > 25) {
        return form_error("nonce", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
    }
    let has_embeds = b["embeds"].as_array().is_some_and(|e| !e.is_empty());
    if content.trim().is_empty() && !has_embeds {
        return answer(400, json!({"message": "Cannot send an empty message", "code": 50006}));
    }
    let mut r = s.rest.lock().unwrap();
    if b["enforce_nonce"] == true
        && let Some(n) = &nonce
        && let Some(existing) = r.nonces.get(&(channel_id.to_string(), n.clone()))
    {
        return answer(200, existing.clone());
    }
    let mut m = message(&s.next_id(), channel_id, None, bot_user(), content, Vec::new());
    if let Some(n) = &nonce {
        m["nonce"] = b["nonce"].clone();
        r.nonces.insert((channel_id.to_string(), n.clone()), m.clone());
    }
    if let Some(reference) = b.get("message_reference").filter(|v| v.is_object()) {
        m["message_reference"] = reference.clone();
        m["type"] = json!(19);
    }
    r.sent.push(Sent { channel_id: channel_id.to_string(), content: content.to_string(), nonce, at: Instant::now() });
    answer(200, m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    const TOKEN: &str = "bot-token-1";

    fn connect(fake: &FakeDiscord) -> WebSocket<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", fake.shared.gw_port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (ws, _) = tungstenite::client(format!("{}/?v=10&encoding=json", fake.gateway_url()), stream).unwrap();
        ws
    }

    fn next(ws: &mut WebSocket<TcpStream>) -> Value {
        loop {
            match ws.read().expect("gateway frame") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Close(f) => panic!("closed: {f:?}"),
                _ => {}
            }
        }
    }

    fn put(ws: &mut WebSocket<TcpStream>, v: Value) {
        ws.send(Message::text(v.to_string())).unwrap();
    }

    fn close_code(ws: &mut WebSocket<TcpStream>) -> u16 {
        loop {
            match ws.read() {
                Ok(Message::Close(Some(f))) => return u16::from(f.code),
                Ok(_) => {}
                Err(e) => panic!("no close frame: {e}"),
            }
        }
    }

    fn identify(ws: &mut WebSocket<TcpStream>, token: &str) {
        put(ws, json!({"op": 2, "d": {"token": token, "intents": 37377, "properties": {"os": "linux", "browser": "t", "device": "t"}}}));
    }

    /// Minimal HTTP/1.1 client: (status, headers lower-cased, body).
    fn http(fake: &FakeDiscord, method: &str, path: &str, auth: &str, body: &str) -> (u16, Vec<(String, String)>, String) {
        let mut s = TcpStream::connect(("127.0.0.1", fake.shared.rest_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let req = format!(
            "{method} /api/v10{path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())).collect();
        (status, headers, body.to_string())
    }

    #[test]
    fn identify_ready_then_pushed_dm() {
        let fake = FakeDiscord::start(TOKEN, 500);
        let mut ws = connect(&fake);
        let hello = next(&mut ws);
        assert_eq!(hello["op"], 10);
        assert_eq!(hello["d"]["heartbeat_interval"], 500);
        put(&mut ws, json!({"op": 1, "d": null}));
        assert_eq!(next(&mut ws)["op"], 11);
        identify(&mut ws, TOKEN);
        let ready = next(&mut ws);
        assert_eq!((ready["op"].as_u64(), ready["t"].as_str(), ready["s"].as_u64()), (Some(0), Some("READY"), Some(1)));
        assert_eq!(ready["d"]["user"]["id"], BOT_ID);
        assert_eq!(ready["d"]["resume_gateway_url"], fake.gateway_url());
        assert!(fake.wait_live(Duration::from_secs(2)));
        let id = fake.push_dm("111", "222", "hi there");
        let m = next(&mut ws);
        assert_eq!((m["t"].as_str(), m["s"].as_u64()), (Some("MESSAGE_CREATE"), Some(2)));
        assert_eq!(m["d"]["id"], id.as_str());
        assert_eq!(m["d"]["content"], "hi there");
        assert!(m["d"].get("guild_id").is_none());
        let g = fake.push_guild("333", "444", "222", "<@900000000000000001> yo", true);
        let m = next(&mut ws);
        assert_eq!(m["s"], 3);
        assert_eq!(m["d"]["guild_id"], "333");
        assert_eq!(m["d"]["mentions"][0]["id"], BOT_ID);
        assert!(g > id, "snowflakes increase");
        assert_eq!(fake.identifies()[0]["intents"], 37377);
        assert_eq!(fake.heartbeats(), 1);
        assert!(fake.first_heartbeat_delay().is_some());
        // A wrong token is refused with 4004 on a new connection.
        let mut bad = connect(&fake);
        next(&mut bad);
        identify(&mut bad, &format!("Bot {TOKEN}"));
        assert_eq!(close_code(&mut bad), 4004);
        assert_eq!(fake.connections(), 2);
    }

    #[test]
    fn resume_replays_missed_events_then_resumed() {
        let fake = FakeDiscord::start(TOKEN, 500);
        let mut ws = connect(&fake);
        next(&mut ws);
        identify(&mut ws, TOKEN);
        let session = next(&mut ws)["d"]["session_id"].as_str().unwrap().to_string();
        fake.drop_connection();
        assert!(!fake.live());
        let missed = fake.push_dm("111", "222", "while away");
        let mut ws = connect(&fake);
        next(&mut ws);
        put(&mut ws, json!({"op": 6, "d": {"token": TOKEN, "session_id": session, "seq": 1}}));
        let m = next(&mut ws);
        assert_eq!((m["t"].as_str(), m["s"].as_u64()), (Some("MESSAGE_CREATE"), Some(2)));
        assert_eq!(m["d"]["id"], missed.as_str());
        let r = next(&mut ws);
        assert_eq!((r["t"].as_str(), r["s"].as_u64()), (Some("RESUMED"), Some(3)));
        assert!(fake.wait_live(Duration::from_secs(2)));
        // A forgotten session cannot be resumed; a fresh Identify still gets what was missed.
        fake.invalidate_session(false);
        assert_eq!(next(&mut ws)["op"], 9);
        fake.push_dm("111", "222", "after invalidation");
        put(&mut ws, json!({"op": 6, "d": {"token": TOKEN, "session_id": session, "seq": 3}}));
        let nine = next(&mut ws);
        assert_eq!((nine["op"].as_u64(), nine["d"].as_bool()), (Some(9), Some(false)));
        identify(&mut ws, TOKEN);
        assert_eq!(next(&mut ws)["t"], "READY");
        let m = next(&mut ws);
        assert_eq!((m["d"]["content"].as_str(), m["s"].as_u64()), (Some("after invalidation"), Some(2)));
        assert_eq!(fake.resumes().len(), 2);
        // Anything but a heartbeat before authenticating closes with 4003.
        let mut early = connect(&fake);
        next(&mut early);
        put(&mut early, json!({"op": 3, "d": {}}));
        assert_eq!(close_code(&mut early), 4003);
    }

    #[test]
    fn rest_auth_messages_nonce_and_faults() {
        let fake = FakeDiscord::start(TOKEN, 500);
        let auth = format!("Bot {TOKEN}");
        assert_eq!(http(&fake, "GET", "/users/@me", TOKEN, "").0, 401);
        let (status, headers, body) = http(&fake, "GET", "/gateway/bot", &auth, "");
        assert_eq!(status, 200);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["url"], fake.gateway_url());
        assert!(headers.iter().any(|(k, _)| k == "x-ratelimit-bucket"));
        let long = "x".repeat(2001);
        let (status, _, body) = http(&fake, "POST", "/channels/5/messages", &auth, &json!({"content": long}).to_string());
        assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()["code"].as_u64()), (400, Some(50035)));
        assert_eq!(http(&fake, "POST", "/channels/5/messages", &auth, r#"{"content":""}"#).0, 400);
        let msg = json!({"content": "hello", "nonce": "n1", "enforce_nonce": true}).to_string();
        let (_, _, first) = http(&fake, "POST", "/channels/5/messages", &auth, &msg);
        let (_, _, again) = http(&fake, "POST", "/channels/5/messages", &auth, &msg);
        assert_eq!(serde_json::from_str::<Value>(&first).unwrap()["id"], serde_json::from_str::<Value>(&again).unwrap()["id"]);
        assert_eq!(fake.sent().len(), 1);
        fake.inject_rest(RestFault::RateLimited { retry_after_secs: 0.25 });
        let (status, headers, body) = http(&fake, "POST", "/channels/5/messages", &auth, r#"{"content":"two"}"#);
        assert_eq!(status, 429);
        assert!(headers.contains(&("retry-after".into(), "1".into())));
        assert!(headers.contains(&("x-ratelimit-reset-after".into(), "0.250".into())));
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["retry_after"], 0.25);
        let (_, _, dm) = http(&fake, "POST", "/users/@me/channels", &auth, r#"{"recipient_id":"222"}"#);
        let dm: Value = serde_json::from_str(&dm).unwrap();
        assert_eq!(dm["id"].as_str(), Some(dm_channel_id("222").as_str()));
        assert_eq!(http(&fake, "POST", &format!("/channels/{}/typing", dm["id"].as_str().unwrap()), &auth, "").0, 204);
        let sent = fake.wait_sent(1, Duration::from_millis(10));
        assert_eq!((sent[0].channel_id.as_str(), sent[0].nonce.as_deref()), ("5", Some("n1")));
        assert_eq!(fake.rest_calls().len(), 9);
    }
}
