//! Model providers: which model a reference names ([`resolve`]), and one streaming call to it
//! ([`ModelStream`]). The wire formats are a closed set — OpenAI chat completions, Anthropic
//! messages, and the built-in offline responder — so they are an enum, not trait objects.
//!
//! A stream yields text deltas, finished tool calls, usage and the stop reason. Errors carry the
//! provider's own message and whether a retry can help; the run decides about retries and
//! fallbacks.

pub mod anthropic;
pub mod offline;
pub mod openai;

use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;

use super::message::{Message, StopReason, ToolCall, Usage};
use crate::config::Config;
use crate::config::agents::{ApiKind, BUILTIN_PROVIDERS, MaxTokensField};
use crate::config::secret::Secret;
use crate::limits::{
    CLIENT_MAX_ERROR_BODY, MODEL_CONNECT_TIMEOUT, MODEL_DEFAULT_CONTEXT_WINDOW, MODEL_DEFAULT_MAX_TOKENS, MODEL_IDLE_TIMEOUT_CLOUD,
    MODEL_IDLE_TIMEOUT_LOCAL, SSE_MAX_LINE, TOOL_CALL_ARGS_MAX_BYTES, TOOL_CALLS_PER_TURN_MAX,
};
use crate::net::client::{self, Response, Url};
use crate::net::sse::{SseEvent, SseParser};

/// Provider id of the built-in offline responder.
pub const OFFLINE_PROVIDER: &str = "offline";
/// Its one model.
pub const OFFLINE_MODEL: &str = "echo";

/// How a provider is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    OpenAi,
    Anthropic,
    Offline,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::OpenAi => ApiKind::OpenAiCompletions.name(),
            Api::Anthropic => ApiKind::AnthropicMessages.name(),
            Api::Offline => "offline",
        }
    }
}

/// Everything needed to call one model.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub provider: String,
    pub model: String,
    pub api: Api,
    pub base_url: Option<Url>,
    pub api_key: Option<Secret>,
    pub headers: Vec<(String, Secret)>,
    pub max_tokens: u32,
    pub max_tokens_field: MaxTokensField,
    pub context_window: u32,
    /// Longest silence from the provider before the call counts as stalled.
    pub idle_timeout: Duration,
}

impl ResolvedModel {
    pub fn reference(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }

    pub fn offline() -> ResolvedModel {
        ResolvedModel {
            provider: OFFLINE_PROVIDER.into(),
            model: OFFLINE_MODEL.into(),
            api: Api::Offline,
            base_url: None,
            api_key: None,
            headers: Vec::new(),
            max_tokens: MODEL_DEFAULT_MAX_TOKENS,
            max_tokens_field: MaxTokensField::MaxTokens,
            context_window: MODEL_DEFAULT_CONTEXT_WINDOW,
            idle_timeout: MODEL_IDLE_TIMEOUT_LOCAL,
        }
    }
}

/// What kind of failure a provider call ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No usable credentials, or the provider refused them.
    Auth,
    RateLimit,
    /// 5xx and "overloaded": the provider's trouble, worth a retry.
    Overloaded,
    Timeout,
    /// Could not reach the provider, or the connection broke.
    Network,
    ContextLength,
    Refusal,
    /// The provider rejected the request (4xx other than the above).
    BadRequest,
    /// The provider's answer did not follow its own format.
    Protocol,
    /// The model reference or provider config cannot work.
    Config,
}

impl ErrorKind {
    /// The `chat` event's `errorKind`.
    pub fn chat_kind(self) -> &'static str {
        match self {
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Timeout => "timeout",
            ErrorKind::ContextLength => "context_length",
            ErrorKind::Refusal => "refusal",
            _ => "unknown",
        }
    }

    /// The official `fallbackStepFromFailureReason`.
    pub fn failover_reason(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::ContextLength => "context_length",
            ErrorKind::Refusal => "refusal",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Protocol => "format",
            ErrorKind::Config => "config",
        }
    }
}

/// A failed provider call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    pub status: Option<u16>,
    /// What the provider asked us to wait before retrying.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError { kind, message: message.into(), status: None, retry_after: None }
    }

    /// Whether trying the same call again may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::RateLimit | ErrorKind::Overloaded | ErrorKind::Timeout | ErrorKind::Network)
    }

    fn io(e: std::io::Error, model: &ResolvedModel) -> ProviderError {
        let at = model.base_url.as_ref().map(|u| u.to_string()).unwrap_or_default();
        match e.kind() {
            std::io::ErrorKind::TimedOut => ProviderError::new(ErrorKind::Timeout, format!("{} ({at}): {e}", model.provider)),
            std::io::ErrorKind::UnexpectedEof => ProviderError::new(
                ErrorKind::Network,
                format!("{} ({at}): the connection closed before the model finished ({e})", model.provider),
            ),
            _ => ProviderError::new(ErrorKind::Network, format!("{} ({at}): {e}", model.provider)),
        }
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The official wording when no credentials are found, plus how to provide them.
pub fn missing_auth_message(provider: &str) -> String {
    let var = format!("{}_API_KEY", provider.to_ascii_uppercase().replace(['-', '.'], "_"));
    format!("No route-compatible authentication source is configured for {provider}. Set {var} or models.providers.{provider}.apiKey.")
}

/// Resolves `reference` (`provider/model` or an alias) against the config.
pub fn resolve(cfg: &Config, reference: &str) -> Result<ResolvedModel, ProviderError> {
    let reference = cfg.agents.expand_alias(reference.trim());
    let Some((provider, model)) = reference.split_once('/') else {
        return Err(ProviderError::new(
            ErrorKind::Config,
            format!("model {reference:?} is not a \"provider/model\" reference (for example \"anthropic/claude-sonnet-4-5\")"),
        ));
    };
    let provider = provider.to_ascii_lowercase();
    if provider == OFFLINE_PROVIDER {
        return Ok(ResolvedModel::offline());
    }
    let configured = cfg.models.provider(&provider);
    let builtin = BUILTIN_PROVIDERS.iter().find(|(id, ..)| *id == provider);
    if configured.is_none() && builtin.is_none() {
        let known: Vec<&str> = BUILTIN_PROVIDERS.iter().map(|(id, ..)| *id).collect();
        return Err(ProviderError::new(
            ErrorKind::Config,
            format!(
                "unknown model provider {provider:?} in {reference:?}: add models.providers.{provider} (baseUrl, api, apiKey) or use one of {}",
                known.join(", ")
            ),
        ));
    }
    let api = match configured.and_then(|p| p.api.clone()) {
        Some(Ok(kind)) => kind,
        Some(Err(name)) => {
            return Err(ProviderError::new(
                ErrorKind::Config,
                format!(
                    "provider {provider:?} uses api {name:?}, which this gateway does not speak; use openai-completions or anthropic-messages"
                ),
            ));
        }
        None => builtin.map(|b| b.2).unwrap_or(ApiKind::OpenAiCompletions),
    };
    let base_text = configured
        .and_then(|p| p.base_url.clone())
        .or(builtin.map(|b| b.1.to_string()))
        .ok_or_else(|| ProviderError::new(ErrorKind::Config, format!("models.providers.{provider} needs a baseUrl")))?;
    let base_url =
        Url::parse(&base_text).map_err(|e| ProviderError::new(ErrorKind::Config, format!("models.providers.{provider}.baseUrl: {e}")))?;
    let api_key = configured.and_then(|p| p.api_key.clone()).or_else(|| cfg.models.env_key(&provider).cloned());
    // Cloud providers need a key; local servers (Ollama, LM Studio, a configured baseUrl) may not.
    let needs_key = configured.is_none() && builtin.is_some_and(|b| b.3);
    if needs_key && api_key.is_none() {
        return Err(ProviderError::new(ErrorKind::Auth, missing_auth_message(&provider)));
    }
    let def = configured.and_then(|p| p.models.iter().find(|m| m.id == model));
    let local = base_url.is_loopback() || !base_url.https;
    let idle_timeout =
        configured.and_then(|p| p.timeout).unwrap_or(if local { MODEL_IDLE_TIMEOUT_LOCAL } else { MODEL_IDLE_TIMEOUT_CLOUD });
    let max_tokens_field = def.and_then(|d| d.max_tokens_field).unwrap_or(
        // OpenAI's newer models refuse `max_tokens`; most other servers only know `max_tokens`.
        if base_url.host == "api.openai.com" { MaxTokensField::MaxCompletionTokens } else { MaxTokensField::MaxTokens },
    );
    Ok(ResolvedModel {
        provider: provider.clone(),
        model: model.to_string(),
        api: match api {
            ApiKind::OpenAiCompletions => Api::OpenAi,
            ApiKind::AnthropicMessages => Api::Anthropic,
        },
        base_url: Some(base_url),
        api_key,
        headers: configured.map(|p| p.headers.clone()).unwrap_or_default(),
        max_tokens: def.and_then(|d| d.max_tokens).or(configured.and_then(|p| p.max_tokens)).unwrap_or(MODEL_DEFAULT_MAX_TOKENS),
        max_tokens_field,
        context_window: def.and_then(|d| d.context_window).unwrap_or(MODEL_DEFAULT_CONTEXT_WINDOW),
        idle_timeout: idle_timeout.min(overrides::idle_timeout_cap()),
    })
}

/// Test hooks read once from the environment.
pub mod overrides {
    use std::time::Duration;

    /// `OPENCLAW_MODEL_IDLE_TIMEOUT_MS` caps every provider's idle timeout (tests use it to see a
    /// stalled stream fail in seconds instead of minutes).
    pub fn idle_timeout_cap() -> Duration {
        static CAP: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
        *CAP.get_or_init(|| {
            std::env::var("OPENCLAW_MODEL_IDLE_TIMEOUT_MS")
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0)
                .map(Duration::from_millis)
                .unwrap_or(Duration::MAX)
        })
    }
}

/// A tool as offered to a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// One model call's input.
pub struct ModelRequest<'a> {
    pub system: &'a str,
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
}

/// What a stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Text(String),
    ToolCall(ToolCall),
    Usage(Usage),
    /// The turn is over.
    Stop(StopReason),
}

/// A model call in progress.
pub enum ModelStream {
    OpenAi(openai::Stream),
    Anthropic(anthropic::Stream),
    Offline(offline::Stream),
}

impl ModelStream {
    /// Sends the request; fails with the provider's error if it does not answer 2xx.
    pub async fn open(model: &ResolvedModel, req: &ModelRequest<'_>) -> Result<ModelStream, ProviderError> {
        match model.api {
            Api::OpenAi => openai::open(model, req).await.map(ModelStream::OpenAi),
            Api::Anthropic => anthropic::open(model, req).await.map(ModelStream::Anthropic),
            Api::Offline => Ok(ModelStream::Offline(offline::open(req))),
        }
    }

    /// The next event; `None` after [`StreamEvent::Stop`]. Cancel-safe: dropping the future
    /// between polls loses nothing, so callers can race it against a timer.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, ProviderError> {
        match self {
            ModelStream::OpenAi(s) => s.next().await,
            ModelStream::Anthropic(s) => s.next().await,
            ModelStream::Offline(s) => Ok(s.next_event()),
        }
    }
}

/// Sends a JSON POST and returns the response if it is 2xx, else the provider's error.
async fn post(model: &ResolvedModel, url: Url, headers: Vec<(String, String)>, body: &Value) -> Result<Response, ProviderError> {
    // Keep-alive: the next turn or tool round reuses the connection (and its TLS session).
    let mut req = client::Request::new("POST", url).json(body).header("Accept", "text/event-stream").keep_alive();
    for (name, value) in headers {
        req = req.header(&name, value);
    }
    for (name, value) in &model.headers {
        req = req.header(name, value.expose());
    }
    let timeouts = client::Timeouts { connect: MODEL_CONNECT_TIMEOUT, head: model.idle_timeout, idle: model.idle_timeout };
    let mut resp = client::send(&req, &timeouts).await.map_err(|e| ProviderError::io(e, model))?;
    if (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    let retry_after = resp.retry_after();
    let status = resp.status;
    let body = resp.text(CLIENT_MAX_ERROR_BODY, model.idle_timeout).await.unwrap_or_default();
    // A 429 or 5xx is usually retried: on the same connection when it was read to its end.
    resp.finish();
    Err(http_error(model, status, &body, retry_after))
}

/// A non-2xx answer as an error with the provider's message.
pub(crate) fn http_error(model: &ResolvedModel, status: u16, body: &str, retry_after: Option<Duration>) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    // OpenAI: {"error": {"message", "type", "code"}}; Anthropic: {"type": "error", "error": {"type", "message"}}.
    let err = parsed.as_ref().map(|v| v.get("error").unwrap_or(v));
    let message = err.and_then(|e| e.get("message").and_then(Value::as_str).or(e.as_str())).map(str::to_string).unwrap_or_else(|| {
        let t = body.trim();
        if t.is_empty() { crate::net::http::reason(status).to_string() } else { t.chars().take(300).collect() }
    });
    let code = err.and_then(|e| e.get("code").or(e.get("type"))).and_then(Value::as_str).unwrap_or("");
    let lower = format!("{code} {message}").to_ascii_lowercase();
    let kind = match status {
        401 | 403 => ErrorKind::Auth,
        // Out of credit or over a spending limit: waiting will not help.
        402 => ErrorKind::BadRequest,
        429 if lower.contains("insufficient_quota") || lower.contains("spend_limit") => ErrorKind::BadRequest,
        429 => ErrorKind::RateLimit,
        408 => ErrorKind::Timeout,
        _ if lower.contains("context_length") || lower.contains("context length") || lower.contains("too many tokens") => {
            ErrorKind::ContextLength
        }
        500..=599 => ErrorKind::Overloaded,
        _ => ErrorKind::BadRequest,
    };
    ProviderError { kind, message: format!("{} returned HTTP {status}: {message}", model.provider), status: Some(status), retry_after }
}

/// Server-sent events from a response body, one at a time.
struct SseBody {
    /// `None` once [`SseBody::release`]d.
    resp: Option<Response>,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    ended: bool,
}

impl SseBody {
    fn new(resp: Response) -> SseBody {
        SseBody { resp: Some(resp), parser: SseParser::new(SSE_MAX_LINE), pending: VecDeque::new(), ended: false }
    }

    /// The model said it is done: the connection goes back to the pool once the body's end is in
    /// (events after the end are not read). Dropping the body without this closes the connection,
    /// which is how an aborted run stops the model.
    fn release(&mut self) {
        if let Some(resp) = self.resp.take() {
            resp.finish();
        }
        self.ended = true;
    }

    /// The next event, `None` at the end of the body.
    async fn next(&mut self, model: &ResolvedModel) -> Result<Option<SseEvent>, ProviderError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            let Some(resp) = self.resp.as_mut().filter(|_| !self.ended) else {
                return Ok(None);
            };
            match resp.chunk().await.map_err(|e| ProviderError::io(e, model))? {
                Some(bytes) => {
                    let mut out = Vec::new();
                    self.parser
                        .feed(&bytes, &mut out)
                        .map_err(|e| ProviderError::new(ErrorKind::Protocol, format!("{}: {e}", model.provider)))?;
                    self.pending.extend(out);
                }
                None => {
                    self.ended = true;
                    self.pending.extend(self.parser.finish());
                }
            }
        }
    }
}

/// A stream that ended cleanly but before the model said it was done.
/// Appends a streamed piece of a tool call's arguments within [`TOOL_CALL_ARGS_MAX_BYTES`].
fn append_args(model: &ResolvedModel, buf: &mut String, piece: &str) -> Result<(), ProviderError> {
    if buf.len() + piece.len() > TOOL_CALL_ARGS_MAX_BYTES {
        return Err(ProviderError::new(
            ErrorKind::Protocol,
            format!("{}: a tool call's arguments passed {TOOL_CALL_ARGS_MAX_BYTES} bytes", model.provider),
        ));
    }
    buf.push_str(piece);
    Ok(())
}

/// Refuses a turn with more than [`TOOL_CALLS_PER_TURN_MAX`] tool calls (checked by the run for
/// every provider, and by a provider that keeps partial calls before it hands them over).
pub fn check_call_count(model: &ResolvedModel, count: usize) -> Result<(), ProviderError> {
    if count >= TOOL_CALLS_PER_TURN_MAX {
        return Err(ProviderError::new(
            ErrorKind::Protocol,
            format!("{}: more than {TOOL_CALLS_PER_TURN_MAX} tool calls in one turn", model.provider),
        ));
    }
    Ok(())
}

fn cut_off(model: &ResolvedModel) -> ProviderError {
    ProviderError::new(ErrorKind::Network, format!("{}: the stream ended before the model finished", model.provider))
}

/// An error reported inside a stream (`data: {"error": …}` or an Anthropic `error` event).
fn stream_error(model: &ResolvedModel, err: &Value) -> ProviderError {
    let message = err.get("message").and_then(Value::as_str).or(err.as_str()).unwrap_or("unknown error").to_string();
    let kind_text = err.get("type").or(err.get("code")).and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    let kind = if kind_text.contains("overloaded") || kind_text.contains("server") || kind_text.contains("api_error") {
        ErrorKind::Overloaded
    } else if kind_text.contains("rate") {
        ErrorKind::RateLimit
    } else if kind_text.contains("auth") || kind_text.contains("permission") {
        ErrorKind::Auth
    } else {
        ErrorKind::BadRequest
    };
    ProviderError::new(kind, format!("{} stream error: {message}", model.provider))
}

/// Parses a tool call's argument text; models occasionally send invalid JSON, which becomes an
/// object the tool then rejects with a clear message instead of failing the whole turn.
fn parse_arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Default::default());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => serde_json::json!({"__invalid_arguments": text}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value, env: &[(&str, &str)]) -> Config {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (cfg, c) = Config::from_value(&v, &crate::config::model::Resolver { env: &lookup, home: std::path::Path::new("/h") });
        assert!(c.issues.is_empty(), "{:?}", c.issues);
        cfg
    }

    #[test]
    fn builtin_cloud_providers_need_a_key_and_say_how_to_set_it() {
        let cfg = config(json!({}), &[]);
        let e = resolve(&cfg, "openai/gpt-4o").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert_eq!(
            e.message,
            "No route-compatible authentication source is configured for openai. Set OPENAI_API_KEY or models.providers.openai.apiKey."
        );
        let cfg = config(json!({"agents": {"defaults": {"model": "anthropic/claude-sonnet-4-5"}}}), &[("ANTHROPIC_API_KEY", "k")]);
        let m = resolve(&cfg, "anthropic/claude-sonnet-4-5").unwrap();
        assert_eq!((m.api, m.api_key.unwrap().expose()), (Api::Anthropic, "k"));
        assert_eq!(m.idle_timeout.min(MODEL_IDLE_TIMEOUT_CLOUD), MODEL_IDLE_TIMEOUT_CLOUD.min(overrides::idle_timeout_cap()));
        let m = resolve(&cfg, "ollama/llama3.2").unwrap();
        assert!(m.api_key.is_none(), "local servers need no key");
        assert_eq!(m.max_tokens_field, MaxTokensField::MaxTokens);
    }

    #[test]
    fn configured_providers_aliases_and_errors() {
        let cfg = config(
            json!({"models": {"providers": {"mock": {"baseUrl": "http://127.0.0.1:9/v1", "apiKey": "mk", "models": [{"id": "echo", "contextWindow": 4096, "maxTokens": 77}]},
                                           "g": {"api": "google-generative-ai", "baseUrl": "https://x"}}},
                   "agents": {"defaults": {"models": {"mock/echo": {"alias": "fast"}}}}}),
            &[],
        );
        let m = resolve(&cfg, "fast").unwrap();
        assert_eq!(m.reference(), "mock/echo");
        assert_eq!((m.context_window, m.max_tokens), (4096, 77));
        assert_eq!(resolve(&cfg, "nope/x").unwrap_err().kind, ErrorKind::Config);
        assert!(resolve(&cfg, "g/gemini").unwrap_err().message.contains("does not speak"));
        assert!(resolve(&cfg, "justaword").unwrap_err().message.contains("provider/model"));
        assert_eq!(resolve(&cfg, "offline/echo").unwrap().api, Api::Offline);
    }

    #[test]
    fn http_errors_keep_the_provider_message_and_classify() {
        let m = ResolvedModel::offline();
        let e = http_error(&m, 429, r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#, Some(Duration::from_secs(2)));
        assert_eq!((e.kind, e.retry_after), (ErrorKind::RateLimit, Some(Duration::from_secs(2))));
        assert_eq!(e.message, "offline returned HTTP 429: Rate limit reached");
        let e = http_error(&m, 529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, None);
        assert!(e.retryable());
        let e = http_error(
            &m,
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#,
            None,
        );
        assert_eq!(e.kind, ErrorKind::ContextLength);
        let e = http_error(&m, 429, r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#, None);
        assert!(!e.retryable(), "an empty account is not a rate limit");
        let e = http_error(&m, 401, "", None);
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Auth, "offline returned HTTP 401: Unauthorized"));
        assert!(!e.retryable());
    }

    #[test]
    fn tool_arguments_that_are_not_an_object_are_kept_for_the_tool_to_reject() {
        assert_eq!(parse_arguments(""), json!({}));
        assert_eq!(parse_arguments("{\"a\":1}"), json!({"a": 1}));
        assert_eq!(parse_arguments("{\"a\":"), json!({"__invalid_arguments": "{\"a\":"}));
    }
}
