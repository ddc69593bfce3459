//! Turns the agent's [`Notice`]s into protocol events: every run event becomes an `agent` event
//! (streams `lifecycle`, `run_status`, `assistant`, `tool`, `usage`) and, where the chat view
//! changes, a `chat` event (`status`, `delta`, `final`, `aborted`, `error`); session changes
//! become `sessions.changed`. Shapes follow the official gateway (observed §5.8) within what the
//! schema's `AgentEvent` and `ChatEvent` allow.

use smol::channel::Receiver;
use std::sync::Arc;

use crate::agent::{EventKind, Notice, Outcome, RunEvent, RunStatus, ToolPhase};
use crate::gateway::auth::Scope;
use crate::gateway::hub::{Event, Hub};
use crate::rpc::payloads::{
    AgentData, AgentEvent, AssistantMessage, ChatEvent, ChatState, ErrorDetail, Lifecycle, SessionsChanged, TerminalReply, ToolData,
};

/// The capability a client declares to receive `tool` stream events.
pub const TOOL_EVENTS_CAP: &str = "tool-events";

/// Forwards notices to the hub until the agent goes away.
pub async fn run(hub: Hub, notices: Receiver<Notice>) {
    while let Ok(notice) = notices.recv().await {
        for event in translate(&notice) {
            hub.broadcast(event).await;
        }
    }
}

/// The protocol events for one notice.
pub fn translate(notice: &Notice) -> Vec<Event> {
    match notice {
        Notice::Run(ev) => run_events(ev),
        Notice::Session { key, reason, entry } => {
            let session_key = key.to_string();
            let session = entry.as_deref().map(|e| super::methods::sessions::row(&session_key, e, false));
            let payload = SessionsChanged { session_key, agent_id: &key.agent_id, reason, session, ts: crate::clock::now_ms() };
            vec![Event::new("sessions.changed", &payload).scoped(Scope::Read)]
        }
    }
}

fn agent_event(ev: &RunEvent, data: AgentData<'_>) -> Event {
    Event::new("agent", &AgentEvent::new(&ev.run_id, ev.seq, ev.ts, data)).scoped(Scope::Read)
}

fn chat_event(ev: &RunEvent, state: ChatState<'_>) -> Event {
    let payload = ChatEvent { run_id: &ev.run_id, session_key: ev.key.to_string(), agent_id: &ev.key.agent_id, seq: ev.seq, state };
    Event::new("chat", &payload).scoped(Scope::Read)
}

fn lifecycle(ev: &RunEvent, phase: Lifecycle<'_>) -> Event {
    agent_event(ev, AgentData::Lifecycle(phase))
}

fn run_events(ev: &Arc<RunEvent>) -> Vec<Event> {
    match &ev.kind {
        EventKind::Status(phase) => {
            vec![chat_event(ev, ChatState::Status { phase }), agent_event(ev, AgentData::RunStatus { phase })]
        }
        EventKind::Start { started_at } => vec![lifecycle(
            ev,
            Lifecycle::Start {
                started_at: *started_at,
                session_key: ev.key.to_string(),
                session_id: &ev.session_id,
                agent_id: &ev.key.agent_id,
            },
        )],
        EventKind::Model { provider, model } => vec![lifecycle(ev, Lifecycle::Model { provider, model })],
        EventKind::Fallback { from, to, reason, detail } => vec![lifecycle(
            ev,
            Lifecycle::FallbackStep {
                fallback_step_type: "fallback_step",
                fallback_step_from_model: from,
                fallback_step_to_model: to,
                fallback_step_from_failure_reason: reason,
                fallback_step_from_failure_detail: detail,
            },
        )],
        EventKind::Assistant { text, delta } => vec![
            agent_event(ev, AgentData::Assistant { text, delta, item_id: format!("{}:1", ev.run_id) }),
            chat_event(ev, ChatState::Delta { delta_text: delta, message: AssistantMessage::new(text, ev.ts) }),
        ],
        EventKind::Tool { phase, call_id, name, args, result, is_error } => {
            let data = ToolData {
                phase: match phase {
                    ToolPhase::Start => "start",
                    ToolPhase::Result => "result",
                },
                name,
                tool_call_id: call_id,
                args: args.as_ref(),
                result: result.as_deref(),
                is_error: result.as_ref().map(|_| *is_error),
            };
            let mut e = agent_event(ev, AgentData::Tool(data));
            e.cap = Some(TOOL_EVENTS_CAP);
            vec![e]
        }
        EventKind::Usage(u) => vec![agent_event(ev, AgentData::Usage(u.into()))],
        EventKind::End(outcome) => end_events(ev, outcome),
    }
}

fn end_events(ev: &RunEvent, o: &Outcome) -> Vec<Event> {
    // The partial answer of a stopped or failed run, when there is one.
    let partial = (!o.text.is_empty()).then(|| AssistantMessage::new(&o.text, o.ended_at));
    let (started_at, ended_at) = (o.started_at, o.ended_at);
    match o.status {
        RunStatus::Ok => vec![
            lifecycle(
                ev,
                Lifecycle::End {
                    started_at,
                    ended_at,
                    stop_reason: o.stop_reason.name(),
                    aborted: false,
                    terminal_reply: Some(TerminalReply { disposition: "visible", text: &o.text }),
                },
            ),
            chat_event(
                ev,
                ChatState::Final {
                    stop_reason: o.stop_reason.name(),
                    message: AssistantMessage::new(&o.text, o.ended_at),
                    usage: Some((&o.usage).into()),
                },
            ),
        ],
        RunStatus::Aborted => vec![
            lifecycle(ev, Lifecycle::End { started_at, ended_at, stop_reason: "aborted", aborted: true, terminal_reply: None }),
            chat_event(ev, ChatState::Aborted { stop_reason: "aborted", message: partial }),
        ],
        RunStatus::Error => {
            let (message, kind, status) =
                o.error.as_ref().map(|e| (e.message.as_str(), e.kind.chat_kind(), e.status)).unwrap_or(("the run failed", "unknown", None));
            let detail = ErrorDetail {
                provider_error_message_preview: message.chars().take(300).collect(),
                provider: o.provider.as_deref(),
                model: o.model.as_deref(),
                http_status: status,
            };
            vec![
                lifecycle(ev, Lifecycle::Error { started_at, ended_at, error: message }),
                chat_event(
                    ev,
                    ChatState::Error {
                        error_message: message,
                        error_kind: kind,
                        error_detail: detail,
                        stop_reason: "error",
                        message: partial,
                    },
                ),
            ]
        }
    }
}
