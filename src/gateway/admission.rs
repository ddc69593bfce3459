//! Whether the gateway would start with a config. One check for every way a config arrives — the
//! config RPCs, the CLI's writers (`config set`, `channels add`, `onboard`), a reload and the
//! start itself — so that no write leaves a file the next start refuses, and no config makes the
//! gateway write into a file or a directory that is not its own.

use std::path::{Path, PathBuf};

use super::rules::{self as start, RunOptions};
use crate::config::{self, Config, Issue, Loaded, Paths};
use crate::limits::CONFIG_MAX_FILE_BYTES;

/// Directories that belong to the operating system. The gateway never writes below them, whoever
/// it runs as (on many boards it runs as root, where a log file in `/etc` would be accepted by
/// the kernel).
const SYSTEM_DIRS: &[&str] = &["/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys", "/usr"];
/// Places inside [`SYSTEM_DIRS`] that are meant for ordinary files: `/dev/shm` is a tmpfs any
/// user may write (boards with a read-only root keep state there).
const WRITABLE_UNDER_SYSTEM_DIRS: &[&str] = &["/dev/shm"];

/// `raw` as the next config file: the loader's limits, validation, the start-up guards, model
/// references that resolve and write targets that are the gateway's own. The issues name key
/// paths, as validation does.
pub fn check_text(paths: &Paths, opts: &RunOptions, raw: String) -> Result<Loaded, Vec<Issue>> {
    if raw.len() as u64 > CONFIG_MAX_FILE_BYTES {
        return Err(vec![issue(
            "",
            format!(
                "the config is {} bytes; the gateway reads at most {CONFIG_MAX_FILE_BYTES} (move large parts into $include files)",
                raw.len()
            ),
        )]);
    }
    let source = config::load::from_text(&paths.config_path, raw).map_err(|e| vec![issue("", e.to_string())])?;
    let loaded = config::validate(source, paths);
    if !loaded.is_valid() {
        return Err(loaded.issues.clone());
    }
    let mut issues = start_guards(paths, &loaded, opts);
    issues.extend(model_references(&loaded.config));
    issues.extend(write_targets(paths, &loaded.config));
    if issues.is_empty() { Ok(loaded) } else { Err(issues) }
}

/// The refusals of `openclaw gateway` itself: `gateway.mode`, a non-loopback bind without a
/// secret, both a token and a password without a mode.
fn start_guards(paths: &Paths, loaded: &Loaded, opts: &RunOptions) -> Vec<Issue> {
    let mut issues = Vec::new();
    if let Err(e) = start::check_mode(paths, loaded, opts) {
        issues.push(issue("gateway.mode", e.lines.join(" ")));
    }
    match start::resolve_listen(paths, &loaded.config, opts) {
        Err(e) => issues.push(issue("gateway.bind", e.lines.join(" "))),
        Ok(listen) => {
            if let Err(e) = start::choose_auth(&loaded.config, opts, &listen) {
                issues.push(issue("gateway.auth", e.lines.join(" ")));
            }
        }
    }
    issues
}

fn issue(path: &str, message: impl Into<String>) -> Issue {
    Issue { path: path.to_string(), message: message.into() }
}

/// Every agent's model chain names a provider the gateway knows (built in or configured) with an
/// API it speaks. A missing key is not refused here: it may be set in the environment later.
pub fn model_references(cfg: &Config) -> Vec<Issue> {
    let mut issues = Vec::new();
    for id in cfg.agents.ids() {
        let choice = cfg.agents.model_for(&id);
        let path = if cfg.agents.entry(&id).is_some_and(|e| e.model.is_some()) {
            format!("agents.entries.{id}.model")
        } else {
            "agents.defaults.model".to_string()
        };
        for reference in choice.primary.iter().chain(&choice.fallbacks) {
            if let Err(e) = crate::agent::providers::resolve(cfg, reference) {
                if e.kind == crate::agent::providers::ErrorKind::Config {
                    issues.push(issue(&path, e.message));
                }
            }
        }
    }
    issues.dedup();
    issues
}

/// Where the gateway writes: the log file, the agents' workspaces and the state directory. None
/// may be inside a system directory, and what exists there already must be of the gateway's
/// own kind: a regular file of JSON log lines, or a directory.
pub fn write_targets(paths: &Paths, cfg: &Config) -> Vec<Issue> {
    let mut issues = Vec::new();
    if let Some(file) = &cfg.logging.file {
        if let Err(why) = log_file_target(file) {
            issues.push(issue("logging.file", why));
        }
    }
    let mut workspaces: Vec<(String, &PathBuf)> = Vec::new();
    if let Some(w) = &cfg.agents.defaults.workspace {
        workspaces.push(("agents.defaults.workspace".into(), w));
    }
    for id in cfg.agents.ids() {
        if let Some(w) = cfg.agents.entry(&id).and_then(|e| e.workspace.as_ref()) {
            workspaces.push((format!("agents.entries.{id}.workspace"), w));
        }
    }
    for (key, dir) in workspaces {
        if let Err(why) = directory_target(dir) {
            issues.push(issue(&key, why));
        }
    }
    if let Err(why) = directory_target(&paths.state_dir) {
        issues.push(issue("", format!("the state directory (OPENCLAW_STATE_DIR): {why}")));
    }
    issues
}

fn log_file_target(file: &Path) -> Result<(), String> {
    if !file.is_absolute() {
        return Err(format!("{} is not an absolute path", file.display()));
    }
    refuse_system_location(file)?;
    match std::fs::symlink_metadata(file) {
        Err(_) => Ok(()),
        Ok(m) if m.file_type().is_symlink() => Err(format!("{} is a symbolic link; name the log file itself", file.display())),
        Ok(m) if !m.is_file() => Err(format!("{} exists and is not a regular file", file.display())),
        Ok(m) if m.len() == 0 => Ok(()),
        Ok(_) => {
            // The gateway appends JSON lines; anything else there is someone else's file.
            let mut head = [0u8; 1];
            let starts_like_a_log = std::fs::File::open(file)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                .map(|()| head[0] == b'{')
                .unwrap_or(false);
            if starts_like_a_log {
                Ok(())
            } else {
                Err(format!("{} exists and is not a gateway log file (JSON lines); choose a new file", file.display()))
            }
        }
    }
}

fn directory_target(dir: &Path) -> Result<(), String> {
    refuse_system_location(dir)?;
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(format!("{} exists and is not a directory", dir.display())),
        _ => Ok(()),
    }
}

/// Refuses `path` when it is, or resolves (through symbolic links of its existing part) to, a
/// place inside a system directory, or the root directory itself.
fn refuse_system_location(path: &Path) -> Result<(), String> {
    let resolved = resolve_existing_prefix(path);
    for candidate in [path, resolved.as_path()] {
        if candidate == Path::new("/") {
            return Err("the root directory is not a place for the gateway's files".to_string());
        }
        if WRITABLE_UNDER_SYSTEM_DIRS.iter().any(|d| candidate.starts_with(d)) {
            continue;
        }
        if let Some(sys) = SYSTEM_DIRS.iter().find(|d| candidate.starts_with(d)) {
            return Err(format!("{} is inside the system directory {sys}; the gateway does not write there", path.display()));
        }
    }
    Ok(())
}

/// `path` with its longest existing prefix canonicalised (so `/tmp/x -> /etc` is seen as `/etc`).
fn resolve_existing_prefix(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut cur = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(cur) {
            return rest.iter().rev().fold(real, |acc: PathBuf, part| acc.join(part));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(home: &Path) -> Paths {
        Paths::resolve_with(false, None, &|k| (k == "HOME").then(|| home.display().to_string())).unwrap_or_else(|e| panic!("{e}"))
    }

    fn check(home: &Path, v: serde_json::Value) -> Result<Loaded, Vec<Issue>> {
        check_text(&paths(home), &RunOptions::default(), v.to_string())
    }

    #[test]
    fn the_values_that_would_brick_the_gateway_are_refused_with_their_key_path() {
        if std::env::var("OPENCLAW_GATEWAY_TOKEN").is_ok() || std::env::var("OPENCLAW_GATEWAY_PASSWORD").is_ok() {
            return;
        }
        let home = std::env::temp_dir().join(format!("oc-admit-{}", crate::ids::uuid()));
        let local = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"gateway": {"mode": "local", "auth": {"token": "t"}}});
            crate::config::edit::merge_patch(&mut v, extra);
            v
        };
        let refused: &[(serde_json::Value, &str)] = &[
            (local(serde_json::json!({"gateway": {"bind": "lan", "auth": {"mode": "none", "token": null}}})), "gateway.auth"),
            (local(serde_json::json!({"gateway": {"mode": "remote"}})), "gateway.mode"),
            (serde_json::json!({"gateway": null}), "gateway.mode"),
            (local(serde_json::json!({"gateway": {"auth": {"token": "t", "password": "p"}}})), "gateway.auth"),
            (local(serde_json::json!({"agents": {"defaults": {"model": "nosuch/model"}}})), "agents.defaults.model"),
            (local(serde_json::json!({"logging": {"file": "/etc/passwd"}})), "logging.file"),
            (local(serde_json::json!({"logging": {"file": "/usr/lib/openclaw.log"}})), "logging.file"),
            (local(serde_json::json!({"logging": {"file": "/dev/openclaw.log"}})), "logging.file"),
            (local(serde_json::json!({"agents": {"defaults": {"workspace": "/etc/openclaw"}}})), "agents.defaults.workspace"),
            (local(serde_json::json!({"gateway": {"prot": 1}})), "gateway.prot"),
        ];
        for (value, key) in refused {
            let issues = check(&home, value.clone()).err().unwrap_or_else(|| panic!("accepted: {value}"));
            assert!(issues.iter().any(|i| i.path == *key), "{value}: {issues:?}");
        }
        let big = format!("{{\"gateway\": {{\"mode\": \"local\"}}, \"pad\": \"{}\"}}", "x".repeat(3 << 20));
        assert!(check_text(&paths(&home), &RunOptions::default(), big).is_err(), "larger than the loader reads");
        assert!(check(&home, local(serde_json::json!({"agents": {"defaults": {"model": "anthropic/claude-sonnet-4-5"}}}))).is_ok());
        assert!(check(&home, local(serde_json::json!({"logging": {"file": home.join("gw.log").display().to_string()}}))).is_ok());
        // A tmpfs for ordinary files, although under /dev (the fuzz harness and read-only-root
        // boards keep their state there).
        assert_eq!(refuse_system_location(Path::new("/dev/shm/openclaw/state/gateway.log")), Ok(()));
    }

    #[test]
    fn an_existing_file_is_a_log_target_only_when_it_holds_log_lines() {
        let dir = std::env::temp_dir().join(format!("oc-logtarget-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let log = dir.join("a.log");
        std::fs::write(&log, "{\"time\":\"x\"}\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(log_file_target(&log).is_ok());
        let other = dir.join("notes.txt");
        std::fs::write(&other, "my notes\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(log_file_target(&other).is_err());
        let link = dir.join("link.log");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap_or_else(|e| panic!("{e}"));
        assert!(log_file_target(&link).is_err(), "a link into /etc is refused");
        let via_link_dir = dir.join("etc-link");
        std::os::unix::fs::symlink("/etc", &via_link_dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(log_file_target(&via_link_dir.join("new.log")).is_err(), "a directory link into /etc is refused");
        std::fs::remove_dir_all(dir).ok();
    }
}
