//! Matrix through the client-server API (v3): `/sync` long polling in, `PUT
//! /rooms/{room}/send/m.room.message/{txnId}` out.
//!
//! The receiver logs in (an access token, or `userId` and `password`; the device id of a password
//! login is kept, so a restart logs in as the same device), checks who it is with `whoami`, and
//! long-polls `/sync` with a filter that lets through only room messages and invites. The first
//! sync (no saved position) only learns the position: old history is not answered. Each batch's
//! messages are journaled first and only then is `next_batch` saved, so a crash replays the batch
//! and the journal recognises every event it already has by its event id.
//!
//! Invites are joined when the inviter passes the access policy (`autoJoin`). Rooms with two
//! members are direct messages; elsewhere a message needs a mention (`m.mentions`, or the bot's id
//! or name in the text) unless the group rules say otherwise. Encrypted rooms are not readable
//! (no Olm/Megolm here): their events are skipped with a log line.
//!
//! The transaction id of an outbound message is derived from the journal (the message and the
//! chunk), so a send retried after a crash or a lost response is the same transaction and the
//! homeserver does not post it twice. `M_LIMIT_EXCEEDED` waits as long as the server says.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::journal::Inbound;
use super::{ApiReply, Backoff, HealthState, Link, SendError, call_json};
use crate::config::channels as cfg;
use crate::encoding::percent_encode as enc;
use crate::limits;

const API: &str = "/_matrix/client/v3";
/// How long a send waits for the receiver's login before it counts as a failed attempt.
const LOGIN_WAIT: Duration = Duration::from_secs(20);
/// Rooms whose kind (direct or not) we remember; forgotten when their membership changes.
const ROOMS_MAX: usize = 4096;

/// Only room messages (and encrypted ones, to say we cannot read them); no presence, receipts or
/// typing; invites always come through.
const FILTER: &str = r#"{"room":{"timeline":{"types":["m.room.message","m.room.encrypted"],"limit":50},"state":{"lazy_load_members":true},"ephemeral":{"not_types":["*"]},"account_data":{"not_types":["*"]}},"presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}"#;

#[derive(Default)]
struct Session {
    token: Option<String>,
    user_id: String,
    device_id: Option<String>,
}

#[derive(Clone)]
pub struct Client {
    cfg: Arc<cfg::Matrix>,
    session: Arc<Mutex<Session>>,
}

fn lock(s: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// A failed API call: HTTP status (0: no answer), Matrix errcode, text, and how long to wait.
#[derive(Debug)]
struct ApiError {
    status: u16,
    errcode: String,
    message: String,
    retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 { f.write_str(&self.message) } else { write!(f, "{} {} ({})", self.errcode, self.message, self.status) }
    }
}

impl From<ApiError> for SendError {
    fn from(e: ApiError) -> SendError {
        if e.status == 0 {
            SendError::Transient { message: e.to_string(), retry_after: None }
        } else {
            SendError::from_status(e.status, e.to_string(), e.retry_after)
        }
    }
}

/// A Matrix answer: the body, or the error with `errcode` and the wait `M_LIMIT_EXCEEDED` asks for
/// (`Retry-After`, else `retry_after_ms`).
fn answer(reply: ApiReply) -> Result<Value, ApiError> {
    if reply.status == 200 {
        return Ok(reply.body);
    }
    let b = &reply.body;
    let retry_after = reply.retry_after.or_else(|| b["retry_after_ms"].as_u64().map(Duration::from_millis));
    Err(ApiError {
        status: reply.status,
        errcode: b["errcode"].as_str().unwrap_or("M_UNKNOWN").to_string(),
        message: b["error"].as_str().map(str::to_string).unwrap_or_else(|| format!("HTTP {}", reply.status)),
        retry_after: retry_after.map(|r| r.min(limits::CHANNEL_RETRY_AFTER_MAX)),
    })
}

impl Client {
    pub fn new(c: &cfg::Matrix) -> Result<Client, String> {
        if c.access_token.is_none() && (c.password.is_none() || c.user_id.is_none()) {
            return Err("no credentials: set channels.matrix.accessToken (or MATRIX_ACCESS_TOKEN), or userId and password".into());
        }
        let session = Session {
            token: c.access_token.as_ref().map(|t| t.expose().to_string()),
            user_id: c.user_id.clone().unwrap_or_default(),
            device_id: None,
        };
        Ok(Client { cfg: Arc::new(c.clone()), session: Arc::new(Mutex::new(session)) })
    }

    async fn call(&self, method: &'static str, path: &str, body: Option<&Value>, wait: Duration) -> Result<Value, ApiError> {
        let url = format!("{}{API}{path}", self.cfg.homeserver);
        let token = lock(&self.session).token.clone();
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| vec![("Authorization", a)]).unwrap_or_default();
        let reply = call_json(method, &url, &headers, body, wait).await.map_err(|e| ApiError {
            status: 0,
            errcode: String::new(),
            message: format!("{path}: {e}", path = path.split('?').next().unwrap_or("")),
            retry_after: None,
        })?;
        answer(reply)
    }

    fn user_id(&self) -> String {
        lock(&self.session).user_id.clone()
    }

    pub async fn send(&self, to: &str, text: &str, reply_to: Option<&str>, nonce: &str) -> Result<String, SendError> {
        let room = room(to).map_err(SendError::Permanent)?;
        // Right after a start the worker may resume an answer before the login is done.
        let until = Instant::now() + LOGIN_WAIT;
        while lock(&self.session).token.is_none() {
            if Instant::now() >= until {
                return Err(SendError::Transient { message: "not logged in to the homeserver yet".into(), retry_after: None });
            }
            smol::Timer::after(Duration::from_millis(100)).await;
        }
        let mut body = json!({"msgtype": "m.text", "body": text});
        if let Some(r) = reply_to.filter(|r| r.starts_with('$')) {
            body["m.relates_to"] = json!({"m.in_reply_to": {"event_id": r}});
        }
        let path = format!("/rooms/{}/send/m.room.message/oc{}", enc(&room), enc(nonce));
        let v = self.call("PUT", &path, Some(&body), limits::CHANNEL_REQUEST_TIMEOUT).await?;
        Ok(v["event_id"].as_str().unwrap_or_default().to_string())
    }

    pub async fn typing(&self, to: &str) {
        let Ok(room) = room(to) else { return };
        let me = self.user_id();
        if me.is_empty() {
            return;
        }
        let path = format!("/rooms/{}/typing/{}", enc(&room), enc(&me));
        let _ = self.call("PUT", &path, Some(&json!({"typing": true, "timeout": 6000})), Duration::from_secs(10)).await;
    }

    pub async fn probe(&self) -> Result<Value, String> {
        let me = self.call("GET", "/account/whoami", None, limits::CHANNEL_REQUEST_TIMEOUT).await.map_err(|e| e.to_string())?;
        Ok(json!({"bot": {"id": me["user_id"], "deviceId": me["device_id"]}, "homeserver": self.cfg.homeserver}))
    }

    /// Logs in with the password, as `device` when one is known.
    async fn login(&self, device: Option<&str>) -> Result<(), ApiError> {
        let (Some(user), Some(pass)) = (&self.cfg.user_id, &self.cfg.password) else {
            return Err(ApiError { status: 401, errcode: "M_MISSING_TOKEN".into(), message: "no credentials".into(), retry_after: None });
        };
        let mut body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                              "password": pass.expose(), "initial_device_display_name": self.cfg.device_name});
        if let Some(d) = device {
            body["device_id"] = json!(d);
        }
        let v = self.call("POST", "/login", Some(&body), limits::CHANNEL_REQUEST_TIMEOUT).await?;
        let mut s = lock(&self.session);
        s.token = v["access_token"].as_str().map(str::to_string);
        s.device_id = v["device_id"].as_str().map(str::to_string);
        if let Some(u) = v["user_id"].as_str() {
            s.user_id = u.to_string();
        }
        if s.token.is_none() {
            return Err(ApiError {
                status: 502,
                errcode: "M_UNKNOWN".into(),
                message: "the login answer had no access_token".into(),
                retry_after: None,
            });
        }
        Ok(())
    }
}

/// `!room:server`, `matrix:!room`, `room:!room` → the room id (aliases and users are refused).
fn room(to: &str) -> Result<String, String> {
    let t = to.trim();
    let t = t.strip_prefix("matrix:").unwrap_or(t);
    let t = t.strip_prefix("room:").or_else(|| t.strip_prefix("channel:")).unwrap_or(t);
    if !t.starts_with('!') || t.len() < 2 || t.len() > 255 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("not a Matrix room id (expected !room:server): {to:?}"));
    }
    Ok(t.to_string())
}

/// What is saved as the channel cursor: the sync position and the device of a password login.
#[derive(Debug, Default, PartialEq)]
struct Cursor {
    since: Option<String>,
    device: Option<String>,
}

impl Cursor {
    fn parse(raw: Option<&str>) -> Cursor {
        let v: Value = raw.and_then(|r| serde_json::from_str(r).ok()).unwrap_or(Value::Null);
        let text = |k: &str| v[k].as_str().filter(|s| !s.is_empty() && s.len() <= 1024).map(str::to_string);
        Cursor { since: text("since"), device: text("device") }
    }

    fn to_text(&self) -> String {
        json!({"since": self.since, "device": self.device}).to_string()
    }
}

enum End {
    Retry(String, Option<Duration>),
    Fatal(String),
}

fn auth_failed(e: &ApiError) -> bool {
    e.status == 401 || (e.status == 403 && e.errcode == "M_FORBIDDEN")
}

/// The receiver: log in, `whoami`, then long-poll `/sync` until the channel is stopped.
pub async fn receive(client: Client, link: Link) {
    let mut backoff = Backoff::new(&link.tuning);
    let mut cursor = Cursor::parse(link.cursor().as_deref());
    let mut rooms: HashMap<String, bool> = HashMap::new();
    loop {
        let connected_at = Instant::now();
        let end = session(&client, &link, &mut cursor, &mut rooms).await;
        if connected_at.elapsed() >= link.tuning.healthy_after {
            backoff.reset();
        }
        match end {
            End::Fatal(why) => {
                link.fatal(&why, HealthState::AuthFailed);
                return;
            }
            End::Retry(why, at_least) => {
                link.disconnected(&why);
                link.pause(&mut backoff, at_least).await;
            }
        }
    }
}

/// Logs in when there is no access token (keeping the device id), then asks who we are.
async fn sign_in(client: &Client, link: &Link, cursor: &mut Cursor) -> Result<String, End> {
    let retry = |what: &str, e: ApiError| End::Retry(format!("{what}: {e}"), e.retry_after);
    if client.cfg.access_token.is_none() && lock(&client.session).token.is_none() {
        match client.login(cursor.device.as_deref()).await {
            Ok(()) => {
                let device = lock(&client.session).device_id.clone();
                if device.is_some() && device != cursor.device {
                    cursor.device = device;
                    if let Err(e) = link.set_cursor(cursor.to_text()).await {
                        return Err(End::Retry(format!("cannot save the device id: {e}"), None));
                    }
                }
            }
            Err(e) if e.status == 403 || e.status == 401 => {
                return Err(End::Fatal(format!("the homeserver rejected the login ({e}); check channels.matrix.userId and password")));
            }
            Err(e) => return Err(retry("login failed", e)),
        }
    }
    let me = match client.call("GET", "/account/whoami", None, limits::CHANNEL_REQUEST_TIMEOUT).await {
        Ok(v) => v["user_id"].as_str().unwrap_or_default().to_string(),
        Err(e) if auth_failed(&e) && client.cfg.access_token.is_none() => {
            // A password session that expired: log in again (same device).
            lock(&client.session).token = None;
            return Err(retry("the session ended", e));
        }
        Err(e) if auth_failed(&e) => {
            return Err(End::Fatal(format!("the homeserver rejected the access token ({e}); check channels.matrix.accessToken")));
        }
        Err(e) => return Err(retry("whoami failed", e)),
    };
    if me.is_empty() {
        return Err(End::Retry("whoami answered without a user_id".into(), None));
    }
    if let Some(configured) = &client.cfg.user_id {
        if !configured.eq_ignore_ascii_case(&me) {
            log::warn!(target: "channels", "matrix: the access token belongs to {me}, not to channels.matrix.userId {configured}");
        }
    }
    lock(&client.session).user_id = me.clone();
    link.connected(Some(me.clone()));
    Ok(me)
}

/// One signed-in stretch: who we are, then `/sync` after `/sync` until something ends it.
async fn session(client: &Client, link: &Link, cursor: &mut Cursor, rooms: &mut HashMap<String, bool>) -> End {
    let me = match sign_in(client, link, cursor).await {
        Ok(me) => me,
        Err(end) => return end,
    };
    let retry = |what: &str, e: ApiError| End::Retry(format!("{what}: {e}"), e.retry_after);
    let filter = enc(FILTER);
    loop {
        let (timeout, wait) = match &cursor.since {
            Some(_) => (link.tuning.poll_timeout, link.tuning.poll_timeout + link.tuning.stall_grace),
            None => (Duration::ZERO, limits::CHANNEL_REQUEST_TIMEOUT + link.tuning.stall_grace),
        };
        let mut path = format!("/sync?filter={filter}&timeout={}&set_presence=offline", timeout.as_millis());
        if let Some(s) = &cursor.since {
            path.push_str(&format!("&since={}", enc(s)));
        }
        let batch = match client.call("GET", &path, None, wait).await {
            Ok(b) => b,
            Err(e) if auth_failed(&e) && client.cfg.access_token.is_none() => {
                lock(&client.session).token = None;
                return retry("the session ended", e);
            }
            Err(e) if auth_failed(&e) => {
                return End::Fatal(format!("the homeserver rejected the access token ({e}); check channels.matrix.accessToken"));
            }
            Err(e) if e.status == 0 && e.message.contains("timed out") => {
                return End::Retry(format!("/sync stalled: no answer {} s after its timeout", link.tuning.stall_grace.as_secs_f32()), None);
            }
            Err(e) => return retry("/sync failed", e),
        };
        let Some(next) = batch["next_batch"].as_str().filter(|n| !n.is_empty() && n.len() <= 1024).map(str::to_string) else {
            return End::Retry("/sync answered without next_batch".into(), None);
        };
        link.connected(None);
        let first = cursor.since.is_none();
        invites(client, link, &batch, &me).await;
        if !first {
            if let Err(e) = record(client, link, &batch, &me, rooms).await {
                // Not on disk: the position stays, and the same batch comes again.
                return End::Retry(format!("cannot record an incoming message: {e}"), None);
            }
        }
        cursor.since = Some(next);
        if let Err(e) = link.set_cursor(cursor.to_text()).await {
            return End::Retry(format!("cannot save the sync position: {e}"), None);
        }
    }
}

/// Whether an invite from `inviter` is accepted.
fn may_join(access: &cfg::Access, auto: cfg::AutoJoin, inviter: &str, direct: bool) -> bool {
    let who = cfg::normalize_sender(inviter);
    let listed = |l: &[String]| l.iter().any(|a| a == "*" || *a == who);
    match auto {
        cfg::AutoJoin::Off => false,
        cfg::AutoJoin::Always => true,
        cfg::AutoJoin::Allowed => {
            listed(&access.allow_from)
                || listed(&access.group_allow_from)
                || (direct && matches!(access.dm_policy, cfg::DmPolicy::Open | cfg::DmPolicy::Pairing))
                || (!direct && access.group_policy == cfg::GroupPolicy::Open)
        }
    }
}

async fn invites(client: &Client, link: &Link, batch: &Value, me: &str) {
    let Some(invited) = batch["rooms"]["invite"].as_object() else { return };
    for (room_id, room) in invited.iter().take(50) {
        let events = room["invite_state"]["events"].as_array().map(Vec::as_slice).unwrap_or_default();
        let ours = events.iter().find(|e| e["type"] == "m.room.member" && e["state_key"].as_str() == Some(me));
        let inviter = ours.and_then(|e| e["sender"].as_str()).unwrap_or_default();
        let direct = ours.is_some_and(|e| e["content"]["is_direct"] == true);
        if !may_join(&link.access, client.cfg.auto_join, inviter, direct) {
            log::info!(target: "channels", "matrix: invite to {room_id} from {inviter} not accepted (autoJoin / allowFrom)");
            continue;
        }
        match client.call("POST", &format!("/join/{}", enc(room_id)), Some(&json!({})), limits::CHANNEL_REQUEST_TIMEOUT).await {
            Ok(_) => log::info!(target: "channels", "matrix: joined {room_id} (invited by {inviter})"),
            Err(e) => log::warn!(target: "channels", "matrix: cannot join {room_id}: {e}"),
        }
    }
}

/// Journals the batch's messages, in order.
async fn record(client: &Client, link: &Link, batch: &Value, me: &str, rooms: &mut HashMap<String, bool>) -> std::io::Result<()> {
    let Some(joined) = batch["rooms"]["join"].as_object() else { return Ok(()) };
    for (room_id, room) in joined {
        // Membership changed (joins and leaves arrive as state, the timeline filter keeps only
        // messages): count the members again when the next message comes.
        let state_changed = room["state"]["events"].as_array().is_some_and(|e| !e.is_empty());
        if state_changed || room["summary"]["m.joined_member_count"].is_u64() {
            rooms.remove(room_id);
        }
        let state = room["state"]["events"].as_array().map(Vec::as_slice).unwrap_or_default();
        if state.iter().any(|ev| ev["type"] == "m.room.encryption") {
            encrypted_room(client, link, room_id).await;
        }
        let events = room["timeline"]["events"].as_array().map(Vec::as_slice).unwrap_or_default();
        for ev in events {
            if ev["sender"].as_str() == Some(me) {
                continue;
            }
            if ev["type"] == "m.room.encrypted" {
                encrypted_room(client, link, room_id).await;
                continue;
            }
            let direct = match rooms.get(room_id) {
                Some(d) => *d,
                None => {
                    let d = direct_room(client, room_id).await;
                    if rooms.len() < ROOMS_MAX {
                        rooms.insert(room_id.clone(), d);
                    }
                    d
                }
            };
            if let Some(msg) = inbound(ev, room_id, me, direct) {
                link.accept(msg).await?;
            }
        }
    }
    Ok(())
}

/// Says once, in the channel status and in the room itself, that an encrypted room cannot be
/// read: people there would otherwise wait for an answer that never comes.
async fn encrypted_room(client: &Client, link: &Link, room_id: &str) {
    let why = format!("room {room_id} is end-to-end encrypted, which this gateway does not support: its messages are not read");
    if !link.warn_once(&why) {
        return;
    }
    let notice = "This room is end-to-end encrypted, and this OpenClaw gateway cannot read encrypted messages \
                  (unsupported), so it will not answer here. Please write to it in an unencrypted room.";
    // The transaction id is per room, so a retried notice is not a second one.
    if let Err(e) = client.send(room_id, notice, None, &format!("e2ee{room_id}")).await {
        log::warn!(target: "channels", "matrix: cannot tell {room_id} that it is encrypted: {}", e.message());
    }
}

/// Two members (the bot and one person) make a direct chat.
async fn direct_room(client: &Client, room_id: &str) -> bool {
    let path = format!("/rooms/{}/joined_members", enc(room_id));
    match client.call("GET", &path, None, limits::CHANNEL_REQUEST_TIMEOUT).await {
        Ok(v) => v["joined"].as_object().is_some_and(|m| m.len() <= 2),
        Err(_) => false,
    }
}

/// `text` without a leading address to us (`bot: …`, `@bot:server …`), and whether it had one.
fn strip_address(text: &str, me: &str) -> (String, bool) {
    let local = me.strip_prefix('@').and_then(|m| m.split(':').next()).unwrap_or(me);
    let t = text.trim_start();
    for name in [me, local] {
        if name.is_empty() || t.len() < name.len() || !t.is_char_boundary(name.len()) {
            continue;
        }
        let (head, rest) = t.split_at(name.len());
        if head.eq_ignore_ascii_case(name) && rest.starts_with([':', ',', ' ']) {
            return (rest.trim_start_matches([':', ',']).trim().to_string(), true);
        }
    }
    (text.trim().to_string(), false)
}

/// An `m.room.message` the agent should see.
fn inbound(ev: &Value, room_id: &str, me: &str, direct: bool) -> Option<Inbound> {
    if ev["type"] != "m.room.message" {
        return None;
    }
    let sender = ev["sender"].as_str()?;
    let id = ev["event_id"].as_str()?;
    let c = &ev["content"];
    let body = c["body"].as_str()?;
    let body = match c["msgtype"].as_str() {
        Some("m.text") => body.to_string(),
        Some("m.emote") => format!("* {sender} {body}"),
        // Notices are what bots send; answering them loops between bots.
        _ => return None,
    };
    // A reply quotes the original in the body (`> <@user> …` lines, then a blank line).
    let body = if c["m.relates_to"]["m.in_reply_to"].is_object() && body.starts_with("> ") {
        body.split_once("\n\n").map(|(_, rest)| rest.to_string()).unwrap_or(body)
    } else {
        body
    };
    let (text, addressed) = strip_address(&body, me);
    let local = me.strip_prefix('@').and_then(|m| m.split(':').next()).unwrap_or(me);
    let in_mentions = c["m.mentions"]["user_ids"].as_array().is_some_and(|ids| ids.iter().any(|u| u.as_str() == Some(me)));
    let lower = body.to_lowercase();
    let named = lower.contains(&me.to_lowercase()) || (!local.is_empty() && lower.contains(&local.to_lowercase()));
    if text.is_empty() {
        return None;
    }
    Some(Inbound {
        id: id.to_string(),
        chat: room_id.to_string(),
        sender: sender.to_string(),
        sender_label: sender.to_string(),
        group: !direct,
        mentioned: addressed || in_mentions || named,
        text,
        reply_to: (!direct).then(|| id.to_string()),
        cursor: None,
        received_at: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_and_encoding() {
        assert_eq!(room("matrix:!abc:localhost").unwrap(), "!abc:localhost");
        assert_eq!(room("!WP2STZ5h01lJuws6nmHMTDQoat4kjcq4EfjhTcSqOKY").unwrap(), "!WP2STZ5h01lJuws6nmHMTDQoat4kjcq4EfjhTcSqOKY");
        for bad in ["", "#alias:server", "@user:server", "! x"] {
            assert!(room(bad).is_err(), "{bad:?}");
        }
        assert_eq!(enc("!a:b/c d"), "%21a%3Ab%2Fc%20d");
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor { since: Some("s1_2".into()), device: Some("DEV".into()) };
        assert_eq!(Cursor::parse(Some(&c.to_text())), c);
        assert_eq!(Cursor::parse(Some("garbage")), Cursor::default());
        assert_eq!(Cursor::parse(None), Cursor::default());
    }

    #[test]
    fn messages_mentions_and_loops() {
        let ev = |body: &str, mentions: Value| {
            json!({"type": "m.room.message", "event_id": "$1", "sender": "@ann:hs",
                   "content": {"msgtype": "m.text", "body": body, "m.mentions": mentions}})
        };
        let m = inbound(&ev("ocbot: hi there", json!({})), "!r", "@ocbot:hs", false).unwrap();
        assert!(m.group && m.mentioned);
        assert_eq!((m.text.as_str(), m.chat.as_str(), m.reply_to.as_deref()), ("hi there", "!r", Some("$1")));
        let m = inbound(&ev("hello all", json!({})), "!r", "@ocbot:hs", false).unwrap();
        assert!(!m.mentioned);
        let m = inbound(&ev("hello", json!({"user_ids": ["@ocbot:hs"]})), "!r", "@ocbot:hs", false).unwrap();
        assert!(m.mentioned);
        let m = inbound(&ev("hello", json!({})), "!r", "@ocbot:hs", true).unwrap();
        assert!(!m.group && m.reply_to.is_none());
        let mut notice = ev("beep", json!({}));
        notice["content"]["msgtype"] = json!("m.notice");
        assert!(inbound(&notice, "!r", "@ocbot:hs", true).is_none());
        let no_body = json!({"type": "m.room.message", "event_id": "$2", "sender": "@ann:hs", "content": {}});
        assert!(inbound(&no_body, "!r", "@ocbot:hs", true).is_none());
        assert_eq!(strip_address("é", "@ocbot:hs"), ("é".to_string(), false));
    }

    #[test]
    fn rate_limits_are_read_from_the_header_or_the_body() {
        let r = ApiReply {
            status: 429,
            body: json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests", "retry_after_ms": 2829}),
            retry_after: None,
            headers: Vec::new(),
        };
        let e = answer(r).unwrap_err();
        assert_eq!((e.errcode.as_str(), e.retry_after), ("M_LIMIT_EXCEEDED", Some(Duration::from_millis(2829))));
        assert!(matches!(SendError::from(e), SendError::Transient { retry_after: Some(_), .. }));
        let r = ApiReply { status: 413, body: json!({"errcode": "M_TOO_LARGE"}), retry_after: None, headers: Vec::new() };
        assert!(matches!(SendError::from(answer(r).unwrap_err()), SendError::Permanent(_)));
    }

    #[test]
    fn invites_follow_the_access_policy() {
        let access = cfg::Access {
            dm_policy: cfg::DmPolicy::Allowlist,
            allow_from: vec!["@ann:hs".into()],
            group_policy: cfg::GroupPolicy::Allowlist,
            group_allow_from: vec!["@ann:hs".into()],
            groups: Vec::new(),
            require_mention: true,
        };
        assert!(may_join(&access, cfg::AutoJoin::Allowed, "@ann:hs", false));
        assert!(!may_join(&access, cfg::AutoJoin::Allowed, "@eve:hs", true));
        assert!(may_join(&access, cfg::AutoJoin::Always, "@eve:hs", true));
        assert!(!may_join(&access, cfg::AutoJoin::Off, "@ann:hs", true));
    }
}
