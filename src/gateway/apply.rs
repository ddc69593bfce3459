//! Applying a validated config to the running gateway: the plan between the applied settings and
//! the new ones, a restart requested from the main loop when the plan or the reload mode needs one,
//! otherwise a hot apply (settings swapped, channels reconciled) and `config.changed` to readers.
//! Used by the file poller (`daemon::reload`) and by the config RPC methods alike.

use serde_json::json;
use std::sync::Arc;

use super::hub::Event;
use super::{Control, Gateway, Settings};
use crate::config::reload::{self, Plan, ReloadKind};
use crate::config::{self, Loaded, ReloadMode};

/// The changes from the applied settings to `loaded`.
pub fn plan_between(settings: &Settings, loaded: &Loaded) -> Plan {
    reload::diff(&settings.loaded.resolved(), &loaded.resolved(), &config::model::is_used_section)
}

/// Applies a validated config per the reload mode of the new config (or with a restart when
/// `force_restart`).
pub async fn apply(gw: &Arc<Gateway>, loaded: Loaded, plan: Plan, force_restart: bool) {
    let mode = loaded.config.gateway.reload_mode;
    if !plan.is_empty() {
        log::info!(target: "reload", "config change detected; evaluating reload ({})", plan.describe());
    }
    for w in &loaded.warnings {
        log::warn!(target: "config", "{w}");
    }
    let restart = force_restart
        || match mode {
            ReloadMode::Restart => plan.has_effect(),
            ReloadMode::Hybrid | ReloadMode::Off => plan.needs_restart(),
            ReloadMode::Hot => false,
        };
    if restart {
        let paths = plan.paths(ReloadKind::Restart).join(", ");
        log::info!(target: "reload", "config change requires gateway restart ({}) — preparing", if paths.is_empty() { plan.describe() } else { paths.clone() });
        broadcast_changed(gw, &loaded).await;
        let reason = if force_restart {
            "config.apply".to_string()
        } else {
            format!("config change: {}", if paths.is_empty() { plan.describe() } else { paths })
        };
        let _ = gw.control.send(Control::Restart { reason, loaded: Some(Box::new(loaded)) }).await;
        return;
    }
    if mode == ReloadMode::Hot && plan.needs_restart() {
        log::warn!(
            target: "reload",
            "config change requires a gateway restart ({}); not applied because gateway.reload.mode is hot",
            plan.paths(ReloadKind::Restart).join(", ")
        );
    }
    hot_apply(gw, loaded).await;
    broadcast_changed(gw, &gw.settings().loaded).await;
    if plan.has_effect() {
        log::info!(target: "reload", "config hot reload applied ({})", plan.paths(ReloadKind::Hot).join(", "));
    }
}

/// Applies everything that can change without a restart; the listeners and the shared secret
/// stay as they are until the next restart.
pub async fn hot_apply(gw: &Arc<Gateway>, loaded: Loaded) {
    let old = gw.settings();
    let cfg = &loaded.config;
    let mut auth = old.auth.clone();
    auth.rate_limit = cfg.gateway.auth.rate_limit.clone();
    auth.allow_host_header_origin_fallback = cfg.gateway.control_ui.allow_host_header_origin_fallback;
    auth.allowed_origins = super::rules::allowed_origins(cfg, &old.listen);
    super::rules::apply_log_levels(cfg, gw.opts.verbose);
    let hash = loaded.source.as_ref().map(|s| config::config_hash(&gw.hash_key, &s.raw));
    let fingerprint = loaded.source.as_ref().map(|s| s.fingerprint.clone()).unwrap_or_default();
    gw.replace_settings(Settings { loaded, hash, fingerprint, listen: old.listen.clone(), auth });
    gw.channels.reconcile(gw.settings().loaded.config.clone()).await;
}

/// `config.changed {path, hash, ts}` to every client that may read config.
pub async fn broadcast_changed(gw: &Gateway, loaded: &Loaded) {
    let hash = loaded.source.as_ref().map(|s| config::config_hash(&gw.hash_key, &s.raw));
    let payload = json!({"path": gw.paths.display(&gw.paths.config_path), "hash": hash, "ts": crate::clock::now_ms()});
    gw.hub.broadcast(Event::new("config.changed", &payload).scoped(super::auth::Scope::Read)).await;
}
