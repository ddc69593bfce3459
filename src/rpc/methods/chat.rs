//! The chat view of a session: `chat.send` (start a run; the answer streams as `chat` events),
//! `chat.history` (the transcript, display-ready), `chat.abort` and `chat.inject`.

use serde_json::{Value, json};
use std::time::Duration;

use super::{Call, ensure_agent, session_key};
use crate::agent::message::{self, Message};
use crate::agent::store::{Append, Store};
use crate::agent::{Admission, Origin, RunRequest, SessionKey};
use crate::error::Error;
use crate::gateway::auth::Scope;
use crate::gateway::hub::Event;
use crate::limits::{CHAT_HISTORY_DEFAULT_LIMIT, CHAT_HISTORY_DELTA_MAX, CHAT_HISTORY_MAX_BYTES, CHAT_HISTORY_MESSAGE_MAX_CHARS};
use crate::rpc::params;
use crate::rpc::payloads::{AssistantMessage, ChatEvent, ChatState};

const SEND_KEYS: &[&str] = &[
    "sessionKey",
    "agentId",
    "sessionId",
    "message",
    "intent",
    "thinking",
    "fastMode",
    "fastAutoOnSeconds",
    "queueMode",
    "deliver",
    "originatingChannel",
    "originatingTo",
    "originatingAccountId",
    "originatingThreadId",
    "replyToId",
    "attachments",
    "toolBindings",
    "timeoutMs",
    "systemInputProvenance",
    "systemProvenanceReceipt",
    "suppressCommandInterpretation",
    "expectedLeafEntryId",
    "expectedSessionRoutingContract",
    "expectedPermissionMode",
    "expectedToolOverrides",
    "idempotencyKey",
];

/// `queueMode` of `chat.send`: what to do when the session is busy. This gateway queues every
/// message behind the active run (`followup`); `interrupt` aborts the active run first. `steer`
/// and `collect` need mid-run injection, which this gateway does not do, and act as `followup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueMode {
    Steer,
    Followup,
    Collect,
    Interrupt,
}

impl QueueMode {
    const CHOICES: &'static [(&'static str, QueueMode)] = &[
        ("steer", QueueMode::Steer),
        ("followup", QueueMode::Followup),
        ("collect", QueueMode::Collect),
        ("interrupt", QueueMode::Interrupt),
    ];
}

/// `chat.send {sessionKey, message, idempotencyKey, …}` → `{runId, status}`. The answer streams
/// as `chat` events. `runId` is the idempotency key; sending the same key again reports the
/// run (`in_flight`, or `ok` once it finished) instead of starting another.
pub async fn send(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("chat.send", p, SEND_KEYS)?;
    p.require(&["sessionKey", "message", "idempotencyKey"]);
    let raw_key = p.req_str("sessionKey", 1, crate::limits::SESSION_KEY_MAX_CHARS);
    let text = p.req_str("message", 0, crate::limits::RUN_INPUT_MAX_CHARS);
    let run_id = p.req_str("idempotencyKey", 1, usize::MAX);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    let timeout_ms = p.opt_int("timeoutMs", 0, i64::MAX);
    let queue_mode = p.choice("queueMode", QueueMode::CHOICES);
    let has_attachments = p.raw("attachments").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    p.done()?;
    if has_attachments {
        return Err(Error::invalid("attachments are not supported by this gateway; send text"));
    }
    if text.trim().is_empty() {
        return Err(Error::invalid("message must not be empty"));
    }
    let cfg = call.gw.settings().loaded.config.clone();
    let key = session_key(&cfg, &raw_key, agent_id.as_deref())?;
    if queue_mode == Some(QueueMode::Interrupt) {
        call.gw.agent.abort(&key, None).await;
    }
    let mut req = RunRequest::new(run_id.clone(), key, vec![Message::user(text)], Origin::Chat, cfg);
    req.timeout = timeout_ms.filter(|ms| *ms > 0).map(|ms| Duration::from_millis(ms as u64));
    let status = match call.gw.agent.submit(req).await? {
        Admission::Started | Admission::Queued => "started",
        Admission::InFlight => "in_flight",
        Admission::Done(_) => "ok",
    };
    Ok(json!({"runId": run_id, "status": status}))
}

/// The keys `chat.history` takes (`chat.startup` takes these and its own).
pub const HISTORY_KEYS: &[&str] = &[
    "sessionKey",
    "agentId",
    "cursor",
    "limit",
    "maxBytes",
    "offset",
    "pendingBefore",
    "inputRunIds",
    "messageId",
    "sessionId",
    "maxChars",
];

/// `chat.history {sessionKey, limit?, offset?, maxChars?, maxBytes?, cursor?}`. Without a cursor: the last
/// `limit` messages (paging back with `offset`). With a cursor from an earlier answer: what was
/// added since (`kind: "delta"`), or `kind: "reset"` when the client must reload.
pub async fn history(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("chat.history", p, HISTORY_KEYS)?;
    p.require(&["sessionKey"]);
    let raw_key = p.req_str("sessionKey", 1, usize::MAX);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    let cursor = p.opt_str("cursor", 0, 4096);
    let limit = p.opt_int("limit", 1, 1000).map(|n| n as usize).unwrap_or(CHAT_HISTORY_DEFAULT_LIMIT);
    let offset = p.opt_int("offset", 0, 1_000_000).map(|n| n as usize).unwrap_or(0);
    let max_chars = p.opt_int("maxChars", 1, 500_000).map(|n| n as usize).unwrap_or(CHAT_HISTORY_MESSAGE_MAX_CHARS);
    // The transcript bytes to read (2026.9.6 adds it; the Control UI sends 262144): older
    // messages beyond it count as `hasMore`.
    let max_bytes = p.opt_int("maxBytes", 1024, i64::MAX).map_or(CHAT_HISTORY_MAX_BYTES, |n| (n as u64).min(CHAT_HISTORY_MAX_BYTES));
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let key = session_key(&cfg, &raw_key, agent_id.as_deref())?;
    let active = call.gw.agent.active(&key).await;
    let session_info =
        json!({"hasActiveRun": !active.is_empty(), "activeRunIds": active.iter().map(|r| r.run_id.clone()).collect::<Vec<_>>()});
    let store = call.gw.agent.store();

    if let Some(cursor) = cursor {
        return history_since(store, &key, &cursor, max_chars, session_info).await;
    }

    let tail = store
        .read_tail(&key, limit + offset + 1, max_bytes)
        .await
        .map_err(|e| Error::unavailable(format!("cannot read the transcript: {e}")))?;
    let Some((entry, tail)) = tail else {
        return Ok(
            json!({"sessionKey": key.to_string(), "messages": [], "hasMore": false, "totalMessages": 0, "sessionInfo": session_info}),
        );
    };
    let rows: Vec<&Value> = tail.entries.iter().filter(|e| e["type"] == "message").collect();
    let end = rows.len().saturating_sub(offset);
    let start = end.saturating_sub(limit);
    let has_more = start > 0 || !tail.from_start;
    let total = rows.last().and_then(|e| e["seq"].as_u64()).unwrap_or(0);
    let messages: Vec<Value> = rows.get(start..end).unwrap_or_default().iter().map(|e| display(e, max_chars)).collect();
    let mut out = json!({
        "sessionKey": key.to_string(),
        "sessionId": entry.session_id,
        "messages": messages,
        "hasMore": has_more,
        "totalMessages": total,
        "deltaCursor": encode_cursor(&entry.session_id, total),
        "sessionInfo": session_info,
    });
    if has_more {
        out["nextOffset"] = json!(offset + limit);
    }
    if let Some(run) = active.first() {
        out["inFlightRun"] = json!({"runId": run.run_id, "text": run.text, "startedAt": run.started_at});
    }
    Ok(out)
}

/// `chat.history` with a cursor: the messages added since it (`kind: "delta"`), or
/// `kind: "reset"` when the session changed or more changed than one delta holds.
async fn history_since(store: &Store, key: &SessionKey, cursor: &str, max_chars: usize, session_info: Value) -> Result<Value, Error> {
    let Some((session_id, after)) = decode_cursor(cursor) else { return Ok(json!({"kind": "reset"})) };
    let tail = store
        .read_tail(key, CHAT_HISTORY_DELTA_MAX + 1, CHAT_HISTORY_MAX_BYTES)
        .await
        .map_err(|e| Error::unavailable(format!("cannot read the transcript: {e}")))?;
    let Some((entry, tail)) = tail else { return Ok(json!({"kind": "reset"})) };
    if entry.session_id != session_id {
        return Ok(json!({"kind": "reset"}));
    }
    let rows: Vec<&Value> = tail.entries.iter().filter(|e| e["type"] == "message").collect();
    let newer: Vec<&Value> = rows.iter().copied().filter(|e| e["seq"].as_u64().unwrap_or(0) > after).collect();
    // A gap between the cursor and what we read means more changed than we return.
    let oldest_read = rows.first().and_then(|e| e["seq"].as_u64()).unwrap_or(1);
    if newer.len() > CHAT_HISTORY_DELTA_MAX || (!tail.from_start && oldest_read > after + 1) {
        return Ok(json!({"kind": "reset"}));
    }
    let last = newer.last().and_then(|e| e["seq"].as_u64()).unwrap_or(after);
    let messages: Vec<Value> = newer.iter().map(|e| display(e, max_chars)).collect();
    Ok(json!({"kind": "delta", "messages": messages, "deltaCursor": encode_cursor(&entry.session_id, last),
                     "sessionInfo": session_info}))
}

/// A transcript line as `chat.history` and `session.message` show it: the message payload plus
/// `__openclaw {id, seq, runId?}`; messages over `max_chars` are replaced by the official
/// placeholder. A run's input carries the official `idempotencyKey` `<runId>:user`, by which the
/// Control UI recognises the message it sent and shows it once.
pub fn display(entry: &Value, max_chars: usize) -> Value {
    let mut m = entry["message"].clone();
    if m.to_string().chars().count() > max_chars {
        let role = m["role"].clone();
        m = json!({"role": role, "content": [{"type": "text", "text": "[chat.history omitted: message too large]"}],
                   "timestamp": m["timestamp"].clone()});
    }
    if let Value::Object(map) = &mut m {
        let mut meta = json!({"id": entry["id"], "seq": entry["seq"]});
        if let Some(run) = entry.get("runId") {
            meta["runId"] = run.clone();
            if let (Some(run), Some("user")) = (run.as_str(), map.get("role").and_then(Value::as_str)) {
                let key = json!(format!("{run}:user"));
                meta["idempotencyKey"] = key.clone();
                map.insert("idempotencyKey".into(), key);
            }
        }
        map.insert("__openclaw".into(), meta);
    }
    m
}

fn encode_cursor(session_id: &str, seq: u64) -> String {
    crate::encoding::base64url(json!({"sessionId": session_id, "seq": seq}).to_string().as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<(String, u64)> {
    let bytes = crate::encoding::base64_decode(cursor)?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    Some((v["sessionId"].as_str()?.to_string(), v["seq"].as_u64()?))
}

/// `chat.abort {sessionKey, runId?}`: queued messages first, then the active run (which saves
/// its partial answer marked aborted).
pub async fn abort(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("chat.abort", p, &["sessionKey", "agentId", "runId", "preserveSideRuns"])?;
    p.require(&["sessionKey"]);
    let raw_key = p.req_str("sessionKey", 1, usize::MAX);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    let run_id = p.opt_str("runId", 1, usize::MAX);
    p.opt_bool("preserveSideRuns");
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let key = session_key(&cfg, &raw_key, agent_id.as_deref())?;
    let ids = call.gw.agent.abort(&key, run_id.as_deref()).await;
    Ok(json!({"ok": true, "aborted": !ids.is_empty(), "runIds": ids}))
}

/// `chat.inject {sessionKey, message, label?}`: adds an assistant note to the transcript (no
/// model run) and shows it to chat clients.
pub async fn inject(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("chat.inject", p, &["sessionKey", "agentId", "message", "label"])?;
    p.require(&["sessionKey", "message"]);
    let raw_key = p.req_str("sessionKey", 1, usize::MAX);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    let text = p.req_str("message", 1, crate::limits::RUN_INPUT_MAX_CHARS);
    let label = p.opt_str("label", 0, 100);
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let key = session_key(&cfg, &raw_key, agent_id.as_deref())?;
    let workspace = call.gw.agent.workspace_for(&cfg, &key.agent_id);
    let store = call.gw.agent.store();
    let (_, created) = store
        .ensure(&key, &workspace, &cfg.session.maintenance)
        .await
        .map_err(|e| Error::unavailable(format!("cannot open session: {e}")))?;
    let now = crate::clock::now_ms();
    let origin = message::Origin { api: "openclaw", provider: "openclaw", model: "gateway-injected" };
    let mut payload = message::assistant_json(&text, &[], &origin, &Default::default(), message::StopReason::Stop, None, now);
    if let Some(l) = &label {
        payload["label"] = json!(l);
    }
    let placed = store
        .append(&key, vec![Append { message: payload, run_id: None }])
        .await
        .map_err(|e| Error::unavailable(format!("cannot write the transcript: {e}")))?;
    let entry = store.update(&key, |e| {
        e.updated_at = now;
        e.set_preview(&text);
    });
    let entry = entry.await.map_err(|e| Error::unavailable(format!("cannot update the session: {e}")))?;
    let run_id = format!("inject-{}", crate::ids::uuid());
    let state = ChatState::Final { stop_reason: "stop", message: AssistantMessage::new(&text, now), usage: None };
    let chat = ChatEvent { run_id: &run_id, session_key: key.to_string(), agent_id: &key.agent_id, seq: 1, state };
    call.gw.hub.broadcast(Event::new("chat", &chat).scoped(Scope::Read)).await;
    let reason = if created { "created" } else { "activity" };
    call.gw.agent.shared.notify(crate::agent::Notice::Session { key: key.clone(), reason, entry: entry.map(Box::new) }).await;
    Ok(json!({"ok": true, "messageId": placed.first().map(|a| a.id.clone())}))
}

/// Checks that a key names a configured agent; used by methods that take `agentId` alone.
pub fn main_key(cfg: &crate::config::Config, agent_id: Option<&str>) -> Result<SessionKey, Error> {
    let agent = agent_id.unwrap_or(cfg.agents.default_id());
    ensure_agent(cfg, agent)?;
    Ok(SessionKey::main(agent))
}
