//! Telegram through the Bot API: long polling with `getUpdates`, `sendMessage`, `sendChatAction`.
//!
//! The poll offset moves past an update only after the update is in the channel journal, so an
//! update is confirmed to Telegram (by the next poll's `offset`) only once it cannot be lost. The
//! watchdog is the poll itself: a poll that has not answered `stall_grace` after its own timeout
//! is dropped and the channel reports itself disconnected until a poll answers again.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::journal::Inbound;
use super::{ApiReply, Backoff, HealthState, Link, SendError, call_json};
use crate::config::channels as cfg;
use crate::limits;
use crate::wire::{self, Obj, WireError};

#[derive(Clone)]
pub struct Client {
    /// `<apiRoot>/bot<token>`; never logged.
    base: String,
}

/// A failed Bot API call.
#[derive(Debug)]
pub(crate) struct ApiError {
    /// HTTP status (0 for a network failure).
    status: u16,
    description: String,
    retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 { f.write_str(&self.description) } else { write!(f, "{} ({})", self.description, self.status) }
    }
}

impl Client {
    pub fn new(c: &cfg::Telegram) -> Result<Client, String> {
        let Some(token) = &c.token else {
            return Err("no bot token: set channels.telegram.botToken (or tokenFile, or TELEGRAM_BOT_TOKEN)".into());
        };
        Ok(Client { base: format!("{}/bot{}", c.api_root, token.expose()) })
    }

    async fn call(&self, method: &str, body: &Value, wait: Duration) -> Result<Value, ApiError> {
        let url = format!("{}/{method}", self.base);
        let reply: ApiReply = call_json("POST", &url, &[], Some(body), wait).await.map_err(|e| ApiError {
            status: 0,
            description: format!("{method}: {e}"),
            retry_after: None,
        })?;
        answer(method, reply)
    }

    pub async fn send(&self, to: &str, text: &str, reply_to: Option<&str>) -> Result<String, SendError> {
        let (chat, topic) = target(to);
        let mut body = json!({"chat_id": chat, "text": text});
        if let Some(t) = topic {
            body["message_thread_id"] = json!(t);
        }
        if let Some(r) = reply_to.and_then(|r| r.parse::<i64>().ok()) {
            body["reply_parameters"] = json!({"message_id": r, "allow_sending_without_reply": true});
        }
        match self.call("sendMessage", &body, limits::CHANNEL_REQUEST_TIMEOUT).await {
            Ok(m) => sent_id(&m),
            Err(e) if e.status == 0 => Err(SendError::Transient { message: e.to_string(), retry_after: None }),
            Err(e) => Err(SendError::from_status(e.status, e.to_string(), e.retry_after)),
        }
    }

    pub async fn typing(&self, to: &str) {
        let (chat, topic) = target(to);
        let mut body = json!({"chat_id": chat, "action": "typing"});
        if let Some(t) = topic {
            body["message_thread_id"] = json!(t);
        }
        let _ = self.call("sendChatAction", &body, Duration::from_secs(10)).await;
    }

    pub async fn probe(&self) -> Result<Value, String> {
        let me = self.call("getMe", &json!({}), limits::CHANNEL_REQUEST_TIMEOUT).await.map_err(|e| e.to_string())?;
        Ok(json!({"bot": {"id": me["id"], "username": me["username"]}}))
    }
}

/// The id of a sent message from `sendMessage`'s answer (a Message, of which only the id is
/// read: not worth a type of its own).
fn sent_id(answer: &Value) -> Result<String, SendError> {
    match answer.get("message_id").and_then(Value::as_i64) {
        Some(id) => Ok(id.to_string()),
        // Delivered, so not worth a retry that would send it twice.
        None => Err(SendError::Permanent("Telegram accepted the message but its answer has no message_id".into())),
    }
}

/// A Bot API answer: its `result`, or the error with Telegram's description and `retry_after`.
pub(crate) fn answer(method: &str, reply: ApiReply) -> Result<Value, ApiError> {
    if reply.status == 200 && reply.body["ok"] == json!(true) {
        return Ok(reply.body["result"].clone());
    }
    let description = reply.body["description"].as_str().map(str::to_string).unwrap_or_else(|| format!("{method}: HTTP {}", reply.status));
    let retry_after = reply.body["parameters"]["retry_after"].as_u64().map(Duration::from_secs).or(reply.retry_after);
    Err(ApiError { status: reply.status, description, retry_after })
}

/// `123`, `@channel`, `-100123:topic:42` (also with a `telegram:` prefix) → chat and topic.
fn target(to: &str) -> (Value, Option<i64>) {
    let to = to.strip_prefix("telegram:").or_else(|| to.strip_prefix("tg:")).unwrap_or(to).trim();
    let (chat, topic) = match to.split_once(":topic:") {
        Some((c, t)) => (c, t.parse::<i64>().ok()),
        None => (to, None),
    };
    match chat.parse::<i64>() {
        Ok(n) => (json!(n), topic),
        Err(_) => (json!(chat), topic),
    }
}

/// The receiver: `getMe`, then long polls until the channel is stopped.
pub async fn receive(client: Client, link: Link) {
    let mut backoff = Backoff::new(&link.tuning);
    let me = loop {
        match client.call("getMe", &json!({}), limits::CHANNEL_REQUEST_TIMEOUT).await {
            Ok(me) => break me,
            Err(e) if e.status == 401 || e.status == 404 => {
                link.fatal(
                    &format!("Telegram rejected the bot token ({e}); check channels.telegram.botToken (from @BotFather)"),
                    HealthState::AuthFailed,
                );
                return;
            }
            Err(e) => {
                link.disconnected(&format!("getMe failed: {e}"));
                link.pause(&mut backoff, e.retry_after).await;
            }
        }
    };
    let (bot_id, username) = identity(&me);
    link.connected(Some(format!("@{username}")));
    let mut offset: Option<i64> = link.cursor().and_then(|c| c.parse().ok());
    let poll_secs = link.tuning.poll_timeout.as_secs().max(1);
    let mut connected_since = Instant::now();
    loop {
        let mut body = json!({"timeout": poll_secs, "limit": 100, "allowed_updates": ["message"]});
        if let Some(o) = offset {
            body["offset"] = json!(o);
        }
        let wait = Duration::from_secs(poll_secs) + link.tuning.stall_grace;
        let updates = match client.call("getUpdates", &body, wait).await {
            Ok(Value::Array(u)) => u,
            Ok(other) => {
                link.disconnected(&format!(
                    "getUpdates answered something that is not a list of updates: {}",
                    other.to_string().chars().take(200).collect::<String>()
                ));
                link.pause(&mut backoff, None).await;
                continue;
            }
            Err(e) if e.status == 401 || e.status == 404 => {
                link.fatal(&format!("Telegram rejected the bot token ({e}); check channels.telegram.botToken"), HealthState::AuthFailed);
                return;
            }
            Err(e) => {
                let why = match e.status {
                    409 => format!(
                        "{e}: another bot instance (or a webhook) is using this token; stop it, or delete the webhook with deleteWebhook"
                    ),
                    0 if e.description.contains("timed out") => {
                        format!(
                            "getUpdates stalled: no answer {} s after the poll timeout; reconnecting",
                            link.tuning.stall_grace.as_secs_f32()
                        )
                    }
                    _ => format!("getUpdates failed: {e}"),
                };
                link.disconnected(&why);
                connected_since = Instant::now();
                link.pause(&mut backoff, e.retry_after).await;
                continue;
            }
        };
        link.connected(None);
        if connected_since.elapsed() >= link.tuning.healthy_after {
            backoff.reset();
        }
        if let Err(e) = record(&link, updates, &mut offset, bot_id, &username).await {
            // Not on disk: do not confirm it; the same updates come again.
            link.disconnected(&format!("cannot record an incoming message: {e}"));
            link.pause(&mut backoff, None).await;
        }
    }
}

/// An entry of `getUpdates` (Bot API, "Update"); only messages are asked for.
#[derive(Debug)]
pub(crate) struct Update {
    pub update_id: i64,
    pub message: Option<Message>,
}

/// A message (Bot API, "Message"): the fields the gateway reads.
#[derive(Debug)]
pub(crate) struct Message {
    pub message_id: i64,
    /// Absent for messages sent on behalf of a channel.
    pub from: Option<User>,
    pub chat: Chat,
    pub text: Option<String>,
    /// The text of a photo, video or document.
    pub caption: Option<String>,
    pub message_thread_id: Option<i64>,
    pub is_topic_message: bool,
    /// The author of the message this one answers (a reply to the bot counts as a mention).
    pub replied_to: Option<User>,
}

/// A user or bot (Bot API, "User"; also what `getMe` answers).
#[derive(Debug)]
pub(crate) struct User {
    pub id: i64,
    pub is_bot: bool,
    pub username: Option<String>,
    pub first_name: Option<String>,
}

/// A chat (Bot API, "Chat").
#[derive(Debug)]
pub(crate) struct Chat {
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    pub kind: String,
}

impl Update {
    pub(crate) fn read(v: &Value) -> Result<Update, WireError> {
        let o = wire::object(v)?;
        Ok(Update { update_id: o.i64("update_id")?, message: o.opt_obj("message")?.map(Message::read).transpose()? })
    }
}

impl Message {
    fn read(o: Obj<'_>) -> Result<Message, WireError> {
        let chat = o.obj("chat")?;
        let replied_to = match o.opt_obj("reply_to_message")? {
            Some(replied) => replied.opt_obj("from")?.map(User::read).transpose()?,
            None => None,
        };
        Ok(Message {
            message_id: o.i64("message_id")?,
            from: o.opt_obj("from")?.map(User::read).transpose()?,
            chat: Chat { id: chat.i64("id")?, kind: chat.str("type")?.to_string() },
            text: o.opt_string("text")?,
            caption: o.opt_string("caption")?,
            message_thread_id: o.opt_i64("message_thread_id")?,
            is_topic_message: o.flag("is_topic_message")?,
            replied_to,
        })
    }
}

impl User {
    fn read(o: Obj<'_>) -> Result<User, WireError> {
        Ok(User {
            id: o.i64("id")?,
            is_bot: o.flag("is_bot")?,
            username: o.opt_string("username")?,
            first_name: o.opt_string("first_name")?,
        })
    }
}

/// The bot's id and username from `getMe`.
pub(crate) fn identity(me: &Value) -> (i64, String) {
    match wire::object(me).and_then(User::read) {
        Ok(u) => (u.id, u.username.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// Records one poll's updates in order, moving `offset` past each one on disk. Stops at the first
/// that cannot be recorded, which (with the rest) comes again in the next poll.
pub(crate) async fn record(link: &Link, updates: Vec<Value>, offset: &mut Option<i64>, bot_id: i64, username: &str) -> std::io::Result<()> {
    for raw in updates {
        let update = match Update::read(&raw) {
            Ok(u) => u,
            Err(e) => match raw.get("update_id").and_then(Value::as_i64) {
                // Readable enough to move past, not to answer: asking again would bring the same.
                Some(update_id) => {
                    log::warn!(target: "channels", "telegram: update {update_id} cannot be read and was skipped: {e}");
                    Update { update_id, message: None }
                }
                None => continue,
            },
        };
        let update_id = update.update_id;
        if offset.is_some_and(|o| update_id < o) {
            continue;
        }
        // No offset can confirm an update numbered i64::MAX; such an update is as broken as one
        // without a number, and skipped the same way.
        let Some(next_id) = update_id.checked_add(1) else {
            log::debug!(target: "channels", "telegram: skipped update {update_id}: no offset can follow it");
            continue;
        };
        let next = next_id.to_string();
        match inbound(update, bot_id, username, &next) {
            Some(msg) => link.accept(msg).await.map(|_| ())?,
            None => link.set_cursor(next).await?,
        }
        *offset = Some(next_id);
    }
    Ok(())
}

/// The message in an update, if it is one the agent can answer (text or a caption).
fn inbound(update: Update, bot_id: i64, username: &str, cursor: &str) -> Option<Inbound> {
    let m = update.message?;
    let text = m.text.or(m.caption)?;
    let from = m.from?;
    if from.is_bot {
        return None;
    }
    let sender = from.id.to_string();
    let group = m.chat.kind != "private";
    let mut chat = m.chat.id.to_string();
    if let (Some(thread), true) = (m.message_thread_id, m.is_topic_message) {
        chat = format!("{}:topic:{thread}", m.chat.id);
    }
    let label = from.username.map(|u| format!("@{u}")).or(from.first_name).unwrap_or_else(|| sender.clone());
    let mention = format!("@{}", username.to_lowercase());
    let replied_to_bot = m.replied_to.is_some_and(|u| u.id == bot_id);
    let mentioned = !username.is_empty() && text.to_lowercase().contains(&mention) || replied_to_bot;
    Some(Inbound {
        id: update.update_id.to_string(),
        chat,
        sender,
        sender_label: label,
        group,
        mentioned,
        text,
        reply_to: group.then(|| m.message_id.to_string()),
        cursor: Some(cursor.to_string()),
        received_at: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(target("123"), (json!(123), None));
        assert_eq!(target("telegram:-100:topic:42"), (json!(-100), Some(42)));
        assert_eq!(target("@news"), (json!("@news"), None));
    }

    /// A link with an open access policy recording into a fresh journal in a temp dir.
    fn open_link() -> (std::path::PathBuf, std::sync::Arc<super::super::journal::Journal>, Link) {
        let dir = std::env::temp_dir().join(format!("oc-tg-{}", crate::ids::uuid()));
        let journal = std::sync::Arc::new(super::super::journal::Journal::open(&dir).unwrap());
        let access = cfg::Access {
            dm_policy: cfg::DmPolicy::Open,
            allow_from: vec!["*".into()],
            group_policy: cfg::GroupPolicy::Open,
            group_allow_from: Vec::new(),
            groups: Vec::new(),
            require_mention: false,
        };
        let link = Link::detached(crate::channels::ChannelKind::Telegram, access, journal.clone());
        (dir, journal, link)
    }

    #[test]
    fn an_update_numbered_i64_max_is_skipped_and_the_rest_recorded() {
        let (dir, journal, link) = open_link();
        let message = |text: &str| json!({"message_id": 1, "from": {"id": 7}, "chat": {"id": 7, "type": "private"}, "text": text});
        let updates = vec![json!({"update_id": i64::MAX, "message": message("broken")}), json!({"update_id": 5, "message": message("hi")})];
        let mut offset = None;
        smol::block_on(record(&link, updates, &mut offset, 1, "bot")).unwrap();
        assert_eq!(offset, Some(6));
        let pending = journal.pending();
        assert_eq!(pending.iter().map(|e| e.msg.text.as_str()).collect::<Vec<_>>(), ["hi"]);
        std::fs::remove_dir_all(&dir).ok();
    }

    fn read(update: &Value) -> Update {
        Update::read(update).expect("a readable update")
    }

    #[test]
    fn an_update_missing_a_required_field_is_skipped_with_its_reason() {
        let err =
            Update::read(&json!({"update_id": 5, "message": {"from": {"id": 7}, "chat": {"id": 7, "type": "private"}, "text": "hi"}}))
                .unwrap_err();
        assert_eq!(err.to_string(), "missing field `message_id`");
        assert_eq!(sent_id(&json!({"message_id": 9, "chat": {"id": 7}})), Ok("9".to_string()));
        assert!(
            matches!(sent_id(&json!({"chat": {"id": 7, "type": "private"}})), Err(SendError::Permanent(m)) if m.contains("message_id"))
        );
        let (dir, journal, link) = open_link();
        let broken = json!({"update_id": 5, "message": {"from": {"id": 7}, "chat": {"id": -5, "type": "group"}, "text": "no id"}});
        let good =
            json!({"update_id": 6, "message": {"message_id": 2, "from": {"id": 7}, "chat": {"id": -5, "type": "group"}, "text": "hi"}});
        let mut offset = None;
        smol::block_on(record(&link, vec![broken, good], &mut offset, 1, "bot")).unwrap();
        assert_eq!(offset, Some(7), "moved past the unreadable update");
        let pending = journal.pending();
        assert_eq!(pending.iter().map(|e| (e.msg.text.as_str(), e.msg.reply_to.as_deref())).collect::<Vec<_>>(), [("hi", Some("2"))]);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn updates_become_inbound_messages() {
        let u = json!({"update_id": 5, "message": {"message_id": 9, "from": {"id": 7, "is_bot": false, "username": "ann"},
                       "chat": {"id": -100, "type": "supergroup"}, "text": "hi @Test_Bot", "message_thread_id": 3, "is_topic_message": true}});
        let m = inbound(read(&u), 1, "test_bot", "6").unwrap();
        assert_eq!((m.id.as_str(), m.chat.as_str(), m.sender.as_str(), m.sender_label.as_str()), ("5", "-100:topic:3", "7", "@ann"));
        assert!(m.group && m.mentioned);
        assert_eq!(m.reply_to.as_deref(), Some("9"));
        let sticker = json!({"update_id": 6, "message": {"message_id": 1, "from": {"id": 7}, "chat": {"id": 7, "type": "private"}}});
        assert!(inbound(read(&sticker), 1, "test_bot", "7").is_none());
        let reply = json!({"update_id": 7, "message": {"message_id": 2, "from": {"id": 7}, "chat": {"id": -5, "type": "group"}, "text": "yes",
                           "reply_to_message": {"from": {"id": 1}}}});
        assert!(inbound(read(&reply), 1, "test_bot", "8").unwrap().mentioned);
    }
}
