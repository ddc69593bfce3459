//! Turns the agent's [`Notice`]s into protocol events: every run event becomes an `agent` event
//! (streams `lifecycle`, `run_status`, `assistant`, `tool`, `usage`) and, where the chat view
//! changes, a `chat` event (`status`, `delta`, `final`, `aborted`, `error`); session changes
//! become `sessions.changed`. Shapes follow the official gateway (observed §5.8) within what the
//! schema's `AgentEvent` and `ChatEvent` allow.

use serde_json::{Value, json};
use smol::channel::Receiver;
use std::sync::Arc;

use crate::agent::{EventKind, Notice, Outcome, RunEvent, RunStatus, ToolPhase};
use crate::gateway::auth::Scope;
use crate::gateway::hub::{Event, Hub};

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
            let session = entry.as_deref().map(|e| super::methods::sessions::row(&key.to_string(), e, false));
            let payload = json!({"sessionKey": key.to_string(), "agentId": key.agent_id, "reason": reason, "session": session,
                                 "ts": crate::clock::now_ms()});
            vec![Event::new("sessions.changed", &payload).scoped(Scope::Read)]
        }
    }
}

fn agent_event(ev: &RunEvent, stream: &str, data: Value) -> Event {
    let payload = json!({"runId": ev.run_id, "seq": ev.seq, "stream": stream, "ts": ev.ts, "isHeartbeat": false, "data": data});
    Event::new("agent", &payload).scoped(Scope::Read)
}

fn chat_event(ev: &RunEvent, state: &str, extra: Value) -> Event {
    let mut payload = json!({"runId": ev.run_id, "sessionKey": ev.key.to_string(), "agentId": ev.key.agent_id, "seq": ev.seq,
                             "state": state});
    if let (Some(p), Value::Object(more)) = (payload.as_object_mut(), extra) {
        p.extend(more);
    }
    Event::new("chat", &payload).scoped(Scope::Read)
}

fn assistant_message(text: &str, ts: u64) -> Value {
    json!({"role": "assistant", "content": [{"type": "text", "text": text}], "timestamp": ts})
}

fn run_events(ev: &Arc<RunEvent>) -> Vec<Event> {
    let key = ev.key.to_string();
    match &ev.kind {
        EventKind::Status(phase) => {
            vec![chat_event(ev, "status", json!({"phase": phase})), agent_event(ev, "run_status", json!({"phase": phase}))]
        }
        EventKind::Start { started_at } => vec![agent_event(
            ev,
            "lifecycle",
            json!({"phase": "start", "startedAt": started_at, "sessionKey": key, "sessionId": ev.session_id, "agentId": ev.key.agent_id}),
        )],
        EventKind::Model { provider, model } => {
            vec![agent_event(ev, "lifecycle", json!({"phase": "model", "provider": provider, "model": model}))]
        }
        EventKind::Fallback { from, to, reason, detail } => vec![agent_event(
            ev,
            "lifecycle",
            json!({"phase": "fallback_step", "fallbackStepType": "fallback_step", "fallbackStepFromModel": from,
                   "fallbackStepToModel": to, "fallbackStepFromFailureReason": reason, "fallbackStepFromFailureDetail": detail}),
        )],
        EventKind::Assistant { text, delta } => vec![
            agent_event(ev, "assistant", json!({"text": text, "delta": delta, "itemId": format!("{}:1", ev.run_id)})),
            chat_event(ev, "delta", json!({"deltaText": delta, "message": assistant_message(text, ev.ts)})),
        ],
        EventKind::Tool { phase, call_id, name, args, result, is_error } => {
            let mut data = json!({"phase": match phase { ToolPhase::Start => "start", ToolPhase::Result => "result" },
                                  "name": name, "toolCallId": call_id});
            if let Some(a) = args {
                data["args"] = a.clone();
            }
            if let Some(r) = result {
                data["result"] = json!(r);
                data["isError"] = json!(is_error);
            }
            let mut e = agent_event(ev, "tool", data);
            e.cap = Some(TOOL_EVENTS_CAP);
            vec![e]
        }
        EventKind::Usage(u) => vec![agent_event(
            ev,
            "usage",
            json!({"inputTokens": u.input, "outputTokens": u.output, "cacheReadTokens": u.cache_read, "cacheWriteTokens": u.cache_write,
                   "totalTokens": u.total()}),
        )],
        EventKind::End(outcome) => end_events(ev, outcome),
    }
}

fn end_events(ev: &RunEvent, o: &Outcome) -> Vec<Event> {
    let usage = json!({"input": o.usage.input, "output": o.usage.output, "cacheRead": o.usage.cache_read,
                       "cacheWrite": o.usage.cache_write, "total": o.usage.total()});
    match o.status {
        RunStatus::Ok => vec![
            agent_event(
                ev,
                "lifecycle",
                json!({"phase": "end", "startedAt": o.started_at, "endedAt": o.ended_at, "stopReason": o.stop_reason.name(),
                       "aborted": false, "terminalReply": {"disposition": "visible", "text": o.text}}),
            ),
            chat_event(
                ev,
                "final",
                json!({"stopReason": o.stop_reason.name(), "message": assistant_message(&o.text, o.ended_at), "usage": usage}),
            ),
        ],
        RunStatus::Aborted => {
            let mut chat = json!({"stopReason": "aborted"});
            if !o.text.is_empty() {
                chat["message"] = assistant_message(&o.text, o.ended_at);
            }
            vec![
                agent_event(
                    ev,
                    "lifecycle",
                    json!({"phase": "end", "startedAt": o.started_at, "endedAt": o.ended_at, "stopReason": "aborted", "aborted": true}),
                ),
                chat_event(ev, "aborted", chat),
            ]
        }
        RunStatus::Error => {
            let (message, kind, status) = o
                .error
                .as_ref()
                .map(|e| (e.message.clone(), e.kind.chat_kind(), e.status))
                .unwrap_or_else(|| ("the run failed".to_string(), "unknown", None));
            let mut detail = json!({"providerErrorMessagePreview": message.chars().take(300).collect::<String>()});
            if let Some(p) = &o.provider {
                detail["provider"] = json!(p);
            }
            if let Some(m) = &o.model {
                detail["model"] = json!(m);
            }
            if let Some(s) = status {
                detail["httpStatus"] = json!(s);
            }
            let mut chat = json!({"errorMessage": message, "errorKind": kind, "errorDetail": detail, "stopReason": "error"});
            if !o.text.is_empty() {
                chat["message"] = assistant_message(&o.text, o.ended_at);
            }
            vec![
                agent_event(ev, "lifecycle", json!({"phase": "error", "startedAt": o.started_at, "endedAt": o.ended_at, "error": message})),
                chat_event(ev, "error", chat),
            ]
        }
    }
}
