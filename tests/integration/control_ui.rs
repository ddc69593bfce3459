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
        let ea = c.call("exec.approvals.get", json!({})).await;
        assert_eq!((ea["exists"].clone(), ea["file"].clone()), (json!(false), json!({"version": 1})));
        let themes = c.call("themes.list", json!({})).await;
        assert_eq!(themes["current"]["id"], "claw");
        assert_eq!(themes["themes"][0]["id"], "claw");
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

// ---- gateway.controlUi.root ------------------------------------------------------------------

const INDEX: &str = r#"<!doctype html><html data-openclaw-control-ui-build-id="b1" lang="en"><head><link rel="icon" href="./favicon.svg"><link rel="manifest" href="./manifest.webmanifest"><script>window.theme = 1;</script><script type="module" src="./assets/index-abc.js"></script></head><body></body></html>"#;

/// A temp dir laid out like `dist/control-ui`, plus a secret beside it and a symlink out.
fn ui_root(home: &std::path::Path) -> std::path::PathBuf {
    let root = home.join("ui");
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::create_dir_all(root.join("fonts")).unwrap();
    std::fs::write(root.join("index.html"), INDEX).unwrap();
    std::fs::write(root.join("assets/index-abc.js"), "console.log('plain')").unwrap();
    std::fs::write(root.join("assets/index-abc.js.br"), "BROTLI").unwrap();
    std::fs::write(root.join("assets/index-abc.js.gz"), "GZIP").unwrap();
    std::fs::write(root.join("assets/only-plain.css"), "body{}").unwrap();
    std::fs::write(root.join("sw.js"), "self.addEventListener('fetch', () => {})").unwrap();
    std::fs::write(root.join("manifest.webmanifest"), "{}").unwrap();
    std::fs::write(root.join("fonts/a.woff2"), "woff").unwrap();
    std::fs::write(home.join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(home.join("secret.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(home, root.join("up")).unwrap();
    std::fs::create_dir_all(root.join("dir.js")).unwrap();
    root
}

async fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    http_raw(port, req.as_bytes()).await
}

fn root_gateway(base_path: &str) -> (Gw, std::path::PathBuf) {
    let home = std::sync::Arc::new(TempDir::new("ui-root"));
    let root = ui_root(home.path());
    let mut cfg = json!({"gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN},
                                     "controlUi": {"root": root.to_str().unwrap()}}});
    if !base_path.is_empty() {
        cfg["gateway"]["controlUi"]["basePath"] = json!(base_path);
    }
    (Gw::builder().home(home).config(cfg).start(), root)
}

#[test]
fn the_root_serves_the_ui_with_rewritten_index_spa_fallback_and_precompressed_assets() {
    let (gw, _root) = root_gateway("");
    block_on(async {
        let html = [("Accept", "text/html,application/xhtml+xml")];
        for route in ["/", "/chat", "/settings/general", "/deep/nested/route?x=1"] {
            let r = get(gw.port, route, &html).await;
            assert_eq!(r.status, 200, "{route}");
            let body = r.text();
            assert!(body.contains(r#"src="/assets/index-abc.js""#) && body.contains(r#"href="/favicon.svg""#), "{body}");
            assert!(
                body.contains(r#"data-openclaw-control-ui-base-path="""#) && body.contains(r#"data-openclaw-terminal-enabled="false""#)
            );
            assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
            assert_eq!(r.header("Cache-Control"), Some("no-cache"));
            assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
            let csp = r.header("Content-Security-Policy").unwrap();
            assert!(csp.contains("'sha256-") && csp.contains("frame-ancestors 'none'"), "{csp}");
        }
        // Unknown paths are 404 for non-HTML requests and for files of a known type.
        assert_eq!(get(gw.port, "/chat", &[("Accept", "application/json")]).await.status, 404);
        assert_eq!(get(gw.port, "/missing.png", &html).await.status, 404);
        // Assets, also resolved against an SPA route, precompressed when accepted.
        let r = get(gw.port, "/assets/index-abc.js", &[("Accept-Encoding", "gzip, deflate, br")]).await;
        assert_eq!((r.status, r.header("Content-Encoding"), r.text().as_str()), (200, Some("br"), "BROTLI"));
        assert_eq!(r.header("Content-Type"), Some("application/javascript; charset=utf-8"));
        assert_eq!(r.header("Cache-Control"), Some("public, max-age=31536000, immutable"));
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
        let r = get(gw.port, "/chat/assets/index-abc.js", &[("Accept-Encoding", "gzip")]).await;
        assert_eq!((r.status, r.header("Content-Encoding"), r.text().as_str()), (200, Some("gzip"), "GZIP"));
        let r = get(gw.port, "/assets/index-abc.js", &[]).await;
        assert_eq!((r.header("Content-Encoding"), r.text().as_str()), (None, "console.log('plain')"));
        assert_eq!(get(gw.port, "/assets/only-plain.css", &[("Accept-Encoding", "identity;q=0")]).await.status, 406);
        assert_eq!(get(gw.port, "/assets/index-abc.js.br", &[]).await.status, 404, "no direct .br");
        let sw = get(gw.port, "/sw.js", &[]).await;
        assert_eq!((sw.status, sw.header("Cache-Control")), (200, Some("no-cache")));
        assert_eq!(get(gw.port, "/__openclaw__/sw.js", &[]).await.status, 200);
        let m = get(gw.port, "/manifest.webmanifest", &[]).await;
        assert_eq!(m.header("Content-Type"), Some("application/manifest+json; charset=utf-8"));
        assert_eq!(get(gw.port, "/fonts/a.woff2", &[]).await.header("Content-Type"), Some("font/woff2"));
        // Nothing outside the root: traversal, encoded traversal, symlinks out, directories.
        for bad in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/assets/%2e%2e/%2e%2e/secret.txt",
            "/escape.txt",
            "/up/secret.txt",
            "/dir.js",
            "/a%00.js",
        ] {
            let r = get(gw.port, bad, &[("Accept", "application/json")]).await;
            assert_eq!(r.status, 404, "{bad}");
            assert!(!r.text().contains("top secret"), "{bad}");
        }
        // Other handlers keep their paths; HEAD has no body; other methods get 405.
        assert_eq!(get(gw.port, "/health", &[]).await.status, 200);
        assert_eq!(get(gw.port, "/api/x", &html).await.status, 404);
        let r = http_raw(gw.port, b"HEAD /chat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        assert_eq!(http_post(gw.port, "/chat", &[], "{}").await.status, 405);
        // The WebSocket still works on the same port.
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        c.call("health", Value::Null).await;
    });
}

#[test]
fn config_json_and_plugin_icons_need_the_bearer() {
    let (gw, _root) = root_gateway("");
    block_on(async {
        for path in ["/control-ui-config.json", "/__openclaw__/control-ui-config.json", "/__openclaw/control-ui-config.json"] {
            let r = get(gw.port, path, &[]).await;
            assert_eq!(r.status, 401, "{path}");
            assert_eq!(r.json(), json!({"error": {"message": "Unauthorized", "type": "unauthorized"}}));
            let r = get(gw.port, path, &[("Authorization", &format!("Bearer {TOKEN}"))]).await;
            assert_eq!(r.status, 200, "{path}");
            let c = r.json();
            assert_eq!(c["basePath"], "");
            assert_eq!(c["assistantAgentId"], "main");
            assert_eq!(c["assistantName"], "main");
            assert_eq!(c["serverVersion"], env!("CARGO_PKG_VERSION"));
            assert_eq!(c["terminalEnabled"], false);
            assert_eq!(c["pluginAssetsRequireAuth"], true);
        }
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(get(gw.port, "/__openclaw__/plugin-icon/telegram", &[]).await.status, 401);
        let r = get(gw.port, "/__openclaw__/plugin-icon/telegram", &[("Authorization", &bearer)]).await;
        assert_eq!((r.status, r.header("Content-Type")), (200, Some("image/svg+xml")));
        assert!(r.text().starts_with("<svg"));
        assert_eq!(get(gw.port, "/__openclaw__/plugin-icon/nope", &[("Authorization", &bearer)]).await.status, 404);
    });
}

#[test]
fn under_a_base_path_only_that_prefix_is_the_ui() {
    let (gw, _root) = root_gateway("/console/");
    block_on(async {
        let html = [("Accept", "text/html")];
        let r = get(gw.port, "/console?a=1", &html).await;
        assert_eq!((r.status, r.header("Location")), (302, Some("/console/?a=1")));
        let r = get(gw.port, "/console/chat", &html).await;
        assert_eq!(r.status, 200);
        let body = r.text();
        assert!(
            body.contains(r#"src="/console/assets/index-abc.js""#) && body.contains(r#"data-openclaw-control-ui-base-path="/console""#)
        );
        assert_eq!(get(gw.port, "/console/chat/assets/index-abc.js", &[]).await.text(), "console.log('plain')");
        assert_eq!(get(gw.port, "/chat", &html).await.status, 404, "outside the base path");
        let r = get(gw.port, "/console/control-ui-config.json", &[("Authorization", &format!("Bearer {TOKEN}"))]).await;
        assert_eq!(r.json()["basePath"], "/console");
        assert_eq!(get(gw.port, "/__openclaw__/control-ui-config.json", &[]).await.status, 404, "the alias is for an empty base only");
    });
}
