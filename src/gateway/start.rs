//! Starting and stopping the gateway: the start-up rules (with the official messages and exit
//! codes), binding, the periodic events, signals and the graceful shutdown.
//!
//! Exit codes: 0 after a clean stop, 1 for runtime failures (port busy), 78 (EX_CONFIG) when the
//! configuration forbids starting, so a service manager with `RestartPreventExitStatus=78` does
//! not loop on a config mistake.

use smol::Async;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::Instant;

use super::auth::AuthSettings;
use super::lock::{self, LockError, StateLock};
use super::{Listen, PortSource, Settings};
use crate::config::{self, AuthMode, BindMode, Config, Loaded, LogLevel, Paths, bootstrap, secret::Secret};
use crate::limits;
use crate::logging;

/// Exit code for configuration refusals (sysexits EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;
/// Exit code for runtime failures.
pub const EXIT_FAILURE: u8 = 1;

/// Options of `openclaw gateway` (flags win over config and environment).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub port: Option<u16>,
    pub bind: Option<BindMode>,
    pub token: Option<String>,
    pub password: Option<String>,
    pub auth: Option<AuthMode>,
    pub allow_unconfigured: bool,
    pub force: bool,
    pub verbose: bool,
}

/// A refusal to start: the lines to print and the exit code.
#[derive(Debug)]
pub struct StartError {
    pub code: u8,
    pub lines: Vec<String>,
}

impl StartError {
    fn config(lines: Vec<String>) -> StartError {
        StartError { code: EXIT_CONFIG, lines }
    }

    fn failure(lines: Vec<String>) -> StartError {
        StartError { code: EXIT_FAILURE, lines }
    }
}

/// Everything checked and bound, ready to serve.
pub(super) struct Prepared {
    pub paths: Paths,
    pub settings: Settings,
    pub listeners: Vec<Async<TcpListener>>,
    pub lock: StateLock,
    pub hash_key: Vec<u8>,
    pub log_file: Option<std::path::PathBuf>,
}

/// Runs the gateway in the foreground until SIGTERM/SIGINT. Returns the process exit code.
pub fn run(paths: Paths, opts: RunOptions) -> u8 {
    let env_level = std::env::var("OPENCLAW_LOG_LEVEL").ok().and_then(|l| LogLevel::parse(&l));
    let console = if opts.verbose { log::LevelFilter::Debug } else { env_level.map(LogLevel::filter).unwrap_or(log::LevelFilter::Info) };
    logging::init_console(console);
    match prepare(paths, &opts) {
        Ok(prepared) => crate::rt::block_on(super::lifecycle::serve(prepared, opts)),
        Err(e) => {
            for line in &e.lines {
                eprintln!("{line}");
            }
            e.code
        }
    }
}

/// A gateway running on a thread of this process.
pub struct Background {
    /// The addresses it listened on at start (an in-process restart may move them; the state
    /// lock records the current port).
    pub bound: Vec<std::net::SocketAddr>,
    /// Ends with the gateway, carrying its exit code.
    pub thread: std::thread::JoinHandle<u8>,
}

/// Starts the gateway on a thread of its own and returns once it listens, or why it cannot
/// start. For a gateway inside another program (the fuzz target runs its requests against
/// one); the `openclaw` binary uses [`run`]. Logging follows the config; signals reach it as
/// they would reach the binary.
pub fn spawn(paths: Paths, opts: RunOptions) -> Result<Background, StartError> {
    let prepared = prepare(paths, &opts)?;
    let bound = prepared.settings.listen.bound.clone();
    let thread = std::thread::Builder::new()
        .name("openclaw-gateway".into())
        .spawn(move || crate::rt::block_on(super::lifecycle::serve(prepared, opts)))
        .map_err(|e| StartError::failure(vec![format!("cannot start the gateway thread: {e}")]))?;
    Ok(Background { bound, thread })
}

fn prepare(paths: Paths, opts: &RunOptions) -> Result<Prepared, StartError> {
    // `symlink_metadata`: a dangling link or a link loop at the config path is the user's, and
    // must be reported by the loader, not replaced by a new dev config.
    if paths.dev && std::fs::symlink_metadata(&paths.config_path).is_err() {
        bootstrap_dev_profile(&paths, opts)?;
    }

    let loaded = match config::load(&paths) {
        Ok(l) => l,
        Err(config::LoadError::Missing(_)) if opts.allow_unconfigured => config::unconfigured(),
        Err(config::LoadError::Missing(_)) => {
            return Err(StartError::config(vec![format!(
                "Missing config. Run `{} setup` or set gateway.mode=local (or pass --allow-unconfigured).",
                paths.command_prefix()
            )]));
        }
        Err(config::LoadError::Invalid(why)) => {
            return Err(StartError::config(vec![
                format!("Invalid config at {}:", paths.display(&paths.config_path)),
                format!("- {why}"),
                format!("Fix the file, or run `{} doctor` for details.", paths.command_prefix()),
            ]));
        }
    };
    if !loaded.is_valid() {
        let mut lines = vec![format!("Invalid config at {}:", paths.display(&paths.config_path))];
        lines.extend(loaded.issues.iter().map(|i| format!("- {i}")));
        lines.push(format!("Fix the file, or run `{} doctor` for details.", paths.command_prefix()));
        return Err(StartError::config(lines));
    }
    check_mode(&paths, &loaded, opts)?;
    let unsafe_targets = super::admission::write_targets(&paths, &loaded.config);
    if !unsafe_targets.is_empty() {
        let mut lines = vec![format!("Invalid config at {}:", paths.display(&paths.config_path))];
        lines.extend(unsafe_targets.iter().map(|i| format!("- {i}")));
        lines.push(format!("Fix the file, or run `{} doctor` for details.", paths.command_prefix()));
        return Err(StartError::config(lines));
    }
    for i in super::admission::model_references(&loaded.config) {
        // Not a refusal at start: the runs say the same, and the rest of the gateway works.
        log::warn!(target: "config", "{i}");
    }

    let log_file = init_file_logging(&paths, &loaded.config, opts.verbose);
    for w in &loaded.warnings {
        log::warn!(target: "config", "{w}");
    }
    warn_on_shadowed_environment_secrets(&paths, &loaded.config, opts);
    if !loaded.config.ignored_sections.is_empty() {
        log::info!(target: "config", "config sections kept but not used by this gateway: {}", loaded.config.ignored_sections.join(", "));
    }

    let hash_key = config::hash_key(&paths.state_dir)
        .map_err(|e| StartError::failure(vec![format!("cannot write to the state directory {}: {e}", paths.display(&paths.state_dir))]))?;
    let mut settings = build_settings(&paths, loaded, opts, &hash_key)?;

    let mut lock = match lock::acquire(&paths.state_dir, std::time::Duration::from_secs(2)) {
        Ok(l) => l,
        Err(LockError::Held { pid }) => {
            let who = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            return Err(StartError::config(vec![
                format!("Gateway failed to start: gateway already running{who} for state directory {}.", paths.display(&paths.state_dir)),
                format!("Stop it with `{} gateway stop`, or give this gateway its own OPENCLAW_STATE_DIR.", paths.command_prefix()),
            ]));
        }
        Err(LockError::Io(e)) => {
            return Err(StartError::failure(vec![format!("cannot lock the state directory {}: {e}", paths.display(&paths.state_dir))]));
        }
    };

    // Writes cut short by a crash left temporary files; this gateway now owns the state dir.
    let config_dir = paths.config_path.parent().unwrap_or(std::path::Path::new("."));
    let config_name = paths.config_path.file_name().map(|n| n.to_string_lossy().into_owned());
    let orphans = crate::fsutil::remove_orphaned_temp_files(config_dir, config_name.as_deref())
        + crate::fsutil::remove_orphaned_temp_files(&paths.state_dir, None);
    if orphans > 0 {
        log::info!(target: "gateway", "removed {orphans} temporary file(s) left by writes that a crash interrupted");
    }
    crate::sys::raise_fd_limit();
    let listeners = bind_all(&mut settings.listen, opts.force, &paths)?;
    lock.record(settings.listen.port, &paths.config_path);
    Ok(Prepared { paths, settings, listeners, lock, hash_key, log_file })
}

/// The first `--dev` start writes the profile's config and workspace. A token or password the user
/// gave (flag or environment) stays the secret clients use, so none is generated beside it. With
/// nothing given, a non-loopback bind is refused before anything is written: a token generated
/// in this same start is one that no client has, so it does not count as configured auth.
fn bootstrap_dev_profile(paths: &Paths, opts: &RunOptions) -> Result<(), StartError> {
    let seed = bootstrap::AuthSeed::from_user(opts.token.is_some(), opts.password.is_some(), &|k| std::env::var(k).ok());
    if seed == bootstrap::AuthSeed::Generate {
        let listen = resolve_listen(paths, &Config::empty(), opts)?;
        if !listen.is_loopback() {
            return Err(refuse_without_auth(&listen));
        }
    }
    match bootstrap::ensure_profile(paths, seed) {
        Ok(created) => {
            if let Some(c) = &created.config {
                let secret = match seed {
                    bootstrap::AuthSeed::Generate => "with a generated gateway token",
                    bootstrap::AuthSeed::UserToken => "with auth mode token; the token you gave is the token",
                    bootstrap::AuthSeed::UserPassword => "with auth mode password; the password you gave is the password",
                };
                log::info!(target: "gateway", "created dev config {} ({secret})", paths.display(c));
            }
            if let Some(w) = &created.workspace {
                log::info!(target: "gateway", "created dev workspace {}", paths.display(w));
            }
        }
        Err(e) => log::warn!(target: "gateway", "could not create the dev config: {e}"),
    }
    Ok(())
}

/// The official refusal of a non-loopback bind without a secret (exit 78).
fn refuse_without_auth(listen: &Listen) -> StartError {
    let mut lines = vec![format!("Refusing to bind gateway to {} without auth.", listen.bind.name())];
    if listen.bind == BindMode::Auto {
        lines.push(
            "Container environment detected — the gateway defaults to bind=auto (0.0.0.0) for port-forwarding compatibility.".to_string(),
        );
    }
    lines.push("Set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_PASSWORD, or pass --token/--password to start with auth.".to_string());
    StartError::config(lines)
}

/// One warning at start-up when the config and the environment both hold a gateway token (or
/// password) and they differ: clients holding the environment's would be refused, and nothing
/// else would say why. The values themselves are never printed.
fn warn_on_shadowed_environment_secrets(paths: &Paths, cfg: &Config, opts: &RunOptions) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let pairs = [
        (opts.token.is_some(), &cfg.gateway.auth.token, "gateway.auth.token", "OPENCLAW_GATEWAY_TOKEN", "token"),
        (opts.password.is_some(), &cfg.gateway.auth.password, "gateway.auth.password", "OPENCLAW_GATEWAY_PASSWORD", "password"),
    ];
    for (flag_given, configured, key, var, what) in pairs {
        if let (false, Some(configured), Some(from_env)) = (flag_given, configured, env(var)) {
            if !configured.matches(&from_env) {
                log::warn!(
                    target: "gateway",
                    "{key} in {} and {var} differ: the config's {what} is the one clients must use (the environment's is refused). Remove one of them, or pass --{what}.",
                    paths.display(&paths.config_path)
                );
            }
        }
    }
}

/// `gateway.mode` must be `local` unless `--allow-unconfigured` (the official messages).
pub fn check_mode(paths: &Paths, loaded: &Loaded, opts: &RunOptions) -> Result<(), StartError> {
    if opts.allow_unconfigured {
        return Ok(());
    }
    match loaded.config.gateway.mode.as_deref() {
        Some("local") => Ok(()),
        Some(other) => Err(StartError::config(vec![format!(
            "Gateway start blocked: set gateway.mode=local (current: {other}) or pass --allow-unconfigured."
        )])),
        None => Err(StartError::config(vec![format!(
            "Gateway start blocked: existing config is missing gateway.mode. Treat this as suspicious or clobbered config. Re-run `{} setup`, set gateway.mode=local manually, or pass --allow-unconfigured.",
            paths.command_prefix()
        )])),
    }
}

/// Listen and auth settings for a validated config (not bound yet).
pub fn build_settings(paths: &Paths, loaded: Loaded, opts: &RunOptions, hash_key: &[u8]) -> Result<Settings, StartError> {
    let listen = resolve_listen(paths, &loaded.config, opts)?;
    let auth = resolve_auth(paths, &loaded.config, opts, &listen)?;
    let hash = loaded.source.as_ref().map(|s| config::config_hash(hash_key, &s.raw));
    let fingerprint = loaded.source.as_ref().map(|s| s.fingerprint.clone()).unwrap_or_default();
    Ok(Settings { loaded, hash, fingerprint, listen, auth })
}

/// Console and file log levels from the config (`OPENCLAW_LOG_LEVEL` and `--verbose` win).
pub fn apply_log_levels(cfg: &Config, verbose: bool) {
    let (console, file) = log_levels(cfg, verbose);
    logging::set_levels(console, file);
}

fn log_levels(cfg: &Config, verbose: bool) -> (log::LevelFilter, log::LevelFilter) {
    let env_level = std::env::var("OPENCLAW_LOG_LEVEL").ok().and_then(|l| LogLevel::parse(&l));
    let file = env_level.unwrap_or(cfg.logging.level).filter();
    let console =
        if verbose { log::LevelFilter::Debug } else { env_level.or(cfg.logging.console_level).unwrap_or(cfg.logging.level).filter() };
    (console, file)
}

fn init_file_logging(paths: &Paths, cfg: &Config, verbose: bool) -> Option<std::path::PathBuf> {
    let (console, file) = log_levels(cfg, verbose);
    logging::init(logging::Settings {
        console,
        file,
        fixed_path: cfg.logging.file.clone(),
        stem: paths.log_stem(),
        max_file_bytes: cfg.logging.max_file_bytes,
    })
}

/// Port: `--port` → `OPENCLAW_GATEWAY_PORT` → dev profile (19001) → `gateway.port` → 18789.
/// Bind: `--bind` → `gateway.bind` → loopback.
pub fn resolve_listen(paths: &Paths, cfg: &Config, opts: &RunOptions) -> Result<Listen, StartError> {
    let env_port = match std::env::var("OPENCLAW_GATEWAY_PORT") {
        Ok(v) if !v.trim().is_empty() => Some(
            v.trim()
                .parse::<u16>()
                .map_err(|_| StartError::config(vec![format!("OPENCLAW_GATEWAY_PORT must be a port number (0-65535), got {v:?}")]))?,
        ),
        _ => None,
    };
    let (port, port_source) = if let Some(p) = opts.port {
        (p, PortSource::Flag)
    } else if let Some(p) = env_port {
        (p, PortSource::Env)
    } else if paths.dev {
        (limits::DEV_PORT, PortSource::DevProfile)
    } else if let Some(p) = cfg.gateway.port {
        (p, PortSource::Config)
    } else {
        (limits::DEFAULT_PORT, PortSource::Default)
    };
    let (bind, bind_source) = match (opts.bind, cfg.gateway.bind) {
        (Some(b), _) => (b, "flag"),
        (None, Some(b)) => (b, "config"),
        (None, None) => (BindMode::Loopback, "default"),
    };
    let loopback = vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
    let hosts = match bind {
        BindMode::Loopback => loopback,
        BindMode::Lan => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
        BindMode::Auto if crate::sys::in_container() => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
        BindMode::Auto => loopback,
        BindMode::Custom => {
            let host = cfg
                .gateway
                .custom_bind_host
                .ok_or_else(|| StartError::config(vec!["bind \"custom\" needs gateway.customBindHost (an IPv4 address)".to_string()]))?;
            if host == Ipv4Addr::LOCALHOST || host == Ipv4Addr::UNSPECIFIED {
                vec![IpAddr::V4(host)]
            } else {
                // Local tools keep reaching the gateway on loopback.
                vec![IpAddr::V4(host), IpAddr::V4(Ipv4Addr::LOCALHOST)]
            }
        }
        BindMode::Tailnet => match crate::sys::tailnet_ipv4() {
            Some(ip) => vec![IpAddr::V4(ip), IpAddr::V4(Ipv4Addr::LOCALHOST)],
            None => {
                log::warn!(target: "gateway", "bind=tailnet: no Tailscale address found; listening on loopback only");
                loopback
            }
        },
    };
    Ok(Listen { bind, bind_source, hosts, port, port_source, bound: Vec::new() })
}

/// The shared secret a config and the flags give, before anything is generated.
#[derive(Debug, Clone)]
pub struct AuthChoice {
    pub mode: AuthMode,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
}

/// Decides the auth mode and secret (flags, then config, then environment) and refuses the
/// combinations the gateway must not start with. Pure: no logging, nothing generated, so the
/// config writers can ask the same question the start-up asks.
pub fn choose_auth(cfg: &Config, opts: &RunOptions, listen: &Listen) -> Result<AuthChoice, StartError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty()).map(Secret::new);
    let token = opts.token.clone().map(Secret::new).or_else(|| cfg.gateway.auth.token.clone()).or_else(|| env("OPENCLAW_GATEWAY_TOKEN"));
    let password =
        opts.password.clone().map(Secret::new).or_else(|| cfg.gateway.auth.password.clone()).or_else(|| env("OPENCLAW_GATEWAY_PASSWORD"));
    let mode = match (opts.auth, cfg.gateway.auth.mode) {
        (Some(m), _) => m,
        (None, _) if opts.token.is_some() => AuthMode::Token,
        (None, _) if opts.password.is_some() => AuthMode::Password,
        (None, Some(m)) => m,
        (None, None) => match (&token, &password) {
            (Some(_), Some(_)) => {
                return Err(StartError::config(vec![
                    "Gateway start blocked: both a gateway token and a gateway password are set; choose one with gateway.auth.mode (token or password).".into(),
                ]));
            }
            (None, Some(_)) => AuthMode::Password,
            _ => AuthMode::Token,
        },
    };
    let secret_missing = match mode {
        AuthMode::None => true,
        AuthMode::Token => token.is_none(),
        AuthMode::Password => password.is_none(),
        AuthMode::TrustedProxy => false,
    };
    if secret_missing && !listen.is_loopback() {
        return Err(refuse_without_auth(listen));
    }
    Ok(AuthChoice { mode, token, password })
}

/// Resolves the shared secret for a start: [`choose_auth`], then, on loopback without a token,
/// a runtime-only one, with the official warnings.
pub fn resolve_auth(paths: &Paths, cfg: &Config, opts: &RunOptions, listen: &Listen) -> Result<AuthSettings, StartError> {
    // Said before a refusal too, as the official gateway does (`--bind lan --auth none`).
    if opts.auth.or(cfg.gateway.auth.mode).filter(|_| opts.auth.is_some() || (opts.token.is_none() && opts.password.is_none()))
        == Some(AuthMode::None)
    {
        log::warn!(target: "gateway", "auth mode=none explicitly configured; all gateway connections are unauthenticated.");
    }
    let AuthChoice { mode, mut token, password } = choose_auth(cfg, opts, listen)?;
    let mut ephemeral = false;
    match mode {
        AuthMode::Token if token.is_none() => {
            token = Some(Secret::new(crate::ids::token()));
            ephemeral = true;
            log::warn!(
                target: "gateway",
                "auth token was missing. Generated a runtime token for this startup without changing config; restart will generate a different token. This user's `openclaw` commands on this machine use it by themselves; for other clients persist one with `{p} config set gateway.auth.token <token>` (or `{p} setup`, or OPENCLAW_GATEWAY_TOKEN).",
                p = paths.command_prefix()
            );
        }
        AuthMode::Password if password.is_none() => {
            log::warn!(target: "gateway", "auth mode=password but no password is set; every client will be refused. Set gateway.auth.password or OPENCLAW_GATEWAY_PASSWORD.");
        }
        _ => {}
    }
    let allowed_origins = allowed_origins(cfg, listen);
    Ok(AuthSettings {
        mode,
        token,
        password,
        ephemeral_token: ephemeral,
        rate_limit: cfg.gateway.auth.rate_limit.clone(),
        allowed_origins,
        allow_host_header_origin_fallback: cfg.gateway.control_ui.allow_host_header_origin_fallback,
    })
}

/// `gateway.controlUi.allowedOrigins`; for non-loopback binds without a list, the gateway host's
/// own origins, as the official gateway seeds them, so a browser on the host works.
pub fn allowed_origins(cfg: &Config, listen: &Listen) -> Vec<String> {
    let listed = cfg.gateway.control_ui.allowed_origins.clone();
    if listen.is_loopback() || !listed.is_empty() {
        return listed;
    }
    vec![format!("http://localhost:{}", listen.port), format!("http://127.0.0.1:{}", listen.port)]
}

/// Binds every host of `listen`, retrying a busy port briefly (and, with `--force`, stopping the
/// OpenClaw gateway that holds it first).
pub fn bind_all(listen: &mut Listen, force: bool, paths: &Paths) -> Result<Vec<Async<TcpListener>>, StartError> {
    let mut forced = false;
    for attempt in 0..limits::BIND_RETRY_ATTEMPTS {
        match try_bind(listen) {
            Ok(listeners) => return Ok(listeners),
            Err((addr, e)) if e.kind() == io::ErrorKind::AddrInUse => {
                if force && !forced {
                    forced = true;
                    force_free(listen.port)?;
                    continue;
                }
                if attempt + 1 == limits::BIND_RETRY_ATTEMPTS {
                    return Err(port_busy(listen, addr, paths));
                }
                std::thread::sleep(limits::BIND_RETRY_DELAY);
            }
            Err((addr, e)) => {
                return Err(StartError::failure(vec![format!(
                    "Gateway failed to start: failed to bind gateway socket on {}: {e}",
                    ws_url(addr)
                )]));
            }
        }
    }
    Err(StartError::failure(vec!["Gateway failed to start: could not bind".into()]))
}

pub fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}")
}

/// One attempt at binding all hosts on one port (port 0 picks a free port shared by all).
fn try_bind(listen: &mut Listen) -> Result<Vec<Async<TcpListener>>, (SocketAddr, io::Error)> {
    let mut out = Vec::new();
    let mut bound = Vec::new();
    let mut port = listen.port;
    for (i, host) in listen.hosts.iter().enumerate() {
        let addr = SocketAddr::new(*host, port);
        match crate::net::server::bind(addr) {
            Ok(l) => {
                let local = l.get_ref().local_addr().map_err(|e| (addr, e))?;
                port = local.port();
                bound.push(local);
                out.push(l);
            }
            // No IPv6 on this machine: the IPv4 loopback listener is enough.
            Err(e) if i > 0 && host.is_ipv6() && is_no_ipv6(&e) => {
                log::debug!(target: "gateway", "skipping {addr}: {e}");
            }
            Err(e) => return Err((addr, e)),
        }
    }
    listen.port = port;
    listen.bound = bound;
    Ok(out)
}

fn is_no_ipv6(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL) | Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT))
}

fn port_busy(listen: &Listen, addr: SocketAddr, paths: &Paths) -> StartError {
    let mut lines = vec![
        format!(
            "Gateway failed to start: another gateway instance is already listening on {} | listen EADDRINUSE: address already in use {addr} | EADDRINUSE",
            ws_url(addr)
        ),
        format!("Port {} is already in use.", listen.port),
    ];
    let holders = crate::sys::listeners_on_port(listen.port);
    for h in &holders {
        let what = if h.is_openclaw_gateway() { "openclaw gateway" } else { "not an openclaw gateway" };
        lines.push(format!("- pid {} ({what}): {}", h.pid, h.describe()));
    }
    if holders.iter().any(|h| h.is_openclaw_gateway()) {
        lines.push(format!(
            "If that gateway is supervised, stop it with: {} gateway stop; or start this one with --force to stop it first.",
            paths.command_prefix()
        ));
    }
    StartError::failure(lines)
}

/// `--force`: stops the OpenClaw gateway(s) listening on `port`; refuses for anything else.
fn force_free(port: u16) -> Result<(), StartError> {
    let holders = crate::sys::listeners_on_port(port);
    if holders.is_empty() {
        return Err(StartError::failure(vec![format!(
            "--force: port {port} is busy, but the process holding it is not visible (it may belong to another user); stop it yourself."
        )]));
    }
    if let Some(other) = holders.iter().find(|h| !h.is_openclaw_gateway() || h.pid == std::process::id()) {
        return Err(StartError::failure(vec![format!(
            "--force: port {port} is held by pid {} ({}), which is not an OpenClaw gateway; --force only stops gateways.",
            other.pid,
            other.describe()
        )]));
    }
    for h in &holders {
        log::warn!(target: "gateway", "--force: stopping gateway pid {} on port {port}", h.pid);
        let _ = crate::sys::kill(h.pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + limits::FORCE_STOP_TIMEOUT;
    while Instant::now() < deadline {
        if holders.iter().all(|h| !crate::sys::process_alive(h.pid)) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for h in &holders {
        log::warn!(target: "gateway", "--force: pid {} did not stop in time; killing it", h.pid);
        let _ = crate::sys::kill(h.pid, libc::SIGKILL);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dev: bool) -> Paths {
        Paths::resolve_with(dev, None, &|k| (k == "HOME").then(|| "/home/t".to_string())).unwrap()
    }

    #[test]
    fn port_precedence_flag_then_dev_then_config_then_default() {
        let mut cfg = Config::empty();
        cfg.gateway.port = Some(1234);
        let with = |p: Option<u16>| RunOptions { port: p, ..Default::default() };
        // OPENCLAW_GATEWAY_PORT is read from the real environment; tests leave it unset.
        if std::env::var("OPENCLAW_GATEWAY_PORT").is_ok() {
            return;
        }
        let l = resolve_listen(&paths(false), &cfg, &with(Some(1))).unwrap();
        assert_eq!((l.port, l.port_source), (1, PortSource::Flag));
        let l = resolve_listen(&paths(true), &cfg, &with(None)).unwrap();
        assert_eq!((l.port, l.port_source), (19001, PortSource::DevProfile));
        let l = resolve_listen(&paths(false), &cfg, &with(None)).unwrap();
        assert_eq!((l.port, l.port_source), (1234, PortSource::Config));
        let l = resolve_listen(&paths(false), &Config::empty(), &with(None)).unwrap();
        assert_eq!((l.port, l.port_source), (18789, PortSource::Default));
        assert_eq!(l.hosts, vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    }

    #[test]
    fn non_loopback_without_a_secret_is_refused() {
        if std::env::var("OPENCLAW_GATEWAY_TOKEN").is_ok() || std::env::var("OPENCLAW_GATEWAY_PASSWORD").is_ok() {
            return;
        }
        let cfg = Config::empty();
        let opts = RunOptions { bind: Some(BindMode::Lan), ..Default::default() };
        let listen = resolve_listen(&paths(false), &cfg, &opts).unwrap();
        let e = resolve_auth(&paths(false), &cfg, &opts, &listen).unwrap_err();
        assert_eq!(e.code, EXIT_CONFIG);
        assert_eq!(e.lines[0], "Refusing to bind gateway to lan without auth.");
        let none = RunOptions { auth: Some(AuthMode::None), ..opts.clone() };
        assert!(resolve_auth(&paths(false), &cfg, &none, &listen).is_err());
        let with_token = RunOptions { token: Some("t".into()), ..opts };
        let a = resolve_auth(&paths(false), &cfg, &with_token, &listen).unwrap();
        assert_eq!(a.mode, AuthMode::Token);
        assert_eq!(a.allowed_origins.len(), 2, "origins seeded for non-loopback binds");
    }

    #[test]
    fn loopback_without_a_token_gets_an_ephemeral_one() {
        if std::env::var("OPENCLAW_GATEWAY_TOKEN").is_ok() {
            return;
        }
        let cfg = Config::empty();
        let opts = RunOptions::default();
        let listen = resolve_listen(&paths(false), &cfg, &opts).unwrap();
        let a = resolve_auth(&paths(false), &cfg, &opts, &listen).unwrap();
        assert!(a.ephemeral_token && a.token.is_some());
    }
}
