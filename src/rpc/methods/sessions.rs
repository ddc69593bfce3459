//! `sessions.list`, `sessions.reset`, `sessions.delete` and `sessions.patch` (label and model),
//! and the `SessionRow` shape they and `sessions.changed` share.

use serde_json::{Value, json};

use super::{Call, ensure_agent, session_key};
use crate::agent::SessionKey;
use crate::agent::providers::{self, ErrorKind};
use crate::agent::store::SessionEntry;
use crate::config::Config;
use crate::error::Error;
use crate::limits::SESSIONS_LIST_DEFAULT_LIMIT;
use crate::rpc::params;

/// A session as `sessions.list` and `sessions.changed` show it (`SessionRow`).
pub fn row(key: &str, e: &SessionEntry, active: bool) -> Value {
    let parsed = SessionKey::parse(key, "main", None).ok();
    let mut r = json!({
        "key": key,
        "sessionId": e.session_id,
        "kind": parsed.as_ref().map(|k| k.kind()).unwrap_or("unknown"),
        "updatedAt": e.updated_at,
        "createdAt": e.created_at,
        "inputTokens": e.input_tokens,
        "outputTokens": e.output_tokens,
        "totalTokens": e.total_tokens,
    });
    if let Some(k) = &parsed {
        r["agentId"] = json!(k.agent_id);
        r["isMain"] = json!(k.is_main());
        if let Some(ch) = k.channel() {
            r["channel"] = json!(ch);
        }
        r["chatType"] = json!(if k.kind() == "group" { "group" } else { "direct" });
    }
    let mut set = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            r[name] = json!(v);
        }
    };
    set("label", &e.label);
    set("displayName", &e.display_name);
    set("lastRunId", &e.last_run_id);
    set("lastRunError", &e.last_run_error);
    set("lastMessagePreview", &e.last_message_preview);
    set("model", &e.model);
    set("modelProvider", &e.model_provider);
    set("previousSessionId", &e.previous_session_id);
    if let Some(t) = e.last_interaction_at {
        r["lastInteractionAt"] = json!(t);
        r["lastActivityAt"] = json!(t);
    }
    let status = if active { Some("running".to_string()) } else { e.status.clone() };
    if let Some(s) = status {
        r["status"] = json!(s);
    }
    if let Some(m) = &e.model_override {
        r["modelOverride"] = json!(m);
        r["modelOverrideSource"] = json!("session");
    }
    r
}

const LIST_KEYS: &[&str] = &[
    "limit",
    "offset",
    "activeMinutes",
    "requireLastInteraction",
    "sortBy",
    "includeGlobal",
    "includeUnknown",
    "configuredAgentsOnly",
    "includeDerivedTitles",
    "includeLastMessage",
    "label",
    "boardFace",
    "creatorId",
    "ownerId",
    "ownerFirst",
    "involvingMe",
    "involvingProfileId",
    "includePeople",
    "spawnedBy",
    "agentId",
    "search",
    "archived",
];

/// `sessions.list {limit?, offset?, activeMinutes?, agentId?, search?, label?, sortBy?, …}`,
/// newest first.
pub async fn list(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("sessions.list", p, LIST_KEYS)?;
    let limit = p.opt_int("limit", 1, i64::MAX).map(|n| n as usize).unwrap_or(SESSIONS_LIST_DEFAULT_LIMIT);
    let offset = p.opt_int("offset", 0, i64::MAX).map(|n| n as usize).unwrap_or(0);
    let active_minutes = p.opt_int("activeMinutes", 1, i64::MAX).map(|n| n as u64);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    let search = p.opt_str("search", 0, usize::MAX).map(|s| s.to_lowercase()).filter(|s| !s.is_empty());
    let label = p.opt_str("label", 1, 512);
    /// `sortBy`: newest first by the last update (the default) or by the last interaction.
    #[derive(Clone, Copy, PartialEq)]
    enum SortBy {
        UpdatedAt,
        LastInteractionAt,
    }
    let by_interaction = p.choice("sortBy", &[("updatedAt", SortBy::UpdatedAt), ("lastInteractionAt", SortBy::LastInteractionAt)])
        == Some(SortBy::LastInteractionAt);
    let include_last = p.opt_bool("includeLastMessage").unwrap_or(false);
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let agents = match &agent_id {
        Some(a) => {
            ensure_agent(&cfg, a)?;
            vec![a.clone()]
        }
        None => cfg.agents.ids(),
    };
    let store = call.gw.agent.store();
    let mut all: Vec<(String, SessionEntry)> = Vec::new();
    for a in &agents {
        all.extend(store.list(a).await.map_err(|e| Error::unavailable(format!("cannot read the sessions of {a}: {e}")))?);
    }
    let now = crate::clock::now_ms();
    all.retain(|(key, e)| {
        active_minutes.is_none_or(|m| now.saturating_sub(e.updated_at) <= m.saturating_mul(60_000))
            && label.as_ref().is_none_or(|l| e.label.as_ref() == Some(l))
            && search.as_ref().is_none_or(|s| {
                key.to_lowercase().contains(s)
                    || e.label.as_ref().is_some_and(|l| l.to_lowercase().contains(s))
                    || e.display_name.as_ref().is_some_and(|d| d.to_lowercase().contains(s))
            })
    });
    let sort_key = |e: &SessionEntry| if by_interaction { e.last_interaction_at.unwrap_or(0) } else { e.updated_at };
    all.sort_by(|a, b| sort_key(&b.1).cmp(&sort_key(&a.1)).then_with(|| a.0.cmp(&b.0)));
    let total = all.len();
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(k, e)| {
            let mut r = row(k, e, e.status.as_deref() == Some("running"));
            if !include_last {
                if let Value::Object(m) = &mut r {
                    m.remove("lastMessagePreview");
                }
            }
            r
        })
        .collect();
    let has_more = offset + page.len() < total;
    let defaults = list_defaults(&cfg);
    let path = if agents.len() == 1 {
        call.gw.paths.display(&store.sessions_dir(&agents[0]).join(crate::agent::store::INDEX_FILE))
    } else {
        "(multiple)".to_string()
    };
    Ok(json!({
        "ts": now,
        "path": path,
        "count": page.len(),
        "totalCount": total,
        "limitApplied": limit,
        "nextOffset": if has_more { json!(offset + page.len()) } else { Value::Null },
        "hasMore": has_more,
        "defaults": defaults,
        "sessions": page,
    }))
}

/// `sessions.list`'s `defaults`: the default agent's primary model, resolved when it can be.
fn list_defaults(cfg: &Config) -> Value {
    let default_agent = cfg.agents.default_id();
    let primary = cfg.agents.model_for(default_agent).primary.clone();
    match primary.as_deref().map(|p| providers::resolve(cfg, p)) {
        Some(Ok(m)) => json!({"modelProvider": m.provider, "model": m.model, "contextTokens": m.context_window}),
        Some(Err(_)) => {
            let r = cfg.agents.expand_alias(primary.as_deref().unwrap_or_default()).to_string();
            let (prov, model) = r.split_once('/').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or((String::new(), r.clone()));
            json!({"modelProvider": prov, "model": model})
        }
        None => json!({"modelProvider": providers::OFFLINE_PROVIDER, "model": providers::OFFLINE_MODEL}),
    }
}

/// `sessions.reset {key, reason?}`: a fresh transcript under the same key (the old one is kept).
/// A run in progress is aborted first.
pub async fn reset(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("sessions.reset", p, &["key", "agentId", "reason"])?;
    p.require(&["key"]);
    let raw_key = p.req_str("key", 1, usize::MAX);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    // `new` and `reset` do the same here: a fresh transcript for the key.
    p.choice("reason", &[("new", ()), ("reset", ())]);
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let key = session_key(&cfg, &raw_key, agent_id.as_deref())?;
    call.gw.agent.abort(&key, None).await;
    let workspace = call.gw.agent.workspace_for(&cfg, &key.agent_id);
    let store = call.gw.agent.store();
    let unavailable = |e: std::io::Error| Error::unavailable(format!("cannot reset session {key}: {e}"));
    let (entry, previous) = match store.reset(&key, &workspace).await.map_err(unavailable)? {
        Some((old, entry)) => (entry, Some(old)),
        None => (store.ensure(&key, &workspace, &cfg.session.maintenance).await.map_err(unavailable)?.0, None),
    };
    notify(call, &key, "reset", Some(&entry)).await;
    Ok(json!({"ok": true, "key": key.to_string(), "previousSessionId": previous, "entry": row(&key.to_string(), &entry, false)}))
}

/// `sessions.delete {key, deleteTranscript?}` (`SessionsDeleteResult`). The transcript is kept
/// aside (listed in `archived`) unless `deleteTranscript` is true. The main session cannot be
/// deleted; reset it instead.
pub async fn delete(call: &Call<'_>, p: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed(
        "sessions.delete",
        p,
        &[
            "key",
            "agentId",
            "deleteTranscript",
            "expectedSessionId",
            "expectedLifecycleRevision",
            "expectedSessionUpdatedAt",
            "emitLifecycleHooks",
            "archivedOnly",
        ],
    )?;
    p.require(&["key"]);
    let raw_key = p.req_str("key", 1, usize::MAX);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    let delete_transcript = p.opt_bool("deleteTranscript").unwrap_or(false);
    let expected = p.opt_str("expectedSessionId", 1, usize::MAX);
    p.done()?;
    let cfg = call.gw.settings().loaded.config.clone();
    let key = session_key(&cfg, &raw_key, agent_id.as_deref())?;
    if key.is_main() {
        return Err(Error::invalid(format!("cannot delete the main session {key}; use sessions.reset to start it over")));
    }
    let store = call.gw.agent.store();
    if let Some(expected) = expected {
        let current = store.get(&key).await.map_err(|e| Error::unavailable(e.to_string()))?.map(|e| e.session_id);
        if current.as_deref() != Some(expected.as_str()) {
            return Err(Error::invalid(format!("session {key} is not {expected} any more")).details(json!({"reason": "session-changed"})));
        }
    }
    call.gw.agent.abort(&key, None).await;
    let archived =
        store.delete(&key, delete_transcript).await.map_err(|e| Error::unavailable(format!("cannot delete session {key}: {e}")))?;
    let deleted = archived.is_some();
    if deleted {
        notify(call, &key, "deleted", None).await;
    }
    let archived: Vec<String> = archived.unwrap_or_default().iter().map(|p| call.gw.paths.display(p)).collect();
    Ok(json!({"ok": true, "key": key.to_string(), "deleted": deleted, "archived": archived}))
}

/// Official `sessions.patch` fields this gateway acts on; the others are refused by name.
const PATCH_SUPPORTED: &[&str] = &["key", "agentId", "expectedSessionId", "label", "model"];
const PATCH_KEYS: &[&str] = &[
    "key",
    "agentId",
    "expectedSessionId",
    "expectedLifecycleRevision",
    "expectedPermissionMode",
    "expectedToolOverrides",
    "expectedMarkedUnreadAt",
    "label",
    "icon",
    "color",
    "category",
    "boardFace",
    "statusNote",
    "attention",
    "ttlMinutes",
    "archived",
    "pinned",
    "unread",
    "contextWindow",
    "thinkingLevel",
    "fastMode",
    "toolOverrides",
    "verboseLevel",
    "traceLevel",
    "reasoningLevel",
    "responseUsage",
    "elevatedLevel",
    "execHost",
    "execSecurity",
    "execAsk",
    "execNode",
    "permissionMode",
    "model",
    "completionOwnerSessionKey",
    "inheritedToolPolicyVersion",
    "inheritedToolAllow",
    "inheritedToolDeny",
    "sendPolicy",
    "groupActivation",
];

/// `sessions.patch {key, label?, model?}`: `null` clears a value. The session is created if it
/// does not exist yet.
pub async fn patch(call: &Call<'_>, params: &Option<Value>) -> Result<Value, Error> {
    let mut p = params::closed("sessions.patch", params, PATCH_KEYS)?;
    p.require(&["key"]);
    let raw_key = p.req_str("key", 1, usize::MAX);
    let agent_id = p.opt_str("agentId", 1, usize::MAX);
    let label = match p.raw("label") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => p.validator().string(v, "/label", 1, 512).map(|s| Some(s.to_string())),
    };
    let model = match p.raw("model") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => p.validator().string(v, "/model", 1, 512).map(|s| Some(s.to_string())),
    };
    p.done()?;
    if let Some(Value::Object(m)) = params {
        let unsupported: Vec<&str> = m.keys().map(String::as_str).filter(|k| !PATCH_SUPPORTED.contains(k)).collect();
        if !unsupported.is_empty() {
            return Err(Error::invalid(format!(
                "sessions.patch: {} not supported by this gateway (supported: label, model)",
                unsupported.join(", ") + if unsupported.len() == 1 { " is" } else { " are" }
            )));
        }
    }
    let cfg = call.gw.settings().loaded.config.clone();
    let key = session_key(&cfg, &raw_key, agent_id.as_deref())?;
    if let Some(Some(m)) = &model {
        // A model that cannot work at all is refused; one that only lacks a key is accepted
        // (the key may come later), and runs will say what is missing.
        if let Err(e) = providers::resolve(&cfg, m) {
            if e.kind == ErrorKind::Config {
                return Err(Error::invalid(format!("model: {}", e.message)));
            }
        }
    }
    let workspace = call.gw.agent.workspace_for(&cfg, &key.agent_id);
    let store = call.gw.agent.store();
    store
        .ensure(&key, &workspace, &cfg.session.maintenance)
        .await
        .map_err(|e| Error::unavailable(format!("cannot open session {key}: {e}")))?;
    let entry = store
        .update(&key, |e| {
            if let Some(l) = label {
                e.label = l;
            }
            if let Some(m) = model {
                e.model_override = m.map(|m| cfg.agents.expand_alias(&m).to_string());
            }
            e.updated_at = crate::clock::now_ms();
        })
        .await
        .map_err(|e| Error::unavailable(format!("cannot update session {key}: {e}")))?
        .ok_or_else(|| Error::unavailable(format!("session {key} vanished")))?;
    notify(call, &key, "patched", Some(&entry)).await;
    let effective = entry.model_override.clone().or(cfg.agents.model_for(&key.agent_id).primary.clone());
    let resolved = match effective.as_deref().map(|m| cfg.agents.expand_alias(m).to_string()) {
        Some(r) => {
            let (prov, model) = r.split_once('/').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or_default();
            json!({"modelProvider": prov, "model": model})
        }
        None => json!({"modelProvider": providers::OFFLINE_PROVIDER, "model": providers::OFFLINE_MODEL}),
    };
    Ok(json!({"ok": true, "key": key.to_string(), "entry": row(&key.to_string(), &entry, false), "resolved": resolved}))
}

async fn notify(call: &Call<'_>, key: &SessionKey, reason: &'static str, entry: Option<&SessionEntry>) {
    let notice = crate::agent::Notice::Session { key: key.clone(), reason, entry: entry.map(|e| Box::new(e.clone())) };
    call.gw.agent.shared.notify(notice).await;
}
