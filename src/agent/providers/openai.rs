//! OpenAI chat completions with streaming (`POST {baseUrl}/chat/completions`, `stream: true`),
//! the format OpenAI, OpenRouter, Ollama, llama.cpp, vLLM and LM Studio all serve.
//!
//! Each `data:` line is a `chat.completion.chunk`: text arrives in `delta.content`, tool calls in
//! `delta.tool_calls` fragments keyed by `index` (id and name once, arguments in pieces), the end
//! in `finish_reason`, and token counts in a last chunk with `usage` (asked for with
//! `stream_options.include_usage`). The stream ends with `data: [DONE]`.

use serde_json::{Value, json};
use std::collections::VecDeque;

use super::{ErrorKind, ModelRequest, ProviderError, ResolvedModel, SseBody, StreamEvent, parse_arguments, post, stream_error};
use crate::agent::message::{Message, StopReason, ToolCall, Usage};
use crate::config::agents::MaxTokensField;
use crate::net::sse::SseEvent;
use crate::wire::{self, WireError};

/// A tool call being assembled from fragments.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// One `chat.completion.chunk`, or the `{"error":…}` object some servers send instead
/// mid-stream. Only what the decoder reads; other fields are ignored.
#[derive(Debug)]
struct Chunk<'a> {
    error: Option<&'a Value>,
    /// Required in every chunk (empty in the usage-only last one); optional here only so that an
    /// error object without it reads as the error it is.
    choices: Option<&'a [Value]>,
    usage: Option<ChunkUsage>,
}

/// The first choice of a chunk (we ask for one).
#[derive(Debug, Default)]
struct Choice<'a> {
    content: Option<&'a str>,
    tool_calls: &'a [Value],
    finish_reason: Option<FinishReason>,
}

/// A piece of a tool call: id and name once, the arguments in pieces.
#[derive(Debug)]
struct CallFragment<'a> {
    index: Option<u64>,
    id: Option<&'a str>,
    name: Option<&'a str>,
    arguments: Option<&'a str>,
}

/// Why the model stopped; reasons this gateway does not know read as a normal stop.
#[derive(Debug, Clone, Copy)]
enum FinishReason {
    Length,
    ToolCalls,
    FunctionCall,
    ContentFilter,
    Stop,
}

#[derive(Debug)]
struct ChunkUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    cached_tokens: Option<u64>,
}

impl<'a> Chunk<'a> {
    fn read(data: &'a Value) -> Result<Chunk<'a>, WireError> {
        let o = wire::object(data)?;
        let choices = match o.get("choices") {
            Some(_) => Some(o.required_list("choices")?),
            None => None,
        };
        let usage = match o.opt_obj("usage")? {
            Some(u) => Some(ChunkUsage {
                prompt_tokens: u.opt_u64("prompt_tokens")?,
                completion_tokens: u.opt_u64("completion_tokens")?,
                cached_tokens: match u.opt_obj("prompt_tokens_details")? {
                    Some(details) => details.opt_u64("cached_tokens")?,
                    None => None,
                },
            }),
            None => None,
        };
        Ok(Chunk { error: o.get("error"), choices, usage })
    }
}

impl<'a> Choice<'a> {
    fn read(choice: &'a Value) -> Result<Choice<'a>, WireError> {
        let o = wire::object(choice)?;
        let finish_reason = o.opt_str("finish_reason")?.map(FinishReason::from_wire);
        let Some(delta) = o.opt_obj("delta")? else {
            return Ok(Choice { finish_reason, ..Choice::default() });
        };
        Ok(Choice { content: delta.opt_str("content")?, tool_calls: delta.list("tool_calls")?, finish_reason })
    }
}

impl<'a> CallFragment<'a> {
    fn read(fragment: &'a Value) -> Result<CallFragment<'a>, WireError> {
        let o = wire::object(fragment)?;
        let function = o.opt_obj("function")?;
        Ok(CallFragment {
            index: o.opt_u64("index")?,
            id: o.opt_str("id")?,
            name: function.map(|f| f.opt_str("name")).transpose()?.flatten(),
            arguments: function.map(|f| f.opt_str("arguments")).transpose()?.flatten(),
        })
    }
}

impl FinishReason {
    fn from_wire(reason: &str) -> FinishReason {
        match reason {
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "function_call" => FinishReason::FunctionCall,
            "content_filter" => FinishReason::ContentFilter,
            _ => FinishReason::Stop,
        }
    }
}

/// Why a chunk could not be used: it does not read as a chunk, or it reads as an error.
enum ChunkError {
    Unreadable(WireError),
    Provider(ProviderError),
}

impl From<WireError> for ChunkError {
    fn from(e: WireError) -> ChunkError {
        ChunkError::Unreadable(e)
    }
}

impl From<ProviderError> for ChunkError {
    fn from(e: ProviderError) -> ChunkError {
        ChunkError::Provider(e)
    }
}

pub struct Stream {
    body: SseBody,
    decoder: Decoder,
}

/// Turns the body's server-sent events into [`StreamEvent`]s. Kept apart from the socket so the
/// fuzz target can feed it events from memory.
pub(crate) struct Decoder {
    model: ResolvedModel,
    out: VecDeque<StreamEvent>,
    calls: Vec<(u64, PartialCall)>,
    finish: Option<StopReason>,
    done: bool,
}

/// The request body.
pub fn body(model: &ResolvedModel, req: &ModelRequest<'_>) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for m in req.messages {
        messages.push(match m {
            Message::User { text } => json!({"role": "user", "content": text}),
            Message::Assistant { text, tool_calls } if tool_calls.is_empty() => json!({"role": "assistant", "content": text}),
            Message::Assistant { text, tool_calls } => {
                let calls: Vec<Value> = tool_calls
                    .iter()
                    .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}}))
                    .collect();
                let content = if text.is_empty() { Value::Null } else { json!(text) };
                json!({"role": "assistant", "content": content, "tool_calls": calls})
            }
            Message::ToolResult { call_id, text, .. } => json!({"role": "tool", "tool_call_id": call_id, "content": text}),
        });
    }
    let mut body = json!({"model": model.model, "messages": messages, "stream": true, "stream_options": {"include_usage": true}});
    let field = match model.max_tokens_field {
        MaxTokensField::MaxTokens => "max_tokens",
        MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
    };
    body[field] = json!(model.max_tokens);
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect();
        body["tools"] = json!(tools);
        body["tool_choice"] = json!("auto");
    }
    body
}

pub async fn open(model: &ResolvedModel, req: &ModelRequest<'_>) -> Result<Stream, ProviderError> {
    let base = model.base_url.clone().ok_or_else(|| ProviderError::new(ErrorKind::Config, "no baseUrl"))?;
    let mut headers = Vec::new();
    if let Some(key) = &model.api_key {
        headers.push(("Authorization".to_string(), format!("Bearer {}", key.expose())));
    }
    let resp = post(model, base.join("chat/completions"), headers, &body(model, req)).await?;
    Ok(Stream { body: SseBody::new(resp), decoder: Decoder::new(model.clone()) })
}

impl Stream {
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, ProviderError> {
        loop {
            if let Some(e) = self.decoder.pop() {
                return Ok(Some(e));
            }
            if self.decoder.is_done() {
                self.body.release();
                return Ok(None);
            }
            let event = self.body.next(&self.decoder.model).await?;
            self.decoder.feed(event)?;
        }
    }
}

impl Decoder {
    pub(crate) fn new(model: ResolvedModel) -> Decoder {
        Decoder { model, out: VecDeque::new(), calls: Vec::new(), finish: None, done: false }
    }

    /// The next decoded event, once [`Decoder::feed`] produced one.
    pub(crate) fn pop(&mut self) -> Option<StreamEvent> {
        self.out.pop_front()
    }

    /// Whether the stream is over (nothing more to feed).
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Decodes the body's next event; `None` is the end of the body.
    pub(crate) fn feed(&mut self, event: Option<SseEvent>) -> Result<(), ProviderError> {
        let Some(event) = event else {
            // Some servers close the connection instead of sending [DONE]; that is only an
            // error when the model had not finished.
            if self.finish.is_none() {
                return Err(super::cut_off(&self.model));
            }
            self.end();
            return Ok(());
        };
        let data = event.data.trim();
        if data == "[DONE]" {
            // [DONE] without a finish_reason is a normal stop (tool calls turn it into ToolUse).
            self.finish.get_or_insert(StopReason::Stop);
            self.end();
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let data: Value = serde_json::from_str(data).map_err(|e| self.unreadable(&e))?;
        self.chunk(&data).map_err(|e| match e {
            ChunkError::Unreadable(e) => self.unreadable(&e),
            ChunkError::Provider(e) => e,
        })
    }

    fn unreadable(&self, why: &dyn std::fmt::Display) -> ProviderError {
        ProviderError::new(ErrorKind::Protocol, format!("{} sent an unreadable stream chunk: {why}", self.model.provider))
    }

    fn chunk(&mut self, data: &Value) -> Result<(), ChunkError> {
        let chunk = Chunk::read(data)?;
        if let Some(err) = chunk.error {
            return Err(stream_error(&self.model, err).into());
        }
        let Some(choices) = chunk.choices else {
            let e = ProviderError::new(ErrorKind::Protocol, format!("{} sent a stream chunk without `choices`", self.model.provider));
            return Err(e.into());
        };
        if let Some(u) = chunk.usage {
            let cached = u.cached_tokens.unwrap_or(0);
            self.out.push_back(StreamEvent::Usage(Usage {
                input: u.prompt_tokens.unwrap_or(0).saturating_sub(cached),
                output: u.completion_tokens.unwrap_or(0),
                cache_read: cached,
                cache_write: 0,
            }));
        }
        let Some(choice) = choices.first() else { return Ok(()) };
        let choice = Choice::read(choice)?;
        if let Some(text) = choice.content.filter(|t| !t.is_empty()) {
            self.out.push_back(StreamEvent::Text(text.to_string()));
        }
        for (pos, c) in choice.tool_calls.iter().enumerate() {
            let c = CallFragment::read(c)?;
            // `index` is required by the API, but some compatible servers leave it out and send
            // each call whole; their position in the list stands in for it.
            let index = c.index.unwrap_or(pos as u64);
            if !self.calls.iter().any(|(i, _)| *i == index) {
                super::check_call_count(&self.model, self.calls.len())?;
                self.calls.push((index, PartialCall::default()));
            }
            let Some((_, slot)) = self.calls.iter_mut().find(|(i, _)| *i == index) else { continue };
            if let Some(id) = c.id.filter(|s| !s.is_empty()) {
                slot.id = id.to_string();
            }
            if let Some(name) = c.name.filter(|s| !s.is_empty()) {
                slot.name = name.to_string();
            }
            if let Some(args) = c.arguments {
                super::append_args(&self.model, &mut slot.arguments, args)?;
            }
        }
        if let Some(reason) = choice.finish_reason {
            self.finish = Some(match reason {
                FinishReason::Length => StopReason::Length,
                FinishReason::ToolCalls | FinishReason::FunctionCall => StopReason::ToolUse,
                FinishReason::ContentFilter => StopReason::Refusal,
                FinishReason::Stop => StopReason::Stop,
            });
            self.flush_calls();
        }
        Ok(())
    }

    /// Emits the assembled tool calls, in index order.
    fn flush_calls(&mut self) {
        self.calls.sort_by_key(|(i, _)| *i);
        for (n, (_, c)) in self.calls.drain(..).enumerate() {
            if c.name.is_empty() {
                continue;
            }
            let id = if c.id.is_empty() { format!("call_{n}") } else { c.id };
            self.out.push_back(StreamEvent::ToolCall(ToolCall { id, name: c.name, arguments: parse_arguments(&c.arguments) }));
            // Some servers say "stop" even when they called tools.
            if self.finish == Some(StopReason::Stop) {
                self.finish = Some(StopReason::ToolUse);
            }
        }
    }

    fn end(&mut self) {
        self.flush_calls();
        self.out.push_back(StreamEvent::Stop(self.finish.unwrap_or(StopReason::Stop)));
        self.done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::providers::ToolSpec;

    #[test]
    fn request_body_carries_history_tools_and_the_token_limit() {
        let mut m = crate::agent::providers::ResolvedModel::offline();
        m.model = "gpt-x".into();
        m.max_tokens_field = MaxTokensField::MaxCompletionTokens;
        let msgs = vec![
            Message::user("hi"),
            Message::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall { id: "c1".into(), name: "ls".into(), arguments: json!({}) }],
            },
            Message::ToolResult { call_id: "c1".into(), name: "ls".into(), text: "a\nb".into(), is_error: false },
        ];
        let tools = [ToolSpec { name: "ls".into(), description: "list".into(), parameters: json!({"type": "object"}) }];
        let b = body(&m, &ModelRequest { system: "sys", messages: &msgs, tools: &tools });
        assert_eq!(b["messages"][0], json!({"role": "system", "content": "sys"}));
        assert_eq!(b["messages"][2]["tool_calls"][0]["function"]["arguments"], "{}");
        assert_eq!(b["messages"][2]["content"], Value::Null);
        assert_eq!(b["messages"][3], json!({"role": "tool", "tool_call_id": "c1", "content": "a\nb"}));
        assert_eq!(b["max_completion_tokens"], m.max_tokens);
        assert_eq!(b["tools"][0]["function"]["name"], "ls");
        assert_eq!(b["stream_options"]["include_usage"], true);
    }

    fn feed(d: &mut Decoder, data: &str) -> Result<(), ProviderError> {
        d.feed(Some(SseEvent { event: None, data: data.to_string() }))
    }

    fn drain(d: &mut Decoder) -> Vec<StreamEvent> {
        std::iter::from_fn(|| d.pop()).collect()
    }

    #[test]
    fn chunks_decode_into_text_tool_calls_usage_and_stop() {
        let mut d = Decoder::new(ResolvedModel::offline());
        feed(&mut d, r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"usage":null}"#).unwrap();
        feed(&mut d, r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"ls","arguments":"{\"a\""}}]}}]}"#)
            .unwrap();
        feed(&mut d, r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"stop"}]}"#)
            .unwrap();
        feed(&mut d, r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}}"#)
            .unwrap();
        feed(&mut d, "[DONE]").unwrap();
        let events = format!("{:?}", drain(&mut d));
        assert!(events.contains("Text(\"Hi\")"), "{events}");
        assert!(events.contains("name: \"ls\"") && events.contains("ToolUse"), "stop with tool calls is tool use: {events}");
        assert!(events.contains("input: 6") && events.contains("cache_read: 4"), "{events}");
        assert!(d.is_done());
    }

    #[test]
    fn a_chunk_without_choices_is_a_clear_protocol_error() {
        let mut d = Decoder::new(ResolvedModel::offline());
        let e = feed(&mut d, r#"{"id":"x","object":"chat.completion.chunk"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(e.message.contains("without `choices`"), "{}", e.message);
        let e = feed(&mut d, r#"{"choices":[{"delta":{"content":7}}]}"#).unwrap_err();
        assert!(e.message.contains("unreadable stream chunk") && e.message.contains("invalid type"), "{}", e.message);
        let e = feed(&mut d, r#"{"error":{"message":"overloaded","type":"server_error"}}"#).unwrap_err();
        assert!(e.message.contains("overloaded"), "an error object is the provider's error: {}", e.message);
    }
}
