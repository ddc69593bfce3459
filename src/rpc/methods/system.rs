//! `health`, `status`, `system-presence` and `last-heartbeat`, and the snapshots they share with
//! `hello-ok` and the periodic `health` event.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

use super::Call;
use crate::error::Error;
use crate::gateway::{Gateway, Phase};
use crate::rpc::params;

/// This gateway's own presence entry.
pub fn self_presence(gw: &Arc<Gateway>) -> Value {
    let host = crate::sys::hostname();
    let (sys, release, _) = crate::sys::uname();
    let platform = format!("{} {release}", sys.to_ascii_lowercase());
    json!({
        "host": host,
        "ip": host,
        "version": crate::VERSION,
        "platform": platform.trim(),
        "deviceFamily": "Linux",
        "mode": "gateway",
        "reason": "self",
        "instanceId": gw.instance_id,
        "text": format!("Gateway: {host} ({host}) · app {} · mode gateway · reason self", crate::VERSION),
        "ts": crate::clock::now_ms(),
    })
}

/// An agent's session store as health and status show it: `{path, count, recent}`.
fn sessions_view(gw: &Arc<Gateway>, agent_id: &str) -> Value {
    let store = gw.agent.store();
    let path = gw.paths.display(&store.sessions_dir(agent_id).join(crate::agent::store::INDEX_FILE));
    let now = crate::clock::now_ms();
    let summary = store.summary(agent_id).unwrap_or_default();
    let recent: Vec<Value> = summary.recent.iter().map(|(k, t)| json!({"key": k, "updatedAt": t, "age": now.saturating_sub(*t)})).collect();
    json!({"path": path, "count": summary.count, "recent": recent})
}

/// The health snapshot. `full` adds fields the `health` RPC returns but the `hello-ok` snapshot
/// schema does not allow.
pub fn health_snapshot(gw: &Arc<Gateway>, full: bool) -> Value {
    let started = Instant::now();
    let settings = gw.settings();
    let cfg = &settings.loaded.config;
    let default_id = cfg.agents.default_id().to_string();
    let agents: Vec<Value> = cfg
        .agents
        .ids()
        .iter()
        .map(|id| {
            let name = cfg.agents.entry(id).and_then(|e| e.name.clone()).unwrap_or_else(|| id.clone());
            json!({
                "agentId": id,
                "name": name,
                "isDefault": *id == default_id,
                // Heartbeat runs are not part of this gateway; report them as off, honestly.
                "heartbeat": {"enabled": false, "every": "off", "everyMs": null, "prompt": "", "target": "none", "ackMaxChars": 0},
                "sessions": sessions_view(gw, id),
            })
        })
        .collect();
    let (channels, channel_order, channel_labels) = gw.channels.health();
    let reload = if cfg.gateway.reload_mode == crate::config::ReloadMode::Off { "disabled" } else { "active" };
    let mut snap = json!({
        "ok": true,
        "ts": crate::clock::now_ms(),
        "durationMs": 0,
        "plugins": {"loaded": [], "errors": []},
        "configReload": {"hotReloadStatus": reload},
        "channels": channels,
        "channelOrder": channel_order,
        "channelLabels": channel_labels,
        "heartbeatSeconds": 0,
        "defaultAgentId": default_id,
        "agents": agents,
        "sessions": sessions_view(gw, &default_id),
    });
    if full {
        snap["modelRuntime"] = json!({"degraded": false, "pendingAgents": []});
        snap["phase"] = json!(match gw.phase() {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
            Phase::Restarting => "restarting",
        });
    }
    snap["durationMs"] = json!(started.elapsed().as_millis() as u64);
    snap
}

/// `health {probe?}`: the snapshot. Unknown params are ignored, as the official gateway does.
pub fn health(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::open("health", p)?;
    p.opt_bool("probe");
    p.done()?;
    Ok(health_snapshot(call.gw, true))
}

/// `status`: a summary of the running gateway.
pub async fn status(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::open("status", p)?;
    p.opt_bool("includeChannelSummary");
    p.done()?;
    let gw = call.gw;
    let settings = gw.settings();
    let cpu = crate::sys::cpu_times_ms().unwrap_or((0, 0));
    let clients = gw.hub.clients().await;
    let cfg = &settings.loaded.config;
    let default_id = cfg.agents.default_id().to_string();
    let by_agent: Vec<Value> = cfg
        .agents
        .ids()
        .iter()
        .map(|id| {
            let mut v = sessions_view(gw, id);
            v["agentId"] = json!(id);
            v
        })
        .collect();
    let default_view = sessions_view(gw, &default_id);
    let model = cfg.agents.model_for(&default_id).primary.as_deref().map(|r| cfg.agents.expand_alias(r).to_string());
    let (model, context) = match model.as_deref().map(|r| crate::agent::providers::resolve(cfg, r)) {
        Some(Ok(m)) => (json!(m.model), json!(m.context_window)),
        Some(Err(_)) => (json!(model.as_deref().and_then(|r| r.split_once('/')).map(|(_, m)| m)), Value::Null),
        None => (json!(crate::agent::providers::OFFLINE_MODEL), Value::Null),
    };
    let heartbeats: Vec<Value> =
        cfg.agents.ids().iter().map(|id| json!({"agentId": id, "enabled": false, "every": "off", "everyMs": null})).collect();
    let mut out = json!({
        "runtimeVersion": crate::VERSION,
        "pid": std::process::id(),
        "uptimeMs": gw.uptime_ms(),
        "heartbeat": {"defaultAgentId": default_id, "agents": heartbeats},
        "channelSummary": [],
        "queuedSystemEvents": [],
        "degradedSecretOwners": [],
        "degradedPlugins": [],
        "sessions": {
            "paths": by_agent.iter().map(|a| a["path"].clone()).collect::<Vec<_>>(),
            "count": by_agent.iter().map(|a| a["count"].as_u64().unwrap_or(0)).sum::<u64>(),
            "defaults": {"model": model, "contextTokens": context},
            "recent": default_view["recent"],
            "byAgent": by_agent,
        },
        "processMemory": {"rssBytes": crate::sys::rss_bytes().unwrap_or(0)},
        "processCpu": {"userMs": cpu.0, "systemMs": cpu.1},
        "gateway": {
            "bind": settings.listen.bind.name(),
            "port": settings.listen.port,
            "portSource": settings.listen.port_source.name(),
            "listeners": settings.listen.bound.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "clients": clients.len(),
        },
    });
    // Paths and the auth mode are operator-sensitive, as in the official status.
    if call.session.scopes.is_admin() {
        out["gateway"]["configPath"] = json!(gw.paths.display(&gw.paths.config_path));
        out["gateway"]["stateDir"] = json!(gw.paths.display(&gw.paths.state_dir));
        out["gateway"]["authMode"] = json!(settings.auth.mode.name());
        out["gateway"]["logFile"] = json!(gw.log_file.as_ref().map(|p| p.display().to_string()));
    }
    Ok(out)
}

/// `system-presence`: the presence entries (this gateway).
pub fn presence(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("system-presence", p, &[])?.done()?;
    Ok(json!([self_presence(call.gw)]))
}

/// `last-heartbeat`: the last heartbeat run's event, or `null` before the first one (the official
/// answer on a fresh gateway). This gateway runs no heartbeats (see the README), so it is always
/// `null`; `openclaw status --deep` shows "Last heartbeat: none".
pub fn last_heartbeat(_call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::open("last-heartbeat", p)?.done()?;
    Ok(Value::Null)
}
