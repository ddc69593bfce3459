//! Config reload by polling: stat the config file and every included file at a small interval;
//! when something changed and the writes have settled, read and validate the new config, diff it
//! against the applied one, and apply it as `gateway.reload.mode` says. An invalid file is logged
//! once and the last good config keeps running.
//!
//! Polling, not inotify: it works the same on every filesystem (including network and bind
//! mounts), costs a few `stat` calls per second, and needs no extra dependency.

use serde_json::json;
use smol::channel::Receiver;
use smol::future::FutureExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::hub::Event;
use super::{Control, Gateway, Settings};
use crate::config::reload::{self, Plan, ReloadKind};
use crate::config::{self, Loaded, ReloadMode};

/// Time a changed file must stay unchanged before it is read (editors write in several steps).
const SETTLE: Duration = Duration::from_millis(50);
/// Longest wait for a file that keeps changing before reading it anyway.
const SETTLE_MAX: Duration = Duration::from_secs(2);

/// What `stat` says about one watched file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    path: PathBuf,
    /// (length, modification time in ns, inode), or `None` when the file is missing.
    meta: Option<(u64, u128, u64)>,
}

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok().map(|m| {
        let mtime = m.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
        (m.len(), mtime, m.ino())
    });
    Stamp { path: path.to_path_buf(), meta }
}

/// The files of the applied config: the config itself and everything it includes.
fn watched(gw: &Gateway) -> Vec<PathBuf> {
    let settings = gw.settings();
    let mut files = vec![gw.paths.config_path.clone()];
    if let Some(source) = &settings.loaded.source {
        files.extend(source.included.iter().cloned());
    }
    files
}

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files.iter().map(|f| stamp(f)).collect()
}

/// The poller. `now` asks for an immediate check (SIGHUP, a config write over RPC); `true` in it
/// means "apply with a restart" (`config.apply`).
pub async fn run(gw: Arc<Gateway>, now: Receiver<bool>) {
    let mut files = watched(&gw);
    let mut seen = stamps(&files);
    let mut last_invalid: Option<String> = None;
    loop {
        let request = async { now.recv().await.ok() }
            .or(async {
                smol::Timer::after(gw.tuning.config_poll).await;
                None
            })
            .await;
        let forced = request.is_some();
        let force_restart = request == Some(true);
        if gw.settings().loaded.config.gateway.reload_mode == ReloadMode::Off && !forced {
            continue;
        }
        let current = stamps(&files);
        if current == seen && !forced {
            continue;
        }
        seen = settle(&files, current).await;
        match evaluate(&gw, force_restart) {
            Evaluation::Unchanged => {}
            Evaluation::Invalid { why, fingerprint } => {
                if last_invalid.as_deref() != Some(fingerprint.as_str()) {
                    log::warn!(target: "reload", "config reload skipped (invalid config): {why}");
                    last_invalid = Some(fingerprint);
                }
            }
            Evaluation::Changed { loaded, plan } => {
                last_invalid = None;
                apply(&gw, *loaded, plan, force_restart).await;
                files = watched(&gw);
                seen = stamps(&files);
            }
        }
    }
}

/// Waits until the files stop changing (or [`SETTLE_MAX`] passes); returns their stamps.
async fn settle(files: &[PathBuf], mut last: Vec<Stamp>) -> Vec<Stamp> {
    let deadline = Instant::now() + SETTLE_MAX;
    loop {
        smol::Timer::after(SETTLE).await;
        let now = stamps(files);
        if now == last || Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}

enum Evaluation {
    Unchanged,
    Invalid { why: String, fingerprint: String },
    Changed { loaded: Box<Loaded>, plan: Plan },
}

fn evaluate(gw: &Gateway, force_restart: bool) -> Evaluation {
    let settings = gw.settings();
    let source = match config::load::read(&gw.paths.config_path) {
        Ok(s) => s,
        Err(e) => {
            let why = e.to_string();
            return Evaluation::Invalid { fingerprint: format!("error:{why}"), why };
        }
    };
    if source.fingerprint == settings.fingerprint && !force_restart {
        return Evaluation::Unchanged;
    }
    let fingerprint = source.fingerprint.clone();
    let loaded = config::validate(source, &gw.paths);
    let mut issues = loaded.issues.clone();
    if issues.is_empty() {
        issues = super::admission::write_targets(&gw.paths, &loaded.config);
    }
    if !issues.is_empty() {
        let why = issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; ");
        return Evaluation::Invalid { why, fingerprint };
    }
    let plan = plan_between(&settings, &loaded);
    Evaluation::Changed { loaded: Box::new(loaded), plan }
}

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
    hot_apply(gw, loaded);
    broadcast_changed(gw, &gw.settings().loaded).await;
    if plan.has_effect() {
        log::info!(target: "reload", "config hot reload applied ({})", plan.paths(ReloadKind::Hot).join(", "));
    }
}

/// Applies everything that can change without a restart; the listeners and the shared secret
/// stay as they are until the next restart.
pub fn hot_apply(gw: &Arc<Gateway>, loaded: Loaded) {
    let old = gw.settings();
    let cfg = &loaded.config;
    let mut auth = old.auth.clone();
    auth.rate_limit = cfg.gateway.auth.rate_limit.clone();
    auth.allow_host_header_origin_fallback = cfg.gateway.control_ui.allow_host_header_origin_fallback;
    auth.allowed_origins = super::start::allowed_origins(cfg, &old.listen);
    super::start::apply_log_levels(cfg, gw.opts.verbose);
    let hash = loaded.source.as_ref().map(|s| config::config_hash(&gw.hash_key, &s.raw));
    let fingerprint = loaded.source.as_ref().map(|s| s.fingerprint.clone()).unwrap_or_default();
    gw.replace_settings(Settings { loaded, hash, fingerprint, listen: old.listen.clone(), auth });
    gw.channels.reconcile(gw.settings().loaded.config.clone());
}

/// `config.changed {path, hash, ts}` to every client that may read config.
pub async fn broadcast_changed(gw: &Gateway, loaded: &Loaded) {
    let hash = loaded.source.as_ref().map(|s| config::config_hash(&gw.hash_key, &s.raw));
    let payload = json!({"path": gw.paths.display(&gw.paths.config_path), "hash": hash, "ts": crate::clock::now_ms()});
    gw.hub.broadcast(Event::new("config.changed", &payload).scoped(super::auth::Scope::Read)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_change_on_rewrite_and_rename() {
        let dir = std::env::temp_dir().join(format!("oc-stamp-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.json");
        assert_eq!(stamp(&f).meta, None);
        std::fs::write(&f, "{}").unwrap();
        let a = stamp(&f);
        std::fs::write(dir.join("n.json"), "{ }").unwrap();
        std::fs::rename(dir.join("n.json"), &f).unwrap();
        let b = stamp(&f);
        assert_ne!(a, b, "an atomic replace gives a new inode");
        std::fs::remove_dir_all(dir).ok();
    }
}
