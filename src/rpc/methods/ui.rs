//! Methods the official Control UI calls on start-up and on its Chat, Overview and Devices pages,
//! answered from what this gateway has: its sessions, agents, models and host.
//!
//! `sessions.subscribe`, `sessions.messages.subscribe|unsubscribe`, `sessions.describe`,
//! `sessions.observer.visibility`, `chat.startup`, `chat.metadata`, `models.authStatus`,
//! `update.status`, `agent.identity.get`, `system.info` and `diagnostics.lanes`.

use serde_json::{Map, Value, json};

use super::{Call, chat, ensure_agent, session_key, sessions};
use crate::error::Error;
use crate::rpc::params;

/// `sessions.subscribe`: `{subscribed: true}`. Every connection with read scope already gets
/// `sessions.changed`, so subscribing only acknowledges. Params are those of `sessions.list`;
/// unknown keys are ignored (the UI sends keys newer than the schema).
pub fn sessions_subscribe(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::open("sessions.subscribe", p)?.done()?;
    Ok(json!({"subscribed": true}))
}

/// `sessions.messages.subscribe {key, agentId?, includeApprovals?}`: from now on, every line
/// appended to the session's transcript reaches this connection as a `session.message` event
/// (see [`crate::rpc::agent_events`]). Answers the canonical key.
pub async fn messages_subscribe(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let key = messages_key("sessions.messages.subscribe", call, p, true)?;
    call.gw.hub.watch(&call.session.conn_id, &key, true).await;
    Ok(json!({"subscribed": true, "key": key}))
}

/// `sessions.messages.unsubscribe {key, agentId?}`: no more `session.message` for that session.
pub async fn messages_unsubscribe(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let key = messages_key("sessions.messages.unsubscribe", call, p, false)?;
    call.gw.hub.watch(&call.session.conn_id, &key, false).await;
    Ok(json!({"subscribed": false, "key": key}))
}

fn messages_key(method: &str, call: &Call<'_>, p: &Option<Value>, subscribe: bool) -> Result<String, Error> {
    let allowed: &[&str] = if subscribe { &["key", "agentId", "includeApprovals"] } else { &["key", "agentId"] };
    let mut p = params::closed(method, p, allowed)?;
    p.require(&["key"]);
    let raw = p.req_str("key", 1, usize::MAX);
    let agent = p.opt_str("agentId", 1, usize::MAX);
    if subscribe && p.opt_bool("includeApprovals") == Some(false) {
        p.validator().error("/includeApprovals", "must be equal to constant");
    }
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    Ok(session_key(&cfg, &raw, agent.as_deref())?.to_string())
}

/// `sessions.describe {key, agentId?, includeDerivedTitles?, includeLastMessage?}`: the session
/// row, or `{session: null}` before the session exists.
pub async fn sessions_describe(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("sessions.describe", p, &["key", "agentId", "includeDerivedTitles", "includeLastMessage"])?;
    p.require(&["key"]);
    let raw = p.req_str("key", 1, usize::MAX);
    let agent = p.opt_str("agentId", 1, usize::MAX);
    p.opt_bool("includeDerivedTitles");
    let include_last = p.opt_bool("includeLastMessage").unwrap_or(false);
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let key = session_key(&cfg, &raw, agent.as_deref())?;
    let entry = call.gw.agent.store().get(&key).await.map_err(|e| Error::unavailable(format!("cannot read the sessions: {e}")))?;
    let Some(entry) = entry else { return Ok(json!({"session": null})) };
    let active = !call.gw.agent.active(&key).await.is_empty();
    let mut row = sessions::row(&key.to_string(), &entry, active);
    if !include_last {
        if let Value::Object(m) = &mut row {
            m.remove("lastMessagePreview");
        }
    }
    Ok(json!({"session": row}))
}

/// `sessions.observer.visibility {visible}`: `{ok: true}` (this gateway does not change its work
/// when nobody watches).
pub fn observer_visibility(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("sessions.observer.visibility", p, &["visible"])?;
    p.require(&["visible"]);
    p.opt_bool("visible");
    p.done()?;
    Ok(json!({"ok": true}))
}

/// `chat.startup {sessionKey, limit?, maxBytes?, cursor?, …}`: what the Chat page needs to open a
/// session: its history page (as `chat.history`) and the inputs still queued (none are exposed
/// here). The `{shortId, agentId}` form names sessions by short id, which this gateway has not.
pub async fn chat_startup(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut allowed = super::chat::HISTORY_KEYS.to_vec();
    allowed.extend(["shortId", "slugHint"]);
    let mut v = params::closed("chat.startup", p, &allowed)?;
    if v.raw("shortId").is_some() {
        v.done()?;
        return Err(Error::invalid("invalid chat.startup params: sessions by shortId are not supported; use sessionKey"));
    }
    v.require(&["sessionKey"]);
    v.opt_int("maxBytes", 1024, i64::MAX);
    v.opt_str("slugHint", 0, usize::MAX);
    v.done()?;
    let mut history = Map::new();
    if let Some(Value::Object(m)) = p {
        for (k, val) in m {
            if super::chat::HISTORY_KEYS.contains(&k.as_str()) {
                history.insert(k.clone(), val.clone());
            }
        }
    }
    let mut out = chat::history(call, &Some(Value::Object(history))).await?;
    if out.get("kind").is_none() {
        out["pendingInputs"] = json!({"items": [], "total": 0});
    }
    Ok(out)
}

/// `chat.metadata {agentId?, sessionKey?, authProfileId?}`: the models the composer can pick
/// (those of `models.list`). No slash-command catalogue is published.
pub fn chat_metadata(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("chat.metadata", p, &["agentId", "sessionKey", "authProfileId"])?;
    let agent = p.opt_str("agentId", 1, usize::MAX);
    let key = p.opt_str("sessionKey", 1, usize::MAX);
    let profile = p.opt_str("authProfileId", 1, 256);
    if key.is_some() && profile.is_some() {
        p.validator().error("", "must NOT be valid (sessionKey and authProfileId together)");
    }
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    if let Some(a) = &agent {
        ensure_agent(&cfg, a)?;
    }
    if let Some(k) = &key {
        session_key(&cfg, k, agent.as_deref())?;
    }
    Ok(json!({"models": super::models::catalog(&cfg), "commands": []}))
}

/// `models.authStatus {refresh?, agentId?}`: no OAuth or subscription logins exist here (API keys
/// come from the config and the environment), so the provider list is empty.
pub fn models_auth_status(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("models.authStatus", p, &["refresh", "agentId"])?;
    p.opt_bool("refresh");
    p.opt_str("agentId", 0, usize::MAX);
    p.done()?;
    Ok(json!({"ts": crate::clock::now_ms(), "providers": []}))
}

/// `update.status {refreshCheckout?}` (`UpdateStatusResult`): this gateway does not update
/// itself, so there is no sentinel and no known update.
pub fn update_status(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("update.status", p, &["refreshCheckout"])?;
    p.opt_bool("refreshCheckout");
    p.done()?;
    Ok(json!({"sentinel": null, "updateAvailable": null}))
}

/// `agent.identity.get {agentId?, sessionKey?}` (`AgentIdentityResult`) from `agents.list[]`.
pub fn agent_identity(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("agent.identity.get", p, &["agentId", "sessionKey"])?;
    let agent = p.opt_str("agentId", 1, usize::MAX);
    let key = p.opt_str("sessionKey", 0, usize::MAX).filter(|k| !k.is_empty());
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let id = match (&agent, &key) {
        (_, Some(k)) => session_key(&cfg, k, agent.as_deref())?.agent_id,
        (Some(a), None) => {
            ensure_agent(&cfg, a)?;
            a.clone()
        }
        (None, None) => cfg.agents.default_id().to_string(),
    };
    let entry = cfg.agents.entry(&id);
    let configured = entry.and_then(|e| e.identity.name.clone().or(e.name.clone())).filter(|n| !n.is_empty());
    let mut out = json!({"agentId": id, "name": configured.clone().unwrap_or_else(|| id.clone()),
                         "nameSource": if configured.is_some() { "config" } else { "default" }});
    if let Some(e) = entry {
        if let Some(a) = e.identity.avatar.as_ref().filter(|a| !a.is_empty()) {
            out["avatar"] = json!(a);
            out["avatarSource"] = json!("config");
        }
        if let Some(emoji) = e.identity.emoji.as_ref().filter(|e| !e.is_empty()) {
            out["emoji"] = json!(emoji);
        }
    }
    Ok(out)
}

/// `system.info {}` (`SystemInfoResult`): the host this gateway runs on, read from the kernel.
pub fn system_info(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("system.info", p, &[])?.done()?;
    let host = crate::sys::hostname();
    let (sys, release, arch) = crate::sys::uname();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = |name: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib.saturating_mul(1024))
    };
    let uptime_ms = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map(|secs| (secs * 1000.0) as u64)
        .unwrap_or_else(|| call.gw.uptime_ms());
    let settings = call.gw.settings();
    let mut out = json!({
        "machineName": host,
        "hostname": host,
        "platform": sys.to_ascii_lowercase(),
        "release": release,
        "arch": arch,
        "osLabel": format!("{sys} {release}"),
        // Not a Node.js process; the field is required, so it says so.
        "nodeVersion": "none",
        "pid": std::process::id(),
        "processInstanceId": call.gw.instance_id,
        "uptimeMs": uptime_ms,
        "cpuCount": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memoryTotalBytes": mem("MemTotal").unwrap_or(0),
        "memoryFreeBytes": mem("MemAvailable").or_else(|| mem("MemFree")).unwrap_or(0),
        "port": settings.listen.port,
    });
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        matches!(k.trim(), "model name" | "Model" | "Hardware").then(|| v.trim().to_string()).filter(|v| !v.is_empty())
    });
    if let Some(m) = model {
        out["cpuModel"] = json!(m);
    }
    let load: Vec<f64> =
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).filter_map(|x| x.parse().ok()).collect();
    if load.len() == 3 {
        out["loadAverage"] = json!(load);
    }
    Ok(out)
}

/// `diagnostics.lanes`: `{ts, lanes, dynamic}`. Runs are queued per session here, not in named
/// lanes, so there are none to show.
pub fn diagnostics_lanes(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::open("diagnostics.lanes", p)?.done()?;
    Ok(json!({"ts": crate::clock::now_ms(), "lanes": [], "dynamic": null}))
}
