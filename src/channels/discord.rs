//! Discord through the gateway (WebSocket, API v10, JSON encoding, no compression) and the REST
//! API (`POST /channels/{id}/messages`, DMs through `POST /users/@me/channels`).
//!
//! The receiver holds one gateway connection: Hello, then Identify (or Resume), heartbeats with
//! the first one jittered, and a watchdog that drops the connection when a heartbeat goes
//! unacknowledged (a zombie connection) and resumes the session. A message is recorded in the
//! channel journal before its sequence number counts as seen, so a message whose recording
//! failed is replayed by the Resume that follows. The resume state (session, sequence, resume
//! URL) is kept in the journal cursor, so after a restart the gateway resumes and Discord replays
//! what it buffered meanwhile. Close codes that retrying cannot fix (4004 and 4010–4014) stop
//! the channel with a clear `lastError`.
//!
//! Outbound messages carry a nonce with `enforce_nonce`, so a resend after a crash or a lost
//! response is deduplicated by Discord. Rate limits are honoured: a 429 is a transient error with
//! Discord's `retry_after`, and an exhausted bucket (`X-RateLimit-Remaining: 0`) holds the next
//! request back until `X-RateLimit-Reset-After`. "typing…" is a courtesy: it is skipped while
//! requests are held back, and its own small bucket never holds an answer back.

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use smol::future::FutureExt;
use smol::stream::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::journal::Inbound;
use super::{ApiReply, Backoff, HealthState, Link, SendError, call_json};
use crate::config::channels as cfg;
use crate::config::secret::Secret;
use crate::limits;
use crate::net::client::{self, Stream};

/// Gateway intents: GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES and the privileged MESSAGE_CONTENT
/// (without it, message text arrives empty).
const INTENTS: u64 = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15);

/// The query every gateway URL gets: API v10, JSON, and no `compress` (we carry no zlib).
const GATEWAY_QUERY: &str = "/?v=10&encoding=json";

/// Discord asks bots for a `DiscordBot (url, version)` user agent.
const USER_AGENT: &str = concat!("DiscordBot (https://github.com/openclaw/openclaw, ", env!("CARGO_PKG_VERSION"), ")");

/// Gateway opcodes (Discord developer docs, "Opcodes and Status Codes").
mod op {
    pub const DISPATCH: u64 = 0;
    pub const HEARTBEAT: u64 = 1;
    pub const IDENTIFY: u64 = 2;
    pub const RESUME: u64 = 6;
    pub const RECONNECT: u64 = 7;
    pub const INVALID_SESSION: u64 = 9;
    pub const HELLO: u64 = 10;
    pub const HEARTBEAT_ACK: u64 = 11;
}

#[derive(Clone)]
pub struct Client {
    token: Secret,
    /// REST base without a trailing slash (`https://discord.com/api/v10`).
    api_root: String,
    gateway_url: Option<String>,
    rest: Arc<Mutex<RestState>>,
}

/// What the REST calls of one client share.
#[derive(Default)]
struct RestState {
    /// DM channel per user id (`POST /users/@me/channels` answers the same channel every time),
    /// at most [`limits::DISCORD_DM_CHANNELS_CACHED`].
    dm_channels: HashMap<String, String>,
    /// No REST request before this instant: the last answer said its bucket is empty.
    not_before: Option<Instant>,
}

/// A REST call that failed.
#[derive(Debug)]
struct RestError {
    /// HTTP status of the answer; 0 when none came.
    status: u16,
    message: String,
    retry_after: Option<Duration>,
}

impl From<RestError> for SendError {
    fn from(e: RestError) -> SendError {
        match e.status {
            0 => SendError::Transient { message: e.message, retry_after: None },
            status => SendError::from_status(status, e.message, e.retry_after),
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Channel(String),
    User(String),
}

/// A Discord id (a u64 in decimal). Ids go into REST paths, so nothing else is taken for one.
fn snowflake(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `channel:<id>`, `user:<id>`, `<@id>` or a bare channel id (also with a `discord:` prefix).
pub(crate) fn target(to: &str) -> Result<Target, String> {
    let t = to.trim();
    let t = t.strip_prefix("discord:").unwrap_or(t);
    let (user, id) = if let Some(id) = t.strip_prefix("channel:") {
        (false, id)
    } else if let Some(id) = t.strip_prefix("user:") {
        (true, id)
    } else if let Some(id) = t.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
        (true, id.strip_prefix('!').unwrap_or(id))
    } else {
        (false, t)
    };
    if !snowflake(id) {
        return Err(format!("{to:?} is not a Discord target (a channel id, channel:<id> or user:<id>)"));
    }
    Ok(if user { Target::User(id.to_string()) } else { Target::Channel(id.to_string()) })
}

impl Client {
    pub fn new(c: &cfg::Discord) -> Result<Client, String> {
        let Some(token) = &c.token else {
            return Err("no bot token: set channels.discord.token (or DISCORD_BOT_TOKEN)".into());
        };
        Ok(Client {
            token: token.clone(),
            api_root: c.api_root.trim_end_matches('/').to_string(),
            gateway_url: c.gateway_url.clone().filter(|u| !u.trim().is_empty()),
            rest: Arc::default(),
        })
    }

    fn rest_state(&self) -> MutexGuard<'_, RestState> {
        self.rest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How much longer the last answer asked us to hold requests back.
    fn held_for(&self) -> Option<Duration> {
        let left = self.rest_state().not_before?.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// One REST call, whatever its status; an error only when no answer came.
    async fn call(&self, method: &'static str, path: &str, body: Option<&Value>) -> Result<ApiReply, RestError> {
        let url = format!("{}{path}", self.api_root);
        let auth = format!("Bot {}", self.token.expose());
        let headers = [("Authorization", auth.as_str()), ("User-Agent", USER_AGENT)];
        call_json(method, &url, &headers, body, limits::CHANNEL_REQUEST_TIMEOUT).await.map_err(|e| RestError {
            status: 0,
            message: format!("Discord {method} {path}: {e}"),
            retry_after: None,
        })
    }

    /// One REST call, after the rate-limit pause the previous answer asked for. Non-2xx answers
    /// become errors carrying Discord's message and `retry_after`.
    async fn rest(&self, method: &'static str, path: &str, body: Option<&Value>) -> Result<ApiReply, RestError> {
        if let Some(wait) = self.held_for() {
            smol::Timer::after(wait).await;
        }
        let reply = self.call(method, path, body).await?;
        if reply.header("x-ratelimit-remaining").map(str::trim) == Some("0") {
            let reset = reply.header("x-ratelimit-reset-after").and_then(seconds).unwrap_or(limits::DISCORD_BUCKET_RESET_DEFAULT);
            self.rest_state().not_before = Some(Instant::now() + reset);
        }
        if (200..300).contains(&reply.status) {
            return Ok(reply);
        }
        Err(RestError {
            status: reply.status,
            message: format!("Discord {method} {path}: {} ({})", error_text(&reply.body), reply.status),
            retry_after: reply.body["retry_after"].as_f64().and_then(secs).or(reply.retry_after),
        })
    }

    /// The channel to post in: the target itself, or the user's DM channel (opened once).
    async fn channel(&self, to: &str) -> Result<String, SendError> {
        let user = match target(to).map_err(SendError::Permanent)? {
            Target::Channel(id) => return Ok(id),
            Target::User(id) => id,
        };
        if let Some(c) = self.rest_state().dm_channels.get(&user) {
            return Ok(c.clone());
        }
        let reply = self.rest("POST", "/users/@me/channels", Some(&json!({"recipient_id": user}))).await?;
        let Some(id) = reply.body["id"].as_str().filter(|id| snowflake(id)) else {
            return Err(SendError::Transient { message: "Discord opened a DM channel without a valid id".into(), retry_after: None });
        };
        let mut rest = self.rest_state();
        if rest.dm_channels.len() >= limits::DISCORD_DM_CHANNELS_CACHED && !rest.dm_channels.contains_key(&user) {
            // Any one may go: forgetting it costs one request the next time.
            if let Some(old) = rest.dm_channels.keys().next().cloned() {
                rest.dm_channels.remove(&old);
            }
        }
        rest.dm_channels.insert(user, id.to_string());
        Ok(id.to_string())
    }

    pub async fn send(&self, to: &str, text: &str, reply_to: Option<&str>, nonce: &str) -> Result<String, SendError> {
        let channel = self.channel(to).await?;
        let mut body = json!({"content": text, "nonce": nonce, "enforce_nonce": true, "allowed_mentions": {"parse": []}});
        if let Some(r) = reply_to {
            body["message_reference"] = json!({"message_id": r, "fail_if_not_exists": false});
        }
        let reply = self.rest("POST", &format!("/channels/{channel}/messages"), Some(&body)).await?;
        match reply.body["id"].as_str() {
            Some(id) => Ok(id.to_string()),
            None => {
                Err(SendError::Transient { message: "Discord accepted the message without returning its id".into(), retry_after: None })
            }
        }
    }

    /// "typing…" for about 10 s. Only a courtesy: skipped while requests are held back, and its
    /// answer's bucket is not noted (typing has a small one, which must not hold answers back).
    pub async fn typing(&self, to: &str) {
        if self.held_for().is_some() {
            return;
        }
        if let Ok(channel) = self.channel(to).await {
            let _ = self.call("POST", &format!("/channels/{channel}/typing"), None).await;
        }
    }

    pub async fn probe(&self) -> Result<Value, String> {
        let me = self.rest("GET", "/users/@me", None).await.map_err(|e| e.message)?.body;
        Ok(json!({"bot": {"id": me["id"], "username": me["username"]}}))
    }

    /// The gateway to Identify on: the configured URL, or the one `GET /gateway/bot` names.
    async fn gateway(&self) -> Result<String, RestError> {
        if let Some(u) = &self.gateway_url {
            return Ok(u.clone());
        }
        let reply = self.rest("GET", "/gateway/bot", None).await?;
        match reply.body["url"].as_str() {
            Some(u) if !u.is_empty() => Ok(u.to_string()),
            _ => Err(RestError { status: reply.status, message: "GET /gateway/bot answered without a url".into(), retry_after: None }),
        }
    }
}

/// Seconds (`"1.25"`) as a duration; see [`secs`].
pub(crate) fn seconds(text: &str) -> Option<Duration> {
    text.trim().parse::<f64>().ok().and_then(secs)
}

/// Seconds as a duration, cut at [`limits::CHANNEL_RETRY_AFTER_MAX`] (no longer pause is
/// honoured anyway); `None` for anything negative or not a number.
fn secs(s: f64) -> Option<Duration> {
    (s >= 0.0).then(|| Duration::from_secs_f64(s.min(limits::CHANNEL_RETRY_AFTER_MAX.as_secs_f64())))
}

/// Discord's error text: `message`, with the first field error of an "Invalid Form Body".
pub(crate) fn error_text(body: &Value) -> String {
    fn first_error(v: &Value, path: &mut Vec<String>) -> Option<String> {
        let map = v.as_object()?;
        if let Some(m) = map.get("_errors").and_then(|e| e[0]["message"].as_str()) {
            return Some(format!("{}: {m}", path.join(".")));
        }
        for (k, child) in map {
            path.push(k.clone());
            if let Some(found) = first_error(child, path) {
                return Some(found);
            }
            path.pop();
        }
        None
    }
    let message = body["message"].as_str().unwrap_or("request failed").to_string();
    match first_error(&body["errors"], &mut Vec::new()) {
        Some(detail) => format!("{message}: {detail}"),
        None => message,
    }
}

// ---- the gateway connection ------------------------------------------------------------------

/// What a restart needs to Resume, kept in the journal cursor as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResumeState {
    session_id: String,
    seq: u64,
    resume_url: String,
    /// Who we are (READY says it; a Resume does not), for mentions and our own messages.
    #[serde(default)]
    bot_id: String,
    #[serde(default)]
    bot_name: String,
}

impl ResumeState {
    fn parse(cursor: &str) -> Option<ResumeState> {
        serde_json::from_str::<ResumeState>(cursor).ok().filter(|s| !s.session_id.is_empty())
    }

    fn to_cursor(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The gateway session a Resume continues.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Session {
    id: String,
    /// Where to Resume; empty means the gateway Identify uses.
    resume_url: String,
}

/// What the receiver knows across connections.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The session to Resume; `None` means the next connection Identifies.
    session: Option<Session>,
    /// Last sequence number handled on the session (heartbeats and Resume carry it).
    seq: Option<u64>,
    bot_id: String,
    bot_name: String,
    /// Where `GET /gateway/bot` (or the config) said to Identify.
    gateway: Option<String>,
}

impl State {
    /// What a saved journal cursor restores (a fresh start without one).
    pub(crate) fn restore(cursor: Option<&str>) -> State {
        let Some(r) = cursor.and_then(ResumeState::parse) else { return State::default() };
        State {
            session: Some(Session { id: r.session_id, resume_url: r.resume_url }),
            seq: Some(r.seq),
            bot_id: r.bot_id,
            bot_name: r.bot_name,
            gateway: None,
        }
    }

    /// The journal cursor that resumes after `seq` (after the current sequence when `None`).
    pub(crate) fn cursor_at(&self, seq: Option<u64>) -> Option<String> {
        let s = self.session.as_ref()?;
        let state = ResumeState {
            session_id: s.id.clone(),
            seq: seq.or(self.seq).unwrap_or(0),
            resume_url: s.resume_url.clone(),
            bot_id: self.bot_id.clone(),
            bot_name: self.bot_name.clone(),
        };
        Some(state.to_cursor())
    }
}

/// How a connection ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Reconnect and Resume the session if there is one (a drop, a zombie, op 7, a close that
    /// allows it).
    Resume(String),
    /// The session is gone (op 9 `false`, 4007, 4009): Identify afresh after the wait Discord
    /// asks for (1–5 s).
    Identify(String),
    /// Retrying cannot help: stop the channel with this message and health state.
    Fatal(String, HealthState),
}

type Ws = WebSocketStream<Stream>;

/// The receiver: one gateway connection at a time until a fatal error stops the channel.
pub async fn receive(client: Client, link: Link) {
    let mut backoff = Backoff::new(&link.tuning);
    let mut state = State::restore(link.cursor().as_deref());
    loop {
        let mut ready_at: Option<Instant> = None;
        let end = connection(&client, &link, &mut state, &mut ready_at).await;
        if ready_at.is_some_and(|at| at.elapsed() >= link.tuning.healthy_after) {
            backoff.reset();
        }
        match end {
            End::Fatal(why, health) => {
                link.fatal(&why, health);
                return;
            }
            End::Resume(why) => {
                link.disconnected(&why);
                link.pause(&mut backoff, None).await;
            }
            End::Identify(why) => {
                state.session = None;
                state.seq = None;
                link.disconnected(&why);
                // Discord: wait a random 1–5 s before identifying again (scaled down with the
                // backoff in tests).
                let wait = link.tuning.backoff_min.mul_f64(1.0 + 4.0 * crate::ids::random_fraction());
                link.pause(&mut backoff, Some(wait)).await;
            }
        }
    }
}

/// One gateway connection, from connect to its end. `ready_at` is set once READY or RESUMED
/// arrives.
async fn connection(client: &Client, link: &Link, state: &mut State, ready_at: &mut Option<Instant>) -> End {
    let url = match &state.session {
        Some(s) if !s.resume_url.is_empty() => s.resume_url.clone(),
        _ => match &state.gateway {
            Some(g) => g.clone(),
            None => match client.gateway().await {
                Ok(g) => {
                    state.gateway = Some(g.clone());
                    g
                }
                Err(e) if e.status == 401 => {
                    return End::Fatal(
                        format!("Discord rejected the bot token ({}); check channels.discord.token", e.message),
                        HealthState::AuthFailed,
                    );
                }
                Err(e) => return End::Resume(format!("cannot find the gateway: {}", e.message)),
            },
        },
    };
    let mut ws = match open(&url).await {
        Ok(ws) => ws,
        Err(e) => {
            // The next attempt asks for the gateway again, and resumes there rather than on a
            // resume URL that stopped answering.
            state.gateway = None;
            if let Some(s) = &mut state.session {
                s.resume_url.clear();
            }
            return End::Resume(format!("cannot connect to the Discord gateway: {e}"));
        }
    };
    let interval = match hello(&mut ws).await {
        Ok(i) => i,
        Err(e) => return e,
    };
    link.activity();
    let hello_at = Instant::now();
    let handshake = match &state.session {
        Some(s) => {
            json!({"op": op::RESUME, "d": {"token": client.token.expose(), "session_id": s.id, "seq": state.seq.unwrap_or(0)}})
        }
        _ => json!({"op": op::IDENTIFY, "d": {
            "token": client.token.expose(),
            "intents": INTENTS,
            "properties": {"os": "linux", "browser": "openclaw", "device": "openclaw"},
        }}),
    };
    if let Err(e) = put(&mut ws, &handshake).await {
        return End::Resume(format!("gateway connection lost: {e}"));
    }
    let mut next_beat = hello_at + interval.mul_f64(crate::ids::random_fraction());
    let mut awaiting_ack = false;
    loop {
        if Instant::now() >= next_beat {
            if awaiting_ack {
                return End::Resume(format!("no heartbeat ACK within {} ms; zombie connection", interval.as_millis()));
            }
            if let Err(e) = put(&mut ws, &json!({"op": op::HEARTBEAT, "d": state.seq})).await {
                return End::Resume(format!("gateway connection lost: {e}"));
            }
            awaiting_ack = true;
            next_beat = Instant::now() + interval;
        }
        let frame = async { Some(ws.next().await) }
            .or(async {
                smol::Timer::at(next_beat).await;
                None
            })
            .await;
        let text = match frame {
            None => continue,
            Some(Some(Ok(Message::Text(t)))) => t,
            Some(Some(Ok(Message::Close(frame)))) => {
                let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                return closed(code, &reason);
            }
            Some(Some(Ok(Message::Binary(_)))) => {
                return End::Resume("the gateway sent a binary frame (compressed or ETF); reconnecting".into());
            }
            Some(Some(Ok(_))) => continue,
            Some(Some(Err(e))) => return End::Resume(format!("gateway connection lost: {e}")),
            Some(None) => return End::Resume("the gateway closed the connection".into()),
        };
        let Ok(payload) = serde_json::from_str::<Value>(&text) else {
            return End::Resume("the gateway sent a payload that is not JSON".into());
        };
        match payload["op"].as_u64() {
            Some(op::DISPATCH) => {
                let seq = payload["s"].as_u64();
                let t = payload["t"].as_str().unwrap_or_default();
                if let Err(e) = dispatch(link, state, t, &payload["d"], seq, ready_at).await {
                    return e;
                }
            }
            Some(op::HEARTBEAT) => {
                if let Err(e) = put(&mut ws, &json!({"op": op::HEARTBEAT, "d": state.seq})).await {
                    return End::Resume(format!("gateway connection lost: {e}"));
                }
                awaiting_ack = true;
            }
            Some(op::HEARTBEAT_ACK) => {
                awaiting_ack = false;
                link.activity();
            }
            Some(op::RECONNECT) => return End::Resume("Discord asked for a reconnect (op 7)".into()),
            Some(op::INVALID_SESSION) => {
                return if payload["d"] == json!(true) {
                    End::Resume("Discord invalidated the session (op 9, resumable)".into())
                } else {
                    End::Identify("Discord invalidated the session (op 9); identifying again".into())
                };
            }
            _ => {}
        }
    }
}

/// Handles one dispatch; `seq` counts as seen only once the event is handled, so a message that
/// could not be recorded is replayed by the Resume that follows.
pub(crate) async fn dispatch(
    link: &Link,
    state: &mut State,
    t: &str,
    d: &Value,
    seq: Option<u64>,
    ready_at: &mut Option<Instant>,
) -> Result<(), End> {
    match t {
        "READY" => {
            let id = d["session_id"].as_str().unwrap_or_default();
            state.session = (!id.is_empty())
                .then(|| Session { id: id.to_string(), resume_url: d["resume_gateway_url"].as_str().unwrap_or_default().to_string() });
            state.seq = seq;
            state.bot_id = d["user"]["id"].as_str().unwrap_or_default().to_string();
            state.bot_name = d["user"]["username"].as_str().unwrap_or_default().to_string();
            *ready_at = Some(Instant::now());
            link.connected(Some(state.bot_name.clone()).filter(|n| !n.is_empty()));
            save_cursor(link, state).await;
        }
        "RESUMED" => {
            if seq.is_some() {
                state.seq = seq;
            }
            *ready_at = Some(Instant::now());
            link.connected(Some(state.bot_name.clone()).filter(|n| !n.is_empty()));
            save_cursor(link, state).await;
        }
        "MESSAGE_CREATE" => {
            if let Some(mut msg) = inbound(d, &state.bot_id) {
                // Saved with the message: resuming from it replays what came after. Built only
                // for a message we keep, not for bots' (our own answers among them) or system
                // messages.
                msg.cursor = state.cursor_at(seq);
                if let Err(e) = link.accept(msg).await {
                    return Err(End::Resume(format!("cannot record an incoming message: {e}")));
                }
            }
            if seq.is_some() {
                state.seq = seq;
            }
        }
        _ => {
            if seq.is_some() {
                state.seq = seq;
            }
        }
    }
    Ok(())
}

async fn save_cursor(link: &Link, state: &State) {
    if let Some(c) = state.cursor_at(None)
        && let Err(e) = link.set_cursor(c).await
    {
        // Not fatal: without it a restart identifies afresh instead of resuming.
        log::warn!(target: "channels", "{}: cannot save the gateway session: {e}", link.kind);
    }
}

/// A close from Discord: fatal codes stop the channel, the rest reconnect.
pub(crate) fn closed(code: u16, reason: &str) -> End {
    let said = if reason.is_empty() { String::new() } else { format!(": {reason}") };
    match code {
        4004 => End::Fatal("Discord rejected the bot token (4004 Authentication failed); check channels.discord.token".into(), HealthState::AuthFailed),
        4010 => End::Fatal(format!("Discord refused the shard (4010 Invalid shard{said})"), HealthState::Error),
        4011 => End::Fatal(format!("the bot is in too many guilds for one connection (4011 Sharding required{said})"), HealthState::Error),
        4012 => End::Fatal(format!("Discord refused gateway API v10 (4012 Invalid API version{said})"), HealthState::Error),
        4013 => End::Fatal(format!("Discord refused the gateway intents (4013 Invalid intents{said})"), HealthState::Error),
        4014 => End::Fatal(
            "the bot lacks the Message Content intent: enable it in the Developer Portal (Bot → Privileged Gateway Intents) (4014 Disallowed intents)"
                .into(),
            HealthState::Error,
        ),
        4007 | 4009 => End::Identify(format!("the gateway session ended ({code}{said}); identifying again")),
        _ => End::Resume(format!("the gateway closed the connection ({code}{said})")),
    }
}

/// Connects and upgrades: `wss://` goes through TLS, `ws://` stays plain.
async fn open(gateway: &str) -> std::io::Result<Ws> {
    use std::io::{Error, ErrorKind};
    let g = gateway.trim();
    let (https, rest) = if let Some(r) = g.strip_prefix("wss://") {
        (true, r)
    } else if let Some(r) = g.strip_prefix("ws://") {
        (false, r)
    } else {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{g:?} is not a ws:// or wss:// URL")));
    };
    let url = client::Url::parse(&format!("{}://{rest}", if https { "https" } else { "http" }))
        .map_err(|e| Error::new(ErrorKind::InvalidInput, e))?;
    let base = url.path.split('?').next().unwrap_or("").trim_end_matches('/');
    let path = format!("{base}{GATEWAY_QUERY}");
    let within = limits::CHANNEL_CONNECT_TIMEOUT;
    let started = Instant::now();
    let mut stream = client::connect(&url, within).await?;
    let left = within.saturating_sub(started.elapsed());
    let leftover = crate::net::ws::client_handshake(&mut stream, &url.authority(), &path, &[("User-Agent", USER_AGENT)])
        .or(async {
            smol::Timer::after(left).await;
            Err(Error::new(ErrorKind::TimedOut, format!("the WebSocket upgrade timed out after {} ms", within.as_millis())))
        })
        .await?;
    // Discord frames we send are small (heartbeats, identify); what waits unsent stays small too.
    let config = crate::net::ws::config(limits::DISCORD_MAX_FRAME_BYTES, limits::WS_WRITE_BUFFER_MAX);
    Ok(WebSocketStream::from_partially_read(stream, leftover, Role::Client, Some(config)).await)
}

/// Waits for Hello; returns the heartbeat interval.
async fn hello(ws: &mut Ws) -> Result<Duration, End> {
    let limit = limits::CHANNEL_CONNECT_TIMEOUT;
    let payload = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str::<Value>(&t).unwrap_or(Value::Null)),
                Some(Ok(Message::Close(Some(f)))) => return Err(closed(u16::from(f.code), &f.reason)),
                Some(Ok(Message::Close(None))) => return Err(closed(1005, "")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(End::Resume(format!("gateway connection lost before Hello: {e}"))),
                None => return Err(End::Resume("the gateway closed the connection before Hello".into())),
            }
        }
    }
    .or(async {
        smol::Timer::after(limit).await;
        Err(End::Resume(format!("no Hello from the gateway within {} ms", limit.as_millis())))
    })
    .await?;
    hello_interval(&payload)
}

/// The heartbeat interval a Hello payload names, within the bounds we accept.
pub(crate) fn hello_interval(payload: &Value) -> Result<Duration, End> {
    let ms = payload["d"]["heartbeat_interval"].as_f64().filter(|_| payload["op"].as_u64() == Some(op::HELLO));
    match ms.and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok()) {
        Some(i) if (limits::DISCORD_HEARTBEAT_MIN..=limits::DISCORD_HEARTBEAT_MAX).contains(&i) => Ok(i),
        _ => Err(End::Resume(format!(
            "the gateway did not open with a valid Hello: {}",
            payload.to_string().chars().take(200).collect::<String>()
        ))),
    }
}

/// Sends one payload, bounded in time (a peer that stopped reading must not hang us).
async fn put(ws: &mut Ws, payload: &Value) -> Result<(), String> {
    let limit = limits::DISCORD_GATEWAY_WRITE_TIMEOUT;
    async { ws.send(Message::text(payload.to_string())).await.map_err(|e| e.to_string()) }
        .or(async {
            smol::Timer::after(limit).await;
            Err(format!("a write stalled for {} ms", limit.as_millis()))
        })
        .await
}

/// `content` without our mention (`<@id>` or the legacy `<@!id>`), and whether it had one.
fn strip_mention(content: &str, bot_id: &str) -> (String, bool) {
    if bot_id.is_empty() {
        return (content.trim().to_string(), false);
    }
    let mut text = content.to_string();
    let mut found = false;
    for m in [format!("<@{bot_id}>"), format!("<@!{bot_id}>")] {
        if text.contains(&m) {
            found = true;
            text = text.replace(&m, "");
        }
    }
    (text.trim().to_string(), found)
}

/// A MESSAGE_CREATE the agent should see: from a person, with text.
fn inbound(d: &Value, bot_id: &str) -> Option<Inbound> {
    // 0 is a plain message and 19 a reply; the others are system messages (joins, pins, …).
    if !matches!(d["type"].as_u64(), None | Some(0) | Some(19)) {
        return None;
    }
    let author = &d["author"];
    let sender = author["id"].as_str()?.to_string();
    if author["bot"] == true || sender == bot_id {
        return None;
    }
    let id = d["id"].as_str()?.to_string();
    let chat = d["channel_id"].as_str()?.to_string();
    let group = d["guild_id"].as_str().is_some();
    let (text, in_text) = strip_mention(d["content"].as_str().unwrap_or_default(), bot_id);
    if text.is_empty() {
        return None;
    }
    let in_mentions = !bot_id.is_empty() && d["mentions"].as_array().is_some_and(|m| m.iter().any(|u| u["id"].as_str() == Some(bot_id)));
    let label = author["global_name"].as_str().or(author["username"].as_str()).unwrap_or(&sender).to_string();
    Some(Inbound {
        reply_to: group.then(|| id.clone()),
        id,
        chat,
        sender,
        sender_label: label,
        group,
        mentioned: in_text || in_mentions,
        text,
        cursor: None,
        received_at: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_are_guilds_messages_dms_and_content() {
        assert_eq!(INTENTS, 37377);
    }

    #[test]
    fn targets() {
        assert_eq!(target("123"), Ok(Target::Channel("123".into())));
        assert_eq!(target("channel:123"), Ok(Target::Channel("123".into())));
        assert_eq!(target("discord:channel:123"), Ok(Target::Channel("123".into())));
        assert_eq!(target("user:42"), Ok(Target::User("42".into())));
        assert_eq!(target("<@!42>"), Ok(Target::User("42".into())));
        for bad in ["", "user:", "channel:../../users/@me", "12a", "general", "user:123456789012345678901"] {
            assert!(target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mentions_are_detected_and_stripped() {
        let bot = "900";
        assert_eq!(strip_mention("<@900> hi", bot), ("hi".into(), true));
        assert_eq!(strip_mention("hey <@!900>", bot), ("hey".into(), true));
        assert_eq!(strip_mention("<@9001> hi", bot), ("<@9001> hi".into(), false));
        let msg = |content: &str, guild: bool, mentions: Value| {
            let mut d = json!({"id": "5", "channel_id": "7", "type": 0, "content": content, "mentions": mentions,
                               "author": {"id": "11", "username": "ann", "global_name": "Ann"}});
            if guild {
                d["guild_id"] = json!("3");
            }
            d
        };
        let m = inbound(&msg("<@900> what time is it", true, json!([{"id": "900"}])), bot).unwrap();
        assert_eq!((m.text.as_str(), m.chat.as_str(), m.sender.as_str(), m.sender_label.as_str()), ("what time is it", "7", "11", "Ann"));
        assert!(m.group && m.mentioned);
        assert_eq!(m.reply_to.as_deref(), Some("5"));
        let m = inbound(&msg("hello", true, json!([{"id": "900"}])), bot).unwrap();
        assert!(m.mentioned, "a reply ping lists us in mentions without the text");
        let dm = inbound(&msg("hello", false, json!([])), bot).unwrap();
        assert!(!dm.group && !dm.mentioned && dm.reply_to.is_none());
        assert!(inbound(&msg("", false, json!([])), bot).is_none(), "attachments only");
        assert!(inbound(&msg("<@900>", true, json!([])), bot).is_none(), "nothing but the mention");
        let mut by_bot = msg("hi", false, json!([]));
        by_bot["author"]["bot"] = json!(true);
        assert!(inbound(&by_bot, bot).is_none());
        let mut own = msg("hi", false, json!([]));
        own["author"]["id"] = json!("900");
        assert!(inbound(&own, bot).is_none());
        let mut join = msg("hi", true, json!([]));
        join["type"] = json!(7);
        assert!(inbound(&join, bot).is_none());
        let mut no_author = msg("hi", false, json!([]));
        no_author["author"] = json!(null);
        assert!(inbound(&no_author, bot).is_none(), "a message without an author id");
    }

    #[test]
    fn resume_state_round_trips_through_the_cursor() {
        let s = ResumeState {
            session_id: "abc".into(),
            seq: 42,
            resume_url: "wss://gateway-us-east1-b.discord.gg".into(),
            bot_id: "900".into(),
            bot_name: "bot".into(),
        };
        let cursor = s.to_cursor();
        let v: Value = serde_json::from_str(&cursor).unwrap();
        assert_eq!(
            (v["sessionId"].as_str(), v["seq"].as_u64(), v["resumeUrl"].as_str()),
            (Some("abc"), Some(42), Some("wss://gateway-us-east1-b.discord.gg"))
        );
        assert_eq!(ResumeState::parse(&cursor), Some(s.clone()));
        let mut state = State::restore(Some(&cursor));
        assert_eq!(state.session, Some(Session { id: "abc".into(), resume_url: "wss://gateway-us-east1-b.discord.gg".into() }));
        assert_eq!((state.seq, state.bot_id.as_str(), state.bot_name.as_str()), (Some(42), "900", "bot"));
        assert_eq!(state.cursor_at(None).as_deref(), Some(cursor.as_str()), "what was restored is saved back unchanged");
        state.seq = Some(50);
        assert_eq!(ResumeState::parse(&state.cursor_at(None).unwrap()), Some(ResumeState { seq: 50, ..s.clone() }));
        assert_eq!(ResumeState::parse(&state.cursor_at(Some(51)).unwrap()).unwrap().seq, 51);
        assert_eq!(ResumeState::parse(r#"{"sessionId":"x","seq":3,"resumeUrl":""}"#).unwrap().bot_id, "");
        for bad in ["17", "", "{}", r#"{"sessionId":"","seq":1,"resumeUrl":""}"#] {
            assert!(ResumeState::parse(bad).is_none(), "{bad}");
            let fresh = State::restore(Some(bad));
            assert!(fresh.session.is_none() && fresh.seq.is_none() && fresh.cursor_at(None).is_none(), "{bad}");
        }
    }

    #[test]
    fn close_codes_that_cannot_be_retried_stop_the_channel() {
        assert!(matches!(closed(4004, ""), End::Fatal(m, HealthState::AuthFailed) if m.contains("4004")));
        for code in [4010, 4011, 4012, 4013, 4014] {
            assert!(matches!(closed(code, ""), End::Fatal(..)), "{code}");
        }
        assert!(matches!(closed(4014, ""), End::Fatal(m, _) if m.contains("Message Content intent")));
        assert!(matches!(closed(4007, ""), End::Identify(_)));
        assert!(matches!(closed(4009, ""), End::Identify(_)));
        for code in [1000, 1001, 1006, 4000, 4008] {
            assert!(matches!(closed(code, ""), End::Resume(_)), "{code}");
        }
    }

    #[test]
    fn form_errors_name_the_field_and_pauses_are_bounded() {
        let body = json!({"message": "Invalid Form Body", "code": 50035,
                          "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}});
        assert_eq!(error_text(&body), "Invalid Form Body: content: Must be 2000 or fewer in length.");
        assert_eq!(error_text(&json!({"message": "Missing Access"})), "Missing Access");
        assert_eq!(seconds("0.250"), Some(Duration::from_millis(250)));
        for bad in ["-1", "NaN", "soon", ""] {
            assert_eq!(seconds(bad), None, "{bad:?}");
        }
        for huge in ["1e300", "inf"] {
            assert_eq!(seconds(huge), Some(limits::CHANNEL_RETRY_AFTER_MAX), "{huge:?}");
        }
    }

    #[test]
    fn rest_failures_are_transient_without_an_answer_and_by_status_otherwise() {
        let e = SendError::from(RestError { status: 0, message: "reset".into(), retry_after: Some(Duration::from_secs(3)) });
        assert_eq!(e, SendError::Transient { message: "reset".into(), retry_after: None });
        let e = SendError::from(RestError { status: 429, message: "slow".into(), retry_after: Some(Duration::from_secs(3)) });
        assert_eq!(e, SendError::Transient { message: "slow".into(), retry_after: Some(Duration::from_secs(3)) });
        assert!(matches!(SendError::from(RestError { status: 403, message: "no".into(), retry_after: None }), SendError::Permanent(_)));
    }
}
