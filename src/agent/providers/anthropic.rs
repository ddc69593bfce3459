//! Anthropic messages with streaming (`POST {baseUrl}/v1/messages`, `stream: true`).
//!
//! The stream is a sequence of named events: `message_start` (input usage), then per content
//! block `content_block_start` / `content_block_delta` (`text_delta`, `input_json_delta`) /
//! `content_block_stop`, then `message_delta` (stop reason, output usage) and `message_stop`.
//! `ping` keeps the connection alive; `error` reports a failure mid-stream.

use serde_json::{Value, json};
use std::collections::VecDeque;

use super::{ErrorKind, ModelRequest, ProviderError, ResolvedModel, SseBody, StreamEvent, parse_arguments, post, stream_error};
use crate::agent::message::{Message, StopReason, ToolCall, Usage};
use crate::net::sse::SseEvent;

/// `anthropic-version` header value (the stable API version).
const API_VERSION: &str = "2023-06-01";

/// A content block being streamed.
#[derive(Debug)]
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
    },
    /// Thinking and other block types we do not surface.
    Other,
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
    blocks: Vec<(u64, Block)>,
    usage: Usage,
    stop: Option<StopReason>,
    done: bool,
}

/// The request body. Consecutive messages of one role are merged (the API wants turns to
/// alternate), tool results travel as `tool_result` blocks of a user turn.
pub fn body(model: &ResolvedModel, req: &ModelRequest<'_>) -> Value {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in req.messages {
        let (role, blocks) = match m {
            Message::User { text } => ("user", vec![json!({"type": "text", "text": text})]),
            Message::Assistant { text, tool_calls } => {
                let mut b = Vec::new();
                if !text.is_empty() {
                    b.push(json!({"type": "text", "text": text}));
                }
                for c in tool_calls {
                    b.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}));
                }
                ("assistant", b)
            }
            Message::ToolResult { call_id, text, is_error, .. } => {
                ("user", vec![json!({"type": "tool_result", "tool_use_id": call_id, "content": text, "is_error": is_error})])
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = turns.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect();
    let mut body = json!({"model": model.model, "max_tokens": model.max_tokens, "messages": messages, "stream": true});
    if !req.system.is_empty() {
        body["system"] = json!(req.system);
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> =
            req.tools.iter().map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters})).collect();
        body["tools"] = json!(tools);
    }
    body
}

pub async fn open(model: &ResolvedModel, req: &ModelRequest<'_>) -> Result<Stream, ProviderError> {
    let base = model.base_url.clone().ok_or_else(|| ProviderError::new(ErrorKind::Config, "no baseUrl"))?;
    // `https://api.anthropic.com` and `https://host/anthropic` get `/v1/messages`; a base that
    // already ends in `/v1` gets `/messages`.
    let url = if base.path.trim_end_matches('/').ends_with("/v1") { base.join("messages") } else { base.join("v1/messages") };
    let mut headers = vec![("anthropic-version".to_string(), API_VERSION.to_string())];
    if let Some(key) = &model.api_key {
        headers.push(("x-api-key".to_string(), key.expose().to_string()));
    }
    let resp = post(model, url, headers, &body(model, req)).await?;
    Ok(Stream { body: SseBody::new(resp), decoder: Decoder::new(model.clone()) })
}

impl Stream {
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, ProviderError> {
        loop {
            if let Some(e) = self.decoder.pop() {
                return Ok(Some(e));
            }
            if self.decoder.is_done() {
                return Ok(None);
            }
            let event = self.body.next(&self.decoder.model).await?;
            self.decoder.feed(event)?;
        }
    }
}

impl Decoder {
    pub(crate) fn new(model: ResolvedModel) -> Decoder {
        Decoder { model, out: VecDeque::new(), blocks: Vec::new(), usage: Usage::default(), stop: None, done: false }
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
            if self.stop.is_none() {
                return Err(super::cut_off(&self.model));
            }
            self.end();
            return Ok(());
        };
        if event.data.trim().is_empty() {
            return Ok(());
        }
        let data: Value = serde_json::from_str(&event.data).map_err(|e| {
            ProviderError::new(ErrorKind::Protocol, format!("{} sent an unreadable stream event: {e}", self.model.provider))
        })?;
        let kind = event.event.as_deref().or(data["type"].as_str()).unwrap_or("").to_string();
        self.event(&kind, &data)
    }

    fn event(&mut self, kind: &str, data: &Value) -> Result<(), ProviderError> {
        match kind {
            "message_start" => {
                let u = &data["message"]["usage"];
                self.usage.input = u["input_tokens"].as_u64().unwrap_or(0);
                self.usage.cache_read = u["cache_read_input_tokens"].as_u64().unwrap_or(0);
                self.usage.cache_write = u["cache_creation_input_tokens"].as_u64().unwrap_or(0);
                self.usage.output = u["output_tokens"].as_u64().unwrap_or(0);
            }
            "content_block_start" => {
                let index = data["index"].as_u64().unwrap_or(self.blocks.len() as u64);
                let b = &data["content_block"];
                let block = match b["type"].as_str() {
                    Some("text") => {
                        if let Some(t) = b["text"].as_str().filter(|t| !t.is_empty()) {
                            self.out.push_back(StreamEvent::Text(t.to_string()));
                        }
                        Block::Text
                    }
                    Some("tool_use") => Block::Tool {
                        id: b["id"].as_str().unwrap_or("").to_string(),
                        name: b["name"].as_str().unwrap_or("").to_string(),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.push((index, block));
            }
            "content_block_delta" => {
                let index = data["index"].as_u64().unwrap_or(0);
                let delta = &data["delta"];
                let Some((_, block)) = self.blocks.iter_mut().find(|(i, _)| *i == index) else {
                    return Err(ProviderError::new(
                        ErrorKind::Protocol,
                        format!("{}: delta for unknown block {index}", self.model.provider),
                    ));
                };
                match (block, delta["type"].as_str()) {
                    (Block::Text, Some("text_delta")) => {
                        if let Some(t) = delta["text"].as_str().filter(|t| !t.is_empty()) {
                            self.out.push_back(StreamEvent::Text(t.to_string()));
                        }
                    }
                    (Block::Tool { json, .. }, Some("input_json_delta")) => {
                        super::append_args(&self.model, json, delta["partial_json"].as_str().unwrap_or(""))?
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let index = data["index"].as_u64().unwrap_or(0);
                if let Some(pos) = self.blocks.iter().position(|(i, _)| *i == index) {
                    if let (_, Block::Tool { id, name, json }) = self.blocks.remove(pos) {
                        let id = if id.is_empty() { format!("toolu_{index}") } else { id };
                        self.out.push_back(StreamEvent::ToolCall(ToolCall { id, name, arguments: parse_arguments(&json) }));
                    }
                }
            }
            "message_delta" => {
                if let Some(out) = data["usage"]["output_tokens"].as_u64() {
                    self.usage.output = out;
                }
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    self.stop = Some(match reason {
                        "max_tokens" | "model_context_window_exceeded" => StopReason::Length,
                        "tool_use" => StopReason::ToolUse,
                        "refusal" => StopReason::Refusal,
                        _ => StopReason::Stop,
                    });
                }
            }
            "message_stop" => {
                self.stop.get_or_insert(StopReason::Stop);
                self.end();
            }
            "error" => return Err(stream_error(&self.model, &data["error"])),
            _ => {} // ping and future event types
        }
        Ok(())
    }

    fn end(&mut self) {
        if !self.done {
            self.out.push_back(StreamEvent::Usage(self.usage));
            self.out.push_back(StreamEvent::Stop(self.stop.unwrap_or(StopReason::Stop)));
            self.done = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_merges_turns_and_carries_tool_results() {
        let mut m = crate::agent::providers::ResolvedModel::offline();
        m.model = "claude-x".into();
        let msgs = vec![
            Message::user("hi"),
            Message::Assistant {
                text: "let me look".into(),
                tool_calls: vec![ToolCall { id: "t1".into(), name: "ls".into(), arguments: json!({"path": "."}) }],
            },
            Message::ToolResult { call_id: "t1".into(), name: "ls".into(), text: "a".into(), is_error: false },
            Message::user("and?"),
        ];
        let b = body(&m, &ModelRequest { system: "sys", messages: &msgs, tools: &[] });
        assert_eq!(b["system"], "sys");
        let turns = b["messages"].as_array().unwrap();
        assert_eq!(turns.len(), 3, "the tool result and the next question form one user turn: {b}");
        assert_eq!(turns[1]["content"][1], json!({"type": "tool_use", "id": "t1", "name": "ls", "input": {"path": "."}}));
        assert_eq!(turns[2]["content"][0]["type"], "tool_result");
        assert_eq!(turns[2]["content"][1]["text"], "and?");
        assert!(b.get("tools").is_none());
    }
}
