//! `agent` (a run answered twice on the same request id: `accepted` at once, the result at the
//! end), `agent.wait` and `wake`.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

use super::{Call, ensure_agent, session_key};
use crate::agent::message::Message;
use crate::agent::{Admission, Origin, Outcome, RunRequest, RunStatus, SessionKey, WakeMode};
use crate::error::Error;
use crate::gateway::hub::{Outbound, Outbox};
use crate::limits::{AGENT_FINAL_WAIT_MAX, AGENT_WAIT_DEFAULT};
use crate::rpc::params;
use crate::rpc::protocol::{self, ErrorShape};

const AGENT_KEYS: &[&str] = &[
    "message",
    "agentId",
    "provider",
    "model",
    "to",
    "replyTo",
    "sessionId",
    "sessionKey",
    "expectedExistingSessionId",
    "thinking",
    "deliver",
    "attachments",
    "channel",
    "replyChannel",
    "accountId",
    "replyAccountId",
    "threadId",
    "groupId",
    "groupChannel",
    "groupSpace",
    "timeout",
    "bestEffortDeliver",
    "lane",
    "cwd",
    "cleanupBundleMcpOnRunEnd",
    "modelRun",
    "promptMode",
    "extraSystemPrompt",
    "bootstrapContextMode",
    "bootstrapContextRunKind",
    "acpTurnSource",
    "internalRuntimeHandoffId",
    "internalExecutionIdentityRetry",
    "internalExecutionIdentityRecoveryAttempt",
    "execApprovalFollowupExpectedSessionId",
    "internalEvents",
    "inputProvenance",
    "suppressPromptPersistence",
    "sessionEffects",
    "sourceReplyDeliveryMode",
    "disableMessageTool",
    "swarmCollector",
    "swarmOutputSchema",
    "forceRestartSafeTools",
    "forceCodeModeTools",
    "voiceWakeTrigger",
    "idempotencyKey",
    "label",
];

/// `agent {message, idempotencyKey, sessionKey?, agentId?, provider?, model?, timeout?,
/// extraSystemPrompt?, deliver?}`. Answers `{status: "accepted"}` now and the result when the run
/// ends, both on the request's id. Without a session key the run gets its own session
/// (`agent:<id>:explicit:<runId>`).
pub async fn agent(call: &Call<'_>, p: &Option<Value>) -> Result<Option<Value>, Error> {
    let mut p = params::closed("agent", p, AGENT_KEYS)?;
    p.require(&["message", "idempotencyKey"]);
    let text = p.req_str("message", 1, crate::limits::RUN_INPUT_MAX_CHARS);
    let run_id = p.req_str("idempotencyKey", 1, usize::MAX);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    let raw_key = p.opt_str("sessionKey", 0, usize::MAX).filter(|k| !k.trim().is_empty());
    let provider = p.opt_str("provider", 0, usize::MAX).filter(|s| !s.is_empty());
    let model = p.opt_str("model", 0, usize::MAX).filter(|s| !s.is_empty());
    let timeout = p.opt_int("timeout", 0, i64::MAX);
    let extra = p.opt_str("extraSystemPrompt", 0, usize::MAX);
    let deliver = p.opt_bool("deliver").unwrap_or(false);
    let best_effort = p.opt_bool("bestEffortDeliver").unwrap_or(false);
    p.done()?;
    if deliver && !best_effort {
        return Err(Error::invalid(
            "deliver: no delivery target is available (no chat channel is configured for this run); set bestEffortDeliver to run anyway",
        ));
    }
    let cfg = call.gw.settings().loaded.config.clone();
    if let Some(a) = &agent_id {
        ensure_agent(&cfg, a)?;
    }
    let key = match raw_key {
        Some(k) => session_key(&cfg, &k, agent_id.as_deref())?,
        None => SessionKey::explicit(agent_id.as_deref().unwrap_or(cfg.agents.default_id()), &run_id),
    };
    let model = match (provider, model) {
        (_, Some(m)) if m.contains('/') => Some(m),
        (Some(p), Some(m)) => Some(format!("{p}/{m}")),
        (_, Some(m)) => Some(m),
        (Some(_), None) | (None, None) => None,
    };
    let agent_for_ack = key.agent_id.clone();
    let mut req = RunRequest::new(run_id.clone(), key, vec![Message::user(text)], Origin::Agent, cfg);
    req.model = model;
    req.extra_system = extra;
    req.timeout = timeout.filter(|s| *s > 0).map(|s| Duration::from_secs(s as u64));
    let admission = call.gw.agent.submit(req).await?;
    if let Admission::Done(outcome) = admission {
        let frame = final_frame(call.id, &outcome);
        call.out.push(Outbound::Frame(frame));
        return Ok(None);
    }
    let ack = json!({"runId": run_id, "agentId": agent_for_ack, "status": "accepted", "acceptedAt": crate::clock::now_ms()});
    call.out.push(Outbound::Frame(protocol::response_ok(call.id, &ack)));
    let (agent, out, id) = (call.gw.agent.clone(), call.out.clone(), call.id.to_string());
    crate::rt::spawn(async move {
        match agent.wait(&run_id, AGENT_FINAL_WAIT_MAX).await {
            Some(outcome) => send(&out, final_frame(&id, &outcome)),
            None => {
                let e = Error::unavailable("the run did not finish in time");
                send(&out, protocol::response_err_with_payload(&id, &json!({"runId": run_id, "status": "timeout"}), &ErrorShape::from(e)));
            }
        }
    })
    .detach();
    Ok(None)
}

fn send(out: &Outbox, frame: String) {
    // The client may have left; then there is no one to tell.
    out.push(Outbound::Frame(frame));
}

/// The second `agent` response: the result, or the error with its summary.
fn final_frame(id: &str, o: &Arc<Outcome>) -> String {
    let usage = json!({"input": o.usage.input, "output": o.usage.output, "cacheRead": o.usage.cache_read,
                       "cacheWrite": o.usage.cache_write, "total": o.usage.total()});
    let meta = json!({
        "durationMs": o.ended_at.saturating_sub(o.started_at),
        "agentMeta": {"sessionId": o.session_id, "sessionKey": o.key.to_string(), "provider": o.provider, "model": o.model,
                      "usage": usage, "assistantTurns": 1},
        "aborted": o.status == RunStatus::Aborted,
        "stopReason": o.stop_reason.name(),
        "successfulToolNames": o.tools_used,
    });
    match o.status {
        RunStatus::Error => {
            let message = o.error.as_ref().map(|e| e.message.clone()).unwrap_or_else(|| "the run failed".into());
            let payload = json!({"runId": o.run_id, "status": "error", "summary": message});
            protocol::response_err_with_payload(id, &payload, &ErrorShape::from(Error::unavailable(message.clone())))
        }
        status => {
            let summary = if status == RunStatus::Aborted { "aborted" } else { "completed" };
            let payload = json!({"runId": o.run_id, "status": "ok", "summary": summary,
                                 "result": {"payloads": [{"text": o.text, "mediaUrl": null}], "meta": meta}});
            protocol::response_ok(id, &payload)
        }
    }
}

/// `agent.wait {runId, timeoutMs?}` → `{runId, status: ok | error | timeout, startedAt?,
/// endedAt?, error?}`. Only waits; it never starts anything.
pub async fn wait(call: &Call<'_>, p: &Option<Value>) -> Result<Option<Value>, Error> {
    let mut p = params::closed("agent.wait", p, &["runId", "timeoutMs"])?;
    p.require(&["runId"]);
    let run_id = p.req_str("runId", 1, usize::MAX);
    let timeout = p.opt_int("timeoutMs", 0, i64::MAX).map(|ms| Duration::from_millis(ms as u64)).unwrap_or(AGENT_WAIT_DEFAULT);
    p.done()?;
    let (agent, out, id) = (call.gw.agent.clone(), call.out.clone(), call.id.to_string());
    // Answered from its own task, so the connection keeps serving other requests meanwhile.
    crate::rt::spawn(async move {
        let payload = match agent.wait(&run_id, timeout.min(AGENT_FINAL_WAIT_MAX)).await {
            None => json!({"runId": run_id, "status": "timeout"}),
            Some(o) => {
                let mut v = json!({"runId": run_id, "status": if o.status == RunStatus::Ok { "ok" } else { "error" },
                                   "startedAt": o.started_at, "endedAt": o.ended_at});
                match (&o.error, o.status) {
                    (Some(e), _) => v["error"] = json!(e.message),
                    (None, RunStatus::Aborted) => v["error"] = json!("aborted"),
                    _ => {}
                }
                v
            }
        };
        send(&out, protocol::response_ok(&id, &payload));
    })
    .detach();
    Ok(None)
}

/// `wake {mode, text, sessionKey?, agentId?}`: `now` starts a turn on the session (the main one
/// by default) with the text as a system event; `next-heartbeat` queues the text for the
/// session's next turn.
pub async fn wake(call: &Call<'_>, p: &Option<Value>) -> Result<Option<Value>, Error> {
    let mut p = params::open("wake", p)?;
    p.require(&["mode", "text"]);
    let mode = p.choice("mode", WakeMode::CHOICES).unwrap_or(WakeMode::Now);
    let text = p.req_str("text", 1, usize::MAX);
    let raw_key = p.opt_str("sessionKey", 1, usize::MAX);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let key = match raw_key {
        Some(k) => session_key(&cfg, &k, agent_id.as_deref())?,
        None => super::chat::main_key(&cfg, agent_id.as_deref())?,
    };
    let run_id = call.gw.agent.wake(key, mode, &text, cfg).await?;
    let mut out = json!({"ok": true, "mode": mode.name(), "eventOutcome": "queued"});
    if let Some(id) = run_id {
        out["runId"] = json!(id);
    }
    Ok(Some(out))
}
