//! The typed config: what the rest of the program reads. It is built once per load from the
//! resolved JSON by [`Config::from_value`], which records every problem; nothing else in the
//! program looks at raw JSON config.

use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::agents::{Agents, Hooks, HttpTools, Models, Session, Tools};
use super::check::{Checker, SecretInput, SecretRef, SecretSource, Section, suggest};
use super::secret::Secret;
use crate::limits;

/// Top-level sections this gateway reads and validates.
const VALIDATED_SECTIONS: &[&str] = &["gateway", "logging", "secrets", "agents", "models", "tools", "hooks", "session", "channels"];
/// Whether this gateway reads a top-level section (the reloader ignores changes to the others).
pub fn is_used_section(name: &str) -> bool {
    VALIDATED_SECTIONS.contains(&name)
}

/// Top-level keys kept as they are without validation.
const PASSTHROUGH_SECTIONS: &[&str] = &["$schema", "meta"];
/// Top-level sections of the official OpenClaw config that this gateway does not use.
const OFFICIAL_SECTIONS: &[&str] = &[
    "bindings",
    "messages",
    "talk",
    "auth",
    "commands",
    "cron",
    "plugins",
    "skills",
    "mcp",
    "browser",
    "ui",
    "discovery",
    "env",
    "diagnostics",
    "update",
    "acp",
    "wizard",
    "memory",
    "broadcast",
    "accessGroups",
    "approvals",
    "cloudWorkers",
    "security",
    "web",
    "audio",
    "multiAgent",
    "identity",
    "agent",
    "routing",
    "desktop",
    "telemetry",
];

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Silent,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub const CHOICES: &'static [(&'static str, LogLevel)] = &[
        ("silent", LogLevel::Silent),
        ("fatal", LogLevel::Error),
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("trace", LogLevel::Trace),
    ];

    pub fn parse(s: &str) -> Option<LogLevel> {
        Self::CHOICES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s.trim())).map(|(_, l)| *l)
    }

    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Silent => log::LevelFilter::Off,
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

/// The whole typed config.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: Gateway,
    pub logging: Logging,
    pub agents: Agents,
    pub models: Models,
    pub tools: Tools,
    pub hooks: Hooks,
    pub session: Session,
    pub channels: super::channels::Channels,
    /// Top-level sections present in the file that this gateway keeps but does not use.
    pub ignored_sections: Vec<String>,
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

#[derive(Debug, Clone)]
pub struct Logging {
    pub level: LogLevel,
    pub console_level: Option<LogLevel>,
    pub file: Option<PathBuf>,
    pub max_file_bytes: u64,
}

impl Default for Logging {
    fn default() -> Self {
        Logging { level: LogLevel::Info, console_level: None, file: None, max_file_bytes: limits::LOG_MAX_FILE_BYTES }
    }
}

/// Looks up environment variables and reads files for SecretRefs (tests substitute their own).
pub struct Resolver<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub home: &'a std::path::Path,
}

impl Config {
    /// Validates `value` (the resolved config) into a [`Config`]. Issues are fatal for a gateway
    /// start; warnings are logged.
    pub fn from_value(value: &Value, resolver: &Resolver) -> (Config, Checker) {
        let mut c = Checker::default();
        let root = Section::root(value);
        if let Some(map) = root.map {
            let mut ignored = Vec::new();
            for key in map.keys() {
                if VALIDATED_SECTIONS.contains(&key.as_str()) || PASSTHROUGH_SECTIONS.contains(&key.as_str()) {
                    continue;
                }
                if !OFFICIAL_SECTIONS.contains(&key.as_str()) {
                    let all: Vec<&str> = VALIDATED_SECTIONS.iter().chain(OFFICIAL_SECTIONS).copied().collect();
                    if let Some(s) = suggest(key, &all) {
                        c.warn(format!("config section {key:?} is not an OpenClaw section (did you mean {s:?}?); kept and ignored"));
                    }
                }
                ignored.push(key.clone());
            }
            let config = sections(&mut c, &root, resolver, ignored);
            return (config, c);
        }
        c.issue("", "the config must be a JSON object");
        (Config::empty(), c)
    }

    /// The config of a gateway started without a config file.
    pub fn empty() -> Config {
        let mut c = Checker::default();
        let v = Value::Object(Default::default());
        let resolver = Resolver { env: &|_| None, home: std::path::Path::new("/") };
        sections(&mut c, &Section::root(&v), &resolver, Vec::new())
    }
}

fn sections(c: &mut Checker, root: &Section, resolver: &Resolver, ignored_sections: Vec<String>) -> Config {
    let providers = secret_providers(c, root);
    let gateway = gateway(c, root, resolver, &providers);
    let logging = logging(c, root, resolver);
    let agents = super::agents::agents(c, root, resolver);
    let models = super::agents::models(c, root, resolver, &providers, &agents);
    let tools = super::agents::tools(c, root);
    let hooks = super::agents::hooks(c, root, resolver, &providers);
    let session = super::agents::session(c, root);
    let channels = super::channels::channels(c, root, resolver, &providers);
    if let (Some(h), Some(g)) = (&hooks.token, &gateway.auth.token) {
        if h.expose() == g.expose() {
            c.warn("hooks.token is the same as the gateway token; use a separate secret for webhooks");
        }
    }
    Config { gateway, logging, agents, models, tools, hooks, session, channels, ignored_sections }
}

/// One `secrets.providers.<alias>` entry.
#[derive(Debug, Clone)]
pub(super) struct SecretProvider {
    alias: String,
    source: SecretSource,
    path: Option<PathBuf>,
    single_value: bool,
    allowlist: Vec<String>,
}

fn secret_providers(c: &mut Checker, root: &Section) -> Vec<SecretProvider> {
    let s = c.section(root, "secrets", &["providers", "defaults", "egressProxy"]);
    let providers = c.map(&s, "providers");
    let mut out = Vec::new();
    // Provider aliases are free-form keys; validate each entry rather than the key set.
    if let Some(map) = providers.map {
        for (alias, entry) in map {
            let path = providers.child_path(alias);
            let keys = [
                "source",
                "path",
                "mode",
                "timeoutMs",
                "maxBytes",
                "allowlist",
                "command",
                "args",
                "passEnv",
                "env",
                "trustedDirs",
                "noOutputTimeoutMs",
                "maxOutputBytes",
                "jsonOnly",
            ];
            let p = c.object_at(path.clone(), Some(entry), &keys);
            let source = c.one_of(
                &p,
                "source",
                &[("env", SecretSource::Env), ("file", SecretSource::File), ("exec", SecretSource::Exec), ("store", SecretSource::Store)],
            );
            let file_path = c.text(&p, "path").map(PathBuf::from);
            let single_value = c.one_of(&p, "mode", &[("json", false), ("singleValue", true)]).unwrap_or(false);
            let allowlist = c.strings(&p, "allowlist");
            if let Some(source) = source {
                if source == SecretSource::File && file_path.is_none() {
                    c.issue(&path, "a file secret provider needs \"path\"");
                }
                out.push(SecretProvider { alias: alias.clone(), source, path: file_path, single_value, allowlist });
            } else if !p.has("source") {
                c.issue(&path, "a secret provider needs \"source\" (env, file, exec or store)");
            }
        }
    }
    out
}

/// Resolves a secret input to its value, recording why when it cannot.
pub(super) fn resolve_secret(
    c: &mut Checker,
    path: &str,
    input: Option<SecretInput>,
    resolver: &Resolver,
    providers: &[SecretProvider],
) -> Option<Secret> {
    match input? {
        SecretInput::Plain(s) => Some(s),
        SecretInput::Ref(r) => match lookup_ref(&r, resolver, providers) {
            Ok(v) => Some(Secret::new(v)),
            Err(why) => {
                c.issue(path, why);
                None
            }
        },
    }
}

fn lookup_ref(r: &SecretRef, resolver: &Resolver, providers: &[SecretProvider]) -> Result<String, String> {
    let provider = providers.iter().find(|p| p.alias == r.provider);
    if let Some(p) = provider {
        if p.source != r.source {
            return Err(format!("SecretRef provider {:?} is a {:?} provider, not {:?}", p.alias, p.source, r.source));
        }
    }
    match r.source {
        SecretSource::Env => {
            if let Some(p) = provider {
                if !p.allowlist.is_empty() && !p.allowlist.contains(&r.id) {
                    return Err(format!("environment variable {} is not in the allowlist of provider {:?}", r.id, p.alias));
                }
            }
            (resolver.env)(&r.id).filter(|v| !v.is_empty()).ok_or_else(|| format!("SecretRef env:{} is not set", r.id))
        }
        SecretSource::File => {
            let p =
                provider.ok_or_else(|| format!("SecretRef file provider {:?} is not configured under secrets.providers", r.provider))?;
            let file = p.path.as_ref().ok_or("the file provider has no path")?;
            let file = super::paths::expand_tilde(&file.to_string_lossy(), resolver.home);
            let meta = std::fs::metadata(&file).map_err(|e| format!("cannot read secret file {}: {e}", file.display()))?;
            // A device or a pipe reports no length and may never end (/dev/zero, a FIFO nobody
            // writes): only a regular file is read, and never past the bound.
            if !meta.is_file() || meta.len() > limits::SECRET_FILE_MAX_BYTES {
                return Err(format!("secret file {} must be a regular file of at most 1 MiB", file.display()));
            }
            use std::io::Read;
            let mut bytes = Vec::new();
            std::fs::File::open(&file)
                .and_then(|f| f.take(limits::SECRET_FILE_MAX_BYTES + 1).read_to_end(&mut bytes))
                .map_err(|e| format!("cannot read secret file {}: {e}", file.display()))?;
            if bytes.len() as u64 > limits::SECRET_FILE_MAX_BYTES {
                return Err(format!("secret file {} must be a regular file of at most 1 MiB", file.display()));
            }
            let text = String::from_utf8(bytes).map_err(|_| format!("cannot read secret file {}: not valid UTF-8", file.display()))?;
            if p.single_value {
                return Ok(text.trim_end_matches(['\n', '\r']).to_string());
            }
            let doc: Value = super::json5::parse(&text).map_err(|e| format!("secret file {}: {e}", file.display()))?;
            let pointer = if r.id.starts_with('/') { r.id.clone() } else { format!("/{}", r.id) };
            match doc.pointer(&pointer) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(_) => Err(format!("secret {} in {} is not a non-empty string", r.id, file.display())),
                None => Err(format!("secret {} not found in {}", r.id, file.display())),
            }
        }
        SecretSource::Exec | SecretSource::Store => {
            Err(format!("SecretRef source {:?} is not supported by this gateway; use env or file", r.source).to_lowercase())
        }
    }
}

fn gateway(c: &mut Checker, root: &Section, resolver: &Resolver, providers: &[SecretProvider]) -> Gateway {
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
    let bind = c.one_of(&g, "bind", BindMode::CHOICES);
    let custom_bind_host = c.text(&g, "customBindHost").and_then(|h| match h.parse::<Ipv4Addr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            c.issue(&g.child_path("customBindHost"), format!("expected an IPv4 address, got {h:?}"));
            None
        }
    });
    if bind == Some(BindMode::Custom) && custom_bind_host.is_none() && !g.has("customBindHost") {
        c.issue(&g.child_path("customBindHost"), "bind \"custom\" needs gateway.customBindHost (an IPv4 address)");
    }

    let a = c.section(&g, "auth", &["mode", "token", "password", "allowTailscale", "identityScopes", "rateLimit", "trustedProxy"]);
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

    let ui = c.section(
        &g,
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
    let control_ui = ControlUi {
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
    };

    let reload = c.section(&g, "reload", &["mode", "debounceMs", "deferralTimeoutMs"]);
    let reload_mode = c.one_of(&reload, "mode", ReloadMode::CHOICES).unwrap_or(ReloadMode::Hybrid);

    let http = c.section(&g, "http", &["endpoints", "securityHeaders", "allowSessionKeyOverride", "denyEndpoints", "requireUrlAllowlists"]);
    let endpoints = c.section(&http, "endpoints", &["chatCompletions", "responses", "embeddings"]);
    let cc = c.section(&endpoints, "chatCompletions", &["enabled", "images"]);
    let resp = c.section(&endpoints, "responses", &["enabled", "maxUrlParts", "files", "images"]);
    let headers = c.section(&http, "securityHeaders", &["strictTransportSecurity"]);
    let http = Http {
        chat_completions: c.bool(&cc, "enabled").unwrap_or(false),
        responses: c.bool(&resp, "enabled").unwrap_or(false),
        strict_transport_security: c.text(&headers, "strictTransportSecurity"),
    };

    let mut trusted_proxies = Vec::new();
    for (i, p) in c.strings(&g, "trustedProxies").into_iter().enumerate() {
        match p.parse::<IpAddr>() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => c.issue(&format!("{}[{i}]", g.child_path("trustedProxies")), format!("expected an IP address, got {p:?}")),
        }
    }
    c.bool(&g, "allowRealIpFallback");

    let r = c.section(
        &g,
        "remote",
        &["url", "transport", "token", "password", "remotePort", "tlsFingerprint", "sshTarget", "sshIdentity", "sshHostKeyPolicy"],
    );
    let remote_token_in = c.secret(&r, "token");
    let remote_password_in = c.secret(&r, "password");
    let remote = Remote {
        url: c.text(&r, "url"),
        token: resolve_secret(c, &r.child_path("token"), remote_token_in, resolver, providers),
        password: resolve_secret(c, &r.child_path("password"), remote_password_in, resolver, providers),
    };

    // Official keys this gateway accepts but does not act on: say so when they ask for something.
    let tls = c.section(&g, "tls", &["enabled", "autoGenerate", "certPath", "keyPath", "caPath"]);
    if c.bool(&tls, "enabled") == Some(true) {
        c.warn("gateway.tls.enabled is set, but this gateway serves plain HTTP/WS; terminate TLS in a reverse proxy");
    }
    let ts = c.section(&g, "tailscale", &["mode", "preserveFunnel", "resetOnExit"]);
    if let Some(m) = c.string(&ts, "mode") {
        if m != "off" {
            c.warn(format!("gateway.tailscale.mode={m} is not supported by this gateway; run `tailscale serve` yourself"));
        }
    }

    let tools = super::agents::http_tools(c, &g);
    Gateway {
        tools,
        mode,
        port,
        bind,
        custom_bind_host,
        auth: GatewayAuth { mode: auth_mode, token, password, rate_limit },
        control_ui,
        reload_mode,
        http,
        trusted_proxies,
        remote,
    }
}

fn logging(c: &mut Checker, root: &Section, resolver: &Resolver) -> Logging {
    let l = c.section(root, "logging", &["level", "file", "consoleLevel", "consoleStyle", "maxFileBytes", "redactPatterns", "audit"]);
    let defaults = Logging::default();
    let logging = Logging {
        level: c.one_of(&l, "level", LogLevel::CHOICES).unwrap_or(defaults.level),
        console_level: c.one_of(&l, "consoleLevel", LogLevel::CHOICES),
        file: c.text(&l, "file").map(|f| super::paths::expand_tilde(&f, resolver.home)),
        max_file_bytes: c.int(&l, "maxFileBytes", 4096, u64::MAX).unwrap_or(defaults.max_file_bytes),
    };
    c.one_of(&l, "consoleStyle", &[("pretty", ()), ("compact", ()), ("json", ())]);
    c.strings(&l, "redactPatterns");
    logging
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> (Config, Checker) {
        let env = |k: &str| match k {
            "GW_TOKEN" => Some("from-env".to_string()),
            _ => None,
        };
        Config::from_value(&v, &Resolver { env: &env, home: std::path::Path::new("/home/pi") })
    }

    #[test]
    fn base_paths_are_normalised_and_checked() {
        assert_eq!(normalize_base_path("").unwrap(), "/");
        assert_eq!(normalize_base_path("/").unwrap(), "/");
        assert_eq!(normalize_base_path("ui").unwrap(), "/ui/");
        assert_eq!(normalize_base_path("/a/b/").unwrap(), "/a/b/");
        assert!(normalize_base_path("/a/../b").is_err());
        assert!(normalize_base_path("/a//b").is_err());
        assert!(normalize_base_path("/\"><script>").is_err());
        assert!(normalize_base_path("/ü").is_err());
    }

    #[test]
    fn reads_a_typical_gateway_section() {
        let (cfg, c) = check(json!({
            "gateway": {"mode": "local", "port": 18790, "bind": "lan", "auth": {"mode": "token", "token": "abc",
              "rateLimit": {"maxAttempts": 3, "exemptLoopback": false}},
              "controlUi": {"allowedOrigins": ["http://x"]}, "reload": {"mode": "hot"},
              "http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
            "logging": {"level": "debug", "file": "~/oc.log"},
            "meta": {"lastTouchedVersion": "2026.9.6"}, "plugins": {"entries": {}}, "wizard": {}
        }));
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        assert_eq!(cfg.gateway.mode.as_deref(), Some("local"));
        assert_eq!(cfg.gateway.port, Some(18790));
        assert_eq!(cfg.gateway.bind, Some(BindMode::Lan));
        assert_eq!(cfg.gateway.auth.token.as_ref().map(Secret::expose), Some("abc"));
        assert_eq!(cfg.gateway.auth.rate_limit.max_attempts, 3);
        assert!(!cfg.gateway.auth.rate_limit.exempt_loopback);
        assert_eq!(cfg.gateway.reload_mode, ReloadMode::Hot);
        assert!(cfg.gateway.http.chat_completions && !cfg.gateway.http.responses);
        assert_eq!(cfg.logging.level, LogLevel::Debug);
        assert_eq!(cfg.logging.file, Some(PathBuf::from("/home/pi/oc.log")));
        assert_eq!(cfg.ignored_sections, vec!["plugins".to_string(), "wizard".to_string()]);
    }

    #[test]
    fn typos_in_known_sections_are_errors_with_paths() {
        let (_, c) = check(json!({"gateway": {"prot": 1, "auth": {"tokn": "x"}, "bind": "everywhere"}}));
        let text: Vec<String> = c.issues.iter().map(|i| i.to_string()).collect();
        assert!(text.iter().any(|t| t.starts_with("gateway.prot: unknown key (did you mean \"port\"?)")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("gateway.auth.tokn: unknown key (did you mean \"token\"?)")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("gateway.bind: expected one of loopback | lan")), "{text:?}");
    }

    #[test]
    fn unknown_top_level_sections_are_kept_and_reported_not_fatal() {
        let (cfg, c) = check(json!({"gatway": {"port": 1}, "somethingElse": 1}));
        assert!(c.issues.is_empty());
        assert_eq!(cfg.ignored_sections.len(), 2);
        assert!(c.warnings.iter().any(|w| w.contains("did you mean \"gateway\"")), "{:?}", c.warnings);
    }

    #[test]
    fn env_secret_refs_resolve_and_missing_ones_are_issues() {
        let (cfg, c) = check(json!({"gateway": {"auth": {"token": {"source": "env", "id": "GW_TOKEN"}}}}));
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        assert_eq!(cfg.gateway.auth.token.unwrap().expose(), "from-env");
        let (cfg, c) = check(json!({"gateway": {"auth": {"password": {"source": "env", "id": "NOPE"}}}}));
        assert!(cfg.gateway.auth.password.is_none());
        assert_eq!(c.issues[0].path, "gateway.auth.password");
        assert!(c.issues[0].message.contains("env:NOPE is not set"));
    }

    #[test]
    fn file_secret_refs_read_json_pointers() {
        let dir = std::env::temp_dir().join(format!("oc-secret-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.json");
        std::fs::write(&file, r#"{"gateway": {"token": "filetok"}}"#).unwrap();
        let (cfg, c) = check(json!({
            "secrets": {"providers": {"vault": {"source": "file", "path": file.to_str().unwrap()}}},
            "gateway": {"auth": {"token": {"source": "file", "provider": "vault", "id": "/gateway/token"}}}
        }));
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        assert_eq!(cfg.gateway.auth.token.unwrap().expose(), "filetok");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_secret_file_that_is_not_a_regular_file_is_refused_without_reading_it() {
        let dir = std::env::temp_dir().join(format!("oc-secret-{}", crate::ids::uuid()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_files = [dir.to_str().unwrap().to_string(), "/dev/zero".to_string()];
        for path in not_files.iter().filter(|p| std::path::Path::new(p).exists()) {
            let (cfg, c) = check(json!({
                "secrets": {"providers": {"vault": {"source": "file", "path": path, "mode": "singleValue"}}},
                "gateway": {"auth": {"token": {"source": "file", "provider": "vault", "id": "x"}}}
            }));
            assert!(cfg.gateway.auth.token.is_none());
            assert!(c.issues.iter().any(|i| i.to_string().contains("must be a regular file")), "{path}: {:?}", c.issues);
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn debug_output_masks_tokens() {
        let (cfg, _) = check(json!({"gateway": {"auth": {"token": "supersecretvalue"}}}));
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("supersecretvalue"), "{shown}");
    }
}
