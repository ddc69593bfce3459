//! The agent side of the config: `agents` (who answers, with which model and workspace),
//! `models.providers` (where models live and how to reach them), `tools` (what the agent may do)
//! and `hooks` (webhook ingress). These official sections are much larger than what this gateway
//! acts on; the keys it reads are type-checked, the rest are kept (see
//! [`Checker::partial_section`]). `agents` and `models` live here; `tools`, `hooks` and `session`
//! each have a file of their own.

use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

use super::check::{Checker, Section, kind};
use super::model::{Resolver, SecretProvider, resolve_secret};
use super::secret::Secret;
use crate::limits;

mod hooks;
mod session;
mod tools;

pub use hooks::Hooks;
pub(super) use hooks::hooks;
pub(super) use session::session;
pub use session::{Maintenance, Session};
pub use tools::{ExecSecurity, HttpTools, Tools};
pub(super) use tools::{http_tools, tools};

/// The agent every gateway has unless the config names others.
pub const DEFAULT_AGENT_ID: &str = "main";

/// `agents.*`.
#[derive(Debug, Clone, Default)]
pub struct Agents {
    pub defaults: AgentDefaults,
    /// Configured agents in file order (`agents.entries`, or the older `agents.list`). Empty means
    /// the one implicit agent `main`.
    pub entries: Vec<AgentEntry>,
}

impl Agents {
    /// The agent used when a request names none: the one marked `default`, else `main` when it
    /// is configured, else the first by id. (The official "first in the file" cannot be told
    /// from a parsed JSON object, whose keys come back sorted; naming the default avoids the
    /// question, which is what OpenClaw asks multi-agent setups to do.)
    pub fn default_id(&self) -> &str {
        self.entries
            .iter()
            .find(|e| e.default)
            .or(self.entries.iter().find(|e| e.id == DEFAULT_AGENT_ID))
            .or(self.entries.first())
            .map(|e| e.id.as_str())
            .unwrap_or(DEFAULT_AGENT_ID)
    }

    /// Every agent id, the default first.
    pub fn ids(&self) -> Vec<String> {
        if self.entries.is_empty() {
            return vec![DEFAULT_AGENT_ID.to_string()];
        }
        let default = self.default_id().to_string();
        let mut ids = vec![default.clone()];
        ids.extend(self.entries.iter().map(|e| e.id.clone()).filter(|id| *id != default));
        ids
    }

    pub fn exists(&self, id: &str) -> bool {
        (self.entries.is_empty() && id == DEFAULT_AGENT_ID) || self.entries.iter().any(|e| e.id == id)
    }

    pub fn entry(&self, id: &str) -> Option<&AgentEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The model choice for `agent_id`: its own, else the defaults'.
    pub fn model_for(&self, agent_id: &str) -> &ModelChoice {
        self.entry(agent_id).and_then(|e| e.model.as_ref()).unwrap_or(&self.defaults.model)
    }

    /// Expands a model alias (`agents.defaults.models["provider/model"].alias`) to its reference.
    pub fn expand_alias<'a>(&'a self, name: &'a str) -> &'a str {
        self.defaults.aliases.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(name)).map(|(_, r)| r.as_str()).unwrap_or(name)
    }
}

/// `agents.defaults.*` that this gateway uses.
#[derive(Debug, Clone)]
pub struct AgentDefaults {
    pub workspace: Option<PathBuf>,
    pub model: ModelChoice,
    /// `(alias, "provider/model")` pairs from `agents.defaults.models`.
    pub aliases: Vec<(String, String)>,
    /// Runs in flight across all sessions.
    pub max_concurrent: usize,
    /// Longest a run may take (`timeoutSeconds`; `None` when 0 = unlimited).
    pub timeout: Option<Duration>,
    pub bootstrap_max_chars: usize,
    pub bootstrap_total_max_chars: usize,
    /// IANA zone named in the system prompt's time line (`userTimezone`).
    pub user_timezone: Option<String>,
}

impl Default for AgentDefaults {
    fn default() -> Self {
        AgentDefaults {
            workspace: None,
            model: ModelChoice::default(),
            aliases: Vec::new(),
            max_concurrent: default_max_concurrent(),
            timeout: Some(limits::AGENT_RUN_TIMEOUT),
            bootstrap_max_chars: limits::BOOTSTRAP_MAX_CHARS,
            bootstrap_total_max_chars: limits::BOOTSTRAP_TOTAL_MAX_CHARS,
            user_timezone: None,
        }
    }
}

/// The official default, `min(16, max(8, cores))`, is sized for servers; a small board runs out
/// of memory and upstream rate limit long before that, so we allow two runs per core (at least
/// two, at most the official eight).
fn default_max_concurrent() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores * 2).clamp(2, 8)
}

/// A primary model and the ones to try when it fails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelChoice {
    /// `provider/model` (or an alias); `None` when nothing is configured.
    pub primary: Option<String>,
    pub fallbacks: Vec<String>,
}

/// One configured agent.
#[derive(Debug, Clone, Default)]
pub struct AgentEntry {
    pub id: String,
    pub name: Option<String>,
    pub workspace: Option<PathBuf>,
    pub model: Option<ModelChoice>,
    pub identity: Identity,
    pub default: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub name: Option<String>,
    pub emoji: Option<String>,
    pub theme: Option<String>,
    pub avatar: Option<String>,
}

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    /// `POST {baseUrl}/chat/completions` (OpenAI, OpenRouter, Ollama, llama.cpp, vLLM, LM Studio…).
    OpenAiCompletions,
    /// `POST {baseUrl}/v1/messages` (Anthropic and compatible services).
    AnthropicMessages,
}

impl ApiKind {
    pub const CHOICES: &'static [(&'static str, ApiKind)] =
        &[("openai-completions", ApiKind::OpenAiCompletions), ("anthropic-messages", ApiKind::AnthropicMessages)];

    pub fn name(self) -> &'static str {
        Self::CHOICES.iter().find(|(_, k)| *k == self).map(|(n, _)| *n).unwrap_or("openai-completions")
    }
}

/// Official `api` values this gateway does not speak; a provider using one is reported, and runs
/// on it fail with that explanation instead of the whole config being refused.
const UNSUPPORTED_APIS: &[&str] = &[
    "openai-responses",
    "openai-chatgpt-responses",
    "google-generative-ai",
    "google-vertex",
    "github-copilot",
    "bedrock-converse-stream",
    "ollama",
    "azure-openai-responses",
];

/// Which request field carries the output-token limit (`compat.maxTokensField`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    MaxTokens,
    MaxCompletionTokens,
}

/// `models.*`.
#[derive(Debug, Clone, Default)]
pub struct Models {
    pub providers: Vec<ProviderConfig>,
    /// API keys found in `<PROVIDER>_API_KEY` variables, by provider id.
    pub env_keys: Vec<(String, Secret)>,
}

impl Models {
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.id == id)
    }

    pub fn env_key(&self, provider: &str) -> Option<&Secret> {
        self.env_keys.iter().find(|(p, _)| p == provider).map(|(_, k)| k)
    }
}

/// `models.providers.<id>`.
#[derive(Debug, Clone, Default)]
pub struct ProviderConfig {
    pub id: String,
    pub base_url: Option<String>,
    /// `Err(name)` for an official API this gateway does not speak.
    pub api: Option<Result<ApiKind, String>>,
    pub api_key: Option<Secret>,
    pub headers: Vec<(String, Secret)>,
    /// Longest silence from the provider while streaming (`timeoutSeconds`).
    pub timeout: Option<Duration>,
    pub max_tokens: Option<u32>,
    pub models: Vec<ModelDef>,
}

/// One entry of `models.providers.<id>.models`.
#[derive(Debug, Clone, Default)]
pub struct ModelDef {
    pub id: String,
    pub name: Option<String>,
    pub context_window: Option<u32>,
    pub max_tokens: Option<u32>,
    pub reasoning: bool,
    pub max_tokens_field: Option<MaxTokensField>,
}

/// `agents`.
pub(super) fn agents(c: &mut Checker, root: &Section, resolver: &Resolver) -> Agents {
    let a = c.partial_section(root, "agents", &["defaults", "entries", "list"]);
    let d = c.partial_section(
        &a,
        "defaults",
        &["workspace", "model", "models", "maxConcurrent", "timeoutSeconds", "bootstrapMaxChars", "bootstrapTotalMaxChars", "userTimezone"],
    );
    let base = AgentDefaults::default();
    let defaults = AgentDefaults {
        workspace: c.text(&d, "workspace").map(|w| super::paths::expand_tilde(&w, resolver.home)),
        model: model_choice(c, &d, "model").unwrap_or_default(),
        aliases: aliases(c, &d),
        max_concurrent: c.int(&d, "maxConcurrent", 1, 256).map(|n| n as usize).unwrap_or(base.max_concurrent),
        timeout: match c.int(&d, "timeoutSeconds", 0, 31_536_000) {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
            None => base.timeout,
        },
        bootstrap_max_chars: c.int(&d, "bootstrapMaxChars", 0, 10_000_000).map(|n| n as usize).unwrap_or(base.bootstrap_max_chars),
        bootstrap_total_max_chars: c
            .int(&d, "bootstrapTotalMaxChars", 0, 10_000_000)
            .map(|n| n as usize)
            .unwrap_or(base.bootstrap_total_max_chars),
        user_timezone: c.text(&d, "userTimezone"),
    };

    let mut entries = Vec::new();
    let map = c.map(&a, "entries");
    if let Some(m) = map.map {
        for (id, v) in m {
            let path = map.child_path(id);
            let e = c.partial_object_at(path.clone(), Some(v), ENTRY_KEYS);
            if let Some(entry) = agent_entry(c, &e, id, &path, resolver) {
                entries.push(entry);
            }
        }
    }
    match a.get("list") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                let path = format!("{}[{i}]", a.child_path("list"));
                let e = c.partial_object_at(path.clone(), Some(v), &[ENTRY_KEYS, &["id"]].concat());
                let Some(id) = c.text(&e, "id") else {
                    c.issue(&path, "an agent in agents.list needs an \"id\"");
                    continue;
                };
                if let Some(entry) = agent_entry(c, &e, &id, &path, resolver) {
                    if entries.iter().any(|x: &AgentEntry| x.id == entry.id) {
                        c.issue(&path, format!("agent id {:?} is configured twice", entry.id));
                        continue;
                    }
                    entries.push(entry);
                }
            }
        }
        Some(other) => c.issue(&a.child_path("list"), format!("expected a list of agents, got {}", kind(other))),
    }
    Agents { defaults, entries }
}

const ENTRY_KEYS: &[&str] = &["name", "workspace", "model", "identity", "default"];

fn agent_entry(c: &mut Checker, e: &Section, id: &str, path: &str, resolver: &Resolver) -> Option<AgentEntry> {
    if !valid_agent_id(id) {
        c.issue(path, format!("agent id {id:?} must be 1-64 characters of a-z, 0-9, '-' or '_'"));
        return None;
    }
    let ident = c.partial_section(e, "identity", &["name", "emoji", "theme", "avatar"]);
    Some(AgentEntry {
        id: id.to_string(),
        name: c.text(e, "name"),
        workspace: c.text(e, "workspace").map(|w| super::paths::expand_tilde(&w, resolver.home)),
        model: model_choice(c, e, "model"),
        identity: Identity {
            name: c.text(&ident, "name"),
            emoji: c.text(&ident, "emoji"),
            theme: c.text(&ident, "theme"),
            avatar: c.text(&ident, "avatar"),
        },
        default: c.bool(e, "default").unwrap_or(false),
    })
}

/// Agent ids become directory names and session-key parts, so they are kept to a safe alphabet.
pub fn valid_agent_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `model`: `"provider/model"` or `{primary, fallbacks}`.
fn model_choice(c: &mut Checker, s: &Section, key: &str) -> Option<ModelChoice> {
    let path = s.child_path(key);
    match s.get(key)? {
        Value::String(r) => check_ref(c, &path, r).map(|r| ModelChoice { primary: Some(r), fallbacks: Vec::new() }),
        v @ Value::Object(_) => {
            let m = c.partial_object_at(path.clone(), Some(v), &["primary", "fallbacks"]);
            let primary = c.string(&m, "primary").and_then(|r| check_ref(c, &m.child_path("primary"), &r));
            let fallbacks = c
                .strings(&m, "fallbacks")
                .into_iter()
                .enumerate()
                .filter_map(|(i, r)| check_ref(c, &format!("{}[{i}]", m.child_path("fallbacks")), &r))
                .collect();
            Some(ModelChoice { primary, fallbacks })
        }
        other => {
            c.issue(&path, format!("expected \"provider/model\" or {{primary, fallbacks}}, got {}", kind(other)));
            None
        }
    }
}

/// A model reference is `provider/model` or an alias (a bare word); either way not empty.
fn check_ref(c: &mut Checker, path: &str, r: &str) -> Option<String> {
    let r = r.trim();
    if r.is_empty() || r.starts_with('/') || r.ends_with('/') {
        c.issue(path, format!("expected a model reference like \"anthropic/claude-sonnet-4-5\", got {r:?}"));
        return None;
    }
    Some(r.to_string())
}

fn aliases(c: &mut Checker, d: &Section) -> Vec<(String, String)> {
    let models = c.map(d, "models");
    let mut out = Vec::new();
    if let Some(m) = models.map {
        for (r, v) in m {
            let e = c.partial_object_at(models.child_path(r), Some(v), &["alias"]);
            if let Some(alias) = c.text(&e, "alias") {
                out.push((alias, r.clone()));
            }
        }
    }
    out
}

/// Providers every OpenClaw install knows without configuration: `(id, base URL, api, needs a key)`.
pub const BUILTIN_PROVIDERS: &[(&str, &str, ApiKind, bool)] = &[
    ("openai", "https://api.openai.com/v1", ApiKind::OpenAiCompletions, true),
    ("anthropic", "https://api.anthropic.com", ApiKind::AnthropicMessages, true),
    ("openrouter", "https://openrouter.ai/api/v1", ApiKind::OpenAiCompletions, true),
    ("groq", "https://api.groq.com/openai/v1", ApiKind::OpenAiCompletions, true),
    ("mistral", "https://api.mistral.ai/v1", ApiKind::OpenAiCompletions, true),
    ("deepseek", "https://api.deepseek.com/v1", ApiKind::OpenAiCompletions, true),
    ("xai", "https://api.x.ai/v1", ApiKind::OpenAiCompletions, true),
    ("ollama", "http://127.0.0.1:11434/v1", ApiKind::OpenAiCompletions, false),
    ("lmstudio", "http://127.0.0.1:1234/v1", ApiKind::OpenAiCompletions, false),
];

/// `models`. `agents` supplies the provider ids its model references mention, so their
/// `<PROVIDER>_API_KEY` variables are read too.
pub(super) fn models(c: &mut Checker, root: &Section, resolver: &Resolver, secrets: &[SecretProvider], agents: &Agents) -> Models {
    let m = c.partial_section(root, "models", &["mode", "providers"]);
    c.one_of(&m, "mode", &[("merge", ()), ("replace", ())]);
    let map = c.map(&m, "providers");
    let mut providers = Vec::new();
    if let Some(entries) = map.map {
        for (id, v) in entries {
            let path = map.child_path(id);
            let p = c.partial_object_at(
                path.clone(),
                Some(v),
                &["baseUrl", "apiKey", "api", "headers", "timeoutSeconds", "maxTokens", "models", "auth", "authHeader", "request"],
            );
            let api = match p.get("api") {
                None => None,
                Some(Value::String(name)) if UNSUPPORTED_APIS.contains(&name.as_str()) => {
                    c.warn(format!(
                        "{path}.api: {name:?} is not supported by this gateway (openai-completions and anthropic-messages are); runs on provider {id:?} will fail"
                    ));
                    Some(Err(name.clone()))
                }
                Some(_) => c.one_of(&p, "api", ApiKind::CHOICES).map(Ok),
            };
            let base_url = c.text(&p, "baseUrl");
            if let Some(url) = &base_url {
                if let Err(e) = crate::url::Url::parse(url) {
                    c.issue(&p.child_path("baseUrl"), e);
                }
            }
            let key_in = c.secret(&p, "apiKey");
            let api_key = resolve_secret(c, &p.child_path("apiKey"), key_in, resolver, secrets);
            let mut headers = Vec::new();
            let h = c.map(&p, "headers");
            if let Some(hm) = h.map {
                for name in hm.keys() {
                    let input = c.secret(&h, name);
                    if let Some(value) = resolve_secret(c, &h.child_path(name), input, resolver, secrets) {
                        headers.push((name.clone(), value));
                    }
                }
            }
            providers.push(ProviderConfig {
                id: id.to_ascii_lowercase(),
                base_url,
                api,
                api_key,
                headers,
                timeout: c.int(&p, "timeoutSeconds", 1, 86_400).map(Duration::from_secs),
                max_tokens: c.int(&p, "maxTokens", 1, 10_000_000).map(|n| n as u32),
                models: model_defs(c, &p),
            });
        }
    }
    let mut ids: Vec<String> = providers.iter().map(|p| p.id.clone()).collect();
    ids.extend(BUILTIN_PROVIDERS.iter().map(|(id, ..)| id.to_string()));
    let refs = agents.entries.iter().filter_map(|e| e.model.as_ref()).chain([&agents.defaults.model]);
    for choice in refs {
        for r in choice.primary.iter().chain(&choice.fallbacks) {
            if let Some((provider, _)) = agents.expand_alias(r).split_once('/') {
                ids.push(provider.to_ascii_lowercase());
            }
        }
    }
    ids.sort();
    ids.dedup();
    let env_keys = ids
        .into_iter()
        .filter_map(|id| {
            let var = format!("{}_API_KEY", id.to_ascii_uppercase().replace(['-', '.'], "_"));
            (resolver.env)(&var).filter(|v| !v.trim().is_empty()).map(|v| (id, Secret::new(v.trim().to_string())))
        })
        .collect();
    Models { providers, env_keys }
}

fn model_defs(c: &mut Checker, p: &Section) -> Vec<ModelDef> {
    let path = p.child_path("models");
    let items = match p.get("models") {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            c.issue(&path, format!("expected a list of models, got {}", kind(other)));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, v) in items.iter().enumerate() {
        let mp = format!("{path}[{i}]");
        let m = c.partial_object_at(
            mp.clone(),
            Some(v),
            &["id", "name", "contextWindow", "maxTokens", "reasoning", "compat", "input", "cost", "contextTokens"],
        );
        let Some(id) = c.text(&m, "id") else {
            if m.map.is_some() {
                c.issue(&mp, "a model entry needs an \"id\"");
            }
            continue;
        };
        let compat = c.partial_section(&m, "compat", &["maxTokensField"]);
        out.push(ModelDef {
            id,
            name: c.text(&m, "name"),
            context_window: c.int(&m, "contextWindow", 1, u32::MAX as u64).map(|n| n as u32),
            max_tokens: c.int(&m, "maxTokens", 1, u32::MAX as u64).map(|n| n as u32),
            reasoning: c.bool(&m, "reasoning").unwrap_or(false),
            max_tokens_field: c.one_of(
                &compat,
                "maxTokensField",
                &[("max_tokens", MaxTokensField::MaxTokens), ("max_completion_tokens", MaxTokensField::MaxCompletionTokens)],
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> (Agents, Models, Tools, Hooks, Checker) {
        let env = |k: &str| match k {
            "OPENROUTER_API_KEY" => Some("or-key".to_string()),
            "MY_PROXY_API_KEY" => Some("proxy-key".to_string()),
            "HOOK_TOKEN" => Some("hooktok".to_string()),
            _ => None,
        };
        let resolver = Resolver { env: &env, home: std::path::Path::new("/home/pi") };
        let mut c = Checker::default();
        let root = Section::root(&v);
        let agents = agents(&mut c, &root, &resolver);
        let models = models(&mut c, &root, &resolver, &[], &agents);
        let tools = tools(&mut c, &root);
        let hooks = hooks(&mut c, &root, &resolver, &[]);
        (agents, models, tools, hooks, c)
    }

    #[test]
    fn reads_agents_models_and_env_keys() {
        let (agents, models, _, _, c) = parse(json!({
            "agents": {
                "defaults": {"model": {"primary": "my-proxy/llama", "fallbacks": ["openrouter/meta/llama-3"]},
                             "workspace": "~/ws", "maxConcurrent": 3, "timeoutSeconds": 0,
                             "models": {"anthropic/claude-sonnet-4-5": {"alias": "sonnet"}},
                             "heartbeat": {"every": "30m"}},
                "entries": {"main": {"name": "Main"}, "work": {"model": "sonnet", "default": true, "tools": {}}}
            },
            "models": {"mode": "merge", "providers": {"my-proxy": {"baseUrl": "http://127.0.0.1:4000/v1", "api": "openai-completions",
                "models": [{"id": "llama", "contextWindow": 8192, "compat": {"maxTokensField": "max_tokens"}}]}}}
        }));
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        assert_eq!(agents.default_id(), "work");
        assert_eq!(agents.ids(), vec!["work", "main"]);
        assert_eq!(agents.defaults.workspace, Some(PathBuf::from("/home/pi/ws")));
        assert_eq!(agents.defaults.max_concurrent, 3);
        assert_eq!(agents.defaults.timeout, None);
        assert_eq!(agents.expand_alias(agents.model_for("work").primary.as_deref().unwrap()), "anthropic/claude-sonnet-4-5");
        assert_eq!(agents.model_for("main").fallbacks, vec!["openrouter/meta/llama-3"]);
        let p = models.provider("my-proxy").unwrap();
        assert_eq!(p.api, Some(Ok(ApiKind::OpenAiCompletions)));
        assert_eq!(p.models[0].context_window, Some(8192));
        assert_eq!(p.models[0].max_tokens_field, Some(MaxTokensField::MaxTokens));
        assert_eq!(models.env_key("openrouter").map(Secret::expose), Some("or-key"));
        assert_eq!(models.env_key("my-proxy").map(Secret::expose), Some("proxy-key"));
        assert!(models.env_key("openai").is_none());
    }

    #[test]
    fn typos_and_bad_values_are_issues_with_paths() {
        let (_, _, _, _, c) = parse(json!({
            "agents": {"defaults": {"modle": "x/y", "maxConcurrent": 0}, "entries": {"Bad Id": {}}},
            "models": {"providers": {"p": {"baseUrl": "ftp://x", "api": "telepathy"}}},
            "hooks": {"enabled": true, "path": "/"}
        }));
        let text: Vec<String> = c.issues.iter().map(|i| i.to_string()).collect();
        for expected in [
            "agents.defaults.modle: unknown key (did you mean \"model\"?)",
            "agents.defaults.maxConcurrent: expected an integer from 1 to 256, got 0",
            "agents.entries.Bad Id: agent id \"Bad Id\" must be 1-64 characters of a-z, 0-9, '-' or '_'",
            "models.providers.p.baseUrl: \"ftp://x\" is not an http:// or https:// URL",
            "models.providers.p.api: expected one of openai-completions | anthropic-messages, got \"telepathy\"",
            "hooks.path: must start with '/' and must not be \"/\", got \"/\"",
            "hooks.token: hooks.enabled is true, so hooks.token is required",
        ] {
            assert!(text.iter().any(|t| t == expected), "missing {expected:?} in {text:#?}");
        }
    }

    #[test]
    fn unsupported_official_apis_warn_instead_of_refusing_the_config() {
        let (_, models, _, _, c) = parse(json!({"models": {"providers": {"g": {"api": "google-generative-ai"}}}}));
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        assert_eq!(models.provider("g").unwrap().api, Some(Err("google-generative-ai".into())));
        assert!(c.warnings[0].contains("not supported"), "{:?}", c.warnings);
    }

    #[test]
    fn tools_and_hooks() {
        let (_, _, tools, hooks, c) = parse(json!({
            "tools": {"exec": {"security": "allowlist", "safeBins": ["date", "uptime"], "timeoutSec": 5}, "deny": ["write"]},
            "hooks": {"enabled": true, "token": {"source": "env", "id": "HOOK_TOKEN"}, "allowedAgentIds": ["main"]}
        }));
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        assert_eq!(tools.exec_security, ExecSecurity::Allowlist);
        assert_eq!(tools.exec_safe_bins, vec!["date", "uptime"]);
        assert_eq!(tools.exec_timeout, Duration::from_secs(5));
        assert_eq!(tools.deny, vec!["write"]);
        assert!(hooks.enabled);
        assert_eq!(hooks.token.as_ref().map(Secret::expose), Some("hooktok"));
        assert_eq!(hooks.path, "/hooks");
        assert!(hooks.agent_allowed("main") && !hooks.agent_allowed("other"));
        assert_eq!(Tools::default().exec_security, ExecSecurity::Deny, "exec is off unless configured");
    }
}
