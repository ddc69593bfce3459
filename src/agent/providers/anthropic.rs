//! Anthropic messages with streaming (`POST {baseUrl}/v1/messages`, `stream: true`).
//!
//! The stream is a sequence of named events: `message_start` (input usage), then per content
//! block `content_block_start` / `content_block_delta` (`text_delta`, `input_json_delta`) /
//! `content_block_stop`, then `message_delta` (stop reason, output usage) and `message_stop`.
//! `ping` keeps the connection alive; `error` reports a failure mid-stream.

use serde::Deserialize;
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

/// `message_start`: the message's input usage.
#[derive(Debug, Deserialize)]
struct MessageStart {
    message: StartedMessage,
}

#[derive(Debug, Deserialize)]
struct StartedMessage {
    #[serde(default)]
    usage: ApiUsage,
}

/// Token counts (`message_start` has all, `message_delta` the output so far).
#[derive(Debug, Default, Deserialize)]
struct ApiUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

/// `content_block_start`.
#[derive(Debug, Deserialize)]
struct BlockStart<'a> {
    index: u64,
    #[serde(borrow)]
    content_block: StartedBlock<'a>,
}

/// The block a `content_block_start` opens.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartedBlock<'a> {
    /// Answer text, sometimes with its first piece.
    Text {
        #[serde(default)]
        text: &'a str,
    },
    /// A tool call; its input follows as JSON pieces. The id is generated when a compatible
    /// server leaves it out; a call without a name cannot be run.
    ToolUse {
        #[serde(default)]
        id: &'a str,
        name: &'a str,
    },
    /// Thinking and block types added later, which are not surfaced.
    #[serde(other)]
    Other,
}

/// `content_block_delta`.
#[derive(Debug, Deserialize)]
struct BlockDelta<'a> {
    index: u64,
    #[serde(borrow)]
    delta: Piece<'a>,
}

/// What a `content_block_delta` adds to its block.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Piece<'a> {
    /// More answer text.
    TextDelta { text: &'a str },
    /// More of a tool call's input JSON.
    InputJsonDelta { partial_json: &'a str },
    /// Thinking, signatures and later delta types.
    #[serde(other)]
    Other,
}

/// `content_block_stop`.
#[derive(Debug, Deserialize)]
struct BlockStop {
    index: u64,
}

/// `message_delta`: the stop reason and the output usage.
#[derive(Debug, Deserialize)]
struct MessageDelta {
    #[serde(default)]
    delta: Option<MessageDeltaBody>,
    #[serde(default)]
    usage: Option<ApiUsage>,
}

#[derive(Debug, Deserialize)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<AnthropicStop>,
}

/// Why the model stopped; reasons this gateway does not know read as a normal stop.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AnthropicStop {
    MaxTokens,
    ModelContextWindowExceeded,
    ToolUse,
    Refusal,
    #[serde(other)]
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

    /// Reads `data` as the event `kind` says it is; a missing required field names itself.
    fn typed<'a, T: Deserialize<'a>>(&self, kind: &str, data: &'a Value) -> Result<T, ProviderError> {
        T::deserialize(data)
            .map_err(|e| ProviderError::new(ErrorKind::Protocol, format!("{} sent a malformed {kind} event: {e}", self.model.provider)))
    }

    fn event(&mut self, kind: &str, data: &Value) -> Result<(), ProviderError> {
        match kind {
            "message_start" => {
                let MessageStart { message } = self.typed(kind, data)?;
                let u = message.usage;
                self.usage.input = u.input_tokens.unwrap_or(0);
                self.usage.cache_read = u.cache_read_input_tokens.unwrap_or(0);
                self.usage.cache_write = u.cache_creation_input_tokens.unwrap_or(0);
                self.usage.output = u.output_tokens.unwrap_or(0);
            }
            "content_block_start" => {
                let BlockStart { index, content_block } = self.typed(kind, data)?;
                let block = match content_block {
                    StartedBlock::Text { text } => {
                        if !text.is_empty() {
                            self.out.push_back(StreamEvent::Text(text.to_string()));
                        }
                        Block::Text
                    }
                    StartedBlock::ToolUse { id, name } => Block::Tool { id: id.to_string(), name: name.to_string(), json: String::new() },
                    StartedBlock::Other => Block::Other,
                };
                self.blocks.push((index, block));
            }
            "content_block_delta" => {
                let BlockDelta { index, delta } = self.typed(kind, data)?;
                let Some((_, block)) = self.blocks.iter_mut().find(|(i, _)| *i == index) else {
                    return Err(ProviderError::new(
                        ErrorKind::Protocol,
                        format!("{}: delta for unknown block {index}", self.model.provider),
                    ));
                };
                match (block, delta) {
                    (Block::Text, Piece::TextDelta { text }) if !text.is_empty() => {
                        self.out.push_back(StreamEvent::Text(text.to_string()));
                    }
                    (Block::Tool { json, .. }, Piece::InputJsonDelta { partial_json }) => {
                        super::append_args(&self.model, json, partial_json)?
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                let BlockStop { index } = self.typed(kind, data)?;
                if let Some(pos) = self.blocks.iter().position(|(i, _)| *i == index) {
                    if let (_, Block::Tool { id, name, json }) = self.blocks.remove(pos) {
                        let id = if id.is_empty() { format!("toolu_{index}") } else { id };
                        self.out.push_back(StreamEvent::ToolCall(ToolCall { id, name, arguments: parse_arguments(&json) }));
                    }
                }
            }
            "message_delta" => {
                let MessageDelta { delta, usage } = self.typed(kind, data)?;
                if let Some(out) = usage.and_then(|u| u.output_tokens) {
                    self.usage.output = out;
                }
                if let Some(reason) = delta.and_then(|d| d.stop_reason) {
                    self.stop = Some(match reason {
                        AnthropicStop::MaxTokens | AnthropicStop::ModelContextWindowExceeded => StopReason::Length,
                        AnthropicStop::ToolUse => StopReason::ToolUse,
                        AnthropicStop::Refusal => StopReason::Refusal,
                        AnthropicStop::Other => StopReason::Stop,
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

    fn feed(d: &mut Decoder, name: &str, data: Value) -> Result<(), ProviderError> {
        d.feed(Some(SseEvent { event: Some(name.to_string()), data: data.to_string() }))
    }

    #[test]
    fn events_decode_into_text_tool_calls_usage_and_stop() {
        let mut d = Decoder::new(crate::agent::providers::ResolvedModel::offline());
        feed(&mut d, "message_start", json!({"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}}))
            .unwrap();
        feed(
            &mut d,
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        )
        .unwrap();
        feed(
            &mut d,
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
        )
        .unwrap();
        let tool = json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t1", "name": "ls", "input": {}}});
        feed(&mut d, "content_block_start", tool).unwrap();
        let piece = json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}});
        feed(&mut d, "content_block_delta", piece).unwrap();
        feed(&mut d, "content_block_stop", json!({"type": "content_block_stop", "index": 1})).unwrap();
        feed(
            &mut d,
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}}),
        )
        .unwrap();
        feed(&mut d, "message_stop", json!({"type": "message_stop"})).unwrap();
        let events = format!("{:?}", std::iter::from_fn(|| d.pop()).collect::<Vec<_>>());
        assert!(events.contains("Text(\"Hi\")") && events.contains("name: \"ls\""), "{events}");
        assert!(events.contains("input: 9") && events.contains("output: 5") && events.contains("ToolUse"), "{events}");
    }

    #[test]
    fn a_missing_required_field_is_a_clear_protocol_error() {
        let mut d = Decoder::new(crate::agent::providers::ResolvedModel::offline());
        let e = feed(&mut d, "content_block_start", json!({"type": "content_block_start", "content_block": {"type": "text"}})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(e.message.contains("malformed content_block_start event") && e.message.contains("missing field `index`"), "{}", e.message);
        let nameless = json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t1"}});
        let e = feed(&mut d, "content_block_start", nameless).unwrap_err();
        assert!(e.message.contains("missing field `name`"), "{}", e.message);
        let e = feed(&mut d, "message_start", json!({"type": "message_start"})).unwrap_err();
        assert!(e.message.contains("missing field `message`"), "{}", e.message);
    }
}
