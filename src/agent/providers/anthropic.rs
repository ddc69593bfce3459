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
use crate::wire::{self, Obj, WireError};

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

/// Token counts (`message_start` has all, `message_delta` the output so far).
#[derive(Debug, Default)]
struct ApiUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

impl ApiUsage {
    fn read(o: Obj<'_>) -> Result<ApiUsage, WireError> {
        Ok(ApiUsage {
            input_tokens: o.opt_u64("input_tokens")?,
            output_tokens: o.opt_u64("output_tokens")?,
            cache_read_input_tokens: o.opt_u64("cache_read_input_tokens")?,
            cache_creation_input_tokens: o.opt_u64("cache_creation_input_tokens")?,
        })
    }

    /// `message_start`: `{"message": {"usage": {…}}}`, the message's input usage.
    fn of_message_start(data: &Value) -> Result<ApiUsage, WireError> {
        let message = wire::object(data)?.obj("message")?;
        message.opt_obj("usage")?.map_or(Ok(ApiUsage::default()), ApiUsage::read)
    }
}

/// `content_block_start`: the index and kind of the block it opens.
#[derive(Debug)]
struct BlockStart<'a> {
    index: u64,
    content_block: StartedBlock<'a>,
}

/// The block a `content_block_start` opens.
#[derive(Debug)]
enum StartedBlock<'a> {
    /// Answer text, sometimes with its first piece.
    Text { text: &'a str },
    /// A tool call; its input follows as JSON pieces. The id is generated when a compatible
    /// server leaves it out; a call without a name cannot be run.
    ToolUse { id: &'a str, name: &'a str },
    /// Thinking and block types added later, which are not surfaced.
    Other,
}

impl<'a> BlockStart<'a> {
    fn read(data: &'a Value) -> Result<BlockStart<'a>, WireError> {
        let o = wire::object(data)?;
        let index = o.u64("index")?;
        let block = o.obj("content_block")?;
        let content_block = match block.str("type")? {
            "text" => StartedBlock::Text { text: block.opt_str("text")?.unwrap_or("") },
            "tool_use" => StartedBlock::ToolUse { id: block.opt_str("id")?.unwrap_or(""), name: block.str("name")? },
            _ => StartedBlock::Other,
        };
        Ok(BlockStart { index, content_block })
    }
}

/// `content_block_delta`: what it adds to which block.
#[derive(Debug)]
struct BlockDelta<'a> {
    index: u64,
    delta: Piece<'a>,
}

/// What a `content_block_delta` adds to its block.
#[derive(Debug)]
enum Piece<'a> {
    /// More answer text.
    TextDelta { text: &'a str },
    /// More of a tool call's input JSON.
    InputJsonDelta { partial_json: &'a str },
    /// Thinking, signatures and later delta types.
    Other,
}

impl<'a> BlockDelta<'a> {
    fn read(data: &'a Value) -> Result<BlockDelta<'a>, WireError> {
        let o = wire::object(data)?;
        let index = o.u64("index")?;
        let d = o.obj("delta")?;
        let delta = match d.str("type")? {
            "text_delta" => Piece::TextDelta { text: d.str("text")? },
            "input_json_delta" => Piece::InputJsonDelta { partial_json: d.str("partial_json")? },
            _ => Piece::Other,
        };
        Ok(BlockDelta { index, delta })
    }
}

/// `message_delta`: the stop reason and the output usage.
#[derive(Debug)]
struct MessageDelta {
    stop_reason: Option<AnthropicStop>,
    output_tokens: Option<u64>,
}

impl MessageDelta {
    fn read(data: &Value) -> Result<MessageDelta, WireError> {
        let o = wire::object(data)?;
        let stop_reason = match o.opt_obj("delta")? {
            Some(delta) => delta.opt_str("stop_reason")?.map(AnthropicStop::from_wire),
            None => None,
        };
        let output_tokens = match o.opt_obj("usage")? {
            Some(usage) => ApiUsage::read(usage)?.output_tokens,
            None => None,
        };
        Ok(MessageDelta { stop_reason, output_tokens })
    }
}

/// Why the model stopped; reasons this gateway does not know read as a normal stop.
#[derive(Debug, Clone, Copy)]
enum AnthropicStop {
    MaxTokens,
    ModelContextWindowExceeded,
    ToolUse,
    Refusal,
    Other,
}

impl AnthropicStop {
    fn from_wire(reason: &str) -> AnthropicStop {
        match reason {
            "max_tokens" => AnthropicStop::MaxTokens,
            "model_context_window_exceeded" => AnthropicStop::ModelContextWindowExceeded,
            "tool_use" => AnthropicStop::ToolUse,
            "refusal" => AnthropicStop::Refusal,
            _ => AnthropicStop::Other,
        }
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

    /// The error for an event whose data is not what its `kind` says; the reader's error names
    /// the missing or mistyped field.
    fn malformed(&self, kind: &str, e: WireError) -> ProviderError {
        ProviderError::new(ErrorKind::Protocol, format!("{} sent a malformed {kind} event: {e}", self.model.provider))
    }

    fn event(&mut self, kind: &str, data: &Value) -> Result<(), ProviderError> {
        match kind {
            "message_start" => {
                let u = ApiUsage::of_message_start(data).map_err(|e| self.malformed(kind, e))?;
                self.usage.input = u.input_tokens.unwrap_or(0);
                self.usage.cache_read = u.cache_read_input_tokens.unwrap_or(0);
                self.usage.cache_write = u.cache_creation_input_tokens.unwrap_or(0);
                self.usage.output = u.output_tokens.unwrap_or(0);
            }
            "content_block_start" => {
                let BlockStart { index, content_block } = BlockStart::read(data).map_err(|e| self.malformed(kind, e))?;
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
                let BlockDelta { index, delta } = BlockDelta::read(data).map_err(|e| self.malformed(kind, e))?;
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
                let index = wire::object(data).and_then(|o| o.u64("index")).map_err(|e| self.malformed(kind, e))?;
                if let Some(pos) = self.blocks.iter().position(|(i, _)| *i == index) {
                    if let (_, Block::Tool { id, name, json }) = self.blocks.remove(pos) {
                        let id = if id.is_empty() { format!("toolu_{index}") } else { id };
                        self.out.push_back(StreamEvent::ToolCall(ToolCall { id, name, arguments: parse_arguments(&json) }));
                    }
                }
            }
            "message_delta" => {
                let MessageDelta { stop_reason, output_tokens } = MessageDelta::read(data).map_err(|e| self.malformed(kind, e))?;
                if let Some(out) = output_tokens {
                    self.usage.output = out;
                }
                if let Some(reason) = stop_reason {
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
