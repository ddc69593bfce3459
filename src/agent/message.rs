//! The conversation as the agent sees it ([`Message`]) and as transcripts store it: OpenClaw's
//! message shapes (`user`, `assistant` with `text` and `toolCall` parts, `toolResult`), so a
//! transcript written here reads like one written by the official gateway.

use serde_json::{Value, json};

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments object (`{}` when the model sent none or sent something unparsable).
    pub arguments: Value,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    User { text: String },
    Assistant { text: String, tool_calls: Vec<ToolCall> },
    ToolResult { call_id: String, name: String, text: String, is_error: bool },
}

impl Message {
    pub fn user(text: impl Into<String>) -> Message {
        Message::User { text: text.into() }
    }

    /// Characters of its text (what input limits count).
    pub fn text_chars(&self) -> usize {
        match self {
            Message::User { text } | Message::Assistant { text, .. } | Message::ToolResult { text, .. } => text.chars().count(),
        }
    }

    /// Size of its content in bytes, for history budgets (closer to a token count than
    /// characters are, for scripts that take several bytes per character).
    pub fn chars(&self) -> usize {
        match self {
            Message::User { text } => text.len(),
            Message::Assistant { text, tool_calls } => {
                text.len() + tool_calls.iter().map(|c| c.name.len() + c.arguments.to_string().len()).sum::<usize>()
            }
            Message::ToolResult { text, .. } => text.len(),
        }
    }
}

/// Token counts reported by a provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl Usage {
    // Saturating: the numbers come from the provider and must not be able to overflow.
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output).saturating_add(self.cache_read).saturating_add(self.cache_write)
    }

    pub fn add(&mut self, other: &Usage) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_write = self.cache_write.saturating_add(other.cache_write);
    }

    /// The transcript's `usage` object.
    pub fn to_json(&self) -> Value {
        json!({"input": self.input, "output": self.output, "cacheRead": self.cache_read, "cacheWrite": self.cache_write,
               "totalTokens": self.total()})
    }
}

/// Why a model turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Stop,
    Length,
    ToolUse,
    Refusal,
    Aborted,
    Error,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Stop => "stop",
            StopReason::Length => "length",
            StopReason::ToolUse => "toolUse",
            StopReason::Refusal => "refusal",
            StopReason::Aborted => "aborted",
            StopReason::Error => "error",
        }
    }

    fn parse(s: &str) -> StopReason {
        match s {
            "length" => StopReason::Length,
            "toolUse" => StopReason::ToolUse,
            "refusal" => StopReason::Refusal,
            "aborted" => StopReason::Aborted,
            "error" => StopReason::Error,
            _ => StopReason::Stop,
        }
    }
}

/// Where an assistant message came from, for the transcript.
#[derive(Debug, Clone, Default)]
pub struct Origin<'a> {
    pub api: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
}

/// The transcript payload of a user message.
pub fn user_json(text: &str, ts: u64) -> Value {
    json!({"role": "user", "content": text, "timestamp": ts})
}

/// The transcript payload of an assistant message.
pub fn assistant_json(
    text: &str,
    tool_calls: &[ToolCall],
    origin: &Origin,
    usage: &Usage,
    stop: StopReason,
    error: Option<&str>,
    ts: u64,
) -> Value {
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for c in tool_calls {
        content.push(json!({"type": "toolCall", "id": c.id, "name": c.name, "arguments": c.arguments}));
    }
    let mut v = json!({"role": "assistant", "content": content, "api": origin.api, "provider": origin.provider, "model": origin.model,
                       "usage": usage.to_json(), "stopReason": stop.name(), "timestamp": ts});
    if let Some(e) = error {
        v["errorMessage"] = json!(e);
    }
    v
}

/// The transcript payload of a tool result.
pub fn tool_result_json(call_id: &str, name: &str, text: &str, is_error: bool, ts: u64) -> Value {
    json!({"role": "toolResult", "toolCallId": call_id, "toolName": name, "content": [{"type": "text", "text": text}],
           "isError": is_error, "timestamp": ts})
}

/// Text of a `content` field: a string, or the `text` parts of a part list.
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts.iter().filter(|p| p["type"] == "text").filter_map(|p| p["text"].as_str()).collect();
            texts.join("")
        }
        _ => String::new(),
    }
}

/// The model-facing form of a transcript message payload (`None` for payloads the model does not
/// see, like notes injected for the UI only).
pub fn from_json(m: &Value) -> Option<Message> {
    match m["role"].as_str()? {
        "user" => Some(Message::User { text: content_text(&m["content"]) }),
        "assistant" => {
            let text = content_text(&m["content"]);
            let tool_calls: Vec<ToolCall> = m["content"]
                .as_array()
                .map(|parts| {
                    parts
                        .iter()
                        .filter(|p| p["type"] == "toolCall")
                        .filter_map(|p| {
                            Some(ToolCall {
                                id: p["id"].as_str()?.to_string(),
                                name: p["name"].as_str()?.to_string(),
                                arguments: p.get("arguments").cloned().unwrap_or_else(|| json!({})),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            if text.is_empty() && tool_calls.is_empty() {
                return None;
            }
            Some(Message::Assistant { text, tool_calls })
        }
        "toolResult" => Some(Message::ToolResult {
            call_id: m["toolCallId"].as_str()?.to_string(),
            name: m["toolName"].as_str().unwrap_or("").to_string(),
            text: content_text(&m["content"]),
            is_error: m["isError"].as_bool().unwrap_or(false),
        }),
        _ => None,
    }
}

/// The stop reason recorded on an assistant payload.
pub fn stop_reason_of(m: &Value) -> StopReason {
    m["stopReason"].as_str().map(StopReason::parse).unwrap_or(StopReason::Stop)
}

/// Makes a history window safe to send: it must not start with tool results whose call fell
/// outside the window, and every tool call must have a result (a crash between a call and its
/// result leaves a gap that providers reject), so missing results are filled in as errors.
pub fn repair(messages: Vec<Message>) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    let mut pending: Vec<(String, String)> = Vec::new();
    for m in messages {
        match &m {
            Message::ToolResult { call_id, .. } => {
                let Some(pos) = pending.iter().position(|(id, _)| id == call_id) else { continue };
                pending.remove(pos);
                out.push(m);
            }
            _ => {
                close_pending(&mut out, &mut pending);
                if let Message::Assistant { tool_calls, .. } = &m {
                    pending = tool_calls.iter().map(|c| (c.id.clone(), c.name.clone())).collect();
                }
                out.push(m);
            }
        }
    }
    close_pending(&mut out, &mut pending);
    out
}

fn close_pending(out: &mut Vec<Message>, pending: &mut Vec<(String, String)>) {
    for (call_id, name) in pending.drain(..) {
        out.push(Message::ToolResult {
            call_id,
            name,
            text: "No result: the run was interrupted before this tool finished.".into(),
            is_error: true,
        });
    }
}

/// The transcript line of a message a caller supplied (run input, or history the caller sent):
/// assistant turns among them are marked as the client's.
pub fn to_transcript(m: &Message, ts: u64) -> serde_json::Value {
    match m {
        Message::User { text } => user_json(text, ts),
        Message::Assistant { text, tool_calls } => assistant_json(
            text,
            tool_calls,
            &Origin { api: "client", provider: "client", model: "client" },
            &Usage::default(),
            if tool_calls.is_empty() { StopReason::Stop } else { StopReason::ToolUse },
            None,
            ts,
        ),
        Message::ToolResult { call_id, name, text, is_error } => tool_result_json(call_id, name, text, *is_error, ts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> ToolCall {
        ToolCall { id: id.into(), name: "read".into(), arguments: json!({"path": "a"}) }
    }

    #[test]
    fn transcript_payloads_round_trip() {
        let o = Origin { api: "openai-completions", provider: "p", model: "m" };
        let a = assistant_json("hi", &[call("c1")], &o, &Usage { input: 3, output: 2, ..Default::default() }, StopReason::ToolUse, None, 5);
        assert_eq!(a["usage"]["totalTokens"], 5);
        assert_eq!(from_json(&a), Some(Message::Assistant { text: "hi".into(), tool_calls: vec![call("c1")] }));
        assert_eq!(stop_reason_of(&a), StopReason::ToolUse);
        assert_eq!(from_json(&user_json("yo", 1)), Some(Message::user("yo")));
        let r = tool_result_json("c1", "read", "data", false, 2);
        assert_eq!(
            from_json(&r),
            Some(Message::ToolResult { call_id: "c1".into(), name: "read".into(), text: "data".into(), is_error: false })
        );
    }

    #[test]
    fn repair_drops_orphan_results_and_fills_missing_ones() {
        let orphan = Message::ToolResult { call_id: "old".into(), name: "read".into(), text: "x".into(), is_error: false };
        let msgs = vec![
            orphan,
            Message::user("q"),
            Message::Assistant { text: String::new(), tool_calls: vec![call("c1"), call("c2")] },
            Message::ToolResult { call_id: "c1".into(), name: "read".into(), text: "ok".into(), is_error: false },
            Message::user("next"),
        ];
        let fixed = repair(msgs);
        assert_eq!(fixed.len(), 5, "{fixed:#?}");
        assert_eq!(fixed[0], Message::user("q"));
        assert!(matches!(&fixed[3], Message::ToolResult { call_id, is_error: true, .. } if call_id == "c2"));
        assert_eq!(fixed[4], Message::user("next"));
    }
}
