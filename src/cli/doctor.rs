//! `openclaw doctor [--fix]`: checks what commonly goes wrong with a gateway's files and
//! service, and with `--fix` repairs what can be repaired safely. Exits non-zero while a problem
//! remains.

use argh::FromArgs;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::client::CliError;
use crate::config::{self, Paths};
use crate::gateway::rules::RunOptions;
use crate::service::Manager;

/// Check the config, permissions, auth, port, service and log directory (`--fix` repairs).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "doctor")]
pub struct DoctorCmd {
    #[argh(switch, description = "repair what can be repaired safely, and say what was done")]
    fix: bool,
    #[argh(switch, description = "print the findings as JSON")]
    json: bool,
    #[argh(switch, description = "accepted for compatibility: doctor never asks questions")]
    #[allow(dead_code)]
    non_interactive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    Ok,
    Warning,
    Problem,
}

struct Finding {
    check: &'static str,
    severity: Severity,
    message: String,
    /// What `--fix` did, when it did something.
    fixed: Option<String>,
}

struct Doctor<'a> {
    paths: &'a Paths,
    fix: bool,
    findings: Vec<Finding>,
}

impl Doctor<'_> {
    fn ok(&mut self, check: &'static str, message: impl Into<String>) {
        self.findings.push(Finding { check, severity: Severity::Ok, message: message.into(), fixed: None });
    }

    fn warn(&mut self, check: &'static str, message: impl Into<String>) {
        self.findings.push(Finding { check, severity: Severity::Warning, message: message.into(), fixed: None });
    }

    /// A problem; when `--fix` is on, `repair` runs and its outcome decides whether it remains.
    fn problem(&mut self, check: &'static str, message: impl Into<String>, repair: Option<&mut dyn FnMut() -> Result<String, String>>) {
        let message = message.into();
        match (self.fix, repair) {
            (true, Some(repair)) => match repair() {
                Ok(done) => self.findings.push(Finding { check, severity: Severity::Ok, message, fixed: Some(done) }),
                Err(why) => self.findings.push(Finding {
                    check,
                    severity: Severity::Problem,
                    message: format!("{message} (fix failed: {why})"),
                    fixed: None,
                }),
            },
            _ => self.findings.push(Finding { check, severity: Severity::Problem, message, fixed: None }),
        }
    }
}

pub fn run(paths: &Paths, cmd: DoctorCmd) -> Result<(), CliError> {
    let mut d = Doctor { paths, fix: cmd.fix, findings: Vec::new() };
    check_config(&mut d);
    check_permissions(&mut d);
    let cfg = super::client::client_config(paths);
    check_auth(&mut d, &cfg);
    check_port(&mut d, &cfg);
    check_service(&mut d);
    check_log_dir(&mut d, &cfg);
    check_workspace(&mut d);
    check_models(&mut d, &cfg);
    check_channels(&mut d);

    let remaining = d.findings.iter().filter(|f| f.severity == Severity::Problem).count();
    if cmd.json {
        let findings: Vec<Value> = d
            .findings
            .iter()
            .map(|f| {
                json!({"checkId": f.check, "severity": match f.severity { Severity::Ok => "info", Severity::Warning => "warning", Severity::Problem => "error" },
                       "message": f.message, "fixed": f.fixed})
            })
            .collect();
        super::print_json(&json!({"ok": remaining == 0, "findings": findings}));
    } else {
        for f in &d.findings {
            let mark = match f.severity {
                Severity::Ok => "✓",
                Severity::Warning => "!",
                Severity::Problem => "✗",
            };
            match &f.fixed {
                Some(done) => println!("{mark} {}: {} — fixed: {done}", f.check, f.message),
                None => println!("{mark} {}: {}", f.check, f.message),
            }
        }
        println!();
        if remaining == 0 {
            println!("Doctor complete: no problems found.");
        } else if cmd.fix {
            println!("Doctor complete: {remaining} problem(s) remain that need your attention.");
        } else {
            println!(
                "Doctor complete: {remaining} problem(s). Run `{} doctor --fix` to repair what can be repaired.",
                paths.command_prefix()
            );
        }
    }
    if remaining == 0 { Ok(()) } else { Err(CliError { message: String::new(), code: 1 }) }
}

/// Reads the root config file as JSON, changes it, and writes it back (with a `.bak`).
fn edit_config(paths: &Paths, change: impl FnOnce(&mut Value)) -> Result<String, String> {
    let source = config::load::read(&paths.config_path).map_err(|e| e.to_string())?;
    let mut parsed = source.parsed;
    change(&mut parsed);
    let mut text = serde_json::to_string_pretty(&parsed).map_err(|e| e.to_string())?;
    text.push('\n');
    crate::fsutil::write_with_backup(&paths.config_path, text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(format!("rewrote {} (previous file kept as .bak; comments are not kept)", paths.display(&paths.config_path)))
}

fn check_config(d: &mut Doctor) {
    let paths = d.paths;
    match config::load(paths) {
        Err(config::LoadError::Missing(_)) => d.problem(
            "config",
            format!("{} does not exist", paths.display(&paths.config_path)),
            Some(&mut || {
                let seed = config::bootstrap::AuthSeed::from_environment();
                config::bootstrap::ensure_profile(paths, seed).map_err(|e| e.to_string())?;
                let secret = match seed {
                    config::bootstrap::AuthSeed::Generate => "a generated token",
                    config::bootstrap::AuthSeed::UserToken => "auth mode token (OPENCLAW_GATEWAY_TOKEN is the token)",
                    config::bootstrap::AuthSeed::UserPassword => "auth mode password (OPENCLAW_GATEWAY_PASSWORD is the password)",
                };
                Ok(format!("wrote {} with {secret} (as `openclaw setup` does)", paths.display(&paths.config_path)))
            }),
        ),
        Err(config::LoadError::Invalid(why)) => d.problem("config", format!("cannot be read: {why}"), None),
        Ok(l) if !l.is_valid() => {
            for issue in &l.issues {
                d.problem("config", format!("{}: {issue}", paths.display(&paths.config_path)), None);
            }
        }
        Ok(l) => {
            match l.config.gateway.mode.as_deref() {
                Some("local") => d.ok("config", format!("{} is valid", paths.display(&paths.config_path))),
                Some(other) => d.warn(
                    "config",
                    format!(
                        "gateway.mode is {other}: this machine's CLI talks to a remote gateway, and `openclaw gateway` will not start here"
                    ),
                ),
                None => d.problem(
                    "config",
                    "gateway.mode is missing, so the gateway refuses to start",
                    Some(&mut || {
                        edit_config(paths, |v| v["gateway"]["mode"] = json!("local")).map(|s| format!("set gateway.mode=local; {s}"))
                    }),
                ),
            }
            for w in &l.warnings {
                d.warn("config", w.clone());
            }
        }
    }
}

fn mode_of(path: &Path) -> Option<u32> {
    std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o777)
}

fn chmod(path: &Path, mode: u32) -> Result<String, String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
    Ok(format!("chmod {mode:o} {}", path.display()))
}

fn check_permissions(d: &mut Doctor) {
    let paths = d.paths;
    let mut wrong = Vec::new();
    if let Some(m) = mode_of(&paths.state_dir) {
        if m & 0o077 != 0 {
            wrong.push((paths.state_dir.clone(), m, 0o700));
        }
    }
    for f in [paths.config_path.clone(), paths.state_dir.join("openclaw.json.bak"), paths.state_dir.join("config-journal-fingerprint.key")]
    {
        if let Some(m) = mode_of(&f) {
            if m & 0o077 != 0 {
                wrong.push((f, m, 0o600));
            }
        }
    }
    if wrong.is_empty() {
        d.ok("permissions", format!("{} and its config are private", paths.display(&paths.state_dir)));
    }
    for (path, have, want) in wrong {
        d.problem(
            "permissions",
            format!("{} is mode {have:o} (want {want:o}): others can read secrets", paths.display(&path)),
            Some(&mut || chmod(&path, want)),
        );
    }
}

fn check_auth(d: &mut Doctor, cfg: &config::Config) {
    let paths = d.paths;
    let Ok(listen) = crate::gateway::rules::resolve_listen(paths, cfg, &RunOptions::default()) else { return };
    let has_secret = cfg.gateway.auth.token.is_some()
        || cfg.gateway.auth.password.is_some()
        || std::env::var("OPENCLAW_GATEWAY_TOKEN").is_ok_and(|v| !v.is_empty())
        || std::env::var("OPENCLAW_GATEWAY_PASSWORD").is_ok_and(|v| !v.is_empty());
    if has_secret {
        d.ok("auth", "a gateway token or password is configured");
    } else if listen.is_loopback() {
        d.warn("auth", "no gateway token: clients cannot connect (the gateway generates a runtime-only token). Run `openclaw doctor --fix` or set gateway.auth.token")
    } else {
        d.problem(
            "auth",
            format!("bind={} without a token or password: the gateway refuses to start", listen.bind.name()),
            Some(&mut || {
                let token = crate::ids::token();
                edit_config(paths, |v| {
                    v["gateway"]["auth"]["mode"] = json!("token");
                    v["gateway"]["auth"]["token"] = json!(token);
                })
                .map(|s| format!("generated gateway.auth.token; {s}"))
            }),
        );
    }
}

fn check_port(d: &mut Doctor, cfg: &config::Config) {
    let paths = d.paths;
    let Ok(listen) = crate::gateway::rules::resolve_listen(paths, cfg, &RunOptions::default()) else { return };
    let port = listen.port;
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => d.ok("port", format!("port {port} is free")),
        Err(_) => {
            let ours = crate::daemon::lock::live_owner(&paths.state_dir);
            let holders = crate::sys::listeners_on_port(port);
            if let Some(o) = ours.filter(|o| holders.iter().any(|h| h.pid == o.pid) || o.port == Some(port)) {
                d.ok("port", format!("port {port} is used by this profile's gateway (pid {})", o.pid));
            } else {
                let who: Vec<String> = holders.iter().map(|h| format!("pid {} ({})", h.pid, h.describe())).collect();
                let who = if who.is_empty() { "another program".to_string() } else { who.join(", ") };
                d.problem("port", format!("port {port} is held by {who}; stop it or choose another gateway.port"), None);
            }
        }
    }
}

fn check_service(d: &mut Doctor) {
    let paths = d.paths;
    let manager = Manager::detect(false);
    if manager == Manager::None {
        d.ok("service", "no service manager here; run the gateway in the foreground or under your own supervisor");
        return;
    }
    let name = crate::service::service_name(paths, manager);
    let installed = crate::service::unit_path(paths, manager, &name).is_some_and(|p| p.exists());
    if !installed {
        d.ok("service", format!("{name} is not installed (optional: `{} gateway install`)", paths.command_prefix()));
        return;
    }
    let drift = super::service::drift(paths, manager);
    if drift.is_empty() {
        d.ok("service", format!("{name} matches the config"));
        return;
    }
    d.problem(
        "service",
        format!("{name} drifted from the config: {}", drift.join("; ")),
        Some(&mut || {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
            let cfg = super::client::client_config(paths);
            let port = crate::gateway::rules::resolve_listen(paths, &cfg, &RunOptions::default())
                .map(|l| l.port)
                .unwrap_or(crate::limits::DEFAULT_PORT);
            let spec = crate::service::spec(paths, manager, port, exe);
            let file = crate::service::unit_path(paths, manager, &name).ok_or("no unit path")?;
            let mode = if manager == Manager::Launchd { 0o600 } else { 0o644 };
            crate::fsutil::write_atomic(&file, crate::service::render(manager, &spec, paths).as_bytes(), mode)
                .map_err(|e| e.to_string())?;
            if let Manager::Systemd { user } = manager {
                let args: &[&str] = if user { &["--user", "daemon-reload"] } else { &["daemon-reload"] };
                crate::service::run("systemctl", args);
            }
            Ok(format!("rewrote {}; apply it with `{} gateway restart`", paths.display(&file), paths.command_prefix()))
        }),
    );
}

fn check_log_dir(d: &mut Doctor, cfg: &config::Config) {
    let file = cfg.logging.file.clone().unwrap_or_else(|| crate::logging::dated_path(&d.paths.log_stem()));
    let Some(dir) = file.parent().map(Path::to_path_buf) else { return };
    if !dir.exists() {
        d.ok("logs", format!("{} will be created when the gateway starts", dir.display()));
        return;
    }
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            if cfg.logging.file.is_none() && mode_of(&dir).is_some_and(|m| m & 0o077 != 0) {
                let dir2 = dir.clone();
                d.problem(
                    "logs",
                    format!("{} is mode {:o} (want 700)", dir.display(), mode_of(&dir).unwrap_or(0)),
                    Some(&mut || chmod(&dir2, 0o700)),
                );
            } else {
                d.ok("logs", format!("logs go to {}", file.display()));
            }
        }
        Err(e) => d.problem("logs", format!("cannot write to {}: {e}", dir.display()), None),
    }
}

fn check_workspace(d: &mut Doctor) {
    let paths = d.paths;
    let workspace = paths.default_workspace();
    if workspace.join("AGENTS.md").exists() {
        d.ok("workspace", format!("{} is ready", paths.display(&workspace)));
    } else {
        d.problem(
            "workspace",
            format!("{} has no starter files", paths.display(&workspace)),
            Some(&mut || {
                let created =
                    config::bootstrap::ensure_profile(paths, config::bootstrap::AuthSeed::from_environment()).map_err(|e| e.to_string())?;
                Ok(format!("wrote {} starter file(s)", created.files.len()))
            }),
        );
    }
}

/// Every agent's model chain must be usable: a known provider, and a key where one is needed.
/// No model at all is fine (the offline responder answers) but worth saying.
fn check_models(d: &mut Doctor, cfg: &config::Config) {
    let mut any = false;
    for id in cfg.agents.ids() {
        let choice = cfg.agents.model_for(&id);
        let Some(primary) = &choice.primary else { continue };
        any = true;
        for reference in std::iter::once(primary).chain(&choice.fallbacks) {
            let resolved = cfg.agents.expand_alias(reference);
            match crate::agent::providers::resolve(cfg, resolved) {
                Ok(m) => {
                    d.ok("models", format!("agent {id}: {} via {}", m.reference(), m.base_url.map(|u| u.to_string()).unwrap_or_default()))
                }
                Err(e) => d.problem("models", format!("agent {id}: {resolved}: {}", e.message), None),
            }
        }
    }
    if !any {
        d.warn(
            "models",
            "no model is configured (agents.defaults.model), so the built-in offline responder answers; \
             set for example \"anthropic/claude-sonnet-4-5\" with ANTHROPIC_API_KEY",
        );
    }
}

/// Channels that are enabled must have their credentials (from the config, a file or the
/// environment, as the gateway resolves them) and be part of this build.
fn check_channels(d: &mut Doctor) {
    use crate::config::channels::Service;
    let Ok(loaded) = config::load(d.paths) else { return };
    let channels = &loaded.config.channels.list;
    if channels.is_empty() {
        d.ok("channels", "no chat channels configured");
        return;
    }
    for ch in channels.iter().filter(|c| c.enabled) {
        let id = ch.kind();
        if !id.compiled() {
            d.problem("channels", format!("{id} is configured but this build has no {id} support (rebuild with --features {id})"), None);
            continue;
        }
        let missing: Vec<&str> = match &ch.service {
            Service::Telegram(t) => t.token.is_none().then_some("botToken (or tokenFile, or TELEGRAM_BOT_TOKEN)").into_iter().collect(),
            Service::Discord(dc) => dc.token.is_none().then_some("token (or DISCORD_BOT_TOKEN)").into_iter().collect(),
            Service::WhatsApp(w) => [
                (w.access_token.is_none(), "accessToken (or WHATSAPP_ACCESS_TOKEN)"),
                (w.phone_number_id.is_none(), "phoneNumberId"),
                (w.app_secret.is_none(), "appSecret (or WHATSAPP_APP_SECRET)"),
                (w.verify_token.is_none(), "verifyToken (or WHATSAPP_VERIFY_TOKEN)"),
            ]
            .into_iter()
            .filter_map(|(absent, key)| absent.then_some(key))
            .collect(),
            Service::Irc(i) => i.host.is_none().then_some("host").into_iter().collect(),
            Service::Matrix(m) => (m.access_token.is_none() && (m.password.is_none() || m.user_id.is_none()))
                .then_some("accessToken (or MATRIX_ACCESS_TOKEN), or userId and password")
                .into_iter()
                .collect(),
            Service::Signal(sg) => sg.account.is_none().then_some("account (or SIGNAL_ACCOUNT)").into_iter().collect(),
            Service::Slack(s) => {
                [(s.app_token.is_none(), "appToken (or SLACK_APP_TOKEN)"), (s.bot_token.is_none(), "botToken (or SLACK_BOT_TOKEN)")]
                    .into_iter()
                    .filter_map(|(absent, key)| absent.then_some(key))
                    .collect()
            }
        };
        if missing.is_empty() {
            d.ok("channels", format!("{id}: credentials present"));
        } else {
            d.problem("channels", format!("{id} is enabled but lacks {}", missing.join(", ")), None);
        }
    }
}
