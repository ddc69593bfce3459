//! First-run files: a minimal config with a generated gateway token, and an agent workspace with
//! starter documents. `--dev gateway` uses this when the dev profile has no config yet, and
//! `openclaw setup` uses it for any profile.

use serde_json::json;
use std::io;
use std::path::{Path, PathBuf};

use super::Paths;
use crate::fsutil;

/// The starter documents of a new agent workspace (written only when missing).
pub const WORKSPACE_FILES: &[(&str, &str)] = &[
    (
        "AGENTS.md",
        "# How this agent works\n\n\
         This folder is the agent's workspace. The gateway reads these files at the start of every\n\
         run and puts them in the system prompt, so keep them short and current.\n\n\
         - Answer in the language of the person writing to you.\n\
         - Prefer a short, correct answer to a long one; ask when a request is ambiguous.\n\
         - Files you create belong in this folder. Never touch anything outside it.\n\
         - When you cannot do something, say so plainly and suggest what the person can do.\n",
    ),
    (
        "SOUL.md",
        "# Character\n\n\
         Calm, direct and helpful. You run on a small computer that belongs to the person you talk\n\
         to; treat their time, their data and their machine with care.\n",
    ),
    (
        "IDENTITY.md",
        "# Identity\n\n\
         - Name: Claw\n\
         - Role: a personal assistant reachable from chat apps through this gateway\n",
    ),
    (
        "USER.md",
        "# About the owner\n\n\
         Write here what the agent should know about you: your name, time zone, the languages you\n\
         use, and anything it should always or never do.\n",
    ),
];

/// What [`ensure_profile`] created.
#[derive(Debug, Default)]
pub struct Created {
    pub config: Option<PathBuf>,
    pub workspace: Option<PathBuf>,
    pub files: Vec<PathBuf>,
    pub sessions: Option<PathBuf>,
}

/// Creates the state dir, a config (when missing) and the workspace with its starter files.
/// Existing files are never overwritten.
pub fn ensure_profile(paths: &Paths) -> io::Result<Created> {
    let mut created = Created::default();
    fsutil::create_private_dir(&paths.state_dir)?;
    let workspace = paths.default_workspace();
    if !paths.config_path.exists() {
        let workspace_text = paths.display(&workspace);
        let config = json!({
            "gateway": {
                "mode": "local",
                "bind": "loopback",
                "auth": {"mode": "token", "token": crate::ids::token()}
            },
            "agents": {"defaults": {"workspace": workspace_text}},
            "meta": {"lastTouchedVersion": crate::VERSION}
        });
        let mut text = serde_json::to_string_pretty(&config).map_err(io::Error::other)?;
        text.push('\n');
        if fsutil::write_new_private(&paths.config_path, text.as_bytes())? {
            created.config = Some(paths.config_path.clone());
        }
    }
    ensure_workspace(&workspace, &mut created)?;
    let sessions = paths.state_dir.join("agents").join("main").join("sessions");
    if !sessions.exists() {
        fsutil::create_private_dir(&sessions)?;
        created.sessions = Some(sessions);
    }
    Ok(created)
}

fn ensure_workspace(workspace: &Path, created: &mut Created) -> io::Result<()> {
    if !workspace.exists() {
        fsutil::create_private_dir(workspace)?;
        created.workspace = Some(workspace.to_path_buf());
    }
    for (name, body) in WORKSPACE_FILES {
        let path = workspace.join(name);
        if fsutil::write_new_private(&path, body.as_bytes())? {
            created.files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_config_and_workspace_once() {
        let home = std::env::temp_dir().join(format!("oc-boot-{}", crate::ids::uuid()));
        let paths = Paths::resolve_with(true, None, &|k| (k == "HOME").then(|| home.display().to_string())).unwrap();
        let first = ensure_profile(&paths).unwrap();
        assert_eq!(first.config.as_deref(), Some(paths.config_path.as_path()));
        assert_eq!(first.files.len(), WORKSPACE_FILES.len());
        let text = std::fs::read_to_string(&paths.config_path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["gateway"]["mode"], "local");
        assert_eq!(v["gateway"]["auth"]["token"].as_str().unwrap().len(), 48);
        assert_eq!(v["agents"]["defaults"]["workspace"], "~/.openclaw-dev/workspace");
        let mode = std::fs::metadata(&paths.config_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = ensure_profile(&paths).unwrap();
        assert!(second.config.is_none() && second.files.is_empty());
        assert_eq!(std::fs::read_to_string(&paths.config_path).unwrap(), text, "never overwritten");
        std::fs::remove_dir_all(home).ok();
    }
}
