//! RPC methods: the table of what is implemented (advertised in `hello-ok.features.methods`) with
//! the scope each needs, and dispatch. One file per method family.

pub mod channels;
pub mod config;
pub mod logs;
pub mod system;

use serde_json::Value;
use std::sync::Arc;

use super::Gateway;
use super::auth::Scope;
use super::handshake::Session;
use super::hub::Outbox;
use super::protocol::{ErrorShape, Request};

/// Events this gateway emits (`hello-ok.features.events`).
pub const EVENTS: &[&str] = &["connect.challenge", "tick", "health", "shutdown", "config.changed"];

/// Every implemented method and the scope it needs (from the official schema's `methods` table).
const METHODS: &[(&str, Scope)] = &[
    ("health", Scope::Read),
    ("status", Scope::Read),
    ("system-presence", Scope::Read),
    ("logs.tail", Scope::Read),
    ("config.get", Scope::Read),
    ("config.set", Scope::Admin),
    ("config.patch", Scope::Admin),
    ("config.apply", Scope::Admin),
    ("secrets.reload", Scope::Admin),
    ("channels.status", Scope::Read),
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

/// Runs one request. Scope is checked before the method sees its params.
pub async fn dispatch(call: &Call<'_>, req: &Request) -> Result<Value, ErrorShape> {
    let Some((_, scope)) = METHODS.iter().find(|(n, _)| *n == req.method) else {
        return Err(ErrorShape::unknown_method(&req.method));
    };
    if !call.session.scopes.allows(*scope) {
        return Err(ErrorShape::missing_scope(scope.name()));
    }
    match req.method.as_str() {
        "health" => system::health(call, &req.params),
        "status" => system::status(call, &req.params).await,
        "system-presence" => system::presence(call, &req.params),
        "logs.tail" => logs::tail(call, &req.params),
        "config.get" => config::get(call, &req.params),
        "config.set" => config::set(call, &req.params).await,
        "config.patch" => config::patch(call, &req.params).await,
        "config.apply" => config::apply(call, &req.params).await,
        "secrets.reload" => config::secrets_reload(call, &req.params).await,
        "channels.status" => channels::status(call, &req.params).await,
        other => Err(ErrorShape::unknown_method(other)),
    }
}
