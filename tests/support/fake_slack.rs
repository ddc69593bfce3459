//! A fake Slack for the Slack channel, following the public API docs: the Web API (`POST
//! /api/<method>`, HTTP 200 with `ok`, 429 with `Retry-After` for rate limits) and Socket Mode
//! (the single-use `ws://` URL `apps.connections.open` hands out, `hello`, `events_api` envelopes
//! acknowledged by `envelope_id`, `disconnect`).
//!
//! Delivery is at least once, as on Slack: an envelope not acknowledged within the ack timeout
//! is sent again with `retry_attempt` raised and `retry_reason: "timeout"`, on the newest open
//! socket (a silent one included: Slack cannot tell it is deaf). The bot's own posts come back as
//! `message` events with its `bot_id`, as they do in a channel the bot is in.
//!
//! Faults: `disconnect` with any reason, a silent socket (stops reading and writing, stays open),
//! dropped acks, a delay before `apps.connections.open` answers, refused tokens, and queued
//! `chat.postMessage` faults (429 with `Retry-After`, a status, a stall). Everything is recorded.

use super::fake_http;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request as WsRequest, Response as WsResponse};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{self, Message, WebSocket};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const APP_TOKEN: &str = "xapp-1-A0TEST-1-secret";
pub const BOT_TOKEN: &str = "xoxb-1-test-secret";
/// The bot's user id and bot id (`auth.test`).
pub const BOT_USER: &str = "U0BOT";
pub const BOT_ID: &str = "B0BOT";

const POLL: Duration = Duration::from_millis(20);

/// A message the bot posted (`chat.postMessage`).
#[derive(Debug, Clone)]
pub struct Posted {
    pub channel: String,
    pub text: String,
    pub thread_ts: Option<String>,
    pub at: Instant,
}

/// A fault for the next `chat.postMessage` (consumed in order).
#[derive(Debug, Clone)]
pub enum PostFault {
    /// HTTP 429, `Retry-After: secs`, `{"ok":false,"error":"ratelimited"}`.
    RateLimited(u64),
    /// `{"ok":false,"error":…}` with HTTP 200.
    Error(&'static str),
    /// Never answer.
    Stall,
}

enum Cmd {
    Send(String),
    Silent,
}

struct Conn {
    id: usize,
    tx: mpsc::Sender<Cmd>,
    open: bool,
}

struct Pending {
    frame: Value,
    attempts: u64,
    sent_at: Option<Instant>,
}

/// One delivery of an envelope: its id, `retry_attempt` and the connection it went to.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub envelope_id: String,
    pub retry_attempt: u64,
    pub conn: usize,
}

#[derive(Default)]
struct State {
    bot_token_valid: bool,
    app_token_valid: bool,
    open_delay: Duration,
    tickets: HashSet<String>,
    next_id: u64,
    conns: Vec<Conn>,
    pending: BTreeMap<String, Pending>,
    deliveries: Vec<Delivery>,
    acks: Vec<(String, usize)>,
    drop_acks: usize,
    closed_by_client: Vec<usize>,
    calls: Vec<String>,
    posted: Vec<Posted>,
    faults: VecDeque<PostFault>,
}

struct Shared {
    api_port: u16,
    ws_port: u16,
    ack_timeout: Duration,
    stop: AtomicBool,
    st: Mutex<State>,
}

/// A running fake Slack on 127.0.0.1; dropping it stops it.
pub struct FakeSlack {
    s: Arc<Shared>,
}

impl FakeSlack {
    /// Starts the Web API and Socket Mode listeners; unacknowledged envelopes are redelivered
    /// after `ack_timeout` (Slack waits about 3 s).
    pub fn start(ack_timeout: Duration) -> FakeSlack {
        let api = TcpListener::bind("127.0.0.1:0").unwrap();
        let ws = TcpListener::bind("127.0.0.1:0").unwrap();
        let st = State { bot_token_valid: true, app_token_valid: true, ..State::default() };
        let s = Arc::new(Shared {
            api_port: api.local_addr().unwrap().port(),
            ws_port: ws.local_addr().unwrap().port(),
            ack_timeout,
            stop: AtomicBool::new(false),
            st: Mutex::new(st),
        });
        fake_http::spawn_accept_loop(api, s.clone(), stopped, serve_api);
        fake_http::spawn_accept_loop(ws, s.clone(), stopped, serve_socket);
        let d = s.clone();
        std::thread::spawn(move || {
            while !stopped(&d) {
                d.deliver_due();
                std::thread::sleep(POLL);
            }
        });
        FakeSlack { s }
    }

    /// The Web API base to configure (`apiRoot`).
    pub fn api_root(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.s.api_port)
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.s.st.lock().unwrap()
    }

    /// Queues an `events_api` envelope carrying `event`; returns its envelope id.
    pub fn push_event(&self, event: Value) -> String {
        self.s.push_event(event)
    }

    /// A person's message; `channel_type` `im` for a DM, `channel` otherwise. Returns (envelope
    /// id, ts).
    pub fn push_message(&self, channel: &str, channel_type: &str, user: &str, text: &str, thread_ts: Option<&str>) -> (String, String) {
        let ts = self.next_ts();
        let mut ev = json!({"type": "message", "channel": channel, "channel_type": channel_type, "user": user, "text": text,
                            "ts": ts, "event_ts": ts, "team": "T0TEAM", "client_msg_id": format!("c-{ts}")});
        if let Some(t) = thread_ts {
            ev["thread_ts"] = json!(t);
            ev["parent_user_id"] = json!(user);
        }
        (self.push_event(ev), ts)
    }

    /// A channel message mentioning the bot, delivered twice as Slack does: as `message` and
    /// as `app_mention` (same channel and ts).
    pub fn push_mention(&self, channel: &str, user: &str, text: &str) -> String {
        let (_, ts) = self.push_message(channel, "channel", user, &format!("<@{BOT_USER}> {text}"), None);
        self.push_event(json!({"type": "app_mention", "channel": channel, "user": user, "text": format!("<@{BOT_USER}> {text}"),
                               "ts": ts, "event_ts": ts}));
        ts
    }

    fn next_ts(&self) -> String {
        let mut st = self.st();
        st.next_id += 1;
        format!("1700000000.{:06}", st.next_id)
    }

    /// Sends `disconnect` with `reason` on the newest open socket (which stays open: the
    /// client closes it).
    pub fn disconnect(&self, reason: &str) {
        let frame = json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-applink"}}).to_string();
        if let Some(c) = self.st().conns.iter().rev().find(|c| c.open) {
            let _ = c.tx.send(Cmd::Send(frame));
        }
    }

    /// The newest socket stops reading and writing (no pongs, no frames) and stays open.
    pub fn go_silent(&self) {
        if let Some(c) = self.st().conns.iter().rev().find(|c| c.open) {
            let _ = c.tx.send(Cmd::Silent);
        }
    }

    pub fn set_open_delay(&self, d: Duration) {
        self.st().open_delay = d;
    }

    pub fn set_bot_token_valid(&self, v: bool) {
        self.st().bot_token_valid = v;
    }

    pub fn set_app_token_valid(&self, v: bool) {
        self.st().app_token_valid = v;
    }

    /// The next `n` acks are lost (the envelopes are redelivered).
    pub fn drop_acks(&self, n: usize) {
        self.st().drop_acks += n;
    }

    pub fn inject(&self, f: PostFault) {
        self.st().faults.push_back(f);
    }

    /// Sockets that said `hello`.
    pub fn connections(&self) -> usize {
        self.st().conns.len()
    }

    /// Sockets still open (from the fake's side).
    pub fn open_connections(&self) -> usize {
        self.st().conns.iter().filter(|c| c.open).count()
    }

    /// Connections the client closed with a close frame.
    pub fn closed_by_client(&self) -> Vec<usize> {
        self.st().closed_by_client.clone()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.st().deliveries.clone()
    }

    /// (envelope id, connection) of every ack that counted.
    pub fn acks(&self) -> Vec<(String, usize)> {
        self.st().acks.clone()
    }

    /// Envelopes not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.st().pending.len()
    }

    /// Web API methods called, in order (faulted ones too).
    pub fn calls(&self) -> Vec<String> {
        self.st().calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> usize {
        self.calls().iter().filter(|m| *m == method).count()
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.st().posted.clone()
    }

    /// Messages posted in `channel`.
    pub fn posted_in(&self, channel: &str) -> Vec<Posted> {
        self.posted().into_iter().filter(|p| p.channel == channel).collect()
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.s.stop.store(true, Ordering::SeqCst);
        fake_http::wake(self.s.api_port);
        fake_http::wake(self.s.ws_port);
    }
}

fn stopped(s: &Shared) -> bool {
    s.stop.load(Ordering::SeqCst)
}

impl Shared {
    /// Queues an `events_api` envelope carrying `event`; returns its envelope id.
    fn push_event(&self, event: Value) -> String {
        let mut st = self.st.lock().unwrap();
        st.next_id += 1;
        let id = format!("env-{:04}", st.next_id);
        let frame = json!({"envelope_id": id, "type": "events_api", "accepts_response_payload": false,
            "payload": {"token": "verif", "team_id": "T0TEAM", "api_app_id": "A0TEST", "type": "event_callback",
                        "event_id": format!("Ev{:04}", st.next_id), "event_time": 1_700_000_000, "event": event}});
        st.pending.insert(id.clone(), Pending { frame, attempts: 0, sent_at: None });
        id
    }

    /// Sends every envelope that is new or whose ack is overdue to the newest open socket.
    fn deliver_due(&self) {
        let mut st = self.st.lock().unwrap();
        let st = &mut *st;
        let Some(conn) = st.conns.iter().rev().find(|c| c.open) else { return };
        let now = Instant::now();
        for (id, p) in st.pending.iter_mut() {
            if p.sent_at.is_some_and(|at| now < at + self.ack_timeout) {
                continue;
            }
            if p.sent_at.is_some() {
                p.attempts += 1;
            }
            let mut frame = p.frame.clone();
            frame["retry_attempt"] = json!(p.attempts);
            frame["retry_reason"] = json!(if p.attempts > 0 { "timeout" } else { "" });
            if conn.tx.send(Cmd::Send(frame.to_string())).is_ok() {
                p.sent_at = Some(now);
                st.deliveries.push(Delivery { envelope_id: id.clone(), retry_attempt: p.attempts, conn: conn.id });
            }
        }
    }

    fn ack(&self, text: &str, conn: usize) {
        let Ok(v) = serde_json::from_str::<Value>(text) else { return };
        let Some(id) = v["envelope_id"].as_str() else { return };
        let mut st = self.st.lock().unwrap();
        if st.drop_acks > 0 {
            st.drop_acks -= 1;
            return;
        }
        if st.pending.remove(id).is_some() {
            st.acks.push((id.to_string(), conn));
        }
    }
}

// ---- Web API ----------------------------------------------------------------------------------

fn answer(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: Value) {
    fake_http::respond(stream, status, "application/json; charset=utf-8", headers, body.to_string().as_bytes());
}

fn serve_api(s: Arc<Shared>, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(req) = fake_http::read_request(&mut stream, fake_http::MAX_BODY) else { return };
    let method = req.path().strip_prefix("/api/").unwrap_or("").to_string();
    s.st.lock().unwrap().calls.push(method.clone());
    if req.method != "POST" {
        return answer(&mut stream, 405, &[], json!({"ok": false, "error": "method_not_allowed"}));
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
    let token = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("").to_string();
    let app_call = method == "apps.connections.open";
    let (expected, valid) = {
        let st = s.st.lock().unwrap();
        if app_call { (APP_TOKEN, st.app_token_valid) } else { (BOT_TOKEN, st.bot_token_valid) }
    };
    if token.is_empty() {
        return answer(&mut stream, 200, &[], json!({"ok": false, "error": "not_authed"}));
    }
    if token != expected || !valid {
        return answer(&mut stream, 200, &[], json!({"ok": false, "error": "invalid_auth"}));
    }
    match method.as_str() {
        "auth.test" => answer(
            &mut stream,
            200,
            &[],
            json!({"ok": true, "url": "https://fake.slack.com/", "team": "Fake Team",
            "user": "ocbot", "team_id": "T0TEAM", "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": false}),
        ),
        "apps.connections.open" => connections_open(&s, &mut stream),
        "chat.postMessage" => post_message(&s, &mut stream, &body),
        "conversations.open" => {
            let user = body["users"].as_str().unwrap_or("");
            match user.strip_prefix('U') {
                Some(rest) if !rest.is_empty() && !user.contains(',') => {
                    answer(&mut stream, 200, &[], json!({"ok": true, "channel": {"id": format!("D{rest}")}}))
                }
                _ => answer(&mut stream, 200, &[], json!({"ok": false, "error": "user_not_found"})),
            }
        }
        _ => answer(&mut stream, 200, &[], json!({"ok": false, "error": "unknown_method"})),
    }
}

fn connections_open(s: &Shared, stream: &mut TcpStream) {
    let delay = s.st.lock().unwrap().open_delay;
    std::thread::sleep(delay);
    let ticket = {
        let mut st = s.st.lock().unwrap();
        st.next_id += 1;
        let t = format!("t{}", st.next_id);
        st.tickets.insert(t.clone());
        t
    };
    let url = format!("ws://127.0.0.1:{}/link/?ticket={ticket}&app_id=A0TEST", s.ws_port);
    answer(stream, 200, &[], json!({"ok": true, "url": url}));
}

fn post_message(s: &Arc<Shared>, stream: &mut TcpStream, body: &Value) {
    let fault = s.st.lock().unwrap().faults.pop_front();
    match fault {
        Some(PostFault::RateLimited(secs)) => {
            return answer(stream, 429, &[("Retry-After", &secs.to_string())], json!({"ok": false, "error": "ratelimited"}));
        }
        Some(PostFault::Error(e)) => return answer(stream, 200, &[], json!({"ok": false, "error": e})),
        Some(PostFault::Stall) => {
            while !stopped(s) {
                std::thread::sleep(POLL);
            }
            return;
        }
        None => {}
    }
    let channel = body["channel"].as_str().unwrap_or("").to_string();
    let text = body["text"].as_str().unwrap_or("").to_string();
    if channel.is_empty() || !channel.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return answer(stream, 200, &[], json!({"ok": false, "error": "channel_not_found"}));
    }
    if text.is_empty() {
        return answer(stream, 200, &[], json!({"ok": false, "error": "no_text"}));
    }
    let thread_ts = body["thread_ts"].as_str().map(str::to_string);
    let ts = {
        let mut st = s.st.lock().unwrap();
        st.next_id += 1;
        st.posted.push(Posted { channel: channel.clone(), text: text.clone(), thread_ts: thread_ts.clone(), at: Instant::now() });
        format!("1700000000.{:06}", st.next_id)
    };
    // The bot's own post comes back as an event, as in a channel the bot is a member of.
    let mut echo = json!({"type": "message", "channel": channel, "user": BOT_USER, "bot_id": BOT_ID, "text": text, "ts": ts,
                          "channel_type": if channel.starts_with('D') { "im" } else { "channel" }});
    if let Some(t) = &thread_ts {
        echo["thread_ts"] = json!(t);
    }
    s.push_event(echo);
    answer(
        stream,
        200,
        &[],
        json!({"ok": true, "channel": channel, "ts": ts, "message": {"type": "message", "text": text,
                                                                                        "bot_id": BOT_ID, "user": BOT_USER, "ts": ts}}),
    );
}

// ---- Socket Mode ------------------------------------------------------------------------------

// The handshake callback's error type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
fn serve_socket(s: Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let config = WebSocketConfig::default().max_frame_size(Some(1 << 20)).max_message_size(Some(1 << 20));
    let check = |req: &WsRequest, resp: WsResponse| -> Result<WsResponse, ErrorResponse> {
        let ticket = req.uri().query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("ticket=")).unwrap_or("");
        // A ticket is good once, as Slack's URLs are.
        if req.uri().path() == "/link/" && s.st.lock().unwrap().tickets.remove(ticket) {
            Ok(resp)
        } else {
            let mut refused = ErrorResponse::new(Some("invalid ticket".into()));
            *refused.status_mut() = tungstenite::http::StatusCode::UNAUTHORIZED;
            Err(refused)
        }
    };
    let Ok(mut ws) = tungstenite::accept_hdr_with_config(stream, check, Some(config)) else { return };
    let _ = ws.get_ref().set_read_timeout(Some(POLL));
    let (tx, rx) = mpsc::channel();
    let hello = json!({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake-applink", "build_number": 1,
                       "approximate_connection_time": 18060}, "connection_info": {"app_id": "A0TEST"}});
    if ws.send(Message::text(hello.to_string())).is_err() {
        return;
    }
    let id = {
        let mut st = s.st.lock().unwrap();
        let id = st.conns.len() + 1;
        st.conns.push(Conn { id, tx, open: true });
        id
    };
    run_socket(&s, &mut ws, &rx, id);
    if let Some(c) = s.st.lock().unwrap().conns.iter_mut().find(|c| c.id == id) {
        c.open = false;
    }
}

fn run_socket(s: &Shared, ws: &mut WebSocket<TcpStream>, rx: &mpsc::Receiver<Cmd>, id: usize) {
    while !stopped(s) {
        while let Ok(cmd) = rx.try_recv() {
            match cmd {
                Cmd::Send(text) => {
                    if ws.send(Message::text(text)).is_err() {
                        return;
                    }
                }
                Cmd::Silent => {
                    // Half-open: nothing read (so no pong), nothing written, socket kept.
                    while !stopped(s) {
                        std::thread::sleep(POLL);
                    }
                    return;
                }
            }
        }
        match ws.read() {
            Ok(Message::Text(t)) => s.ack(t.as_str(), id),
            Ok(Message::Close(_)) => {
                s.st.lock().unwrap().closed_by_client.push(id);
                // tungstenite answered the close; drain until the socket ends.
                let deadline = Instant::now() + Duration::from_secs(1);
                while Instant::now() < deadline && ws.read().is_ok() {}
                return;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}
