//! RPC methods: the table of what is implemented (advertised in `hello-ok.features.methods`) with
//! the scope each needs, and dispatch. One file per method family.

pub mod agent;
pub mod channels;
pub mod chat;
pub mod config;
pub mod logs;
pub mod models;
pub mod sessions;
pub mod system;

use serde_json::Value;
use std::sync::Arc;

use super::Gateway;
use super::auth::Scope;
use super::handshake::Session;
use super::hub::Outbox;
use super::protocol::{ErrorShape, Request};
use crate::agent::SessionKey;
use crate::config::Config;

/// Events this gateway emits (`hello-ok.features.events`).
pub const EVENTS: &[&str] = &["connect.challenge", "tick", "health", "shutdown", "config.changed", "chat", "agent", "sessions.changed"];

/// Every implemented method and the scope it needs (from the official schema's `methods` table).
const METHODS: &[(&str, Scope)] = &[
    ("health", Scope::Read),
    ("status", Scope::Read),
    ("system-presence", Scope::Read),
    ("last-heartbeat", Scope::Read),
    ("logs.tail", Scope::Read),
    ("config.get", Scope::Read),
    ("config.set", Scope::Admin),
    ("config.patch", Scope::Admin),
    ("config.apply", Scope::Admin),
    ("secrets.reload", Scope::Admin),
    ("channels.status", Scope::Read),
    ("channels.start", Scope::Admin),
    ("channels.stop", Scope::Admin),
    ("channels.pairing.list", Scope::Pairing),
    // "dynamic" officially (pairing, plus admin to bootstrap a command owner, which this
    // gateway does not do).
    ("channels.pairing.approve", Scope::Pairing),
    ("channels.pairing.dismiss", Scope::Pairing),
    ("send", Scope::Write),
    ("chat.send", Scope::Write),
    ("chat.history", Scope::Read),
    ("chat.abort", Scope::Write),
    ("chat.inject", Scope::Admin),
    // The official scope is "dynamic": write, admin for /new and /reset commands.
    ("agent", Scope::Write),
    ("agent.wait", Scope::Write),
    ("wake", Scope::Write),
    ("sessions.list", Scope::Read),
    ("sessions.reset", Scope::Admin),
    // "dynamic" officially; deleting a conversation is an administrative act here.
    ("sessions.delete", Scope::Admin),
    // "dynamic" officially: label and model are write-level fields.
    ("sessions.patch", Scope::Write),
    ("models.list", Scope::Read),
    ("agents.list", Scope::Read),
];

/// The scope a method needs, when the method exists.
pub fn scope_of(method: &str) -> Option<Scope> {
    METHODS.iter().find(|(n, _)| *n == method).map(|(_, s)| *s)
}

pub fn names() -> Vec<&'static str> {
    METHODS.iter().map(|(n, _)| *n).collect()
}

/// What a method call needs to know about its caller.
pub struct Call<'a> {
    pub gw: &'a Arc<Gateway>,
    pub session: &'a Session,
    /// The caller's outbound queue, for methods that answer more than once.
    pub out: &'a Outbox,
    pub id: &'a str,
}

/// The session a request names, canonicalised against its agent; `INVALID_REQUEST` for a
/// malformed key or an agent that is not configured.
pub fn session_key(cfg: &Config, raw: &str, agent_hint: Option<&str>) -> Result<SessionKey, ErrorShape> {
    if let Some(a) = agent_hint {
        ensure_agent(cfg, a)?;
    }
    let key = SessionKey::parse(raw, cfg.agents.default_id(), agent_hint).map_err(ErrorShape::invalid)?;
    ensure_agent(cfg, &key.agent_id)?;
    Ok(key)
}

/// `INVALID_REQUEST unknown agent id "x"` with the official `UNKNOWN_AGENT_ID` details.
pub fn ensure_agent(cfg: &Config, id: &str) -> Result<(), ErrorShape> {
    if cfg.agents.exists(id) {
        return Ok(());
    }
    Err(ErrorShape::invalid(format!("unknown agent id \"{id}\"")).details(serde_json::json!({"code": "UNKNOWN_AGENT_ID", "agentId": id})))
}

/// Runs one request. Scope is checked before the method sees its params. `Ok(None)` means the
/// method answers on its own (later, or more than once).
pub async fn dispatch(call: &Call<'_>, req: &Request) -> Result<Option<Value>, ErrorShape> {
    let Some((_, scope)) = METHODS.iter().find(|(n, _)| *n == req.method) else {
        return Err(ErrorShape::unknown_method(&req.method));
    };
    if !call.session.scopes.allows(*scope) {
        return Err(ErrorShape::missing_scope(scope.name()));
    }
    let p = &req.params;
    let now = match req.method.as_str() {
        "health" => system::health(call, p),
        "status" => system::status(call, p).await,
        "system-presence" => system::presence(call, p),
        "last-heartbeat" => system::last_heartbeat(call, p),
        "logs.tail" => logs::tail(call, p),
        "config.get" => config::get(call, p),
        "config.set" => config::set(call, p).await,
        "config.patch" => config::patch(call, p).await,
        "config.apply" => config::apply(call, p).await,
        "secrets.reload" => config::secrets_reload(call, p).await,
        "channels.status" => channels::status(call, p).await,
        "channels.start" => channels::start(call, p).await,
        "channels.stop" => channels::stop(call, p).await,
        "channels.pairing.list" => channels::pairing_list(call, p).await,
        "channels.pairing.approve" => channels::pairing_approve(call, p).await,
        "channels.pairing.dismiss" => channels::pairing_dismiss(call, p).await,
        "send" => channels::send(call, p).await,
        "chat.send" => chat::send(call, p).await,
        "chat.history" => chat::history(call, p).await,
        "chat.abort" => chat::abort(call, p).await,
        "chat.inject" => chat::inject(call, p).await,
        "agent" => return agent::agent(call, p).await,
        "agent.wait" => return agent::wait(call, p).await,
        "wake" => return agent::wake(call, p).await,
        "sessions.list" => sessions::list(call, p).await,
        "sessions.reset" => sessions::reset(call, p).await,
        "sessions.delete" => sessions::delete(call, p).await,
        "sessions.patch" => sessions::patch(call, p).await,
        "models.list" => models::list(call, p),
        "agents.list" => models::agents(call, p),
        other => Err(ErrorShape::unknown_method(other)),
    };
    now.map(Some)
}
