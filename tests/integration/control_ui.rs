//! The methods the official Control UI calls: each answers in the official shape (validated
//! against the schema definition where the schema has one; `Client::request` does that), with
//! the params the UI sends (census of openclaw 2026.9.6).

use crate::support::schema::assert_valid;
use crate::support::*;
use serde_json::{Value, json};

const UI_SCOPES: &[&str] =
    &["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.questions", "operator.pairing"];

async fn send_and_wait(c: &mut Client, message: &str) {
    let run_id = format!("ui-run-{}", std::process::id());
    c.call("chat.send", json!({"sessionKey": "main", "message": message, "idempotencyKey": run_id, "deliver": false})).await;
    c.collect_until(WAIT, |f| f["event"] == "chat" && f["payload"]["runId"] == run_id.as_str() && f["payload"]["state"] == "final").await;
}

#[test]
fn start_up_methods_answer_the_official_shapes() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, hello) = Client::connect(gw.port, TOKEN, UI_SCOPES).await;
        assert!(hello["auth"]["scopes"].as_array().unwrap().iter().any(|s| s == "operator.questions"));
        let sub = c.call("sessions.subscribe", json!({})).await;
        assert_eq!(sub, json!({"subscribed": true}));
        let u = c.call("update.status", json!({})).await;
        assert_eq!(u, json!({"sentinel": null, "updateAvailable": null}));
        let pl = c.call("plugins.controlUi.list", json!({})).await;
        assert_eq!(pl, json!({"revision": "0", "plugins": [], "diagnostics": []}));
        for m in ["exec.approval.list", "plugin.approval.list", "openclaw.approval.list"] {
            assert_eq!(c.call(m, json!({})).await, json!([]), "{m}");
        }
        let id = c.call("agent.identity.get", json!({"agentId": "main"})).await;
        assert_valid("AgentIdentityResult", &id);
        assert_eq!(id["agentId"], "main");
        assert_eq!(id["nameSource"], "default");
        let by_key = c.call("agent.identity.get", json!({"sessionKey": "agent:main:main"})).await;
        assert_eq!(by_key["agentId"], "main");
        let r = c.request("agent.identity.get", json!({"agentId": "nobody"})).await;
        assert_eq!(r["error"]["code"], "INVALID_REQUEST");
        assert_eq!(c.call("sessions.observer.visibility", json!({"visible": true})).await, json!({"ok": true}));
        let r = c.request("sessions.observer.visibility", json!({})).await;
        assert_eq!(r["error"]["code"], "INVALID_REQUEST", "visible is required");
        let q = c.call("question.list", json!({})).await;
        assert_eq!(q, json!({"questions": []}));
        // Not advertised: the UI skips them (and the first-run redirect needs setup.detect).
        let methods = hello["features"]["methods"].as_array().unwrap();
        for absent in ["openclaw.setup.detect", "users.prefs.get", "terminal.open", "config.schema"] {
            assert!(!methods.iter().any(|m| m == absent), "{absent} is not implemented");
            let r = c.request(absent, json!({})).await;
            assert_eq!(r["error"]["code"], "INVALID_REQUEST", "{absent}: {r}");
        }
        // question.list needs operator.questions (or admin).
        let (mut reader, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let r = reader.request("question.list", json!({})).await;
        assert_eq!(r["error"]["details"]["missingScope"], "operator.questions");
        let (mut asker, _) = Client::connect(gw.port, TOKEN, &["operator.questions"]).await;
        assert_eq!(asker.call("question.list", Value::Null).await, json!({"questions": []}));
    });
}

#[test]
fn chat_page_methods_open_a_session_and_show_its_history() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, UI_SCOPES).await;
        // Before the first message: no session yet.
        assert_eq!(c.call("sessions.describe", json!({"key": "main"})).await, json!({"session": null}));
        let start = c.call("chat.startup", json!({"sessionKey": "main", "limit": 80, "maxBytes": 262144})).await;
        assert_eq!(start["messages"], json!([]));
        assert_eq!(start["pendingInputs"], json!({"items": [], "total": 0}));
        assert_eq!(start["sessionInfo"]["hasActiveRun"], false);
        let sub = c.call("sessions.messages.subscribe", json!({"key": "main", "includeApprovals": true})).await;
        assert_eq!(sub, json!({"subscribed": true, "key": "agent:main:main"}));
        let meta = c.call("chat.metadata", json!({"agentId": "main", "sessionKey": "main"})).await;
        assert_eq!(meta["models"][0]["provider"], "offline");
        assert_valid("ModelChoice", &meta["models"][0]);
        assert_eq!(meta["commands"], json!([]));
        let r = c.request("chat.metadata", json!({"sessionKey": "main", "authProfileId": "p"})).await;
        assert_eq!(r["error"]["code"], "INVALID_REQUEST");
        let auth = c.call("models.authStatus", json!({"refresh": false})).await;
        assert!(auth["ts"].as_u64().is_some() && auth["providers"] == json!([]));
        let models = c.call("models.list", json!({"view": "default", "agentId": "main", "sessionKey": "main", "preparedOnly": true})).await;
        assert_eq!(models["models"][0]["provider"], "offline");

        send_and_wait(&mut c, "hello from the ui").await;
        let start = c.call("chat.startup", json!({"sessionKey": "main", "limit": 80, "maxBytes": 262144})).await;
        let texts: Vec<String> = start["messages"].as_array().unwrap().iter().map(|m| m["content"].to_string()).collect();
        assert_eq!(texts.len(), 2, "{start}");
        assert!(texts[0].contains("hello from the ui") && texts[1].contains("[offline]"), "{texts:?}");
        assert!(start["sessionId"].as_str().is_some() && start["deltaCursor"].as_str().is_some());
        let cursor = start["deltaCursor"].clone();
        let delta = c.call("chat.startup", json!({"sessionKey": "main", "cursor": cursor})).await;
        assert_eq!(delta["kind"], "delta");
        assert_eq!(delta["messages"], json!([]));
        let d = c.call("sessions.describe", json!({"key": "agent:main:main", "includeLastMessage": true})).await;
        assert_eq!(d["session"]["key"], "agent:main:main");
        assert_eq!(d["session"]["sessionId"], start["sessionId"]);
        assert_eq!(d["session"]["agentId"], "main");
        let r = c.request("chat.startup", json!({"shortId": "x", "agentId": "main"})).await;
        assert_eq!(r["error"]["code"], "INVALID_REQUEST");
        let un = c.call("sessions.messages.unsubscribe", json!({"key": "main"})).await;
        assert_eq!(un, json!({"subscribed": false, "key": "agent:main:main"}));

        // The rest of the Chat page: features this gateway does not have, empty and valid.
        assert_eq!(c.call("talk.catalog", json!({})).await["realtime"]["ready"], false);
        assert_eq!(c.call("progressCard.get", json!({"sessionKey": "main"})).await, json!({"card": null}));
        let tasks = c.call("tasks.list", json!({"sessionKey": "main", "agentId": "main", "status": ["running"], "limit": 20})).await;
        assert_eq!(tasks, json!({"tasks": []}));
        assert_eq!(c.call("sessions.branches.list", json!({"sessionKey": "main"})).await, json!({"branches": []}));
        let r = c.request("sessions.branches.list", json!({"key": "main"})).await;
        assert_eq!(r["error"]["code"], "INVALID_REQUEST", "sessionKey, not key");
        assert_eq!(c.call("sessions.companion.state", json!({"sessionKey": "main"})).await, json!({"exchanges": []}));
        assert_eq!(c.call("sessions.catalog.list", json!({"agentId": "main", "metadataOnly": true})).await, json!({"catalogs": []}));
        let cron = c
            .call(
                "cron.list",
                json!({"includeDisabled": true, "includeDeliveryPreviews": false, "limit": 50, "offset": 0,
                       "enabled": "all", "sortBy": "nextRunAtMs", "sortDir": "asc"}),
            )
            .await;
        assert_eq!(cron, json!({"jobs": [], "total": 0, "offset": 0, "limit": 50, "hasMore": false, "nextOffset": null}));
        assert_eq!(c.call("cron.status", json!({})).await, json!({"enabled": false, "jobs": 0, "nextWakeAtMs": null}));
    });
}

#[test]
fn overview_config_and_devices_methods_report_the_host() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, UI_SCOPES).await;
        let info = c.call("system.info", json!({})).await;
        assert_eq!(info["pid"], gw.child.id());
        assert_eq!(info["port"], gw.port);
        assert!(info["memoryTotalBytes"].as_u64().unwrap() > 0);
        assert!(info["cpuCount"].as_u64().unwrap() >= 1);
        assert_eq!(info["hostname"], info["machineName"]);
        let lanes = c.call("diagnostics.lanes", json!({})).await;
        assert_eq!(lanes["lanes"], json!([]));
        assert_eq!(lanes["dynamic"], Value::Null);
        assert_eq!(c.call("node.list", json!({})).await["nodes"], json!([]));
        assert_eq!(c.call("plugins.list", json!({})).await, json!({"plugins": [], "diagnostics": [], "mutationAllowed": false}));
        let models = c.call("models.list", json!({"view": "configured", "preparedOnly": true, "agentId": "main"})).await;
        assert!(!models["models"].as_array().unwrap().is_empty());
        // Read scope is enough for all of these but update.status.
        let (mut reader, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        for m in ["system.info", "diagnostics.lanes", "node.list", "cron.status", "chat.metadata", "plugins.controlUi.list"] {
            reader.call(m, json!({})).await;
        }
        let r = reader.request("update.status", json!({})).await;
        assert_eq!(r["error"]["details"]["missingScope"], "operator.admin");
        let r = reader.request("exec.approval.list", json!({})).await;
        assert_eq!(r["error"]["details"]["missingScope"], "operator.approvals");
    });
}
