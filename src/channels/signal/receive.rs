//! The receiving half: the daemon's server-sent event stream, read until it drops or goes
//! silent, and each `receive` event turned into an [`Inbound`].
//!
//! signal-cli writes a `:` comment every 15 s on an idle stream, so a stream that says nothing
//! for the poll timeout plus the stall grace (45 s by default) is dead even if its socket looks
//! open (signal-cli's HTTP mode has been seen to hang): it is closed and reopened with backoff,
//! and the status says so meanwhile. Before each (re)connect `GET /api/v1/check` tells a daemon
//! that is down from one that is up but refuses the stream.
//!
//! Only data messages with text from someone else are recorded: the account's own messages
//! (sync messages from its other devices, and anything sent from its own number), receipts,
//! typing notices, group updates and reactions are skipped. The journal id is the sender and the
//! message timestamp, which is what Signal itself identifies a message by, so an event the daemon
//! replays after a reconnect is recognised and not answered twice.

use serde_json::Value;
use std::time::Instant;

use super::Client;
use crate::channels::journal::Inbound;
use crate::channels::{Backoff, HealthState, Link};
use crate::limits;
use crate::net::client as http;
use crate::net::sse::SseParser;
use crate::wire::{self, WireError};

/// A mention in a data message (`dataMessage.mentions[]`): who, in the order of the placeholders.
#[derive(Debug)]
struct Mention<'a> {
    name: Option<&'a str>,
    number: Option<&'a str>,
    uuid: Option<&'a str>,
}

impl<'a> Mention<'a> {
    fn read(v: &'a Value) -> Result<Mention<'a>, WireError> {
        let o = wire::object(v)?;
        Ok(Mention { name: o.opt_str("name")?, number: o.opt_str("number")?, uuid: o.opt_str("uuid")? })
    }
}

/// U+FFFC stands in the text for each mention, in order.
const MENTION_MARK: char = '\u{fffc}';

/// The text with each mention placeholder written out as `@name`, and whether one named `me`.
fn mentions(text: &str, list: &[Mention<'_>], me: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut next = list.iter();
    for ch in text.chars() {
        if ch != MENTION_MARK {
            out.push(ch);
            continue;
        }
        if let Some(m) = next.next() {
            let name = m.name.or(m.number).or(m.uuid).unwrap_or("someone");
            out.push('@');
            out.push_str(name);
        }
    }
    let named_me = list.iter().any(|m| m.number == Some(me) || m.name == Some(me));
    (out, named_me)
}

/// One `receive` event's data: the message to record, `None` for what is not for the agent, or
/// why it cannot be read. The data is `{"envelope": {…}, "account": "+…"}`; the envelope is absent
/// when signal-cli only reports an `exception` (an undecryptable message), and its `dataMessage`
/// for receipts, typing, sync, call and story envelopes.
pub(super) fn inbound(data: &str, me: &str) -> Result<Option<Inbound>, String> {
    let data: Value = serde_json::from_str(data).map_err(|e| format!("cannot be read: {e}"))?;
    read_inbound(&data, me).map_err(|e| format!("cannot be read: {e}"))
}

fn read_inbound(data: &Value, me: &str) -> Result<Option<Inbound>, WireError> {
    let r = wire::object(data)?;
    // The receiving account; on a multi-account daemon without `?account=`, anyone's.
    if r.opt_str("account")?.is_some_and(|a| a != me) {
        return Ok(None);
    }
    let Some(env) = r.opt_obj("envelope")? else { return Ok(None) };
    // `source` is the legacy identifier (number, or ACI when the number is hidden).
    let (number, uuid) = (env.opt_str("sourceNumber")?, env.opt_str("sourceUuid")?);
    let sender = match (number, uuid, env.opt_str("source")?) {
        (Some(n), _, _) => n.to_string(),
        (None, Some(u), _) => format!("uuid:{}", u.to_lowercase()),
        (None, None, Some(s)) => s.to_string(),
        (None, None, None) => return Err(WireError::new("the envelope has no sender")),
    };
    let timestamp = env.u64("timestamp")?;
    let source_name = env.opt_str("sourceName")?;
    // Our own number: a message this account sent (from another device or from here).
    if sender == me {
        return Ok(None);
    }
    let Some(dm) = env.opt_obj("dataMessage")? else { return Ok(None) };
    // Absent or null for attachments only, reactions, group updates, timer changes.
    let Some(raw) = dm.opt_str("message")?.filter(|m| !m.trim().is_empty()) else { return Ok(None) };
    let group = match dm.opt_obj("groupInfo")? {
        // `DELIVER` for messages, `UPDATE` for membership and title changes.
        Some(info) if info.opt_str("type")? == Some("UPDATE") => return Ok(None),
        Some(info) => Some(info.str("groupId")?.to_string()),
        None => None,
    };
    let list = dm.list("mentions")?.iter().map(Mention::read).collect::<Result<Vec<_>, _>>()?;
    let (text, named_me) = mentions(raw, &list, me);
    let author = number.or(uuid).map_or_else(|| sender.clone(), str::to_string);
    let key = uuid.map(str::to_lowercase).unwrap_or_else(|| sender.clone());
    Ok(Some(Inbound {
        id: format!("{key}:{timestamp}"),
        chat: group.clone().unwrap_or_else(|| sender.clone()),
        sender_label: source_name.filter(|n| !n.is_empty()).map_or_else(|| sender.clone(), str::to_string),
        sender,
        group: group.is_some(),
        mentioned: named_me || text.contains(me),
        text: text.trim().to_string(),
        // In a group the answer quotes the question (Signal quotes by timestamp and author).
        reply_to: group.is_some().then(|| format!("{timestamp}:{author}")),
        cursor: None,
        received_at: 0,
    }))
}

enum End {
    Retry(String),
    Fatal(String),
}

/// The receiver: (re)open the event stream until the channel is stopped.
pub async fn receive(client: Client, link: Link) {
    let mut backoff = Backoff::new(&link.tuning);
    loop {
        let started = Instant::now();
        let end = stream(&client, &link).await;
        if started.elapsed() >= link.tuning.healthy_after {
            backoff.reset();
        }
        match end {
            End::Fatal(why) => {
                link.fatal(&why, HealthState::NotConfigured);
                return;
            }
            End::Retry(why) => {
                link.disconnected(&why);
                link.pause(&mut backoff, None).await;
            }
        }
    }
}

/// Opens the stream after a health check and reads it until it ends; says why it ended.
async fn stream(client: &Client, link: &Link) -> End {
    if let Err(why) = client.check().await {
        return End::Retry(why);
    }
    let me = client.account().to_string();
    let url = match http::Url::parse(&client.events_url()) {
        Ok(u) => u,
        Err(e) => return End::Fatal(format!("channels.signal.httpUrl is not usable: {e}")),
    };
    let req = http::Request::new("GET", url).header("Accept", "text/event-stream");
    let silence = link.tuning.poll_timeout + link.tuning.stall_grace;
    let t = http::Timeouts { connect: limits::CHANNEL_CONNECT_TIMEOUT, head: limits::CHANNEL_REQUEST_TIMEOUT, idle: silence };
    let mut resp = match http::send(&req, &t).await {
        Ok(r) => r,
        Err(e) => return End::Retry(format!("cannot open the event stream: {e}")),
    };
    match resp.status {
        200 => {}
        400 => {
            return End::Fatal(format!(
                "the signal-cli daemon does not know account {me} (HTTP 400 on /api/v1/events); register or link it, or fix channels.signal.account"
            ));
        }
        s => return End::Retry(format!("the event stream answered HTTP {s}")),
    }
    link.connected(Some(me.clone()));
    let mut parser = SseParser::new(limits::SSE_MAX_LINE);
    loop {
        let bytes = match resp.chunk().await {
            Ok(Some(b)) => b,
            Ok(None) => return End::Retry("the event stream ended (the daemon closed it)".into()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return End::Retry(format!("the event stream went silent for {} s (no keepalive)", silence.as_secs_f32()));
            }
            Err(e) => return End::Retry(format!("the event stream dropped: {e}")),
        };
        link.activity();
        let mut events = Vec::new();
        if let Err(e) = parser.feed(&bytes, &mut events) {
            return End::Retry(format!("the event stream broke its format: {e}"));
        }
        for ev in events.into_iter().filter(|e| e.event.as_deref().is_none_or(|n| n == "receive")) {
            match inbound(&ev.data, &me) {
                Ok(Some(msg)) => {
                    if let Err(e) = link.accept(msg).await {
                        return End::Retry(format!("cannot record an incoming message: {e}"));
                    }
                }
                Ok(None) => {}
                Err(why) => log::warn!(target: "channels", "signal: an event {why}; skipped"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "+15550000001";

    fn event(envelope: serde_json::Value) -> String {
        serde_json::json!({"envelope": envelope, "account": ME}).to_string()
    }

    #[test]
    fn direct_and_group_messages() {
        let dm = event(
            serde_json::json!({"source": "+15557654321", "sourceNumber": "+15557654321", "sourceUuid": "7CCAE375-cd51-4c82-8b1e-7be3280aa485",
            "sourceName": "Gabriel", "sourceDevice": 1, "timestamp": 1745372297238_u64,
            "dataMessage": {"timestamp": 1745372297238_u64, "message": "hello", "expiresInSeconds": 0, "viewOnce": false}}),
        );
        let m = inbound(&dm, ME).unwrap().unwrap();
        assert_eq!(
            (m.chat.as_str(), m.sender.as_str(), m.sender_label.as_str(), m.group),
            ("+15557654321", "+15557654321", "Gabriel", false)
        );
        assert_eq!(m.id, "7ccae375-cd51-4c82-8b1e-7be3280aa485:1745372297238");
        assert!(m.reply_to.is_none());
        let group = event(serde_json::json!({"sourceUuid": "7ccae375-cd51-4c82-8b1e-7be3280aa485", "timestamp": 5,
            "dataMessage": {"message": "\u{fffc} what time is it?", "groupInfo": {"groupId": "Zm9vYmFyYmF6cXV4cXV1eA==", "type": "DELIVER"},
                            "mentions": [{"name": ME, "number": ME, "uuid": "x", "start": 0, "length": 1}]}}));
        let m = inbound(&group, ME).unwrap().unwrap();
        assert!(m.group && m.mentioned, "{m:?}");
        assert_eq!((m.chat.as_str(), m.text.as_str()), ("Zm9vYmFyYmF6cXV4cXV1eA==", "@+15550000001 what time is it?"));
        assert_eq!(m.sender, "uuid:7ccae375-cd51-4c82-8b1e-7be3280aa485");
        assert_eq!(m.reply_to.as_deref(), Some("5:7ccae375-cd51-4c82-8b1e-7be3280aa485"));
    }

    #[test]
    fn what_is_not_for_the_agent_is_skipped() {
        let skip = |env: serde_json::Value| inbound(&event(env), ME).unwrap().is_none();
        assert!(skip(serde_json::json!({"sourceNumber": "+1555", "timestamp": 1, "receiptMessage": {"isDelivery": true}})));
        assert!(skip(serde_json::json!({"sourceNumber": "+1555", "timestamp": 1, "typingMessage": {"action": "STARTED"}})));
        assert!(skip(serde_json::json!({"sourceNumber": ME, "timestamp": 1, "syncMessage": {"sentMessage": {"message": "x"}}})));
        assert!(skip(serde_json::json!({"sourceNumber": ME, "timestamp": 1, "dataMessage": {"message": "note to self"}})));
        assert!(skip(serde_json::json!({"sourceNumber": "+1555", "timestamp": 1, "dataMessage": {"message": null}})));
        assert!(skip(serde_json::json!({"sourceNumber": "+1555", "timestamp": 1,
            "dataMessage": {"message": "x", "groupInfo": {"groupId": "Zm9vYmFyYmF6cXV4cXV1eA==", "type": "UPDATE"}}})));
        let other = serde_json::json!({"account": "+15559999999", "envelope": {"sourceNumber": "+1555", "timestamp": 1, "dataMessage": {"message": "x"}}});
        assert!(inbound(&other.to_string(), ME).unwrap().is_none(), "another account's message");
        assert!(inbound(r#"{"exception": {"message": "untrusted", "type": "x"}}"#, ME).unwrap().is_none());
        // A missing required field is an error, never a default.
        assert!(inbound(&event(serde_json::json!({"sourceNumber": "+1555", "dataMessage": {"message": "x"}})), ME).is_err());
        assert!(inbound(&event(serde_json::json!({"timestamp": 1, "dataMessage": {"message": "x"}})), ME).is_err());
        assert!(inbound("not json", ME).is_err());
    }
}
