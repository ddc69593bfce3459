//! The Discord gateway payloads the receiver reads (Discord developer docs, "Gateway Events"):
//! the `{op, d, s, t}` envelope and the `d` of the events used. Fields the receiver does not use
//! are not declared (the readers skip them); a missing required field is an error that names it.

use serde_json::Value;

use crate::wire::{self, Obj, WireError};

/// Every gateway payload.
#[derive(Debug)]
pub(crate) struct Envelope {
    /// Opcode (`op` in the gateway module).
    pub op: u64,
    /// The event data; its shape depends on `op` and `t`.
    pub d: Value,
    /// Sequence number of a dispatch (op 0).
    pub s: Option<u64>,
    /// Event name of a dispatch (op 0).
    pub t: Option<String>,
}

/// `d` of op 10 Hello.
#[derive(Debug)]
pub(crate) struct Hello {
    /// Milliseconds; Discord sends 41250.
    pub heartbeat_interval: f64,
}

/// `d` of READY.
#[derive(Debug)]
pub(crate) struct Ready {
    pub session_id: String,
    /// Where to Resume; older gateways did not send it (then the Identify gateway is used).
    pub resume_gateway_url: String,
    pub user: User,
}

/// A user: the bot in READY, a message's author or one of its mentions.
#[derive(Debug)]
pub(crate) struct User {
    pub id: String,
    pub username: Option<String>,
    /// The display name; `null` for users who never set one.
    pub global_name: Option<String>,
    pub bot: bool,
}

/// `d` of MESSAGE_CREATE.
#[derive(Debug)]
pub(crate) struct MessageCreate {
    pub id: String,
    pub channel_id: String,
    /// Set for messages in a server; absent in DMs.
    pub guild_id: Option<String>,
    /// 0 is a plain message and 19 a reply; the others are system messages (joins, pins, …).
    pub kind: Option<u64>,
    pub content: Option<String>,
    pub author: User,
    /// The users mentioned (user objects).
    pub mentions: Vec<User>,
}

impl Envelope {
    pub(crate) fn read(v: Value) -> Result<Envelope, WireError> {
        let Value::Object(mut map) = v else { return Err(WireError::invalid("", &v, "a map")) };
        let d = map.remove("d").unwrap_or(Value::Null);
        let o = wire::object_of(&map);
        Ok(Envelope { op: o.u64("op")?, s: o.opt_u64("s")?, t: o.opt_string("t")?, d })
    }
}

impl Hello {
    pub(crate) fn read(d: &Value) -> Result<Hello, WireError> {
        Ok(Hello { heartbeat_interval: wire::object(d)?.f64("heartbeat_interval")? })
    }
}

impl Ready {
    pub(crate) fn read(d: &Value) -> Result<Ready, WireError> {
        let o = wire::object(d)?;
        Ok(Ready {
            session_id: o.str("session_id")?.to_string(),
            resume_gateway_url: o.opt_str("resume_gateway_url")?.unwrap_or_default().to_string(),
            user: User::read(o.obj("user")?)?,
        })
    }
}

impl User {
    fn read(o: Obj<'_>) -> Result<User, WireError> {
        Ok(User {
            id: o.str("id")?.to_string(),
            username: o.opt_string("username")?,
            global_name: o.opt_string("global_name")?,
            bot: o.flag("bot")?,
        })
    }
}

impl MessageCreate {
    pub(crate) fn read(d: &Value) -> Result<MessageCreate, WireError> {
        let o = wire::object(d)?;
        let mentions = o.list("mentions")?.iter().map(|u| wire::object(u).and_then(User::read)).collect::<Result<_, _>>()?;
        Ok(MessageCreate {
            id: o.str("id")?.to_string(),
            channel_id: o.str("channel_id")?.to_string(),
            guild_id: o.opt_string("guild_id")?,
            kind: o.opt_u64("type")?,
            content: o.opt_string("content")?,
            author: User::read(o.obj("author")?)?,
            mentions,
        })
    }
}
