//! Config reload by polling: stat the config file and every included file at a small interval;
//! when something changed and the writes have settled, read and validate the new config, diff it
//! against the applied one, and apply it as `gateway.reload.mode` says. An invalid file is logged
//! once and the last good config keeps running.
//!
//! Polling, not inotify: it works the same on every filesystem (including network and bind
//! mounts), costs a few `stat` calls per second, and needs no extra dependency.

use smol::channel::Receiver;
use smol::future::FutureExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use crate::config::reload::Plan;
use crate::config::{self, Loaded, ReloadMode};
use crate::gateway::Gateway;
use crate::gateway::apply::{apply, plan_between};
use crate::limits::{RELOAD_SETTLE, RELOAD_SETTLE_MAX};

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

/// Waits until the files stop changing (or [`RELOAD_SETTLE_MAX`] passes); returns their stamps.
async fn settle(files: &[PathBuf], mut last: Vec<Stamp>) -> Vec<Stamp> {
    let deadline = Instant::now() + RELOAD_SETTLE_MAX;
    loop {
        smol::Timer::after(RELOAD_SETTLE).await;
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
        issues = crate::gateway::admission::write_targets(&gw.paths, &loaded.config);
    }
    if !issues.is_empty() {
        let why = issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; ");
        return Evaluation::Invalid { why, fingerprint };
    }
    let plan = plan_between(&settings, &loaded);
    Evaluation::Changed { loaded: Box::new(loaded), plan }
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
