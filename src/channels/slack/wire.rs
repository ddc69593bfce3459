//! The Socket Mode frames the receiver reads (Slack API docs, "Using Socket Mode" and the
//! `message` / `app_mention` events), and what of an event reaches the agent. Fields the receiver
//! does not use are not declared; a missing required field is an error that names it.

use serde_json::Value;

use super::BotIdentity;
use crate::channels::journal::Inbound;
use crate::wire::{self, WireError};

/// Every frame Slack sends: `hello`, `disconnect`, or an envelope (`events_api`,
/// `slash_commands`, `interactive`) to acknowledge by its `envelope_id`.
#[derive(Debug)]
pub(crate) struct Frame {
    pub kind: String,
    pub envelope_id: Option<String>,
    pub payload: Value,
    /// 0 on the first delivery; more when Slack redelivers an envelope nobody acknowledged.
    pub retry_attempt: u64,
    /// Of a `disconnect`: `warning`, `refresh_requested`, `link_disabled`, `too_many_websockets`.
    pub reason: Option<String>,
    /// Of a `hello`: sockets open for this app (all processes).
    pub num_connections: Option<u64>,
}

/// The inner event of an `events_api` envelope (`payload.event`) of type `message` or
/// `app_mention`.
#[derive(Debug)]
pub(crate) struct Event {
    pub kind: String,
    /// Absent for what a person typed; edits, deletions, joins and bot posts carry one.
    pub subtype: Option<String>,
    pub user: Option<String>,
    /// Set on whatever a bot (this one included) posted.
    pub bot_id: Option<String>,
    pub text: String,
    pub ts: String,
    pub channel: String,
    /// `im`, `mpim`, `channel`, `group`; absent on `app_mention`.
    pub channel_type: Option<String>,
    /// The root of the thread the message is in.
    pub thread_ts: Option<String>,
}

impl Frame {
    pub(crate) fn read(v: Value) -> Result<Frame, WireError> {
        let Value::Object(mut map) = v else { return Err(WireError::invalid("", &v, "a map")) };
        let payload = map.remove("payload").unwrap_or(Value::Null);
        let o = wire::object_of(&map);
        Ok(Frame {
            kind: o.str("type")?.to_string(),
            envelope_id: o.opt_string("envelope_id")?,
            payload,
            retry_attempt: o.opt_u64("retry_attempt")?.unwrap_or(0),
            reason: o.opt_string("reason")?,
            num_connections: o.opt_u64("num_connections")?,
        })
    }
}

impl Event {
    pub(crate) fn read(v: &Value) -> Result<Event, WireError> {
        let o = wire::object(v)?;
        Ok(Event {
            kind: o.str("type")?.to_string(),
            subtype: o.opt_string("subtype")?,
            user: o.opt_string("user")?,
            bot_id: o.opt_string("bot_id")?,
            text: o.opt_string("text")?.unwrap_or_default(),
            ts: o.str("ts")?.to_string(),
            channel: o.str("channel")?.to_string(),
            channel_type: o.opt_string("channel_type")?,
            thread_ts: o.opt_string("thread_ts")?,
        })
    }
}

/// Subtypes that are still a person's text (everything else is an edit, a deletion, a join, a
/// bot post, …).
const USER_TEXT_SUBTYPES: &[&str] = &["thread_broadcast", "file_share", "me_message"];

/// `text` without our mention, with Slack's escapes undone, and whether it had the mention.
pub(crate) fn strip_mention(text: &str, bot_user: &str) -> (String, bool) {
    let mention = format!("<@{bot_user}>");
    let found = !bot_user.is_empty() && text.contains(&mention);
    let text = if found { text.replace(&mention, "") } else { text.to_string() };
    let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    (text.trim().to_string(), found)
}

/// An event the agent should see: a person's text, not ours, not an edit.
pub(crate) fn inbound(ev: &Event, me: &BotIdentity) -> Option<Inbound> {
    if ev.kind != "message" && ev.kind != "app_mention" {
        return None;
    }
    if ev.subtype.as_deref().is_some_and(|s| !USER_TEXT_SUBTYPES.contains(&s)) {
        return None;
    }
    let user = ev.user.as_deref().filter(|u| !u.is_empty())?;
    if ev.bot_id.is_some() || user == me.user_id {
        return None;
    }
    let (text, in_text) = strip_mention(&ev.text, &me.user_id);
    if text.is_empty() {
        return None;
    }
    let group = match ev.channel_type.as_deref() {
        Some(t) => t != "im",
        None => !ev.channel.starts_with('D'),
    };
    Some(Inbound {
        // `message` and `app_mention` of one message share channel and ts: one journal entry.
        id: format!("{}:{}", ev.channel, ev.ts),
        chat: ev.channel.clone(),
        sender: user.to_string(),
        sender_label: user.to_string(),
        group,
        mentioned: ev.kind == "app_mention" || in_text,
        text,
        reply_to: ev.thread_ts.clone().filter(|t| !t.is_empty()),
        cursor: None,
        received_at: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me() -> BotIdentity {
        BotIdentity { user_id: "UBOT".into(), bot_id: "BBOT".into(), name: "bot".into() }
    }

    fn read(ev: Value) -> Option<Inbound> {
        inbound(&Event::read(&ev).expect("a readable event"), &me())
    }

    #[test]
    fn people_are_read_and_bots_edits_and_joins_are_not() {
        let base = json!({"type": "message", "user": "U1", "text": "hi &lt;there&gt; &amp; all", "ts": "1.2", "channel": "D9", "channel_type": "im"});
        let m = read(base.clone()).unwrap();
        assert_eq!((m.id.as_str(), m.chat.as_str(), m.sender.as_str(), m.text.as_str()), ("D9:1.2", "D9", "U1", "hi <there> & all"));
        assert!(!m.group && !m.mentioned && m.reply_to.is_none());
        let mut ch = json!({"type": "message", "user": "U1", "text": "<@UBOT> help", "ts": "3.4", "channel": "C1",
                            "channel_type": "channel", "thread_ts": "1.0"});
        let m = read(ch.clone()).unwrap();
        assert!(m.group && m.mentioned);
        assert_eq!((m.text.as_str(), m.reply_to.as_deref()), ("help", Some("1.0")));
        ch["type"] = json!("app_mention");
        ch.as_object_mut().unwrap().remove("channel_type");
        let mention = read(ch).unwrap();
        assert_eq!(mention.id, m.id, "message and app_mention of one message are one entry");
        for (k, v) in
            [("bot_id", json!("B2")), ("user", json!("UBOT")), ("subtype", json!("message_changed")), ("subtype", json!("channel_join"))]
        {
            let mut e = base.clone();
            e[k] = v;
            assert!(read(e).is_none(), "{k}");
        }
        let mut broadcast = base.clone();
        broadcast["subtype"] = json!("thread_broadcast");
        assert!(read(broadcast).is_some());
        let mut missing = base;
        missing.as_object_mut().unwrap().remove("ts");
        assert_eq!(Event::read(&missing).unwrap_err().to_string(), "missing field `ts`");
    }
}
