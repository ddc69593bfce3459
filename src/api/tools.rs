//! `POST /tools/invoke`: runs one of the agent's tools directly, for scripts and automations.
//! The official hard deny list applies over HTTP (whatever the agent itself may use), extended by
//! `gateway.tools.deny` and relaxed by `gateway.tools.allow`.

use serde_json::{Value, json};
use std::sync::Arc;

use super::{Surface, error_response, json_body};
use crate::agent::tools::{self, Tool, ToolEnv};
use crate::agent::{Abort, SessionKey};
use crate::config::Config;
use crate::error::Error;
use crate::gateway::Gateway;
use crate::net::http::{Request, Response};

/// Tools never invocable over HTTP unless `gateway.tools.allow` names them (official list).
pub const HTTP_DENY: &[&str] = &[
    "exec",
    "spawn",
    "shell",
    "fs_write",
    "fs_delete",
    "fs_move",
    "apply_patch",
    "sessions_spawn",
    "sessions_send",
    "cron",
    "gateway",
    "nodes",
];
/// Tools that stay denied even when allowed (owner-only officially; there is no owner on HTTP).
const OWNER_ONLY: &[&str] = &["cron", "gateway", "nodes"];

/// A malformed request, through the one HTTP error mapping.
fn invalid(message: &str) -> Response {
    error_response(&Error::invalid(message), Surface::Tools)
}

/// The tool-specific failures (an unavailable tool, a failing tool), which are not gateway errors.
fn failure(status: u16, kind: &str, message: &str) -> Response {
    Response::json(status, &json!({"ok": false, "error": {"type": kind, "message": message}}))
}

/// Whether `name` may be invoked over HTTP under `cfg`.
pub fn http_allowed(cfg: &Config, name: &str) -> bool {
    let g = &cfg.gateway.tools;
    let denied = (HTTP_DENY.contains(&name) && (!g.allow.iter().any(|a| a == name) || OWNER_ONLY.contains(&name)))
        || g.deny.iter().any(|d| d == name);
    !denied
}

/// `POST /tools/invoke {tool|name, args?, sessionKey?, agentId?}`.
pub async fn invoke(gw: &Arc<Gateway>, req: Request, cfg: Arc<Config>) -> Response {
    let body = match json_body(&req) {
        Ok(b) => b,
        Err(e) => return invalid(&e),
    };
    let name = body.get("name").or(body.get("tool")).and_then(Value::as_str).map(str::trim).unwrap_or("");
    if name.is_empty() {
        return invalid("tools.invoke requires name");
    }
    let args = match body.get("args") {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return invalid("args must be an object"),
    };
    let agent_id = match body.get("agentId").and_then(Value::as_str) {
        Some(a) if !cfg.agents.exists(a) => return invalid(&format!("unknown agent id {a:?}")),
        Some(a) => a.to_string(),
        None => cfg.agents.default_id().to_string(),
    };
    if !http_allowed(&cfg, name) {
        return failure(404, "not_found", &format!("Tool not available: {name}"));
    }
    if name == "sessions_list" {
        return sessions_list(gw, &cfg, &agent_id).await;
    }
    let offered = tools::offered(&cfg.tools);
    let Some(tool) = Tool::find(name).filter(|t| offered.contains(t)) else {
        return failure(404, "not_found", &format!("Tool not available: {name}"));
    };
    let workspace = gw.agent.workspace_for(&cfg, &agent_id);
    if let Err(e) = smol::unblock({
        let w = workspace.clone();
        move || std::fs::create_dir_all(w)
    })
    .await
    {
        return failure(500, "tool_error", &format!("the workspace is not available: {e}"));
    }
    let env = ToolEnv {
        workspace,
        exec_security: cfg.tools.exec_security,
        safe_bins: cfg.tools.exec_safe_bins.clone(),
        exec_timeout: cfg.tools.exec_timeout,
        timezone: cfg.agents.defaults.user_timezone.clone(),
    };
    let (abort, _keep_alive) = Abort::new();
    let out = tools::run(tool, &args, &env, &abort).await;
    if out.is_error {
        return failure(400, "tool_error", &out.text);
    }
    Response::json(200, &json!({"ok": true, "result": {"content": [{"type": "text", "text": out.text}]}}))
}

/// The official `sessions_list` tool: the agent's sessions as JSON text.
async fn sessions_list(gw: &Arc<Gateway>, _cfg: &Config, agent_id: &str) -> Response {
    let list = match gw.agent.store().list(agent_id).await {
        Ok(l) => l,
        Err(e) => return failure(500, "tool_error", &format!("cannot read the sessions: {e}")),
    };
    let sessions: Vec<Value> = list
        .iter()
        .map(|(k, e)| {
            let kind = SessionKey::parse(k, agent_id, None).map(|s| s.kind()).unwrap_or("unknown");
            json!({"key": k, "sessionId": e.session_id, "kind": kind, "updatedAt": e.updated_at, "label": e.label,
                   "totalTokens": e.total_tokens})
        })
        .collect();
    let text = serde_json::to_string_pretty(&json!({"count": sessions.len(), "sessions": sessions})).unwrap_or_default();
    Response::json(200, &json!({"ok": true, "result": {"content": [{"type": "text", "text": text}]}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_list_with_config_changes() {
        let cfg = |v: Value| Config::from_value(&v, &crate::config::model::Resolver { env: &|_| None, home: std::path::Path::new("/") }).0;
        let plain = cfg(json!({}));
        assert!(!http_allowed(&plain, "exec"));
        assert!(http_allowed(&plain, "read"));
        let changed = cfg(json!({"gateway": {"tools": {"allow": ["exec", "gateway"], "deny": ["read"]}}}));
        assert!(http_allowed(&changed, "exec"));
        assert!(!http_allowed(&changed, "gateway"), "owner-only tools stay denied");
        assert!(!http_allowed(&changed, "read"));
    }
}
