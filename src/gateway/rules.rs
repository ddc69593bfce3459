//! The start-up rules: which port and addresses, which secret, whether the config allows a start
//! at all, with the official messages and exit codes. Pure decisions over the config and the
//! flags, shared by the daemon that starts the gateway, the config checks of the RPC and CLI
//! (`admission`) and the CLI's status and doctor.
//!
//! Exit codes: 0 after a clean stop, 1 for runtime failures (port busy), 78 (EX_CONFIG) when the
//! configuration forbids starting, so a service manager with `RestartPreventExitStatus=78` does
//! not loop on a config mistake.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::auth::AuthSettings;
use super::{Listen, PortSource, Settings};
use crate::config::{self, AuthMode, BindMode, Config, Loaded, LogLevel, Paths, secret::Secret};
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
    pub fn config(lines: Vec<String>) -> StartError {
        StartError { code: EXIT_CONFIG, lines }
    }

    pub fn failure(lines: Vec<String>) -> StartError {
        StartError { code: EXIT_FAILURE, lines }
    }
}

/// The official refusal of a non-loopback bind without a secret (exit 78).
pub fn refuse_without_auth(listen: &Listen) -> StartError {
    let mut lines = vec![format!("Refusing to bind gateway to {} without auth.", listen.bind.name())];
    if listen.bind == BindMode::Auto {
        lines.push(
            "Container environment detected — the gateway defaults to bind=auto (0.0.0.0) for port-forwarding compatibility.".to_string(),
        );
    }
    lines.push("Set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_PASSWORD, or pass --token/--password to start with auth.".to_string());
    StartError::config(lines)
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

pub fn log_levels(cfg: &Config, verbose: bool) -> (log::LevelFilter, log::LevelFilter) {
    let env_level = std::env::var("OPENCLAW_LOG_LEVEL").ok().and_then(|l| LogLevel::parse(&l));
    let file = env_level.unwrap_or(cfg.logging.level).filter();
    let console =
        if verbose { log::LevelFilter::Debug } else { env_level.or(cfg.logging.console_level).unwrap_or(cfg.logging.level).filter() };
    (console, file)
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

pub fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}")
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
