//! The Discord gateway payloads the receiver reads (Discord developer docs, "Gateway Events"):
//! the `{op, d, s, t}` envelope and the `d` of the events used. Fields the receiver does not use
//! are not declared (serde skips them); a missing required field is an error that names it.

use serde::Deserialize;
use serde_json::Value;

/// Every gateway payload.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    /// Opcode (`op` in the gateway module).
    pub op: u64,
    /// The event data; its shape depends on `op` and `t`.
    #[serde(default)]
    pub d: Value,
    /// Sequence number of a dispatch (op 0).
    pub s: Option<u64>,
    /// Event name of a dispatch (op 0).
    pub t: Option<String>,
}

/// `d` of op 10 Hello.
#[derive(Debug, Deserialize)]
pub(crate) struct Hello {
    /// Milliseconds; Discord sends 41250.
    pub heartbeat_interval: f64,
}

/// `d` of READY.
#[derive(Debug, Deserialize)]
pub(crate) struct Ready {
    pub session_id: String,
    /// Where to Resume; older gateways did not send it (then the Identify gateway is used).
    #[serde(default)]
    pub resume_gateway_url: String,
    pub user: User,
}

/// A user: the bot in READY, a message's author or one of its mentions.
#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub id: String,
    pub username: Option<String>,
    /// The display name; `null` for users who never set one.
    pub global_name: Option<String>,
    #[serde(default)]
    pub bot: bool,
}

/// `d` of MESSAGE_CREATE.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageCreate {
    pub id: String,
    pub channel_id: String,
    /// Set for messages in a server; absent in DMs.
    pub guild_id: Option<String>,
    /// 0 is a plain message and 19 a reply; the others are system messages (joins, pins, …).
    #[serde(rename = "type")]
    pub kind: Option<u64>,
    pub content: Option<String>,
    pub author: User,
    /// The users mentioned (user objects).
    #[serde(default)]
    pub mentions: Vec<User>,
}
