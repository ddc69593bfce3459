//! Validation against the official protocol schema (`protocol/protocol.schema.json`, a copy of the
//! published one kept in the repository so the tests need nothing beside the checkout).
//! Validators are compiled on first use, one per definition, and shared by all tests.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The official schema: `OPENCLAW_PROTOCOL_SCHEMA` when set, else the repository's copy.
fn schema_path() -> std::path::PathBuf {
    match std::env::var("OPENCLAW_PROTOCOL_SCHEMA") {
        Ok(p) if !p.is_empty() => p.into(),
        _ => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol/protocol.schema.json"),
    }
}

fn definitions() -> &'static Value {
    static DEFS: OnceLock<Value> = OnceLock::new();
    DEFS.get_or_init(|| {
        let path = schema_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("cannot read the protocol schema at {} ({e}); it is part of the repository (protocol/)", path.display())
        });
        let schema: Value = serde_json::from_str(&text).unwrap();
        schema["definitions"].clone()
    })
}

/// Methods the official gateway has that are newer than the shared schema's method table (all
/// `operator.read` in openclaw 2026.9.6).
pub const NEWER_METHODS: &[&str] = &["plugins.controlUi.list", "themes.list"];

/// The official method table (`methods`: name → scope).
pub fn methods_table() -> &'static Value {
    static METHODS: OnceLock<Value> = OnceLock::new();
    METHODS.get_or_init(|| {
        let text = std::fs::read_to_string(schema_path()).unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        schema["methods"].clone()
    })
}

fn validator(name: &str) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(name) {
        return v.clone();
    }
    let defs = definitions();
    assert!(defs.get(name).is_some(), "no definition {name} in the protocol schema");
    let schema = json!({"$ref": format!("#/definitions/{name}"), "definitions": defs});
    // The file declares draft-07 (tuple-style `items`); validate it as such.
    let v = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&schema)
            .unwrap_or_else(|e| panic!("schema {name} does not compile: {e}")),
    );
    cache.lock().unwrap().insert(name.to_string(), v.clone());
    v
}

/// Panics with every violation when `value` does not validate against definition `name`.
pub fn assert_valid(name: &str, value: &Value) {
    let v = validator(name);
    let errors: Vec<String> = v.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{name} violations:\n{}\nvalue: {value}", errors.join("\n"));
}

/// Checks a method's successful payload against its `*Result` definition, where the schema has
/// one.
pub fn assert_result(method: &str, params: &Value, payload: &Value) {
    let def = match method {
        "agents.list" => "AgentsListResult",
        "models.list" => "ModelsListResult",
        "sessions.delete" => "SessionsDeleteResult",
        "update.status" => "UpdateStatusResult",
        "agent.identity.get" => "AgentIdentityResult",
        "sessions.observer.visibility" => "SessionsObserverVisibilityResult",
        "system.info" => "SystemInfoResult",
        "question.list" => "QuestionListResult",
        "tasks.list" => "TasksListResult",
        "progressCard.get" => "ProgressCardGetResult",
        "sessions.branches.list" => "SessionsBranchesListResult",
        "sessions.companion.state" => "SessionsCompanionStateResult",
        "talk.catalog" => "TalkCatalogResult",
        "sessions.catalog.list" => "SessionsCatalogListResult",
        "plugins.list" => "PluginsListResult",
        "exec.approvals.get" => "ExecApprovalsSnapshot",
        "system-presence" => return payload.as_array().into_iter().flatten().for_each(|e| assert_valid("PresenceEntry", e)),
        "chat.startup" if params.get("cursor").is_some() => "ChatHistoryCursorResult",
        "chat.history" if params.get("cursor").is_some() => "ChatHistoryCursorResult",
        _ => return,
    };
    assert_valid(def, payload);
}

/// Every frame the gateway sends must be a `ResponseFrame` or an `EventFrame`; known payloads
/// are checked against their own definitions too.
pub fn assert_frame(frame: &Value) {
    match frame["type"].as_str() {
        Some("res") => {
            assert_valid("ResponseFrame", frame);
            if let Some(err) = frame.get("error") {
                assert_valid("ErrorShape", err);
            }
            if frame["payload"]["type"] == "hello-ok" {
                assert_valid("HelloOk", &frame["payload"]);
            }
        }
        Some("event") => {
            assert_valid("EventFrame", frame);
            let payload = &frame["payload"];
            match frame["event"].as_str() {
                Some("tick") => assert_valid("TickEvent", payload),
                Some("shutdown") => assert_valid("ShutdownEvent", payload),
                Some("health") => assert_valid(
                    "Snapshot",
                    &json!({"presence": [], "health": payload, "stateVersion": {"presence": 0, "health": 0}, "uptimeMs": 0}),
                ),
                Some("chat") => assert_valid("ChatEvent", payload),
                Some("agent") => assert_valid("AgentEvent", payload),
                _ => {}
            }
        }
        other => panic!("frame with unexpected type {other:?}: {frame}"),
    }
}
