//! `openclaw gateway install | uninstall | start | stop | restart`: the gateway as a service,
//! through systemd or launchd. Without a service manager, `stop` and `restart` act on the
//! gateway of this state directory by its pid (SIGTERM, SIGUSR1).

use argh::FromArgs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::client::CliError;
use crate::config::Paths;
use crate::gateway::rules::RunOptions;
use crate::service::{self, Manager};

/// Install the gateway as a service that starts at boot (systemd user unit, or launchd agent).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "install")]
pub struct InstallCmd {
    #[argh(switch, description = "replace an existing unit that differs")]
    pub force: bool,
    #[argh(switch, description = "install a system-wide systemd unit (needs root) instead of a user unit")]
    pub system: bool,
    #[argh(option, description = "port the service listens on (default: what the gateway would pick)")]
    pub port: Option<u16>,
}

/// Stop the service and remove it.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "uninstall")]
pub struct UninstallCmd {
    #[argh(switch, description = "the system-wide systemd unit")]
    system: bool,
}

/// Start the installed service.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "start")]
pub struct StartCmd {
    #[argh(switch, description = "the system-wide systemd unit")]
    system: bool,
}

/// Stop the service (or the gateway of this profile, when no service is installed).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "stop")]
pub struct StopCmd {
    #[argh(switch, description = "the system-wide systemd unit")]
    system: bool,
    #[argh(switch, description = "accepted for compatibility with the official CLI")]
    #[allow(dead_code)]
    force: bool,
}

/// Restart the service (or the gateway of this profile in-process, when no service is installed).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "restart")]
pub struct RestartCmd {
    #[argh(switch, description = "the system-wide systemd unit")]
    system: bool,
}

/// The port a service should be given: the flag, else what the gateway would resolve.
fn service_port(paths: &Paths, flag: Option<u16>) -> u16 {
    if let Some(p) = flag {
        return p;
    }
    let cfg = super::client::client_config(paths);
    crate::gateway::rules::resolve_listen(paths, &cfg, &RunOptions::default()).map(|l| l.port).unwrap_or(crate::limits::DEFAULT_PORT)
}

fn current_exe() -> Result<PathBuf, CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::new(format!("cannot find this program's path: {e}")))?;
    Ok(std::fs::canonicalize(&exe).unwrap_or(exe))
}

fn systemctl(user: bool, args: &[&str]) -> service::Ran {
    let mut all = Vec::with_capacity(args.len() + 1);
    if user {
        all.push("--user");
    }
    all.extend_from_slice(args);
    service::run("systemctl", &all)
}

fn no_manager(paths: &Paths) -> CliError {
    CliError::new(format!(
        "No supported service manager detected (systemd or launchd). Run the gateway in the foreground with `{} gateway`, or under your own supervisor.",
        paths.command_prefix()
    ))
}

pub fn install(paths: &Paths, cmd: InstallCmd, gateway_port: Option<u16>) -> Result<(), CliError> {
    let manager = Manager::detect(cmd.system);
    if manager == Manager::None {
        return Err(no_manager(paths));
    }
    let port = service_port(paths, cmd.port.or(gateway_port));
    let spec = service::spec(paths, manager, port, current_exe()?);
    let text = service::render(manager, &spec, paths);
    let file = service::unit_path(paths, manager, &spec.name).ok_or_else(|| no_manager(paths))?;
    if let Ok(existing) = std::fs::read_to_string(&file) {
        if existing != text && !cmd.force {
            return Err(CliError::new(format!(
                "{} already exists and differs from what this gateway needs; re-run with --force to replace it",
                paths.display(&file)
            )));
        }
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mode = if manager == Manager::Launchd { 0o600 } else { 0o644 };
    crate::fsutil::write_atomic(&file, text.as_bytes(), mode)
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", paths.display(&file))))?;
    println!("Wrote {} ({} unit for port {port})", paths.display(&file), manager.describe());
    match manager {
        Manager::Systemd { user } => {
            let reload = systemctl(user, &["daemon-reload"]);
            let enable = systemctl(user, &["enable", "--now", &spec.name]);
            if !reload.ok || !enable.ok {
                let out = if !reload.ok { reload.output } else { enable.output };
                let hint = if user {
                    "\nOn a headless board, make sure the user manager runs: sudo loginctl enable-linger $USER (and XDG_RUNTIME_DIR=/run/user/$(id -u))."
                } else {
                    ""
                };
                return Err(CliError::new(format!("systemctl could not enable {}: {out}{hint}", spec.name)));
            }
            let scope = if user { "--user " } else { "" };
            println!("Enabled and started: systemctl {scope}enable --now {}", spec.name);
            if user {
                println!(
                    "Keep it running after you log out: sudo loginctl enable-linger {}",
                    std::env::var("USER").unwrap_or_else(|_| "$USER".into())
                );
            }
        }
        Manager::Launchd => {
            if let Some(dir) = service::launchd::log_path(paths).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let target = service::launchd::target(&spec.name);
            // Replace a loaded copy so the new plist takes effect.
            let _ = service::run("launchctl", &["bootout", &target]);
            let boot = service::run("launchctl", &["bootstrap", &service::launchd::domain(), &file.display().to_string()]);
            if !boot.ok {
                return Err(CliError::new(format!("launchctl could not load {}: {}", spec.name, boot.output)));
            }
            println!("Loaded launchd agent {} (starts at login, kept alive)", spec.name);
        }
        Manager::None => {}
    }
    println!("Check it with: {} gateway status", paths.command_prefix());
    Ok(())
}

pub fn uninstall(paths: &Paths, cmd: UninstallCmd) -> Result<(), CliError> {
    let manager = Manager::detect(cmd.system);
    if manager == Manager::None {
        return Err(no_manager(paths));
    }
    let name = service::service_name(paths, manager);
    let file = service::unit_path(paths, manager, &name).ok_or_else(|| no_manager(paths))?;
    if !file.exists() {
        println!("{name} is not installed.");
        return Ok(());
    }
    match manager {
        Manager::Systemd { user } => {
            let _ = systemctl(user, &["disable", "--now", &name]);
        }
        Manager::Launchd => {
            let _ = service::run("launchctl", &["bootout", &service::launchd::target(&name)]);
        }
        Manager::None => {}
    }
    std::fs::remove_file(&file).map_err(|e| CliError::new(format!("cannot remove {}: {e}", paths.display(&file))))?;
    if let Manager::Systemd { user } = manager {
        let _ = systemctl(user, &["daemon-reload"]);
    }
    println!("Removed {name} ({})", paths.display(&file));
    Ok(())
}

/// The manager and unit name when a service is installed for this profile.
fn installed(paths: &Paths, system: bool) -> Option<(Manager, String)> {
    let manager = Manager::detect(system);
    let name = service::service_name(paths, manager);
    let file = service::unit_path(paths, manager, &name)?;
    file.exists().then_some((manager, name))
}

pub fn start(paths: &Paths, cmd: StartCmd) -> Result<(), CliError> {
    let Some((manager, name)) = installed(paths, cmd.system) else {
        return Err(CliError::new(format!(
            "No gateway service is installed for this profile. Install one with `{p} gateway install`, or run `{p} gateway` in the foreground.",
            p = paths.command_prefix()
        )));
    };
    let ran = match manager {
        Manager::Systemd { user } => systemctl(user, &["start", &name]),
        _ => service::run("launchctl", &["kickstart", &service::launchd::target(&name)]),
    };
    if !ran.ok {
        return Err(CliError::new(format!("could not start {name}: {}", ran.output)));
    }
    println!("Started {name}.");
    Ok(())
}

pub fn stop(paths: &Paths, cmd: StopCmd) -> Result<(), CliError> {
    if let Some((manager, name)) = installed(paths, cmd.system) {
        let ran = match manager {
            Manager::Systemd { user } => systemctl(user, &["stop", &name]),
            _ => service::run("launchctl", &["bootout", &service::launchd::target(&name)]),
        };
        if !ran.ok {
            return Err(CliError::new(format!("could not stop {name}: {}", ran.output)));
        }
        println!("Stopped {name}.");
        return Ok(());
    }
    // No service: stop the gateway this profile started, by its pid.
    let Some(owner) = crate::daemon::lock::live_owner(&paths.state_dir) else {
        println!("No gateway is running for {}.", paths.display(&paths.state_dir));
        return Ok(());
    };
    crate::sys::kill(owner.pid, libc::SIGTERM).map_err(|e| CliError::new(format!("cannot signal pid {}: {e}", owner.pid)))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if crate::daemon::lock::live_owner(&paths.state_dir).is_none() {
            println!("Stopped the gateway (pid {}).", owner.pid);
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(CliError::new(format!("the gateway (pid {}) did not stop within 10 s", owner.pid)))
}

pub fn restart(paths: &Paths, cmd: RestartCmd) -> Result<(), CliError> {
    if let Some((manager, name)) = installed(paths, cmd.system) {
        let ran = match manager {
            Manager::Systemd { user } => systemctl(user, &["restart", &name]),
            _ => service::run("launchctl", &["kickstart", "-k", &service::launchd::target(&name)]),
        };
        if !ran.ok {
            return Err(CliError::new(format!("could not restart {name}: {}", ran.output)));
        }
        println!("Restarted {name}.");
        return Ok(());
    }
    let Some(owner) = crate::daemon::lock::live_owner(&paths.state_dir) else {
        return Err(CliError::new(format!(
            "No gateway is running for {} and no service is installed. Start it with `{} gateway`.",
            paths.display(&paths.state_dir),
            paths.command_prefix()
        )));
    };
    crate::sys::kill(owner.pid, libc::SIGUSR1).map_err(|e| CliError::new(format!("cannot signal pid {}: {e}", owner.pid)))?;
    println!("Asked the gateway (pid {}) to restart in-process.", owner.pid);
    Ok(())
}

/// Differences between the installed unit and what the gateway needs now (port, binary,
/// profile), one line each. Empty when there is no unit or it matches.
pub fn drift(paths: &Paths, manager: Manager) -> Vec<String> {
    let name = service::service_name(paths, manager);
    let Some(file) = service::unit_path(paths, manager, &name) else { return Vec::new() };
    let Ok(text) = std::fs::read_to_string(&file) else { return Vec::new() };
    let Ok(exe) = current_exe() else { return Vec::new() };
    let want = service::spec(paths, manager, service_port(paths, None), exe);
    let (args, env) = match manager {
        Manager::Launchd => (service::launchd::parse_args(&text), Vec::new()),
        _ => service::systemd::parse(&text),
    };
    let mut out = Vec::new();
    let have_exe = args.first().cloned().unwrap_or_default();
    if have_exe != want.exe.display().to_string() {
        out.push(format!("binary is {have_exe}, this openclaw is {}", want.exe.display()));
    }
    let port_of = |a: &[String]| a.iter().position(|x| x == "--port").and_then(|i| a.get(i + 1)).cloned();
    let have_port = port_of(&args);
    if have_port.as_deref() != Some(want.port.to_string().as_str()) {
        out.push(format!("port is {}, the config says {}", have_port.unwrap_or_else(|| "unset".into()), want.port));
    }
    let profile_args = |a: &[String]| a.iter().take_while(|x| *x != "gateway").skip(1).cloned().collect::<Vec<_>>();
    let want_profile: Vec<String> = want.args.iter().take_while(|x| *x != "gateway").cloned().collect();
    if profile_args(&args) != want_profile {
        out.push(format!("profile flags are {:?}, expected {:?}", profile_args(&args), want_profile));
    }
    for (k, v) in &want.env {
        if !env.iter().any(|(ek, ev)| ek == k && ev == v) && manager != Manager::Launchd {
            out.push(format!("environment lacks {k}={v}"));
        }
    }
    if matches!(manager, Manager::Systemd { .. }) && !service::systemd::has_watchdog(&text) {
        out.push("the unit has no Type=notify and WatchdogSec= (systemd cannot tell a stuck gateway from a working one)".to_string());
    }
    out
}
