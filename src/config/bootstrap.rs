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

/// Where a new config's gateway secret comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSeed {
    /// Nobody gave one: generate a token and keep it in `gateway.auth.token`.
    Generate,
    /// The user gave a token (`--token` or `OPENCLAW_GATEWAY_TOKEN`). The config names the mode
    /// only, so the user's token stays the one clients use; a generated one in the config would
    /// win over the environment and refuse every client that has the user's.
    UserToken,
    /// The same for a password (`--password` or `OPENCLAW_GATEWAY_PASSWORD`).
    UserPassword,
}

impl AuthSeed {
    /// The seed for a first start: the user's token or password from the flags or the
    /// environment, else a generated token.
    pub fn from_user(flag_token: bool, flag_password: bool, env: &dyn Fn(&str) -> Option<String>) -> AuthSeed {
        let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
        if flag_token || (!flag_password && set("OPENCLAW_GATEWAY_TOKEN")) {
            AuthSeed::UserToken
        } else if flag_password || set("OPENCLAW_GATEWAY_PASSWORD") {
            AuthSeed::UserPassword
        } else {
            AuthSeed::Generate
        }
    }

    /// The seed for commands without secret flags (`setup`, `doctor --fix`): the environment.
    pub fn from_environment() -> AuthSeed {
        AuthSeed::from_user(false, false, &|k| std::env::var(k).ok())
    }

    /// The new config's `gateway.auth` block.
    fn auth_block(self) -> serde_json::Value {
        match self {
            AuthSeed::Generate => json!({"mode": "token", "token": crate::ids::token()}),
            AuthSeed::UserToken => json!({"mode": "token"}),
            AuthSeed::UserPassword => json!({"mode": "password"}),
        }
    }
}

/// What [`ensure_profile`] created.
#[derive(Debug, Default)]
pub struct Created {
    pub config: Option<PathBuf>,
    pub workspace: Option<PathBuf>,
    pub files: Vec<PathBuf>,
    pub sessions: Option<PathBuf>,
}

/// Creates the state dir, a config (when missing, with its secret from `seed`) and the workspace
/// with its starter files. Existing files are never overwritten.
pub fn ensure_profile(paths: &Paths, seed: AuthSeed) -> io::Result<Created> {
    let mut created = Created::default();
    fsutil::create_private_dir(&paths.state_dir)?;
    let workspace = paths.default_workspace();
    if !paths.config_path.exists() {
        let workspace_text = paths.display(&workspace);
        let config = json!({
            "gateway": {
                "mode": "local",
                "bind": "loopback",
                "auth": seed.auth_block()
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
        let first = ensure_profile(&paths, AuthSeed::Generate).unwrap();
        assert_eq!(first.config.as_deref(), Some(paths.config_path.as_path()));
        assert_eq!(first.files.len(), WORKSPACE_FILES.len());
        let text = std::fs::read_to_string(&paths.config_path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["gateway"]["mode"], "local");
        assert_eq!(v["gateway"]["auth"]["token"].as_str().unwrap().len(), 48);
        assert_eq!(v["agents"]["defaults"]["workspace"], "~/.openclaw-dev/workspace");
        let mode = std::fs::metadata(&paths.config_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = ensure_profile(&paths, AuthSeed::Generate).unwrap();
        assert!(second.config.is_none() && second.files.is_empty());
        assert_eq!(std::fs::read_to_string(&paths.config_path).unwrap(), text, "never overwritten");
        std::fs::remove_dir_all(home).ok();
    }

    #[test]
    fn a_token_or_password_the_user_gave_is_not_replaced_by_a_generated_one() {
        let env =
            |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(AuthSeed::from_user(false, false, &env(&[])), AuthSeed::Generate);
        assert_eq!(AuthSeed::from_user(false, false, &env(&[("OPENCLAW_GATEWAY_TOKEN", "")])), AuthSeed::Generate);
        assert_eq!(AuthSeed::from_user(false, false, &env(&[("OPENCLAW_GATEWAY_TOKEN", "tok")])), AuthSeed::UserToken);
        assert_eq!(AuthSeed::from_user(false, false, &env(&[("OPENCLAW_GATEWAY_PASSWORD", "pw")])), AuthSeed::UserPassword);
        assert_eq!(AuthSeed::from_user(true, false, &env(&[("OPENCLAW_GATEWAY_PASSWORD", "pw")])), AuthSeed::UserToken);
        assert_eq!(AuthSeed::from_user(false, true, &env(&[("OPENCLAW_GATEWAY_TOKEN", "tok")])), AuthSeed::UserPassword);

        let home = std::env::temp_dir().join(format!("oc-boot-{}", crate::ids::uuid()));
        let paths = Paths::resolve_with(true, None, &|k| (k == "HOME").then(|| home.display().to_string())).unwrap();
        ensure_profile(&paths, AuthSeed::UserToken).unwrap();
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&paths.config_path).unwrap()).unwrap();
        assert_eq!(v["gateway"]["auth"], json!({"mode": "token"}), "no generated token beside the user's");
        std::fs::remove_dir_all(home).ok();
    }
}
