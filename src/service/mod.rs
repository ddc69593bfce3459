//! Running the gateway as a service: the unit or plist it needs (rendered from the resolved
//! profile, port and binary path, never with secrets in it) and the service manager commands
//! that install, start, stop and remove it. systemd (user or system units) on Linux, launchd on
//! macOS.
//!
//! `OPENCLAW_SERVICE_MANAGER` (`systemd`, `launchd`, `none`) and `OPENCLAW_SERVICE_DIR` (where
//! unit files go) override the detection; the tests use them with fake `systemctl` and
//! `launchctl` programs on PATH.

pub mod launchd;
pub mod notify;
pub mod systemd;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Paths;

/// The service manager in charge on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// systemd; `user` for a `systemctl --user` unit, else a system unit.
    Systemd {
        user: bool,
    },
    Launchd,
    None,
}

impl Manager {
    /// Detects the manager (`system` asks for a system-wide systemd unit).
    pub fn detect(system: bool) -> Manager {
        let forced = std::env::var("OPENCLAW_SERVICE_MANAGER").ok();
        match forced.as_deref() {
            Some("systemd") => return Manager::Systemd { user: !system },
            Some("launchd") => return Manager::Launchd,
            Some("none") => return Manager::None,
            _ => {}
        }
        if cfg!(target_os = "macos") {
            return Manager::Launchd;
        }
        if on_path("systemctl") && Path::new("/run/systemd/system").is_dir() {
            return Manager::Systemd { user: !system };
        }
        Manager::None
    }

    pub fn describe(self) -> &'static str {
        match self {
            Manager::Systemd { user: true } => "systemd (user)",
            Manager::Systemd { user: false } => "systemd (system)",
            Manager::Launchd => "launchd",
            Manager::None => "no supported service manager detected",
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// What the service runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// `openclaw-gateway[-<profile>].service` or `ai.openclaw.gateway` / `ai.openclaw.<profile>`.
    pub name: String,
    pub exe: PathBuf,
    pub args: Vec<String>,
    /// Non-secret environment the gateway needs to find its files.
    pub env: Vec<(String, String)>,
    /// For system units: the user to run as, and its home.
    pub user: Option<(String, PathBuf)>,
    pub port: u16,
}

/// The service name for a profile on `manager`.
pub fn service_name(paths: &Paths, manager: Manager) -> String {
    match (manager, &paths.profile) {
        (Manager::Launchd, None) => "ai.openclaw.gateway".into(),
        (Manager::Launchd, Some(p)) => format!("ai.openclaw.{}", p.to_ascii_lowercase()),
        (_, None) => "openclaw-gateway.service".into(),
        (_, Some(p)) => format!("openclaw-gateway-{}.service", p.to_ascii_lowercase()),
    }
}

/// The spec for this profile: the absolute binary path, the resolved port, and the profile's
/// locations when they differ from the defaults. Tokens stay in the config file.
pub fn spec(paths: &Paths, manager: Manager, port: u16, exe: PathBuf) -> Spec {
    let mut args = Vec::new();
    match &paths.profile {
        Some(p) if paths.dev && p == "dev" => args.push("--dev".to_string()),
        Some(p) => args.extend(["--profile".to_string(), p.clone()]),
        None => {}
    }
    args.extend(["gateway".to_string(), "--port".to_string(), port.to_string()]);
    let mut env = Vec::new();
    for key in ["OPENCLAW_STATE_DIR", "OPENCLAW_CONFIG_PATH", "OPENCLAW_HOME", "OPENCLAW_INCLUDE_ROOTS"] {
        if let Ok(v) = std::env::var(key) {
            if !v.is_empty() {
                env.push((key.to_string(), v));
            }
        }
    }
    let user = match manager {
        Manager::Systemd { user: false } => Some((current_user(), paths.home.clone())),
        _ => None,
    };
    Spec { name: service_name(paths, manager), exe, args, env, user, port }
}

fn current_user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| {
        // SAFETY: getuid has no preconditions.
        unsafe { libc::getuid() }.to_string()
    })
}

/// Where the unit or plist file goes.
pub fn unit_path(paths: &Paths, manager: Manager, name: &str) -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("OPENCLAW_SERVICE_DIR") {
        if !dir.is_empty() {
            return Some(PathBuf::from(dir).join(if manager == Manager::Launchd { format!("{name}.plist") } else { name.to_string() }));
        }
    }
    match manager {
        Manager::Systemd { user: true } => {
            let base = std::env::var("XDG_CONFIG_HOME")
                .ok()
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| paths.home.join(".config"));
            Some(base.join("systemd").join("user").join(name))
        }
        Manager::Systemd { user: false } => Some(PathBuf::from("/etc/systemd/system").join(name)),
        Manager::Launchd => Some(paths.home.join("Library").join("LaunchAgents").join(format!("{name}.plist"))),
        Manager::None => None,
    }
}

/// The file's contents for `spec`.
pub fn render(manager: Manager, spec: &Spec, paths: &Paths) -> String {
    match manager {
        Manager::Launchd => launchd::render(spec, paths),
        _ => systemd::render(spec, manager == Manager::Systemd { user: true }),
    }
}

/// The outcome of a service-manager command.
#[derive(Debug)]
pub struct Ran {
    pub ok: bool,
    pub output: String,
}

/// Runs a service-manager command, capturing its output.
pub fn run(program: &str, args: &[&str]) -> Ran {
    match Command::new(program).args(args).output() {
        Ok(out) => {
            let mut output = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if !err.is_empty() {
                if !output.is_empty() {
                    output.push('\n');
                }
                output.push_str(&err);
            }
            Ran { ok: out.status.success(), output }
        }
        Err(e) => Ran { ok: false, output: format!("cannot run {program}: {e}") },
    }
}

/// The service's state as the manager reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub installed: bool,
    pub enabled: Option<bool>,
    pub active: Option<bool>,
    pub detail: String,
}

/// Asks the manager about the service.
pub fn state(paths: &Paths, manager: Manager) -> State {
    let name = service_name(paths, manager);
    let installed = unit_path(paths, manager, &name).is_some_and(|p| p.exists());
    match manager {
        Manager::Systemd { user } => {
            let scope: &[&str] = if user { &["--user"] } else { &[] };
            let active = run("systemctl", &[scope, &["is-active", &name]].concat());
            let enabled = run("systemctl", &[scope, &["is-enabled", &name]].concat());
            State {
                installed,
                enabled: Some(enabled.ok),
                active: Some(active.ok),
                detail: format!("{} · {}", first_line(&enabled.output, "unknown"), first_line(&active.output, "unknown")),
            }
        }
        Manager::Launchd => {
            let target = launchd::target(&name);
            let printed = run("launchctl", &["print", &target]);
            let active = printed.ok && printed.output.contains("state = running");
            State {
                installed,
                enabled: Some(printed.ok),
                active: Some(active),
                detail: if printed.ok { "loaded".into() } else { "not loaded".into() },
            }
        }
        Manager::None => State { installed: false, enabled: None, active: None, detail: "no service manager".into() },
    }
}

fn first_line(s: &str, default: &str) -> String {
    s.lines().next().map(str::trim).filter(|l| !l.is_empty()).unwrap_or(default).to_string()
}
