//! Starting the gateway process: the state-dir lock, the dev bootstrap, logging, binding the
//! listeners (with the busy-port report and `--force`), then [`super::lifecycle::serve`]. The
//! decisions themselves (port, secret, mode) are the rules in [`crate::gateway::rules`].

use smol::Async;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Instant;

use super::lock::{self, LockError, StateLock};
use crate::config::{self, Config, LogLevel, Paths, bootstrap};
pub use crate::gateway::rules::{EXIT_CONFIG, EXIT_FAILURE, RunOptions, StartError};
use crate::gateway::rules::{build_settings, check_mode, log_levels, refuse_without_auth, resolve_listen, ws_url};
use crate::gateway::{Listen, Settings};
use crate::limits;
use crate::logging;

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

    let loaded = load_valid_config(&paths, opts)?;
    check_mode(&paths, &loaded, opts)?;
    let unsafe_targets = crate::gateway::admission::write_targets(&paths, &loaded.config);
    if !unsafe_targets.is_empty() {
        let mut lines = vec![format!("Invalid config at {}:", paths.display(&paths.config_path))];
        lines.extend(unsafe_targets.iter().map(|i| format!("- {i}")));
        lines.push(format!("Fix the file, or run `{} doctor` for details.", paths.command_prefix()));
        return Err(StartError::config(lines));
    }
    for i in crate::gateway::admission::model_references(&loaded.config) {
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

    let mut lock = acquire_lock(&paths)?;

    remove_orphaned_temp_files(&paths);
    crate::sys::raise_fd_limit();
    let listeners = bind_all(&mut settings.listen, opts.force, &paths)?;
    lock.record(settings.listen.port, &paths.config_path);
    Ok(Prepared { paths, settings, listeners, lock, hash_key, log_file })
}

/// The config to start with: loaded, or the unconfigured one when allowed; refused when invalid.
fn load_valid_config(paths: &Paths, opts: &RunOptions) -> Result<config::Loaded, StartError> {
    let loaded = match config::load(paths) {
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
    Ok(loaded)
}

/// The state directory's lock: one gateway per state directory.
fn acquire_lock(paths: &Paths) -> Result<StateLock, StartError> {
    match lock::acquire(&paths.state_dir, std::time::Duration::from_secs(2)) {
        Ok(l) => Ok(l),
        Err(LockError::Held { pid }) => {
            let who = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            Err(StartError::config(vec![
                format!("Gateway failed to start: gateway already running{who} for state directory {}.", paths.display(&paths.state_dir)),
                format!("Stop it with `{} gateway stop`, or give this gateway its own OPENCLAW_STATE_DIR.", paths.command_prefix()),
            ]))
        }
        Err(LockError::Io(e)) => {
            Err(StartError::failure(vec![format!("cannot lock the state directory {}: {e}", paths.display(&paths.state_dir))]))
        }
    }
}

/// Removes the temporary files that writes cut short by a crash left beside the config and in
/// the state directory; this gateway now owns both.
fn remove_orphaned_temp_files(paths: &Paths) {
    let config_dir = paths.config_path.parent().unwrap_or(std::path::Path::new("."));
    let config_name = paths.config_path.file_name().map(|n| n.to_string_lossy().into_owned());
    let orphans = crate::fsutil::remove_orphaned_temp_files(config_dir, config_name.as_deref())
        + crate::fsutil::remove_orphaned_temp_files(&paths.state_dir, None);
    if orphans > 0 {
        log::info!(target: "gateway", "removed {orphans} temporary file(s) left by writes that a crash interrupted");
    }
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
