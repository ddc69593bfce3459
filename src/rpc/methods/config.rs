//! `config.get`: the config file as it is on disk now, with every secret redacted, its validity
//! and its hash (the `baseHash` that writes must quote).

use serde_json::{Value, json};

use super::Call;
use crate::config::{self, LoadError};
use crate::error::Error;
use crate::limits::CONFIG_WRITES_PER_MINUTE;
use crate::rpc::params;

pub fn get(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("config.get", p, &[])?.done()?;
    let gw = call.gw;
    let applied = gw.settings().hash.clone();
    let path = gw.paths.display(&gw.paths.config_path);
    match config::load::read(&gw.paths.config_path) {
        Ok(source) => {
            let hash = config::config_hash(&gw.hash_key, &source.raw);
            let raw = config::redact_raw(&source.raw, &source.parsed);
            let parsed = config::redact(&source.parsed);
            let resolved = config::redact(&source.resolved);
            let included: Vec<String> = source.included.iter().map(|p| gw.paths.display(p)).collect();
            let loaded = config::validate(source, &gw.paths);
            let issues: Vec<Value> = loaded.issues.iter().map(|i| json!({"path": i.path, "message": i.message})).collect();
            Ok(json!({
                "path": path,
                "exists": true,
                "includedPaths": included,
                "raw": raw,
                "parsed": parsed,
                "resolved": resolved,
                "config": resolved,
                "valid": loaded.issues.is_empty(),
                "hash": hash,
                "configRevisionHash": hash,
                "appliedConfigHash": applied,
                "issues": issues,
                "warnings": loaded.warnings,
                "legacyIssues": [],
                "ignoredSections": loaded.config.ignored_sections,
            }))
        }
        Err(LoadError::Missing(_)) => Ok(json!({
            "path": path,
            "exists": false,
            "includedPaths": [],
            "raw": null,
            "parsed": {},
            "resolved": {},
            "config": {},
            "valid": true,
            "hash": null,
            "configRevisionHash": null,
            "appliedConfigHash": applied,
            "issues": [],
            "warnings": [],
            "legacyIssues": [],
        })),
        Err(LoadError::Invalid(why)) => Ok(json!({
            "path": path,
            "exists": true,
            "includedPaths": [],
            "raw": null,
            "parsed": null,
            "resolved": null,
            "config": null,
            "valid": false,
            "hash": null,
            "configRevisionHash": null,
            "appliedConfigHash": applied,
            "issues": [{"path": "", "message": why}],
            "warnings": [],
            "legacyIssues": [],
        })),
    }
}

/// `config.set {raw, baseHash?}`: replaces the file with `raw` (JSON5 text, kept as written).
pub async fn set(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("config.set", p, &["raw", "baseHash"])?;
    p.require(&["raw"]);
    let raw = p.opt_str("raw", 1, usize::MAX);
    let base_hash = p.opt_str("baseHash", 1, 256);
    p.done()?;
    write(call, "config.set", raw.unwrap_or_default(), base_hash, false, 0).await
}

/// `config.apply {raw, baseHash?, restartDelayMs?}`: like `config.set`, then an in-process
/// restart that applies the whole file.
pub async fn apply(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("config.apply", p, &["raw", "baseHash", "sessionKey", "deliveryContext", "note", "restartDelayMs"])?;
    p.require(&["raw"]);
    let raw = p.opt_str("raw", 1, usize::MAX);
    let base_hash = p.opt_str("baseHash", 1, 256);
    let delay = p.opt_int("restartDelayMs", 0, 60_000).unwrap_or(0) as u64;
    if let Some(d) = p.raw("deliveryContext") {
        p.validator().object(d, "/deliveryContext");
    }
    p.opt_str("note", 0, usize::MAX);
    p.opt_str("sessionKey", 0, 512);
    p.done()?;
    write(call, "config.apply", raw.unwrap_or_default(), base_hash, true, delay).await
}

/// `config.patch {raw, baseHash?, replacePaths?}`: a JSON merge patch (RFC 7386) of the file:
/// objects merge, `null` deletes, arrays replace. Shrinking or deleting an existing array must be
/// confirmed by naming its path in `replacePaths`.
pub async fn patch(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p =
        params::closed("config.patch", p, &["raw", "baseHash", "replacePaths", "sessionKey", "deliveryContext", "note", "restartDelayMs"])?;
    p.require(&["raw"]);
    let raw = p.opt_str("raw", 1, usize::MAX).unwrap_or_default();
    if let Some(d) = p.raw("deliveryContext") {
        p.validator().object(d, "/deliveryContext");
    }
    let base_hash = p.opt_str("baseHash", 1, 256);
    let replace_paths = match p.raw("replacePaths") {
        Some(v) => p.validator().strings(v, "/replacePaths").unwrap_or_default(),
        None => Vec::new(),
    };
    if replace_paths.len() > 256 {
        p.validator().error("/replacePaths", "must NOT have more than 256 items");
    }
    p.opt_str("note", 0, usize::MAX);
    p.opt_str("sessionKey", 0, 512);
    let delay = p.opt_int("restartDelayMs", 0, 60_000).unwrap_or(0) as u64;
    p.done()?;
    let patch = config::json5::parse(&raw).map_err(|e| Error::invalid(format!("invalid config.patch raw: {e}")))?;
    if !patch.is_object() {
        return Err(Error::invalid("invalid config.patch raw: the patch must be a JSON object"));
    }
    let current = match config::load::read(&call.gw.paths.config_path) {
        Ok(s) => s.parsed,
        Err(LoadError::Missing(_)) => Value::Object(Default::default()),
        Err(LoadError::Invalid(why)) => return Err(Error::invalid(format!("the current config cannot be patched: {why}"))),
    };
    let mut shrunk = Vec::new();
    config::edit::shrinking_lists("", &current, &patch, &replace_paths, &mut shrunk);
    if !shrunk.is_empty() {
        return Err(Error::invalid(format!(
            "config.patch would shrink or remove the list at {}; add the path to replacePaths to confirm",
            shrunk.join(", ")
        ))
        .details(json!({"code": "CONFIG_PATCH_REPLACE_PATHS_REQUIRED", "paths": shrunk})));
    }
    let mut merged = current;
    config::edit::merge_patch(&mut merged, patch);
    let mut text = serde_json::to_string_pretty(&merged).unwrap_or_default();
    text.push('\n');
    write(call, "config.patch", text, base_hash, false, delay).await
}

/// Validates `raw`, checks `baseHash`, writes the file (with a `.bak`) and asks the reloader to
/// apply it. The gateway never writes a config that it would refuse to start with.
async fn write(
    call: &Call<'_>,
    method: &'static str,
    raw: String,
    base_hash: Option<String>,
    force_restart: bool,
    restart_delay_ms: u64,
) -> Result<Value, Error> {
    let gw = call.gw;
    rate_limit(gw, method)?;
    let _guard = gw.config_write.lock().await;
    let path = &gw.paths.config_path;
    let current = match config::load::read(path) {
        Ok(s) => Some(s),
        Err(LoadError::Missing(_)) => None,
        Err(LoadError::Invalid(_)) => {
            // A broken file can be replaced; its hash is still what the writer must have seen.
            std::fs::read_to_string(path).ok().map(|raw| config::Source {
                path: path.clone(),
                raw,
                parsed: Value::Null,
                resolved: Value::Null,
                included: Vec::new(),
                warnings: Vec::new(),
                fingerprint: String::new(),
            })
        }
    };
    if let Some(cur) = &current {
        let current_hash = config::config_hash(&gw.hash_key, &cur.raw);
        match base_hash {
            None => {
                return Err(Error::invalid("config base hash required; read it with config.get and pass it as baseHash")
                    .details(json!({"code": "CONFIG_BASE_HASH_REQUIRED"})));
            }
            Some(b) if b != current_hash => {
                return Err(Error::invalid("config changed since it was read; re-run config.get and retry")
                    .details(json!({"code": "CONFIG_BASE_HASH_MISMATCH", "currentHash": current_hash})));
            }
            Some(_) => {}
        }
    }
    // Text edited from config.get still holds the redaction marker where a secret was: the
    // file's own secret goes back there, and a marker with no secret behind it is refused.
    let current_parsed = current.as_ref().map(|c| c.parsed.clone()).unwrap_or(Value::Null);
    let raw = config::restore_redacted(&raw, &current_parsed)
        .map_err(|(path, message)| invalid_config(&[config::Issue { path: path.clone(), message: message.clone() }]))?;
    // Only a config the gateway would start with is written; the file stays untouched otherwise.
    let loaded = crate::gateway::admission::check_text(&gw.paths, &gw.opts, raw.clone()).map_err(|issues| invalid_config(&issues))?;
    let plan = crate::gateway::apply::plan_between(&gw.settings(), &loaded);
    crate::fsutil::write_with_backup(path, raw.as_bytes())
        .map_err(|e| Error::unavailable(format!("cannot write {}: {e}", gw.paths.display(path))))?;
    log::info!(target: "config", "{method}: wrote {} ({})", gw.paths.display(path), if plan.is_empty() { "no effective change".into() } else { plan.describe() });
    let mode = loaded.config.gateway.reload_mode;
    let restarts = force_restart
        || match mode {
            config::ReloadMode::Restart => plan.has_effect(),
            config::ReloadMode::Hybrid => plan.needs_restart(),
            _ => false,
        };
    let hash = config::config_hash(&gw.hash_key, &raw);
    let mut out = json!({
        "ok": true,
        "path": gw.paths.display(path),
        "hash": hash,
        "config": config::redact(&loaded.resolved()),
        "changedPaths": plan.changes.iter().map(|c| c.path.clone()).collect::<Vec<_>>(),
    });
    if restarts {
        out["restart"] = json!({"delayMs": restart_delay_ms, "reason": if force_restart { method.to_string() } else { plan.describe() }});
    }
    // Applied by the reloader, through the same path as an edit of the file.
    let control = gw.control.clone();
    crate::rt::spawn(async move {
        if restart_delay_ms > 0 {
            smol::Timer::after(std::time::Duration::from_millis(restart_delay_ms)).await;
        }
        let _ = control.send(crate::gateway::Control::ReloadNow { force_restart }).await;
    })
    .detach();
    Ok(out)
}

/// `INVALID_REQUEST invalid config: <path>: <why>; …` with the issues in `details`.
fn invalid_config(issues: &[config::Issue]) -> Error {
    let list: Vec<Value> = issues.iter().map(|i| json!({"path": i.path, "message": i.message})).collect();
    let text = issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; ");
    Error::invalid(format!("invalid config: {text}")).details(json!({"code": "INVALID_CONFIG", "issues": list}))
}

fn rate_limit(gw: &crate::gateway::Gateway, method: &'static str) -> Result<(), Error> {
    let now = std::time::Instant::now();
    let window = std::time::Duration::from_secs(60);
    let mut map = gw.write_limiter.lock().unwrap_or_else(|e| e.into_inner());
    let recent = map.entry(method).or_default();
    while recent.front().is_some_and(|t| now.duration_since(*t) > window) {
        recent.pop_front();
    }
    if recent.len() >= CONFIG_WRITES_PER_MINUTE {
        let wait = recent.front().map(|t| window.saturating_sub(now.duration_since(*t))).unwrap_or(window);
        return Err(Error::busy(
            format!("rate limit exceeded for {method}; retry after {}s", wait.as_secs().max(1)),
            wait.as_millis() as u64,
        )
        .details(json!({"method": method, "limit": "30 per 60s"})));
    }
    recent.push_back(now);
    Ok(())
}

/// `secrets.reload`: resolves every SecretRef again (a rotated secret file takes effect) without a
/// restart. A rotated gateway token or password closes the connected clients with 4001.
pub async fn secrets_reload(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    params::closed("secrets.reload", p, &[])?.done()?;
    let gw = call.gw;
    let _guard = gw.config_write.lock().await;
    let loaded = match config::load(&gw.paths) {
        Ok(l) => l,
        Err(LoadError::Missing(_)) if gw.opts.allow_unconfigured => config::unconfigured(),
        Err(e) => return Err(Error::unavailable(format!("secrets.reload: cannot read the config: {e}"))),
    };
    if !loaded.is_valid() {
        let text = loaded.issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; ");
        // Strict: the previous secrets stay in force.
        return Err(Error::invalid(format!("secrets.reload failed, previous secrets kept: {text}")));
    }
    let old = gw.settings();
    let mut auth = crate::gateway::rules::resolve_auth(&gw.paths, &loaded.config, &gw.opts, &old.listen)
        .map_err(|e| Error::invalid(format!("secrets.reload failed, previous secrets kept: {}", e.lines.join(" "))))?;
    if old.auth.ephemeral_token && auth.ephemeral_token {
        auth.token = old.auth.token.clone();
    }
    let rotated = auth.mode != old.auth.mode || auth.token != old.auth.token || auth.password != old.auth.password;
    let warnings = loaded.warnings.len();
    crate::gateway::apply::hot_apply(gw, loaded).await;
    if rotated {
        let settings = gw.settings();
        gw.replace_settings(crate::gateway::Settings {
            loaded: settings.loaded.clone(),
            hash: settings.hash.clone(),
            fingerprint: settings.fingerprint.clone(),
            listen: settings.listen.clone(),
            auth,
        });
        log::info!(target: "gateway", "secrets reloaded: the gateway secret changed; closing connected clients (4001)");
        // After this response is on its way: the caller's own connection used the old secret too.
        let gw = gw.clone();
        crate::rt::spawn(async move {
            smol::Timer::after(std::time::Duration::from_millis(50)).await;
            gw.hub.close_all(4001, "gateway auth changed").await;
        })
        .detach();
    } else {
        log::info!(target: "gateway", "secrets reloaded");
    }
    Ok(json!({"ok": true, "warningCount": warnings}))
}
