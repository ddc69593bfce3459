//! The Discord gateway connection: Hello, then Identify (or Resume), heartbeats with the first
//! one jittered, and a watchdog that drops the connection when a heartbeat goes unacknowledged (a
//! zombie connection) and resumes the session. A message is recorded in the channel journal
//! before its sequence number counts as seen, so a message whose recording failed is replayed by
//! the Resume that follows. The resume state (session, sequence, resume URL) is kept in the
//! journal cursor, so after a restart the gateway resumes and Discord replays what it buffered
//! meanwhile. Close codes that retrying cannot fix (4004 and 4010–4014) stop the channel with a
//! clear `lastError`.

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::Message;
use async_tungstenite::tungstenite::protocol::Role;
use serde_json::{Value, json};
use smol::future::FutureExt;
use smol::stream::StreamExt;
use std::time::{Duration, Instant};

use super::wire::{Envelope, Hello, MessageCreate, Ready};
use super::{Client, USER_AGENT};
use crate::channels::journal::Inbound;
use crate::channels::{Backoff, HealthState, Link};
use crate::limits;
use crate::net::client::{self, Stream};
use crate::wire;

/// Gateway intents: GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES and the privileged MESSAGE_CONTENT
/// (without it, message text arrives empty).
const INTENTS: u64 = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15);

/// The query every gateway URL gets: API v10, JSON, and no `compress` (we carry no zlib).
const GATEWAY_QUERY: &str = "/?v=10&encoding=json";

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

/// What a restart needs to Resume, kept in the journal cursor as JSON.
/// `{"sessionId", "seq", "resumeUrl", "botId", "botName"}`; the last two may be absent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResumeState {
    session_id: String,
    seq: u64,
    resume_url: String,
    /// Who we are (READY says it; a Resume does not), for mentions and our own messages.
    bot_id: String,
    bot_name: String,
}

impl ResumeState {
    fn parse(cursor: &str) -> Option<ResumeState> {
        let v = serde_json::from_str::<Value>(cursor).ok()?;
        let o = wire::object(&v).ok()?;
        let state = ResumeState {
            session_id: o.str("sessionId").ok()?.to_string(),
            seq: o.u64("seq").ok()?,
            resume_url: o.str("resumeUrl").ok()?.to_string(),
            bot_id: o.opt_str("botId").ok()?.unwrap_or_default().to_string(),
            bot_name: o.opt_str("botName").ok()?.unwrap_or_default().to_string(),
        };
        Some(state).filter(|s| !s.session_id.is_empty())
    }

    fn to_cursor(&self) -> String {
        let ResumeState { session_id, seq, resume_url, bot_id, bot_name } = self;
        json!({"sessionId": session_id, "seq": seq, "resumeUrl": resume_url, "botId": bot_id, "botName": bot_name}).to_string()
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

/// Where the next connection goes: the session's resume URL, else the gateway to Identify on
/// (asked of Discord once and remembered).
async fn gateway_url(client: &Client, state: &mut State) -> Result<String, End> {
    if let Some(s) = state.session.as_ref().filter(|s| !s.resume_url.is_empty()) {
        return Ok(s.resume_url.clone());
    }
    if let Some(g) = &state.gateway {
        return Ok(g.clone());
    }
    match client.gateway().await {
        Ok(g) => {
            state.gateway = Some(g.clone());
            Ok(g)
        }
        Err(e) if e.status == 401 => Err(End::Fatal(
            format!("Discord rejected the bot token ({}); check channels.discord.token", e.message),
            HealthState::AuthFailed,
        )),
        Err(e) => Err(End::Resume(format!("cannot find the gateway: {}", e.message))),
    }
}

/// One gateway connection, from connect to its end. `ready_at` is set once READY or RESUMED
/// arrives.
async fn connection(client: &Client, link: &Link, state: &mut State, ready_at: &mut Option<Instant>) -> End {
    let url = match gateway_url(client, state).await {
        Ok(u) => u,
        Err(end) => return end,
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
    let mut beat = Heartbeat { interval, next: hello_at + interval.mul_f64(crate::ids::random_fraction()), awaiting_ack: false };
    loop {
        if let Err(end) = beat.due(&mut ws, state).await {
            return end;
        }
        let text = match next_text(&mut ws, beat.next).await {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(end) => return end,
        };
        let Some(payload) = envelope(&text) else {
            return End::Resume("the gateway sent a payload that is not a gateway envelope".into());
        };
        if let Err(end) = handle(&mut ws, link, state, payload, &mut beat, ready_at).await {
            return end;
        }
    }
}

/// The heartbeat schedule of one connection.
struct Heartbeat {
    interval: Duration,
    next: Instant,
    awaiting_ack: bool,
}

impl Heartbeat {
    /// Sends the heartbeat when it is due; a previous one still unacknowledged means a zombie
    /// connection.
    async fn due(&mut self, ws: &mut Ws, state: &State) -> Result<(), End> {
        if Instant::now() < self.next {
            return Ok(());
        }
        if self.awaiting_ack {
            return Err(End::Resume(format!("no heartbeat ACK within {} ms; zombie connection", self.interval.as_millis())));
        }
        self.send(ws, state).await?;
        self.next = Instant::now() + self.interval;
        Ok(())
    }

    async fn send(&mut self, ws: &mut Ws, state: &State) -> Result<(), End> {
        put(ws, &json!({"op": op::HEARTBEAT, "d": state.seq})).await.map_err(|e| End::Resume(format!("gateway connection lost: {e}")))?;
        self.awaiting_ack = true;
        Ok(())
    }
}

/// The next text frame, or `None` when `until` passed first (or a frame to skip came).
async fn next_text(ws: &mut Ws, until: Instant) -> Result<Option<String>, End> {
    let frame = async { Some(ws.next().await) }
        .or(async {
            smol::Timer::at(until).await;
            None
        })
        .await;
    match frame {
        None => Ok(None),
        Some(Some(Ok(Message::Text(t)))) => Ok(Some(t.to_string())),
        Some(Some(Ok(Message::Close(frame)))) => {
            let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
            Err(closed(code, &reason))
        }
        Some(Some(Ok(Message::Binary(_)))) => Err(End::Resume("the gateway sent a binary frame (compressed or ETF); reconnecting".into())),
        Some(Some(Ok(_))) => Ok(None),
        Some(Some(Err(e))) => Err(End::Resume(format!("gateway connection lost: {e}"))),
        Some(None) => Err(End::Resume("the gateway closed the connection".into())),
    }
}

/// One payload of a live connection.
async fn handle(
    ws: &mut Ws,
    link: &Link,
    state: &mut State,
    payload: Envelope,
    beat: &mut Heartbeat,
    ready_at: &mut Option<Instant>,
) -> Result<(), End> {
    match payload.op {
        op::DISPATCH => dispatch(link, state, payload.t.as_deref().unwrap_or_default(), &payload.d, payload.s, ready_at).await,
        op::HEARTBEAT => beat.send(ws, state).await,
        op::HEARTBEAT_ACK => {
            beat.awaiting_ack = false;
            link.activity();
            Ok(())
        }
        op::RECONNECT => Err(End::Resume("Discord asked for a reconnect (op 7)".into())),
        op::INVALID_SESSION if payload.d == Value::Bool(true) => {
            Err(End::Resume("Discord invalidated the session (op 9, resumable)".into()))
        }
        op::INVALID_SESSION => Err(End::Identify("Discord invalidated the session (op 9); identifying again".into())),
        _ => Ok(()),
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
            let ready =
                Ready::read(d).map_err(|e| End::Identify(format!("Discord sent a READY that cannot be read ({e}); identifying again")))?;
            state.session =
                (!ready.session_id.is_empty()).then_some(Session { id: ready.session_id, resume_url: ready.resume_gateway_url });
            state.seq = seq;
            state.bot_id = ready.user.id;
            state.bot_name = ready.user.username.unwrap_or_default();
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
            match MessageCreate::read(d) {
                Ok(m) => {
                    if let Some(mut msg) = inbound(&m, &state.bot_id) {
                        // Saved with the message: resuming from it replays what came after. Built
                        // only for a message we keep, not for bots' (our own answers among them)
                        // or system messages.
                        msg.cursor = state.cursor_at(seq);
                        if let Err(e) = link.accept(msg).await {
                            return Err(End::Resume(format!("cannot record an incoming message: {e}")));
                        }
                    }
                }
                // Replaying it would fail the same way: skipped, and said why.
                Err(e) => {
                    let seq = seq.map_or_else(|| "none".to_string(), |s| s.to_string());
                    log::warn!(target: "channels", "discord: a MESSAGE_CREATE (seq {seq}) that cannot be read was skipped: {e}")
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
    let text = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => return Ok(t),
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
    match envelope(&text) {
        Some(payload) => hello_interval(&payload),
        None => Err(End::Resume("the gateway did not open with a valid Hello: not a gateway envelope".into())),
    }
}

/// A frame's envelope.
fn envelope(text: &str) -> Option<Envelope> {
    Envelope::read(serde_json::from_str::<Value>(text).ok()?).ok()
}

/// The heartbeat interval a Hello payload names, within the bounds we accept.
pub(crate) fn hello_interval(payload: &Envelope) -> Result<Duration, End> {
    let hello = match payload.op {
        op::HELLO => Hello::read(&payload.d).map_err(|e| e.to_string()),
        other => Err(format!("op {other} instead of Hello (op {})", op::HELLO)),
    };
    let interval = hello.and_then(|h| {
        Duration::try_from_secs_f64(h.heartbeat_interval / 1000.0)
            .ok()
            .filter(|i| (limits::DISCORD_HEARTBEAT_MIN..=limits::DISCORD_HEARTBEAT_MAX).contains(i))
            .ok_or_else(|| format!("heartbeat_interval {} ms is out of bounds", h.heartbeat_interval))
    });
    interval.map_err(|why| End::Resume(format!("the gateway did not open with a valid Hello: {why}")))
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
fn inbound(d: &MessageCreate, bot_id: &str) -> Option<Inbound> {
    // 0 is a plain message and 19 a reply; the others are system messages (joins, pins, …).
    if !matches!(d.kind, None | Some(0) | Some(19)) {
        return None;
    }
    let author = &d.author;
    if author.bot || author.id == bot_id {
        return None;
    }
    let group = d.guild_id.is_some();
    let (text, in_text) = strip_mention(d.content.as_deref().unwrap_or_default(), bot_id);
    if text.is_empty() {
        return None;
    }
    let in_mentions = !bot_id.is_empty() && d.mentions.iter().any(|u| u.id == bot_id);
    let label = author.global_name.as_deref().or(author.username.as_deref()).unwrap_or(&author.id).to_string();
    Some(Inbound {
        reply_to: group.then(|| d.id.clone()),
        id: d.id.clone(),
        chat: d.channel_id.clone(),
        sender: author.id.clone(),
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

    /// A MESSAGE_CREATE's `d` as the receiver reads it.
    fn read(d: &Value, bot_id: &str) -> Option<Inbound> {
        inbound(&MessageCreate::read(d).expect("a readable MESSAGE_CREATE"), bot_id)
    }

    #[test]
    fn intents_are_guilds_messages_dms_and_content() {
        assert_eq!(INTENTS, 37377);
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
        let m = read(&msg("<@900> what time is it", true, json!([{"id": "900"}])), bot).unwrap();
        assert_eq!((m.text.as_str(), m.chat.as_str(), m.sender.as_str(), m.sender_label.as_str()), ("what time is it", "7", "11", "Ann"));
        assert!(m.group && m.mentioned);
        assert_eq!(m.reply_to.as_deref(), Some("5"));
        let m = read(&msg("hello", true, json!([{"id": "900"}])), bot).unwrap();
        assert!(m.mentioned, "a reply ping lists us in mentions without the text");
        let dm = read(&msg("hello", false, json!([])), bot).unwrap();
        assert!(!dm.group && !dm.mentioned && dm.reply_to.is_none());
        assert!(read(&msg("", false, json!([])), bot).is_none(), "attachments only");
        assert!(read(&msg("<@900>", true, json!([])), bot).is_none(), "nothing but the mention");
        let mut by_bot = msg("hi", false, json!([]));
        by_bot["author"]["bot"] = json!(true);
        assert!(read(&by_bot, bot).is_none());
        let mut own = msg("hi", false, json!([]));
        own["author"]["id"] = json!("900");
        assert!(read(&own, bot).is_none());
        let mut join = msg("hi", true, json!([]));
        join["type"] = json!(7);
        assert!(read(&join, bot).is_none());
        let mut no_author = msg("hi", false, json!([]));
        no_author["author"] = json!(null);
        let err = MessageCreate::read(&no_author).expect_err("a message without an author");
        assert_eq!(err.to_string(), "invalid type for `author`: null, expected a map");
        let mut missing = msg("hi", false, json!([]));
        missing.as_object_mut().unwrap().remove("author");
        let err = MessageCreate::read(&missing).expect_err("a message without an author");
        assert_eq!(err.to_string(), "missing field `author`");
        missing = msg("hi", false, json!([]));
        missing.as_object_mut().unwrap().remove("id");
        assert_eq!(MessageCreate::read(&missing).unwrap_err().to_string(), "missing field `id`");
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
}
