//! RPC methods: the table of what is implemented (advertised in `hello-ok.features.methods`) with
//! the scope each needs, and dispatch. One file per method family.

pub mod agent;
pub mod channels;
pub mod chat;
pub mod config;
pub mod devices;
pub mod empty;
pub mod logs;
pub mod models;
pub mod sessions;
pub mod system;
pub mod ui;

use serde_json::Value;
use std::sync::Arc;

use super::handshake::Session;
use super::protocol::Request;
use crate::agent::SessionKey;
use crate::config::Config;
use crate::error::Error;
use crate::gateway::Gateway;
use crate::gateway::auth::Scope;
use crate::gateway::hub::Outbox;

/// Events this gateway emits (`hello-ok.features.events`).
pub const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "health",
    "shutdown",
    "config.changed",
    "chat",
    "agent",
    "sessions.changed",
    "device.pair.requested",
    "device.pair.resolved",
];

/// Declares the implemented methods once: the [`Method`] enum, each method's official name and
/// the scope it needs. `hello-ok.features.methods` lists [`Method::ALL`]; [`dispatch`] matches on
/// the enum, so a method added here without a handler does not compile.
macro_rules! methods {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $scope:ident;)*) => {
        /// A method this gateway implements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Method {
            $($(#[$doc])* $variant,)*
        }

        impl Method {
            pub const ALL: &'static [Method] = &[$(Method::$variant),*];

            /// The official method name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Method::$variant => $name,)*
                }
            }

            /// The scope a connection needs to call it (from the official method table).
            pub fn scope(self) -> Scope {
                match self {
                    $(Method::$variant => Scope::$scope,)*
                }
            }

            pub fn from_name(name: &str) -> Option<Method> {
                match name {
                    $($name => Some(Method::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

methods! {
    Health = "health", Read;
    Status = "status", Read;
    SystemPresence = "system-presence", Read;
    LastHeartbeat = "last-heartbeat", Read;
    LogsTail = "logs.tail", Read;
    ConfigGet = "config.get", Read;
    ConfigSet = "config.set", Admin;
    ConfigPatch = "config.patch", Admin;
    ConfigApply = "config.apply", Admin;
    SecretsReload = "secrets.reload", Admin;
    ChannelsStatus = "channels.status", Read;
    ChannelsStart = "channels.start", Admin;
    ChannelsStop = "channels.stop", Admin;
    ChannelsPairingList = "channels.pairing.list", Pairing;
    /// "dynamic" officially (pairing, plus admin to bootstrap a command owner, which this
    /// gateway does not do).
    ChannelsPairingApprove = "channels.pairing.approve", Pairing;
    ChannelsPairingDismiss = "channels.pairing.dismiss", Pairing;
    Send = "send", Write;
    ChatSend = "chat.send", Write;
    ChatHistory = "chat.history", Read;
    ChatAbort = "chat.abort", Write;
    ChatInject = "chat.inject", Admin;
    /// "dynamic" officially: write, admin for /new and /reset commands.
    Agent = "agent", Write;
    AgentWait = "agent.wait", Write;
    Wake = "wake", Write;
    SessionsList = "sessions.list", Read;
    SessionsReset = "sessions.reset", Admin;
    /// "dynamic" officially; deleting a conversation is an administrative act here.
    SessionsDelete = "sessions.delete", Admin;
    /// "dynamic" officially: label and model are write-level fields.
    SessionsPatch = "sessions.patch", Write;
    ModelsList = "models.list", Read;
    AgentsList = "agents.list", Read;
    // What the official Control UI calls (ui.rs: from this gateway's state).
    SessionsSubscribe = "sessions.subscribe", Read;
    SessionsMessagesSubscribe = "sessions.messages.subscribe", Read;
    SessionsMessagesUnsubscribe = "sessions.messages.unsubscribe", Read;
    SessionsDescribe = "sessions.describe", Read;
    SessionsObserverVisibility = "sessions.observer.visibility", Read;
    ChatStartup = "chat.startup", Read;
    ChatMetadata = "chat.metadata", Read;
    ModelsAuthStatus = "models.authStatus", Read;
    UpdateStatus = "update.status", Admin;
    AgentIdentityGet = "agent.identity.get", Read;
    SystemInfo = "system.info", Read;
    DiagnosticsLanes = "diagnostics.lanes", Read;
    // Features this gateway does not have, answered empty (empty.rs).
    ExecApprovalList = "exec.approval.list", Approvals;
    PluginApprovalList = "plugin.approval.list", Approvals;
    OpenclawApprovalList = "openclaw.approval.list", Approvals;
    QuestionList = "question.list", Questions;
    CronList = "cron.list", Read;
    CronStatus = "cron.status", Read;
    NodeList = "node.list", Read;
    TasksList = "tasks.list", Read;
    ProgressCardGet = "progressCard.get", Read;
    SessionsBranchesList = "sessions.branches.list", Read;
    SessionsCompanionState = "sessions.companion.state", Read;
    TalkCatalog = "talk.catalog", Read;
    SessionsCatalogList = "sessions.catalog.list", Read;
    PluginsList = "plugins.list", Read;
    /// Not in the shared schema's method table (official since 2026.9).
    PluginsControlUiList = "plugins.controlUi.list", Read;
    ExecApprovalsGet = "exec.approvals.get", Admin;
    /// Not in the shared schema's method table (official since 2026.9).
    ThemesList = "themes.list", Read;
    DevicePairList = "device.pair.list", Pairing;
    DevicePairApprove = "device.pair.approve", Pairing;
    DevicePairReject = "device.pair.reject", Pairing;
    /// Answers itself, then closes the removed device's connections (4001).
    DevicePairRemove = "device.pair.remove", Pairing;
}

/// The scope a method needs, when the method exists.
pub fn scope_of(method: &str) -> Option<Scope> {
    Method::from_name(method).map(Method::scope)
}

/// The method names `hello-ok.features.methods` advertises.
pub fn names() -> Vec<&'static str> {
    Method::ALL.iter().map(|m| m.name()).collect()
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
pub fn session_key(cfg: &Config, raw: &str, agent_hint: Option<&str>) -> Result<SessionKey, Error> {
    if let Some(a) = agent_hint {
        ensure_agent(cfg, a)?;
    }
    let key = SessionKey::parse(raw, cfg.agents.default_id(), agent_hint).map_err(Error::invalid)?;
    ensure_agent(cfg, &key.agent_id)?;
    Ok(key)
}

/// `INVALID_REQUEST unknown agent id "x"` with the official `UNKNOWN_AGENT_ID` details.
pub fn ensure_agent(cfg: &Config, id: &str) -> Result<(), Error> {
    if cfg.agents.exists(id) {
        return Ok(());
    }
    Err(Error::invalid(format!("unknown agent id \"{id}\"")).details(serde_json::json!({"code": "UNKNOWN_AGENT_ID", "agentId": id})))
}

/// Runs one request. Scope is checked before the method sees its params. `Ok(None)` means the
/// method answers on its own (later, or more than once).
pub async fn dispatch(call: &Call<'_>, req: &Request) -> Result<Option<Value>, Error> {
    let Some(method) = Method::from_name(&req.method) else {
        return Err(Error::UnknownMethod(req.method.clone()));
    };
    let scope = method.scope();
    if !call.session.scopes.allows(scope) {
        return Err(Error::MissingScope(scope.name()));
    }
    let p = &req.params;
    let now = match method {
        Method::Health => system::health(call, p),
        Method::Status => system::status(call, p).await,
        Method::SystemPresence => system::presence(call, p),
        Method::LastHeartbeat => system::last_heartbeat(call, p),
        Method::LogsTail => logs::tail(call, p),
        Method::ConfigGet => config::get(call, p),
        Method::ConfigSet => config::set(call, p).await,
        Method::ConfigPatch => config::patch(call, p).await,
        Method::ConfigApply => config::apply(call, p).await,
        Method::SecretsReload => config::secrets_reload(call, p).await,
        Method::ChannelsStatus => channels::status(call, p).await,
        Method::ChannelsStart => channels::start(call, p).await,
        Method::ChannelsStop => channels::stop(call, p).await,
        Method::ChannelsPairingList => channels::pairing_list(call, p).await,
        Method::ChannelsPairingApprove => channels::pairing_approve(call, p).await,
        Method::ChannelsPairingDismiss => channels::pairing_dismiss(call, p).await,
        Method::Send => channels::send(call, p).await,
        Method::ChatSend => chat::send(call, p).await,
        Method::ChatHistory => chat::history(call, p).await,
        Method::ChatAbort => chat::abort(call, p).await,
        Method::ChatInject => chat::inject(call, p).await,
        Method::Agent => return agent::agent(call, p).await,
        Method::AgentWait => return agent::wait(call, p).await,
        Method::Wake => return agent::wake(call, p).await,
        Method::SessionsList => sessions::list(call, p).await,
        Method::SessionsReset => sessions::reset(call, p).await,
        Method::SessionsDelete => sessions::delete(call, p).await,
        Method::SessionsPatch => sessions::patch(call, p).await,
        Method::ModelsList => models::list(call, p),
        Method::AgentsList => models::agents(call, p),
        Method::SessionsSubscribe => ui::sessions_subscribe(call, p),
        Method::SessionsMessagesSubscribe => ui::messages_subscribe(call, p),
        Method::SessionsMessagesUnsubscribe => ui::messages_unsubscribe(call, p),
        Method::SessionsDescribe => ui::sessions_describe(call, p).await,
        Method::SessionsObserverVisibility => ui::observer_visibility(call, p),
        Method::ChatStartup => ui::chat_startup(call, p).await,
        Method::ChatMetadata => ui::chat_metadata(call, p),
        Method::ModelsAuthStatus => ui::models_auth_status(call, p),
        Method::UpdateStatus => ui::update_status(call, p),
        Method::AgentIdentityGet => ui::agent_identity(call, p),
        Method::SystemInfo => ui::system_info(call, p),
        Method::DiagnosticsLanes => ui::diagnostics_lanes(call, p),
        Method::ExecApprovalList | Method::PluginApprovalList | Method::OpenclawApprovalList => empty::approvals(call, p),
        Method::QuestionList => empty::questions(call, p),
        Method::CronList => empty::cron_list(call, p),
        Method::CronStatus => empty::cron_status(call, p),
        Method::NodeList => empty::node_list(call, p),
        Method::TasksList => empty::tasks_list(call, p),
        Method::ProgressCardGet => empty::progress_card(call, p),
        Method::SessionsBranchesList => empty::branches(call, p),
        Method::SessionsCompanionState => empty::companion(call, p),
        Method::TalkCatalog => empty::talk_catalog(call, p),
        Method::SessionsCatalogList => empty::session_catalogs(call, p),
        Method::PluginsList => empty::plugins_list(call, p),
        Method::PluginsControlUiList => empty::plugins_control_ui(call, p),
        Method::ExecApprovalsGet => empty::exec_approvals(call, p),
        Method::ThemesList => empty::themes(call, p),
        Method::DevicePairList => devices::list(call, p).await,
        Method::DevicePairApprove => devices::approve(call, p).await,
        Method::DevicePairReject => devices::reject(call, p).await,
        Method::DevicePairRemove => return devices::remove(call, p).await,
    };
    now.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_table_and_the_advertised_list_agree() {
        assert_eq!(names().len(), Method::ALL.len());
        for m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(*m), "{m:?}");
            assert_eq!(scope_of(m.name()), Some(m.scope()));
        }
        let mut unique = names();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), Method::ALL.len(), "no name twice");
        assert_eq!(Method::from_name("no.such.method"), None);
    }
}
