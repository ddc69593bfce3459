//! The typed config: what the rest of the program reads. It is built once per load from the
//! resolved JSON by [`Config::from_value`], which records every problem; nothing else in the
//! program looks at raw JSON config. The `gateway` section and the secret providers have files
//! of their own; the other sections are read by their own modules (`agents`, `channels`).

use serde_json::Value;
use std::path::PathBuf;

use super::agents::{Agents, Hooks, Models, Session, Tools};
use super::check::{Checker, Section, suggest};
use crate::limits;

mod gateway;
mod secrets;

pub use gateway::{AuthMode, BindMode, ControlUi, Gateway, GatewayAuth, Http, RateLimit, ReloadMode, Remote, normalize_base_path};
pub(super) use secrets::{SecretProvider, resolve_secret};

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
    let providers = secrets::secret_providers(c, root);
    let gateway = gateway::gateway(c, root, resolver, &providers);
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
    use crate::config::secret::Secret;
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
