//! `health`, `status` and `system-presence`, and the snapshots they share with `hello-ok` and the
//! periodic `health` event.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

use super::Call;
use crate::gateway::params;
use crate::gateway::protocol::ErrorShape;
use crate::gateway::{Gateway, Phase};

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

/// The health snapshot. `full` adds fields the `health` RPC returns but the `hello-ok` snapshot
/// schema does not allow.
pub fn health_snapshot(gw: &Arc<Gateway>, full: bool) -> Value {
    let started = Instant::now();
    let settings = gw.settings();
    let sessions_dir = gw.paths.state_dir.join("agents").join("main").join("sessions");
    let sessions = json!({"path": gw.paths.display(&sessions_dir), "count": 0, "recent": []});
    let reload = if settings.loaded.config.gateway.reload_mode == crate::config::ReloadMode::Off { "disabled" } else { "active" };
    let mut snap = json!({
        "ok": true,
        "ts": crate::clock::now_ms(),
        "durationMs": 0,
        "plugins": {"loaded": [], "errors": []},
        "configReload": {"hotReloadStatus": reload},
        "channels": {},
        "channelOrder": [],
        "channelLabels": {},
        "heartbeatSeconds": 0,
        "defaultAgentId": "main",
        "agents": [{
            "agentId": "main",
            "name": "main",
            "isDefault": true,
            // Heartbeat runs are not part of this gateway; report them as off, honestly.
            "heartbeat": {"enabled": false, "every": "off", "everyMs": null, "prompt": "", "target": "none", "ackMaxChars": 0},
            "sessions": sessions,
        }],
        "sessions": sessions,
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
pub fn health(call: &Call<'_>, p: &Option<Value>) -> Result<Value, ErrorShape> {
    let mut p = params::open("health", p)?;
    p.opt_bool("probe");
    p.done()?;
    Ok(health_snapshot(call.gw, true))
}

/// `status`: a summary of the running gateway.
pub async fn status(call: &Call<'_>, p: &Option<Value>) -> Result<Value, ErrorShape> {
    let mut p = params::open("status", p)?;
    p.opt_bool("includeChannelSummary");
    p.done()?;
    let gw = call.gw;
    let settings = gw.settings();
    let clients = gw.hub.clients().await;
    let sessions_dir = gw.paths.state_dir.join("agents").join("main").join("sessions");
    let sessions_path = gw.paths.display(&sessions_dir);
    let mut out = json!({
        "runtimeVersion": crate::VERSION,
        "pid": std::process::id(),
        "uptimeMs": gw.uptime_ms(),
        "heartbeat": {"defaultAgentId": "main", "agents": [{"agentId": "main", "enabled": false, "every": "off", "everyMs": null}]},
        "channelSummary": [],
        "queuedSystemEvents": [],
        "degradedSecretOwners": [],
        "degradedPlugins": [],
        "sessions": {
            "paths": [sessions_path],
            "count": 0,
            "defaults": {"model": null, "contextTokens": null},
            "recent": [],
            "byAgent": [{"agentId": "main", "path": sessions_path, "count": 0, "recent": []}],
        },
        "processMemory": {"rssBytes": crate::sys::rss_bytes().unwrap_or(0)},
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
pub fn presence(call: &Call<'_>, p: &Option<Value>) -> Result<Value, ErrorShape> {
    params::closed("system-presence", p, &[])?.done()?;
    Ok(json!([self_presence(call.gw)]))
}
