//! The payloads of the events the gateway builds for its clients: `agent` (the schema's
//! `AgentEvent`), `chat` (`ChatEvent`) and `sessions.changed`. Serialized straight from these
//! types, so a field cannot be misspelled at one of the places that sends it, and each stream or
//! state carries exactly the fields the official gateway sends with it (observed §5.8).

use serde::Serialize;
use serde_json::Value;

use crate::agent::message::Usage;

/// An `agent` event: one step of a run, on one stream.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentEvent<'a> {
    pub run_id: &'a str,
    pub seq: u64,
    pub stream: &'static str,
    pub ts: u64,
    /// Heartbeat runs are not implemented; every run is a real one.
    pub is_heartbeat: bool,
    pub data: AgentData<'a>,
}

impl<'a> AgentEvent<'a> {
    pub fn new(run_id: &'a str, seq: u64, ts: u64, data: AgentData<'a>) -> AgentEvent<'a> {
        AgentEvent { run_id, seq, stream: data.stream(), ts, is_heartbeat: false, data }
    }
}

/// What an `agent` event says, by stream.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AgentData<'a> {
    /// `lifecycle`: the run started, chose a model, fell back, ended or failed.
    Lifecycle(Lifecycle<'a>),
    /// `run_status`: a preparation step.
    RunStatus { phase: &'a str },
    /// `assistant`: the answer so far and what is new.
    #[serde(rename_all = "camelCase")]
    Assistant { text: &'a str, delta: &'a str, item_id: String },
    /// `tool`: a tool call starting, or its result.
    Tool(ToolData<'a>),
    /// `usage`: token counts of the model call that just finished.
    Usage(UsageData),
}

impl AgentData<'_> {
    /// The stream this data belongs on.
    pub fn stream(&self) -> &'static str {
        match self {
            AgentData::Lifecycle(_) => "lifecycle",
            AgentData::RunStatus { .. } => "run_status",
            AgentData::Assistant { .. } => "assistant",
            AgentData::Tool(_) => "tool",
            AgentData::Usage(_) => "usage",
        }
    }
}

/// The `lifecycle` stream's phases.
#[derive(Debug, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Lifecycle<'a> {
    #[serde(rename_all = "camelCase")]
    Start {
        started_at: u64,
        session_key: String,
        session_id: &'a str,
        agent_id: &'a str,
    },
    Model {
        provider: &'a str,
        model: &'a str,
    },
    /// The names are the official ones, prefix and all.
    #[serde(rename_all = "camelCase")]
    FallbackStep {
        fallback_step_type: &'static str,
        fallback_step_from_model: &'a str,
        fallback_step_to_model: &'a str,
        fallback_step_from_failure_reason: &'a str,
        fallback_step_from_failure_detail: &'a str,
    },
    /// A finished run; only an answered one carries its `terminalReply`.
    #[serde(rename_all = "camelCase")]
    End {
        started_at: u64,
        ended_at: u64,
        stop_reason: &'static str,
        aborted: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        terminal_reply: Option<TerminalReply<'a>>,
    },
    #[serde(rename_all = "camelCase")]
    Error {
        started_at: u64,
        ended_at: u64,
        error: &'a str,
    },
}

/// The answer a finished run leaves, and whether it was shown.
#[derive(Debug, Serialize)]
pub struct TerminalReply<'a> {
    pub disposition: &'static str,
    pub text: &'a str,
}

/// A `tool` event's data: arguments when the call starts, the result when it ends.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolData<'a> {
    pub phase: &'static str,
    pub name: &'a str,
    pub tool_call_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
}

/// The `usage` stream's token counts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageData {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub total_tokens: u64,
}

impl From<&Usage> for UsageData {
    fn from(u: &Usage) -> UsageData {
        UsageData {
            input_tokens: u.input,
            output_tokens: u.output,
            cache_read_tokens: u.cache_read,
            cache_write_tokens: u.cache_write,
            total_tokens: u.total(),
        }
    }
}

/// A `chat` event: what the chat view of a session shows of a run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatEvent<'a> {
    pub run_id: &'a str,
    pub session_key: String,
    pub agent_id: &'a str,
    pub seq: u64,
    #[serde(flatten)]
    pub state: ChatState<'a>,
}

/// The chat view's states, each with its own fields.
#[derive(Debug, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChatState<'a> {
    /// A preparation step.
    Status { phase: &'a str },
    /// More answer text, and the message so far.
    #[serde(rename_all = "camelCase")]
    Delta { delta_text: &'a str, message: AssistantMessage<'a> },
    /// The answer is complete.
    #[serde(rename_all = "camelCase")]
    Final {
        stop_reason: &'static str,
        message: AssistantMessage<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<ChatUsage>,
    },
    /// Stopped on request, with the partial answer if there was one.
    #[serde(rename_all = "camelCase")]
    Aborted {
        stop_reason: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<AssistantMessage<'a>>,
    },
    /// Failed, with the partial answer if there was one.
    #[serde(rename_all = "camelCase")]
    Error {
        error_message: &'a str,
        error_kind: &'static str,
        error_detail: ErrorDetail<'a>,
        stop_reason: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<AssistantMessage<'a>>,
    },
}

/// What failed, for the chat view (the message is cut to a preview).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail<'a> {
    pub provider_error_message_preview: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

/// The assistant's message as the chat view shows it: one text part.
#[derive(Debug, Serialize)]
pub struct AssistantMessage<'a> {
    pub role: &'static str,
    pub content: [TextPart<'a>; 1],
    pub timestamp: u64,
}

impl<'a> AssistantMessage<'a> {
    pub fn new(text: &'a str, timestamp: u64) -> AssistantMessage<'a> {
        AssistantMessage { role: "assistant", content: [TextPart { kind: "text", text }], timestamp }
    }
}

#[derive(Debug, Serialize)]
pub struct TextPart<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: &'a str,
}

/// A finished run's token counts in the chat view's spelling.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub total: u64,
}

impl From<&Usage> for ChatUsage {
    fn from(u: &Usage) -> ChatUsage {
        ChatUsage { input: u.input, output: u.output, cache_read: u.cache_read, cache_write: u.cache_write, total: u.total() }
    }
}

/// A `sessions.changed` event: which session changed, why, and its row (null once deleted).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsChanged<'a> {
    pub session_key: String,
    pub agent_id: &'a str,
    pub reason: &'a str,
    pub session: Option<Value>,
    pub ts: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agent_events_carry_their_stream_and_phase() {
        let data = AgentData::Lifecycle(Lifecycle::Model { provider: "openai", model: "gpt" });
        let v = serde_json::to_value(AgentEvent::new("r1", 2, 5, data)).unwrap();
        assert_eq!(
            v,
            json!({"runId": "r1", "seq": 2, "stream": "lifecycle", "ts": 5, "isHeartbeat": false,
                   "data": {"phase": "model", "provider": "openai", "model": "gpt"}})
        );
        let tool = ToolData { phase: "start", name: "ls", tool_call_id: "c1", args: None, result: None, is_error: None };
        let v = serde_json::to_value(AgentEvent::new("r1", 3, 5, AgentData::Tool(tool))).unwrap();
        assert_eq!(v["stream"], "tool");
        assert_eq!(v["data"], json!({"phase": "start", "name": "ls", "toolCallId": "c1"}));
    }

    #[test]
    fn chat_states_flatten_into_the_event() {
        let state = ChatState::Aborted { stop_reason: "aborted", message: None };
        let ev = ChatEvent { run_id: "r1", session_key: "agent:main:main".into(), agent_id: "main", seq: 4, state };
        assert_eq!(
            serde_json::to_value(ev).unwrap(),
            json!({"runId": "r1", "sessionKey": "agent:main:main", "agentId": "main", "seq": 4, "state": "aborted",
                   "stopReason": "aborted"})
        );
    }
}
