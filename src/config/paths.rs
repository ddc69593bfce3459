//! Where a gateway's files live, resolved the way OpenClaw resolves them:
//! `--dev` → profile `dev`; `--profile <name>` / `OPENCLAW_PROFILE` → `~/.openclaw-<name>`;
//! `OPENCLAW_STATE_DIR` and `OPENCLAW_CONFIG_PATH` override; `OPENCLAW_HOME` replaces `~`.

use std::path::{Path, PathBuf};

/// The resolved locations of one gateway instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The home directory `~` stands for.
    pub home: PathBuf,
    /// Active profile (`dev` under `--dev`); `None` is the default profile.
    pub profile: Option<String>,
    /// State directory (`~/.openclaw`, `~/.openclaw-<profile>` or `OPENCLAW_STATE_DIR`).
    pub state_dir: PathBuf,
    /// Config file (`<state>/openclaw.json` or `OPENCLAW_CONFIG_PATH`).
    pub config_path: PathBuf,
    /// True when `--dev` selected the profile (the dev port and bootstrap apply).
    pub dev: bool,
}

impl Paths {
    /// Resolves from the process environment.
    pub fn resolve(dev: bool, profile: Option<&str>) -> Result<Paths, String> {
        Self::resolve_with(dev, profile, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Resolves with an explicit environment lookup (tests pass a map).
    pub fn resolve_with(dev: bool, profile: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Paths, String> {
        let env_profile = env("OPENCLAW_PROFILE");
        let profile = match (dev, profile) {
            (true, Some(p)) if p != "dev" => return Err(format!("--dev and --profile {p} cannot be combined")),
            (true, _) => Some("dev".to_string()),
            (false, Some(p)) => Some(p.to_string()),
            (false, None) => env_profile,
        };
        let profile = match profile.as_deref() {
            None | Some("default") => None,
            Some(p) => {
                validate_profile(p)?;
                Some(p.to_string())
            }
        };
        let dev = dev || profile.as_deref() == Some("dev");
        let home = match env("OPENCLAW_HOME") {
            Some(h) => PathBuf::from(h),
            None => home_dir(env).ok_or("cannot find the home directory: set HOME or OPENCLAW_HOME")?,
        };
        let state_dir = match env("OPENCLAW_STATE_DIR") {
            Some(dir) => expand_tilde(&dir, &home),
            None => match &profile {
                Some(p) => home.join(format!(".openclaw-{p}")),
                None => home.join(".openclaw"),
            },
        };
        let config_path = match env("OPENCLAW_CONFIG_PATH") {
            Some(path) => expand_tilde(&path, &home),
            None => state_dir.join("openclaw.json"),
        };
        Ok(Paths { home, profile, state_dir, config_path, dev })
    }

    /// Default agent workspace (`<state>/workspace`, or `OPENCLAW_WORKSPACE_DIR`).
    pub fn default_workspace(&self) -> PathBuf {
        match std::env::var("OPENCLAW_WORKSPACE_DIR") {
            Ok(dir) if !dir.is_empty() => expand_tilde(&dir, &self.home),
            _ => self.state_dir.join("workspace"),
        }
    }

    /// File-name stem of the log file: `openclaw` or `openclaw-<profile>`.
    pub fn log_stem(&self) -> String {
        match &self.profile {
            Some(p) => format!("openclaw-{}", p.to_ascii_lowercase()),
            None => "openclaw".to_string(),
        }
    }

    /// The `--profile` part of a suggested command (`openclaw --profile dev setup`).
    pub fn command_prefix(&self) -> String {
        match &self.profile {
            Some(p) => format!("openclaw --profile {p}"),
            None => "openclaw".to_string(),
        }
    }

    /// A path shown to a person, with the home directory written as `~`.
    pub fn display(&self, path: &Path) -> String {
        match path.strip_prefix(&self.home) {
            Ok(rest) if !self.home.as_os_str().is_empty() && self.home != Path::new("/") => {
                if rest.as_os_str().is_empty() {
                    "~".to_string()
                } else {
                    format!("~/{}", rest.display())
                }
            }
            _ => path.display().to_string(),
        }
    }

    /// Expands a leading `~` against this instance's home.
    pub fn expand(&self, path: &str) -> PathBuf {
        expand_tilde(path, &self.home)
    }
}

fn validate_profile(p: &str) -> Result<(), String> {
    let ok = !p.is_empty() && p.len() <= 64 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(format!("invalid profile name {p:?}: use letters, digits, '-' and '_' (at most 64)")) }
}

/// `~` and `~/x` expand to the home directory; anything else is taken as written.
pub fn expand_tilde(path: &str, home: &Path) -> PathBuf {
    if path == "~" {
        home.to_path_buf()
    } else if let Some(rest) = path.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(path)
    }
}

fn home_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(h) = env("HOME") {
        return Some(PathBuf::from(h));
    }
    // Services started without HOME (some system units): ask the password database.
    // SAFETY: getpwuid_r writes into our buffer and `pwd`; we read pw_dir only on success and copy
    // it out before the buffer goes away.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(libc::getuid(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        let dir = std::ffi::CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned();
        (!dir.is_empty()).then(|| PathBuf::from(dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(dev: bool, profile: Option<&str>, vars: &[(&str, &str)]) -> Result<Paths, String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Paths::resolve_with(dev, profile, &|k| map.get(k).cloned())
    }

    #[test]
    fn default_profile_lives_in_dot_openclaw() {
        let p = resolve(false, None, &[("HOME", "/home/pi")]).unwrap();
        assert_eq!(p.state_dir, PathBuf::from("/home/pi/.openclaw"));
        assert_eq!(p.config_path, PathBuf::from("/home/pi/.openclaw/openclaw.json"));
        assert_eq!(p.log_stem(), "openclaw");
        assert!(!p.dev);
    }

    #[test]
    fn dev_and_named_profiles_get_their_own_dirs() {
        let d = resolve(true, None, &[("HOME", "/h")]).unwrap();
        assert_eq!(d.state_dir, PathBuf::from("/h/.openclaw-dev"));
        assert_eq!(d.log_stem(), "openclaw-dev");
        assert!(d.dev);
        let p = resolve(false, Some("work"), &[("HOME", "/h")]).unwrap();
        assert_eq!(p.config_path, PathBuf::from("/h/.openclaw-work/openclaw.json"));
        assert_eq!(p.command_prefix(), "openclaw --profile work");
        let e = resolve(false, None, &[("HOME", "/h"), ("OPENCLAW_PROFILE", "ops")]).unwrap();
        assert_eq!(e.state_dir, PathBuf::from("/h/.openclaw-ops"));
    }

    #[test]
    fn environment_overrides_win() {
        let p = resolve(true, None, &[("HOME", "/h"), ("OPENCLAW_STATE_DIR", "~/s"), ("OPENCLAW_CONFIG_PATH", "/etc/oc.json")]).unwrap();
        assert_eq!(p.state_dir, PathBuf::from("/h/s"));
        assert_eq!(p.config_path, PathBuf::from("/etc/oc.json"));
        let q = resolve(false, None, &[("HOME", "/h"), ("OPENCLAW_HOME", "/srv/oc")]).unwrap();
        assert_eq!(q.state_dir, PathBuf::from("/srv/oc/.openclaw"));
    }

    #[test]
    fn rejects_bad_profile_names_and_conflicts() {
        assert!(resolve(false, Some("../x"), &[("HOME", "/h")]).is_err());
        assert!(resolve(true, Some("work"), &[("HOME", "/h")]).is_err());
        assert!(resolve(true, Some("dev"), &[("HOME", "/h")]).is_ok());
    }

    #[test]
    fn display_abbreviates_home() {
        let p = resolve(false, None, &[("HOME", "/home/pi")]).unwrap();
        assert_eq!(p.display(&p.config_path), "~/.openclaw/openclaw.json");
        assert_eq!(p.display(Path::new("/etc/x")), "/etc/x");
    }
}
