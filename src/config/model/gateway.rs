//! `gateway`: how the gateway listens, who may connect, and what it serves.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::Resolver;
use super::secrets::{SecretProvider, resolve_secret};
use crate::config::agents::HttpTools;
use crate::config::check::{Checker, Section};
use crate::config::secret::Secret;
use crate::limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    Loopback,
    Lan,
    Tailnet,
    Custom,
    Auto,
}

impl BindMode {
    pub const CHOICES: &'static [(&'static str, BindMode)] = &[
        ("loopback", BindMode::Loopback),
        ("lan", BindMode::Lan),
        ("tailnet", BindMode::Tailnet),
        ("custom", BindMode::Custom),
        ("auto", BindMode::Auto),
    ];

    pub fn name(self) -> &'static str {
        Self::CHOICES.iter().find(|(_, m)| *m == self).map(|(n, _)| *n).unwrap_or("loopback")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    None,
    Token,
    Password,
    TrustedProxy,
}

impl AuthMode {
    pub const CHOICES: &'static [(&'static str, AuthMode)] = &[
        ("none", AuthMode::None),
        ("token", AuthMode::Token),
        ("password", AuthMode::Password),
        ("trusted-proxy", AuthMode::TrustedProxy),
    ];

    pub fn name(self) -> &'static str {
        Self::CHOICES.iter().find(|(_, m)| *m == self).map(|(n, _)| *n).unwrap_or("token")
    }
}

/// `gateway.reload.mode` (the seed keeps all four).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadMode {
    Hybrid,
    Hot,
    Restart,
    Off,
}

impl ReloadMode {
    pub const CHOICES: &'static [(&'static str, ReloadMode)] =
        &[("hybrid", ReloadMode::Hybrid), ("hot", ReloadMode::Hot), ("restart", ReloadMode::Restart), ("off", ReloadMode::Off)];
}

#[derive(Debug, Clone)]
pub struct Gateway {
    /// `gateway.mode` as written (`local` runs the gateway; anything else is refused at start).
    pub mode: Option<String>,
    pub port: Option<u16>,
    pub bind: Option<BindMode>,
    pub custom_bind_host: Option<Ipv4Addr>,
    pub auth: GatewayAuth,
    pub control_ui: ControlUi,
    pub reload_mode: ReloadMode,
    pub http: Http,
    pub trusted_proxies: Vec<IpAddr>,
    pub remote: Remote,
    /// `gateway.tools`: changes to the `/tools/invoke` deny list.
    pub tools: HttpTools,
}

#[derive(Debug, Clone)]
pub struct GatewayAuth {
    pub mode: Option<AuthMode>,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
    pub rate_limit: RateLimit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub max_attempts: u32,
    pub window: Duration,
    pub lockout: Duration,
    pub exempt_loopback: bool,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            max_attempts: limits::AUTH_RATE_MAX_ATTEMPTS,
            window: limits::AUTH_RATE_WINDOW,
            lockout: limits::AUTH_RATE_LOCKOUT,
            exempt_loopback: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ControlUi {
    pub allowed_origins: Vec<String>,
    pub allow_host_header_origin_fallback: bool,
    /// `gateway.controlUi.enabled`: serve the control panel (default on).
    pub enabled: bool,
    /// `gateway.controlUi.root`: a directory holding the official Control UI (its
    /// `dist/control-ui`), served instead of the built-in panel (an absolute path).
    pub root: Option<std::path::PathBuf>,
    /// `gateway.controlUi.basePath`, normalised to start and end with `/` (default `/`).
    pub base_path: String,
}

impl Default for ControlUi {
    fn default() -> Self {
        ControlUi {
            allowed_origins: Vec::new(),
            allow_host_header_origin_fallback: false,
            enabled: true,
            root: None,
            base_path: "/".to_string(),
        }
    }
}

/// `gateway.controlUi.basePath` normalised to start and end with `/`. It ends up in the page's
/// HTML and in URLs, so only plain path characters are allowed, and no `.` or `..` segment.
pub fn normalize_base_path(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Ok("/".to_string());
    }
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '/');
    if !trimmed.chars().all(ok_char) {
        return Err(format!("expected a URL path of letters, digits, '-', '_', '.', '~' and '/', got {raw:?}"));
    }
    if trimmed.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(format!("expected a URL path without empty, '.' or '..' segments, got {raw:?}"));
    }
    Ok(format!("/{trimmed}/"))
}

#[derive(Debug, Clone, Default)]
pub struct Http {
    pub chat_completions: bool,
    pub responses: bool,
    pub strict_transport_security: Option<String>,
}

/// `gateway.remote.*`: where client commands connect when `gateway.mode` is `remote`.
#[derive(Debug, Clone, Default)]
pub struct Remote {
    pub url: Option<String>,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
}

/// `gateway`, read one sub-section per step.
pub(super) fn gateway(c: &mut Checker, root: &Section, resolver: &Resolver, providers: &[SecretProvider]) -> Gateway {
    let g = c.section(
        root,
        "gateway",
        &[
            "mode",
            "port",
            "bind",
            "customBindHost",
            "publicOrigin",
            "auth",
            "tailscale",
            "controlUi",
            "cliAgents",
            "terminal",
            "remote",
            "trustedProxies",
            "allowRealIpFallback",
            "nodes",
            "tools",
            "push",
            "tls",
            "reload",
            "http",
            "portals",
            "roles",
        ],
    );
    let mode = c.string(&g, "mode");
    let port = c.int(&g, "port", 1, 65535).map(|p| p as u16);
    let (bind, custom_bind_host) = bind(c, &g);
    let auth = auth(c, &g, resolver, providers);
    let control_ui = control_ui(c, &g);
    let reload = c.section(&g, "reload", &["mode", "debounceMs", "deferralTimeoutMs"]);
    let reload_mode = c.one_of(&reload, "mode", ReloadMode::CHOICES).unwrap_or(ReloadMode::Hybrid);
    let http = http(c, &g);
    let trusted_proxies = trusted_proxies(c, &g);
    let remote = remote(c, &g, resolver, providers);
    warn_unsupported(c, &g);
    let tools = crate::config::agents::http_tools(c, &g);
    Gateway { tools, mode, port, bind, custom_bind_host, auth, control_ui, reload_mode, http, trusted_proxies, remote }
}

/// `gateway.bind` and `gateway.customBindHost`, which `custom` needs.
fn bind(c: &mut Checker, g: &Section) -> (Option<BindMode>, Option<Ipv4Addr>) {
    let bind = c.one_of(g, "bind", BindMode::CHOICES);
    let custom_bind_host = c.text(g, "customBindHost").and_then(|h| match h.parse::<Ipv4Addr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            c.issue(&g.child_path("customBindHost"), format!("expected an IPv4 address, got {h:?}"));
            None
        }
    });
    if bind == Some(BindMode::Custom) && custom_bind_host.is_none() && !g.has("customBindHost") {
        c.issue(&g.child_path("customBindHost"), "bind \"custom\" needs gateway.customBindHost (an IPv4 address)");
    }
    (bind, custom_bind_host)
}

/// `gateway.auth`.
fn auth(c: &mut Checker, g: &Section, resolver: &Resolver, providers: &[SecretProvider]) -> GatewayAuth {
    let a = c.section(g, "auth", &["mode", "token", "password", "allowTailscale", "identityScopes", "rateLimit", "trustedProxy"]);
    let auth_mode = c.one_of(&a, "mode", AuthMode::CHOICES);
    let token_in = c.secret(&a, "token");
    let password_in = c.secret(&a, "password");
    let token = resolve_secret(c, &a.child_path("token"), token_in, resolver, providers);
    let password = resolve_secret(c, &a.child_path("password"), password_in, resolver, providers);
    c.bool(&a, "allowTailscale");
    let rl = c.section(&a, "rateLimit", &["maxAttempts", "windowMs", "lockoutMs", "exemptLoopback"]);
    let defaults = RateLimit::default();
    let rate_limit = RateLimit {
        max_attempts: c.int(&rl, "maxAttempts", 1, 1_000_000).map(|v| v as u32).unwrap_or(defaults.max_attempts),
        window: c.int(&rl, "windowMs", 1, 86_400_000).map(Duration::from_millis).unwrap_or(defaults.window),
        lockout: c.int(&rl, "lockoutMs", 0, 86_400_000).map(Duration::from_millis).unwrap_or(defaults.lockout),
        exempt_loopback: c.bool(&rl, "exemptLoopback").unwrap_or(defaults.exempt_loopback),
    };
    if auth_mode == Some(AuthMode::TrustedProxy) {
        c.issue(&a.child_path("mode"), "trusted-proxy auth is not supported by this gateway; use token or password");
    }
    GatewayAuth { mode: auth_mode, token, password, rate_limit }
}

/// `gateway.controlUi`.
fn control_ui(c: &mut Checker, g: &Section) -> ControlUi {
    let ui = c.section(
        g,
        "controlUi",
        &[
            "enabled",
            "basePath",
            "root",
            "allowedOrigins",
            "dangerouslyAllowHostHeaderOriginFallback",
            "toolTitles",
            "automaticallyFetchFavicons",
            "embedSandbox",
            "allowExternalEmbedUrls",
            "sessionObserver",
            "github",
            "dangerouslyDisableDeviceAuth",
            "environment",
        ],
    );
    let base_path = match c.text(&ui, "basePath").map(|raw| normalize_base_path(&raw)) {
        None => "/".to_string(),
        Some(Ok(p)) => p,
        Some(Err(why)) => {
            c.issue(&ui.child_path("basePath"), why);
            "/".to_string()
        }
    };
    ControlUi {
        allowed_origins: c.strings(&ui, "allowedOrigins"),
        allow_host_header_origin_fallback: c.bool(&ui, "dangerouslyAllowHostHeaderOriginFallback").unwrap_or(false),
        enabled: c.bool(&ui, "enabled").unwrap_or(true),
        base_path,
        root: c.text(&ui, "root").and_then(|r| {
            let path = std::path::PathBuf::from(&r);
            if path.is_absolute() {
                Some(path)
            } else {
                c.issue(&ui.child_path("root"), format!("expected an absolute directory path, got {r:?}"));
                None
            }
        }),
    }
}

/// `gateway.http`: which OpenAI-compatible endpoints are on, and the HSTS header.
fn http(c: &mut Checker, g: &Section) -> Http {
    let http = c.section(g, "http", &["endpoints", "securityHeaders", "allowSessionKeyOverride", "denyEndpoints", "requireUrlAllowlists"]);
    let endpoints = c.section(&http, "endpoints", &["chatCompletions", "responses", "embeddings"]);
    let cc = c.section(&endpoints, "chatCompletions", &["enabled", "images"]);
    let resp = c.section(&endpoints, "responses", &["enabled", "maxUrlParts", "files", "images"]);
    let headers = c.section(&http, "securityHeaders", &["strictTransportSecurity"]);
    Http {
        chat_completions: c.bool(&cc, "enabled").unwrap_or(false),
        responses: c.bool(&resp, "enabled").unwrap_or(false),
        strict_transport_security: c.text(&headers, "strictTransportSecurity"),
    }
}

/// `gateway.trustedProxies` (and the accepted but unused `allowRealIpFallback`).
fn trusted_proxies(c: &mut Checker, g: &Section) -> Vec<IpAddr> {
    let mut trusted_proxies = Vec::new();
    for (i, p) in c.strings(g, "trustedProxies").into_iter().enumerate() {
        match p.parse::<IpAddr>() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => c.issue(&format!("{}[{i}]", g.child_path("trustedProxies")), format!("expected an IP address, got {p:?}")),
        }
    }
    c.bool(g, "allowRealIpFallback");
    trusted_proxies
}

/// `gateway.remote`.
fn remote(c: &mut Checker, g: &Section, resolver: &Resolver, providers: &[SecretProvider]) -> Remote {
    let r = c.section(
        g,
        "remote",
        &["url", "transport", "token", "password", "remotePort", "tlsFingerprint", "sshTarget", "sshIdentity", "sshHostKeyPolicy"],
    );
    let remote_token_in = c.secret(&r, "token");
    let remote_password_in = c.secret(&r, "password");
    Remote {
        url: c.text(&r, "url"),
        token: resolve_secret(c, &r.child_path("token"), remote_token_in, resolver, providers),
        password: resolve_secret(c, &r.child_path("password"), remote_password_in, resolver, providers),
    }
}

/// Official keys this gateway accepts but does not act on: say so when they ask for something.
fn warn_unsupported(c: &mut Checker, g: &Section) {
    let tls = c.section(g, "tls", &["enabled", "autoGenerate", "certPath", "keyPath", "caPath"]);
    if c.bool(&tls, "enabled") == Some(true) {
        c.warn("gateway.tls.enabled is set, but this gateway serves plain HTTP/WS; terminate TLS in a reverse proxy");
    }
    let ts = c.section(g, "tailscale", &["mode", "preserveFunnel", "resetOnExit"]);
    if let Some(m) = c.string(&ts, "mode") {
        if m != "off" {
            c.warn(format!("gateway.tailscale.mode={m} is not supported by this gateway; run `tailscale serve` yourself"));
        }
    }
}
