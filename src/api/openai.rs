//! The OpenAI-compatible chat API: `POST /v1/chat/completions` (JSON, or SSE ending in
//! `data: [DONE]`) and `GET /v1/models[/{id}]`. The `model` a caller names is an agent target
//! (`openclaw`, `openclaw/default`, `openclaw/<agentId>`), not a provider model: the agent
//! answers with its own model, tools and workspace.
//!
//! Sessions: without `user` (or `x-openclaw-session-key`) every request is stateless — the
//! conversation is the request's `messages` and gets a fresh session; with `user` the session
//! `agent:<id>:openai-user:<user>` keeps the conversation and only the newest turn is taken from
//! the request.
//!
//! Tools the caller sends are its own: when the model calls one, the run stops and the call is
//! returned (`finish_reason: "tool_calls"`); the caller sends the result back as a `tool` message.

use serde_json::{Map, Value, json};
use smol::channel::{Receiver, Sender};
use std::sync::Arc;

use super::{Surface, error_response, json_body, not_found, openai_error};
use crate::agent::message::{Message, StopReason, ToolCall};
use crate::agent::providers::{ErrorKind, ToolSpec};
use crate::agent::{Admission, EventKind, Origin, Outcome, RunEvent, RunRequest, RunStatus, SessionKey};
use crate::config::Config;
use crate::error::Error;
use crate::gateway::Gateway;
use crate::limits::{AGENT_FINAL_WAIT_MAX, HTTP_STREAM_QUEUE};
use crate::net::http::{Body, Request, Response};
use crate::net::sse;
use std::future::Future;

/// The agent ids a caller may name as `model`, with the names `/v1/models` lists.
fn model_ids(cfg: &Config) -> Vec<String> {
    let mut ids = vec!["openclaw".to_string(), "openclaw/default".to_string()];
    ids.extend(cfg.agents.ids().into_iter().map(|a| format!("openclaw/{a}")));
    ids
}

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "openclaw", "permission": []})
}

/// `GET /v1/models`.
pub fn models(_gw: &Arc<Gateway>, cfg: &Config) -> Response {
    let data: Vec<Value> = model_ids(cfg).iter().map(|id| model_object(id)).collect();
    Response::json(200, &json!({"object": "list", "data": data}))
}

/// `GET /v1/models/{id}` (the id URL-encoded, `openclaw%2Fdefault`).
pub fn model(_gw: &Arc<Gateway>, cfg: &Config, path: &str) -> Response {
    let raw = path.trim_start_matches("/v1/models/");
    let Some(id) = percent_decode(raw) else { return not_found() };
    if model_ids(cfg).contains(&id) {
        return Response::json(200, &model_object(&id));
    }
    Response::json(
        404,
        &json!({"error": {"message": format!("The model '{id}' does not exist"), "type": "invalid_request_error", "param": "model",
                           "code": "model_not_found"}}),
    )
}

pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The agent a `model` value names. `None` means the default agent.
pub fn agent_target(cfg: &Config, model: Option<&str>) -> Result<String, String> {
    let default = cfg.agents.default_id().to_string();
    let Some(model) = model.map(str::trim).filter(|m| !m.is_empty()) else { return Ok(default) };
    let id = match model {
        "openclaw" | "openclaw/default" => return Ok(default),
        m => m.strip_prefix("openclaw/").or(m.strip_prefix("openclaw:")).or(m.strip_prefix("agent:")),
    };
    match id {
        Some(id) if cfg.agents.exists(id) => Ok(id.to_string()),
        Some(id) => Err(format!("unknown agent {id:?} in model {model:?}; GET /v1/models lists the agents")),
        None => Err(format!(
            "model {model:?} is not an agent of this gateway; use \"openclaw\", \"openclaw/default\" or \"openclaw/<agentId>\" (GET /v1/models lists them)"
        )),
    }
}

/// Session keys a caller may not choose (they belong to the gateway's own runs).
const RESERVED_KEY_PREFIXES: &[&str] = &["subagent:", "cron:", "acp:"];

/// The session for a request: `x-openclaw-session-key`, else one derived from `user`, else a
/// fresh one. Returns the key and whether the session keeps the conversation.
pub fn request_session(
    cfg: &Config,
    agent_id: &str,
    header_key: Option<&str>,
    user: Option<&str>,
    stateless_prefix: &str,
    user_prefix: &str,
) -> Result<(SessionKey, bool), String> {
    if let Some(raw) = header_key.map(str::trim).filter(|k| !k.is_empty()) {
        let rest = raw.strip_prefix(&format!("agent:{agent_id}:")).unwrap_or(raw);
        if RESERVED_KEY_PREFIXES.iter().any(|p| rest.starts_with(p)) {
            return Err(format!("x-openclaw-session-key {raw:?} uses a reserved prefix (subagent:, cron:, acp:)"));
        }
        let key = SessionKey::parse(raw, agent_id, Some(agent_id))?;
        if !cfg.agents.exists(&key.agent_id) {
            return Err(format!("unknown agent {:?}", key.agent_id));
        }
        return Ok((key, true));
    }
    if let Some(u) = user.map(str::trim).filter(|u| !u.is_empty()) {
        if u.chars().count() > 256 || u.chars().any(char::is_control) {
            return Err("user must be at most 256 printable characters".into());
        }
        return Ok((SessionKey::new(agent_id, &format!("{user_prefix}:{u}")), true));
    }
    Ok((SessionKey::new(agent_id, &format!("{stateless_prefix}:{}", crate::ids::uuid())), false))
}

/// `messages` split into system text, the conversation before the newest turn, and the newest
/// turn (a user message, or the tool results answering the last assistant turn).
#[derive(Debug, Default, PartialEq)]
pub struct Conversation {
    pub system: Vec<String>,
    pub history: Vec<Message>,
    pub input: Vec<Message>,
}

/// Text of a `content` value: a string or a list of text parts. Images and other inputs are
/// refused with a clear message.
fn content_text(v: &Value, at: &str) -> Result<String, String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for (i, p) in parts.iter().enumerate() {
                match p["type"].as_str() {
                    Some("text" | "input_text" | "output_text") => out.push_str(p["text"].as_str().unwrap_or("")),
                    Some(other) => return Err(format!("{at}[{i}]: content of type {other:?} is not supported by this gateway; send text")),
                    None => return Err(format!("{at}[{i}]: a content part needs a \"type\"")),
                }
            }
            Ok(out)
        }
        _ => Err(format!("{at}: content must be a string or a list of parts")),
    }
}

/// Splits a conversation after its last assistant turn: the user message or tool results after
/// it are the new input.
pub fn split_turns(system: Vec<String>, turns: Vec<Message>) -> Result<Conversation, String> {
    if !turns.iter().any(|m| matches!(m, Message::User { .. })) {
        return Err("Missing user message in `messages`.".into());
    }
    let last_assistant = turns.iter().rposition(|m| matches!(m, Message::Assistant { .. }));
    let cut = match (last_assistant, turns.last()) {
        (_, Some(Message::Assistant { .. })) => return Err("the last message must come from the user or a tool, not the assistant".into()),
        (Some(a), Some(Message::ToolResult { .. })) => a + 1,
        (_, _) => turns.iter().rposition(|m| matches!(m, Message::User { .. })).unwrap_or(0),
    };
    let mut history = turns;
    let input = history.split_off(cut);
    Ok(Conversation { system, history, input })
}

/// Reads chat-completions `messages`.
pub fn parse_messages(v: Option<&Value>) -> Result<Conversation, String> {
    let Some(items) = v.and_then(Value::as_array).filter(|a| !a.is_empty()) else {
        return Err("Missing user message in `messages`.".into());
    };
    let mut system = Vec::new();
    let mut turns: Vec<Message> = Vec::new();
    for (i, m) in items.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m["role"].as_str().ok_or_else(|| format!("{at}.role is required"))?;
        let text = content_text(&m["content"], &format!("{at}.content"))?;
        match role {
            "system" | "developer" => system.push(text),
            "user" => turns.push(Message::User { text }),
            "assistant" => {
                let mut calls = Vec::new();
                for (j, c) in m["tool_calls"].as_array().map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
                    let id = c["id"].as_str().ok_or_else(|| format!("{at}.tool_calls[{j}].id is required"))?;
                    let name = c["function"]["name"].as_str().ok_or_else(|| format!("{at}.tool_calls[{j}].function.name is required"))?;
                    let args = c["function"]["arguments"].as_str().unwrap_or("{}");
                    let arguments = serde_json::from_str(args).unwrap_or_else(|_| json!({"__invalid_arguments": args}));
                    calls.push(ToolCall { id: id.to_string(), name: name.to_string(), arguments });
                }
                turns.push(Message::Assistant { text, tool_calls: calls });
            }
            "tool" => {
                let call_id = m["tool_call_id"].as_str().ok_or_else(|| format!("{at}.tool_call_id is required for a tool message"))?;
                let name = turns
                    .iter()
                    .rev()
                    .find_map(|t| match t {
                        Message::Assistant { tool_calls, .. } => tool_calls.iter().find(|c| c.id == call_id).map(|c| c.name.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                turns.push(Message::ToolResult { call_id: call_id.to_string(), name, text, is_error: false });
            }
            other => return Err(format!("{at}.role {other:?} is not supported (system, developer, user, assistant, tool)")),
        }
    }
    split_turns(system, turns)
}

/// Reads `tools` (functions only) and `tool_choice` (`auto` or `none`). Chat completions nest a
/// function's fields under `function`; the Responses API has them `flat` on the tool.
pub fn parse_tools(body: &Map<String, Value>, flat: bool) -> Result<Vec<ToolSpec>, String> {
    match body.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(c)) if c == "auto" => {}
        Some(Value::String(c)) if c == "none" => return Ok(Vec::new()),
        Some(other) => return Err(format!("tool_choice {other} is not supported by this gateway; use \"auto\" or \"none\"")),
    }
    let mut out = Vec::new();
    for (i, t) in body.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
        if t["type"] != "function" {
            return Err(format!("tools[{i}]: only tools of type \"function\" are supported"));
        }
        let (f, at) = if flat { (t, format!("tools[{i}]")) } else { (&t["function"], format!("tools[{i}].function")) };
        let name = f["name"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| format!("{at}.name is required"))?;
        out.push(ToolSpec {
            name: name.to_string(),
            description: f["description"].as_str().unwrap_or("").to_string(),
            parameters: f
                .get("parameters")
                .filter(|p| p.is_object())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
    }
    Ok(out)
}

/// A 400 with OpenAI's `invalid_request_error` type.
pub fn bad_request(message: &str) -> Response {
    error_response(&Error::invalid(message), Surface::OpenAi)
}

/// The agent a request addresses: `x-openclaw-agent-id`, else its `model`.
pub fn request_agent(req: &Request, cfg: &Config, model: &str) -> Result<String, Response> {
    let named = req.head.header("x-openclaw-agent-id").map(str::to_string).map(Ok).unwrap_or_else(|| agent_target(cfg, Some(model)));
    match named {
        Ok(a) if cfg.agents.exists(&a) => Ok(a),
        Ok(a) => Err(bad_request(&format!("unknown agent {a:?}"))),
        Err(e) => Err(bad_request(&e)),
    }
}

/// The run for a parsed request: a stateful session keeps the conversation itself, so only the
/// newest turn is taken from the request; a stateless one gets the request's history.
pub fn build_run(
    req: &Request,
    cfg: &Arc<Config>,
    origin: Origin,
    session: (SessionKey, bool),
    conversation: Conversation,
    client_tools: Vec<ToolSpec>,
) -> RunRequest {
    let (key, stateful) = session;
    let Conversation { system, history, input } = conversation;
    let mut run = RunRequest::new(crate::ids::uuid(), key, input, origin, cfg.clone());
    run.client_tools = client_tools;
    run.extra_system = (!system.is_empty()).then(|| system.join("\n\n"));
    run.model = req.head.header("x-openclaw-model").map(str::to_string).filter(|m| !m.trim().is_empty());
    if !stateful {
        run.history = Some(history);
    }
    run
}

/// How a run's result reaches the HTTP caller.
pub enum Delivery {
    /// Its events, to stream as they come.
    Stream(Receiver<Arc<RunEvent>>),
    /// Its outcome, once finished.
    Done(Arc<Outcome>),
}

/// A refused submission in OpenAI's error shape: a full session queue is a rate limit, a
/// gateway that is stopping is unavailable.
fn submit_error(e: &Error) -> Response {
    error_response(e, Surface::OpenAi)
}

/// Submits `run` and either hands back its event stream (the run is aborted if the stream's
/// reader goes away) or waits for its outcome.
pub async fn deliver(gw: &Arc<Gateway>, mut run: RunRequest, stream: bool) -> Result<Delivery, Response> {
    let run_id = run.run_id.clone();
    if stream {
        let (obs_tx, obs_rx) = smol::channel::bounded(HTTP_STREAM_QUEUE);
        run.observer = Some(obs_tx);
        run.abort_without_observer = true;
        gw.agent.submit(run).await.map_err(|e| submit_error(&e))?;
        return Ok(Delivery::Stream(obs_rx));
    }
    if let Admission::Done(o) = gw.agent.submit(run).await.map_err(|e| submit_error(&e))? {
        return Ok(Delivery::Done(o));
    }
    match gw.agent.wait(&run_id, AGENT_FINAL_WAIT_MAX).await {
        Some(o) => Ok(Delivery::Done(o)),
        None => Err(openai_error(504, "the run did not finish in time", "api_error")),
    }
}

/// A stream's bytes: events rendered by a task, handed to the HTTP writer.
pub fn stream_through<F>(render: impl FnOnce(Sender<Vec<u8>>) -> F) -> Response
where
    F: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = smol::channel::bounded(HTTP_STREAM_QUEUE);
    crate::rt::spawn(render(tx)).detach();
    sse_response(rx)
}

/// HTTP status and OpenAI error type for a failed run; `retry` says whether retrying can help
/// (sent as `x-should-retry`, which the official SDKs obey).
pub fn failure_status(o: &Outcome) -> (u16, &'static str, String, bool) {
    let Some(e) = &o.error else {
        return (500, "api_error", "the run was aborted".into(), false);
    };
    let (status, kind) = match e.kind {
        ErrorKind::Auth => (401, "authentication_error"),
        ErrorKind::RateLimit => (429, "rate_limit_error"),
        ErrorKind::ContextLength | ErrorKind::BadRequest | ErrorKind::Refusal => (400, "invalid_request_error"),
        ErrorKind::Timeout => (504, "api_error"),
        ErrorKind::Config => (500, "api_error"),
        ErrorKind::Overloaded | ErrorKind::Network | ErrorKind::Protocol => (502, "api_error"),
    };
    let retry = matches!(e.kind, ErrorKind::RateLimit | ErrorKind::Timeout | ErrorKind::Overloaded | ErrorKind::Network);
    (status, kind, e.message.clone(), retry)
}

fn finish_reason(o: &Outcome) -> &'static str {
    match o.stop_reason {
        _ if !o.client_tool_calls.is_empty() => "tool_calls",
        StopReason::Length => "length",
        StopReason::Refusal => "content_filter",
        _ => "stop",
    }
}

fn tool_calls_json(calls: &[ToolCall], with_index: bool) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut v = json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}});
            if with_index {
                v["index"] = json!(i);
            }
            v
        })
        .collect()
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(gw: &Arc<Gateway>, req: Request, cfg: Arc<Config>) -> Response {
    let body = match json_body(&req) {
        Ok(b) => b,
        Err(e) => return bad_request(&e),
    };
    let model_name = body.get("model").and_then(Value::as_str).unwrap_or("openclaw").to_string();
    let agent_id = match request_agent(&req, &cfg, &model_name) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let (conversation, client_tools) = match parse_messages(body.get("messages")).and_then(|c| Ok((c, parse_tools(&body, false)?))) {
        Ok(parsed) => parsed,
        Err(e) => return bad_request(&e),
    };
    let user = body.get("user").and_then(Value::as_str);
    let session = match request_session(&cfg, &agent_id, req.head.header("x-openclaw-session-key"), user, "openai", "openai-user") {
        Ok(s) => s,
        Err(e) => return bad_request(&e),
    };
    let run = build_run(&req, &cfg, Origin::OpenAi, session, conversation, client_tools);
    let meta = ChunkMeta {
        id: format!("chatcmpl_{}", run.run_id),
        created: crate::clock::now_ms() / 1000,
        model: model_name,
        include_usage: body.get("stream_options").and_then(|o| o.get("include_usage")).and_then(Value::as_bool).unwrap_or(false),
    };
    match deliver(gw, run, body.get("stream").and_then(Value::as_bool).unwrap_or(false)).await {
        Err(resp) => resp,
        Ok(Delivery::Stream(events)) => stream_through(|tx| stream_chat(events, tx, meta)),
        Ok(Delivery::Done(o)) => completion_response(&o, &meta.id, meta.created, &meta.model),
    }
}

/// A streaming response over `rx`.
pub fn sse_response(rx: Receiver<Vec<u8>>) -> Response {
    let mut resp = Response::new(200)
        .header("Content-Type", "text/event-stream; charset=utf-8")
        .header("Cache-Control", "no-cache")
        .header("X-Accel-Buffering", "no");
    resp.body = Body::Stream(rx);
    resp
}

/// A failed run as an error response (with `x-should-retry`).
pub fn failure_response(o: &Outcome) -> Response {
    let (status, kind, message, retry) = failure_status(o);
    openai_error(status, &message, kind).header("x-should-retry", if retry { "true" } else { "false" })
}

fn completion_response(o: &Arc<Outcome>, id: &str, created: u64, model: &str) -> Response {
    if o.status != RunStatus::Ok {
        return failure_response(o);
    }
    let mut message = json!({"role": "assistant", "content": if o.text.is_empty() && !o.client_tool_calls.is_empty() { Value::Null } else { json!(o.text) }});
    if !o.client_tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls_json(&o.client_tool_calls, false));
    }
    Response::json(
        200,
        &json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(o)}],
            "usage": usage_json(o),
        }),
    )
}

fn usage_json(o: &Outcome) -> Value {
    let prompt = o.usage.input + o.usage.cache_read + o.usage.cache_write;
    json!({"prompt_tokens": prompt, "completion_tokens": o.usage.output, "total_tokens": prompt + o.usage.output,
           "prompt_tokens_details": {"cached_tokens": o.usage.cache_read}})
}

struct ChunkMeta {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl ChunkMeta {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Vec<u8> {
        let c = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        sse::encode(None, &c.to_string())
    }
}

/// Turns the run's events into `chat.completion.chunk`s. When the client goes away the sends
/// fail, this task ends, and the run (which loses its observer) is aborted.
async fn stream_chat(events: Receiver<Arc<RunEvent>>, tx: Sender<Vec<u8>>, meta: ChunkMeta) {
    if tx.send(meta.chunk(json!({"role": "assistant"}), None)).await.is_err() {
        return;
    }
    while let Ok(ev) = events.recv().await {
        let frames = match &ev.kind {
            EventKind::Assistant { delta, .. } => vec![meta.chunk(json!({"content": delta}), None)],
            EventKind::End(o) => {
                let mut frames = Vec::new();
                if o.status == RunStatus::Ok {
                    if !o.client_tool_calls.is_empty() {
                        frames.push(meta.chunk(json!({"tool_calls": tool_calls_json(&o.client_tool_calls, true)}), None));
                    }
                    frames.push(meta.chunk(json!({}), Some(finish_reason(o))));
                    if meta.include_usage {
                        let c = json!({"id": meta.id, "object": "chat.completion.chunk", "created": meta.created, "model": meta.model,
                                       "choices": [], "usage": usage_json(o)});
                        frames.push(sse::encode(None, &c.to_string()));
                    }
                } else {
                    let (_, kind, message, _) = failure_status(o);
                    frames.push(sse::encode(None, &json!({"error": {"message": message, "type": kind}}).to_string()));
                }
                frames.push(sse::encode(None, "[DONE]"));
                for f in frames {
                    if tx.send(f).await.is_err() {
                        return;
                    }
                }
                return;
            }
            _ => continue,
        };
        for f in frames {
            if tx.send(f).await.is_err() {
                return;
            }
        }
    }
    // The run ended without reporting to us (aborted before it started).
    let _ = tx.send(sse::encode(None, &json!({"error": {"message": "the run was aborted", "type": "api_error"}}).to_string())).await;
    let _ = tx.send(sse::encode(None, "[DONE]")).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversations_split_at_the_newest_turn() {
        let c = parse_messages(Some(&json!([
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": [{"type": "text", "text": "what's "}, {"type": "text", "text": "up"}]},
        ])))
        .unwrap();
        assert_eq!(c.system, vec!["be brief"]);
        assert_eq!(c.history.len(), 2);
        assert_eq!(c.input, vec![Message::user("what's up")]);

        let c = parse_messages(Some(&json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get", "arguments": "{\"c\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ])))
        .unwrap();
        assert_eq!(c.history.len(), 2);
        assert_eq!(c.input, vec![Message::ToolResult { call_id: "c1".into(), name: "get".into(), text: "sunny".into(), is_error: false }]);
    }

    #[test]
    fn bad_conversations_get_the_official_or_a_clear_message() {
        assert_eq!(parse_messages(None).unwrap_err(), "Missing user message in `messages`.");
        assert_eq!(parse_messages(Some(&json!([{"role": "system", "content": "x"}]))).unwrap_err(), "Missing user message in `messages`.");
        assert!(parse_messages(Some(&json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]))).is_err());
        let e =
            parse_messages(Some(&json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]))).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn model_names_are_agent_targets() {
        let (cfg, _) = Config::from_value(
            &json!({"agents": {"entries": {"main": {}, "work": {}}}}),
            &crate::config::model::Resolver { env: &|_| None, home: std::path::Path::new("/") },
        );
        assert_eq!(agent_target(&cfg, None).unwrap(), "main");
        assert_eq!(agent_target(&cfg, Some("openclaw/default")).unwrap(), "main");
        assert_eq!(agent_target(&cfg, Some("openclaw/work")).unwrap(), "work");
        assert_eq!(agent_target(&cfg, Some("agent:work")).unwrap(), "work");
        assert!(agent_target(&cfg, Some("openclaw/nope")).is_err());
        assert!(agent_target(&cfg, Some("gpt-4o")).unwrap_err().contains("not an agent"));
        assert_eq!(percent_decode("openclaw%2Fdefault").as_deref(), Some("openclaw/default"));
    }

    #[test]
    fn session_choice_follows_user_and_header_and_refuses_reserved_keys() {
        let cfg = Config::empty();
        let (k, stateful) = request_session(&cfg, "main", None, Some("bob"), "openai", "openai-user").unwrap();
        assert_eq!((k.to_string().as_str(), stateful), ("agent:main:openai-user:bob", true));
        let (k, stateful) = request_session(&cfg, "main", None, None, "openai", "openai-user").unwrap();
        assert!(k.to_string().starts_with("agent:main:openai:") && !stateful);
        assert!(request_session(&cfg, "main", Some("cron:x"), None, "openai", "openai-user").is_err());
        let (k, _) = request_session(&cfg, "main", Some("project"), None, "openai", "openai-user").unwrap();
        assert_eq!(k.to_string(), "agent:main:project");
    }
}
