//! The WebSocket protocol v4: challenge, handshake refusals (each with its official code, message
//! and close code), hello-ok, methods, events, limits and shutdown. Every frame received is
//! validated against the official schema by the support client.

use crate::support::schema::{self, assert_valid};
use crate::support::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Opens a socket, reads the challenge, sends `first` and returns what came back.
async fn first_frame(port: u16, first: &str) -> (Client, Value) {
    let mut c = Client::open(port).await;
    let challenge = c.recv().await.unwrap();
    c.send_text(first).await;
    (c, challenge)
}

async fn refused_connect(port: u16, params: Value) -> (Value, Closed) {
    let (mut c, _) = first_frame(port, &json!({"type": "req", "id": "c1", "method": "connect", "params": params}).to_string()).await;
    let res = c.recv().await.expect("no response to connect");
    assert_eq!(res["id"], "c1");
    assert_eq!(res["ok"], false);
    let closed = c.closed().await.expect("no close frame");
    (res["error"].clone(), closed)
}

#[test]
fn server_speaks_first_with_a_challenge() {
    let gw = Gw::start();
    block_on(async {
        let mut c = Client::open(gw.port).await;
        let ch = c.recv().await.unwrap();
        assert_eq!(ch["type"], "event");
        assert_eq!(ch["event"], "connect.challenge");
        assert!(ch.get("seq").is_none(), "the challenge carries no seq");
        assert_eq!(ch["payload"]["nonce"].as_str().unwrap().len(), 36);
        let ts = ch["payload"]["ts"].as_u64().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(now.abs_diff(ts) < 10_000);
    });
}

#[test]
fn hello_ok_has_every_required_field_and_lists_exactly_our_methods() {
    let gw = Gw::start();
    block_on(async {
        let (_c, hello) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        assert_eq!(hello["type"], "hello-ok");
        assert_eq!(hello["protocol"], 4);
        assert_eq!(hello["server"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(hello["server"]["connId"].as_str().unwrap().len(), 36);
        let methods: Vec<&str> = hello["features"]["methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
        assert_eq!(
            methods,
            [
                "health",
                "status",
                "system-presence",
                "last-heartbeat",
                "logs.tail",
                "config.get",
                "config.set",
                "config.patch",
                "config.apply",
                "secrets.reload",
                "channels.status",
                "channels.start",
                "channels.stop",
                "channels.pairing.list",
                "channels.pairing.approve",
                "channels.pairing.dismiss",
                "send",
                "chat.send",
                "chat.history",
                "chat.abort",
                "chat.inject",
                "agent",
                "agent.wait",
                "wake",
                "sessions.list",
                "sessions.reset",
                "sessions.delete",
                "sessions.patch",
                "models.list",
                "agents.list",
                "sessions.subscribe",
                "sessions.messages.subscribe",
                "sessions.messages.unsubscribe",
                "sessions.describe",
                "sessions.observer.visibility",
                "chat.startup",
                "chat.metadata",
                "models.authStatus",
                "update.status",
                "agent.identity.get",
                "system.info",
                "diagnostics.lanes",
                "exec.approval.list",
                "plugin.approval.list",
                "openclaw.approval.list",
                "question.list",
                "cron.list",
                "cron.status",
                "node.list",
                "tasks.list",
                "progressCard.get",
                "sessions.branches.list",
                "sessions.companion.state",
                "talk.catalog",
                "sessions.catalog.list",
                "plugins.list",
                "plugins.controlUi.list",
                "exec.approvals.get",
                "themes.list",
                "device.pair.list",
                "device.pair.approve",
                "device.pair.reject",
                "device.pair.remove"
            ]
        );
        // Each advertised method exists in the official table with the scope we enforce (or is
        // newer than the shared schema: official since 2026.9).
        for m in &methods {
            assert!(schema::methods_table().get(*m).is_some() || schema::NEWER_METHODS.contains(m), "{m} is not an official method");
        }
        assert!(hello["features"]["events"].as_array().unwrap().iter().any(|e| e == "tick"));
        assert_eq!(hello["auth"], json!({"role": "operator", "scopes": ["operator.admin"]}));
        assert_eq!(hello["policy"], json!({"maxPayload": 26214400, "maxBufferedBytes": 52428800, "tickIntervalMs": 30000}));
        let snap = &hello["snapshot"];
        assert_eq!(snap["presence"][0]["mode"], "gateway");
        assert_eq!(snap["health"]["ok"], true);
        assert!(snap["uptimeMs"].as_u64().is_some());
        assert_eq!(snap["sessionDefaults"]["mainSessionKey"], "agent:main:main");
        assert_eq!(snap["configPath"], "~/.openclaw/openclaw.json", "admins see paths");
        assert_eq!(snap["authMode"], "token");
        assert!(snap["appliedConfigHash"].as_str().unwrap().starts_with("hmac-sha256:v1:"));
    });
}

#[test]
fn read_scope_hello_omits_paths_and_probe_clients_get_no_scopes() {
    let gw = Gw::start();
    block_on(async {
        let (_c, hello) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        assert!(hello["snapshot"].get("configPath").is_none());
        assert!(hello["snapshot"].get("authMode").is_none());

        let (mut c, _) = first_frame(
            gw.port,
            &json!({"type": "req", "id": "p", "method": "connect", "params": {
                "minProtocol": 3, "maxProtocol": 4,
                "client": {"id": "cli", "version": "dev", "platform": "linux", "mode": "probe"},
                "auth": {"token": TOKEN}, "role": "operator", "scopes": ["operator.read"]}})
            .to_string(),
        )
        .await;
        let res = c.recv().await.unwrap();
        assert_eq!(res["ok"], true, "{res}");
        assert_eq!(res["payload"]["auth"]["scopes"], json!([]));
        // Without read scope, system-presence is forbidden, exactly as `gateway status` sees it.
        let r = c.request("system-presence", Value::Null).await;
        assert_eq!(
            r["error"],
            json!({"code": "FORBIDDEN", "message": "missing scope: operator.read",
                   "details": {"code": "MISSING_SCOPE", "missingScope": "operator.read", "requiredScopes": ["operator.read"]}})
        );
    });
}

#[test]
fn first_request_must_be_connect() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = first_frame(gw.port, r#"{"type":"req","id":"r1","method":"health","params":{}}"#).await;
        let res = c.recv().await.unwrap();
        assert_eq!(
            res,
            json!({"type": "res", "id": "r1", "ok": false, "error": {"code": "INVALID_REQUEST", "message": "invalid handshake: first request must be connect"}})
        );
        assert_eq!(c.closed().await.unwrap(), Closed { code: 1008, reason: "invalid handshake: first request must be connect".into() });
    });
}

#[test]
fn first_frame_that_is_not_a_request_closes_1008_without_reply() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = first_frame(gw.port, r#"{"type":"event","event":"hello"}"#).await;
        assert_eq!(c.closed().await.unwrap(), Closed { code: 1008, reason: "invalid request frame".into() });
        assert!(c.pending().is_empty(), "no response frame: {:?}", c.pending());
    });
}

#[test]
fn malformed_json_before_connect_closes_1000() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = first_frame(gw.port, "this is {not json").await;
        assert_eq!(c.closed().await.unwrap(), Closed { code: 1000, reason: String::new() });
    });
}

#[test]
fn silent_client_is_closed_at_the_handshake_deadline() {
    let gw = Gw::builder().env("OPENCLAW_HANDSHAKE_TIMEOUT_MS", "400").start();
    block_on(async {
        let started = Instant::now();
        let mut c = Client::open(gw.port).await;
        c.recv().await.unwrap();
        assert_eq!(c.closed().await.unwrap(), Closed { code: 1000, reason: String::new() });
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(350) && took < Duration::from_secs(3), "{took:?}");
    });
}

#[test]
fn oversized_frame_before_connect_closes_1009() {
    let gw = Gw::start();
    block_on(async {
        let big = format!(r#"{{"type":"req","id":"x","method":"connect","params":{{"pad":"{}"}}}}"#, "a".repeat(70_000));
        let (mut c, _) = first_frame(gw.port, &big).await;
        assert_eq!(c.closed().await.unwrap(), Closed { code: 1009, reason: String::new() });
        // The gateway is unharmed.
        let (_c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
    });
}

#[test]
fn invalid_connect_params_get_schema_style_messages() {
    let gw = Gw::start();
    block_on(async {
        let mut p = connect_params(TOKEN, &[]);
        p.as_object_mut().unwrap().remove("client");
        let (err, closed) = refused_connect(gw.port, p).await;
        assert_eq!(err, json!({"code": "INVALID_REQUEST", "message": "invalid connect params: must have required property 'client'"}));
        assert_eq!(closed, Closed { code: 1008, reason: "invalid connect params: must have required property 'client'".into() });

        let mut p = connect_params(TOKEN, &[]);
        p["client"]["id"] = json!("my-tool");
        let (err, closed) = refused_connect(gw.port, p).await;
        assert_eq!(err["message"], "invalid connect params: at /client/id: must be equal to one of the allowed values");
        assert_eq!(closed.code, 1008);

        let mut p = connect_params(TOKEN, &[]);
        p["foo"] = json!(1);
        let (err, _) = refused_connect(gw.port, p).await;
        assert_eq!(err["message"], "invalid connect params: at root: unexpected property 'foo'");
    });
}

#[test]
fn protocol_mismatch_closes_1002_with_details() {
    let gw = Gw::start();
    block_on(async {
        let mut p = connect_params(TOKEN, &[]);
        p["minProtocol"] = json!(1);
        p["maxProtocol"] = json!(3);
        let (err, closed) = refused_connect(gw.port, p).await;
        assert_eq!(
            err,
            json!({"code": "INVALID_REQUEST", "message": "protocol mismatch", "details": {
                "code": "PROTOCOL_MISMATCH", "clientMinProtocol": 1, "clientMaxProtocol": 3, "expectedProtocol": 4, "minimumProbeProtocol": 3}})
        );
        assert_eq!(closed, Closed { code: 1002, reason: "protocol mismatch".into() });
    });
}

#[test]
fn wrong_token_is_refused_slowly_with_auth_details() {
    let gw = Gw::start();
    block_on(async {
        let started = Instant::now();
        let (err, closed) = refused_connect(gw.port, connect_params("not-the-token", &["operator.read"])).await;
        assert!(started.elapsed() >= Duration::from_millis(200), "failures are delayed");
        let msg = "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)";
        assert_eq!(
            err,
            json!({"code": "INVALID_REQUEST", "message": msg, "details": {
                "code": "AUTH_TOKEN_MISMATCH", "authReason": "token_mismatch", "canRetryWithDeviceToken": false,
                "recommendedNextStep": "update_auth_credentials"}})
        );
        assert_eq!(closed, Closed { code: 1008, reason: msg.into() });
    });
    // The secret never reaches the logs.
    let log = std::fs::read_to_string(gw.log_file()).unwrap();
    assert!(!log.contains(TOKEN) && !log.contains("not-the-token"), "a secret leaked into the log");
}

#[test]
fn no_credentials_means_device_identity_required() {
    let gw = Gw::start();
    block_on(async {
        let mut p = connect_params("", &[]);
        p.as_object_mut().unwrap().remove("auth");
        let (err, closed) = refused_connect(gw.port, p).await;
        assert_eq!(
            err,
            json!({"code": "NOT_PAIRED", "message": "device identity required", "details": {"code": "DEVICE_IDENTITY_REQUIRED"}})
        );
        assert_eq!(closed, Closed { code: 1008, reason: "device identity required".into() });
    });
}

#[test]
fn password_mode_checks_the_password() {
    let gw = Gw::builder().config(json!({"gateway": {"mode": "local", "auth": {"mode": "password", "password": "pw-123"}}})).start();
    block_on(async {
        let mut p = connect_params("", &["operator.read"]);
        p["auth"] = json!({"password": "pw-123"});
        let (mut c, _) = first_frame(gw.port, &json!({"type": "req", "id": "c", "method": "connect", "params": p}).to_string()).await;
        assert_eq!(c.recv().await.unwrap()["ok"], true);
        let mut p = connect_params("", &[]);
        p["auth"] = json!({"password": "wrong"});
        let (err, _) = refused_connect(gw.port, p).await;
        assert_eq!(err["details"]["code"], "AUTH_PASSWORD_MISMATCH");
    });
}

#[test]
fn disallowed_origin_is_refused_and_allowed_browsers_get_no_scopes() {
    let gw = Gw::start();
    block_on(async {
        let mut c = Client::open_with(gw.port, "/", &[("Origin", "http://evil.example")]).await;
        c.recv().await.unwrap();
        c.send_json(&json!({"type": "req", "id": "c", "method": "connect", "params": connect_params(TOKEN, &["operator.admin"])})).await;
        let res = c.recv().await.unwrap();
        let msg = "origin not allowed (open the Control UI from the gateway host or allow it in gateway.controlUi.allowedOrigins)";
        assert_eq!(
            res["error"],
            json!({"code": "INVALID_REQUEST", "message": msg, "details": {"code": "CONTROL_UI_ORIGIN_NOT_ALLOWED", "reason": "origin not allowed"}})
        );
        assert_eq!(c.closed().await.unwrap(), Closed { code: 1008, reason: msg.into() });

        let origin = format!("http://127.0.0.1:{}", gw.port);
        let mut c = Client::open_with(gw.port, "/", &[("Origin", origin.as_str())]).await;
        c.recv().await.unwrap();
        c.send_json(&json!({"type": "req", "id": "c", "method": "connect", "params": connect_params(TOKEN, &["operator.admin"])})).await;
        let res = c.recv().await.unwrap();
        assert_eq!(res["ok"], true, "{res}");
        assert_eq!(res["payload"]["auth"]["scopes"], json!([]), "token-only browser clients get no scopes");
    });
}

#[test]
fn repeated_failures_lock_out_the_ip() {
    let gw = Gw::builder()
        .config(json!({"gateway": {"mode": "local", "auth": {"token": TOKEN, "rateLimit": {"maxAttempts": 2, "exemptLoopback": false}}}}))
        .start();
    block_on(async {
        for _ in 0..2 {
            let (err, _) = refused_connect(gw.port, connect_params("bad", &[])).await;
            assert_eq!(err["details"]["code"], "AUTH_TOKEN_MISMATCH");
        }
        // Locked out now, even with the right token.
        let (err, closed) = refused_connect(gw.port, connect_params(TOKEN, &[])).await;
        assert_eq!(err["message"], "unauthorized: too many failed authentication attempts (retry later)");
        assert_eq!(err["details"]["code"], "AUTH_RATE_LIMITED");
        assert_eq!(err["retryable"], true);
        assert!(err["retryAfterMs"].as_u64().unwrap() > 250_000);
        assert_eq!(closed.code, 1008);
    });
}

#[test]
fn after_hello_bad_frames_get_errors_and_the_connection_stays_open() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;

        let r = c.request("no.such.method", Value::Null).await;
        assert_eq!(r["error"], json!({"code": "INVALID_REQUEST", "message": "unknown method: no.such.method"}));

        let r = c.request("connect", connect_params(TOKEN, &[])).await;
        assert_eq!(r["error"]["message"], "connect is only valid as the first request");

        c.send_text("{this is not json").await; // ignored
        c.send_text(r#"{"type":"req","method":"health"}"#).await;
        let r = c.response("invalid").await;
        assert_eq!(r["error"]["message"], "invalid request frame: must have required property 'id'");

        c.send_text(r#"{"type":"res","id":"zz","ok":true}"#).await;
        let r = c.response("zz").await;
        assert_eq!(
            r["error"]["message"],
            "invalid request frame: must have required property 'method'; at root: unexpected property 'ok'; at /type: must be equal to constant"
        );

        c.send_text("[1,2,3]").await;
        let r = c.response("invalid").await;
        assert_eq!(r["error"]["message"], "invalid request frame: must be object");

        let r = c.request("logs.tail", json!({"limit": 0, "bogus": 1})).await;
        assert_eq!(r["error"]["message"], "invalid logs.tail params: at root: unexpected property 'bogus'; at /limit: must be >= 1");

        // Still serving.
        let h = c.call("health", json!({"pad": "x".repeat(100_000)})).await;
        assert_eq!(h["ok"], true);
    });
}

#[test]
fn missing_scope_is_forbidden() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &[]).await;
        let r = c.request("health", Value::Null).await;
        assert_eq!(r["error"]["code"], "FORBIDDEN");
        assert_eq!(r["error"]["details"]["missingScope"], "operator.read");
        let (mut w, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        assert_eq!(w.call("health", Value::Null).await["ok"], true, "write implies read");
    });
}

#[test]
fn read_methods_return_their_documented_shapes() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let h = c.call("health", json!({"probe": true})).await;
        assert_eq!(h["ok"], true);
        assert_eq!(h["defaultAgentId"], "main");
        assert!(h["durationMs"].as_u64().is_some());
        let mut h2 = h.clone();
        h2.as_object_mut().unwrap().remove("modelRuntime");
        h2.as_object_mut().unwrap().remove("phase");
        assert_valid("Snapshot", &json!({"presence": [], "health": h2, "stateVersion": {"presence": 1, "health": 1}, "uptimeMs": 1}));

        let s = c.call("status", json!({"includeChannelSummary": false})).await;
        assert_eq!(s["runtimeVersion"], env!("CARGO_PKG_VERSION"));
        assert_eq!(s["pid"], gw.child.id());
        assert!(s["processMemory"]["rssBytes"].as_u64().unwrap() > 0);
        assert_eq!(s["gateway"]["port"], gw.port);

        let p = c.call("system-presence", Value::Null).await;
        assert_eq!(p.as_array().unwrap().len(), 1);
        assert_valid("PresenceEntry", &p[0]);
        assert_eq!(p[0]["reason"], "self");
    });
}

#[test]
fn config_get_redacts_secrets_and_reports_the_hash() {
    let gw = Gw::builder()
        .config_text(&format!("// comment\n{{gateway: {{mode: 'local', auth: {{token: '{TOKEN}'}}}}, plugins: {{}},}}\n"))
        .start();
    block_on(async {
        let (mut c, hello) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let cfg = c.call("config.get", Value::Null).await;
        let text = cfg.to_string();
        assert!(!text.contains(TOKEN), "token leaked in config.get: {text}");
        assert_eq!(cfg["exists"], true);
        assert_eq!(cfg["valid"], true);
        assert_eq!(cfg["parsed"]["gateway"]["auth"]["token"], "__OPENCLAW_REDACTED__");
        assert!(cfg["raw"].as_str().unwrap().starts_with("// comment"));
        assert_eq!(cfg["hash"], hello["snapshot"]["appliedConfigHash"]);
        assert_eq!(cfg["appliedConfigHash"], cfg["hash"]);
        assert_eq!(cfg["ignoredSections"], json!(["plugins"]));
        let r = c.request("config.get", json!({"x": 1})).await;
        assert_eq!(r["error"]["message"], "invalid config.get params: at root: unexpected property 'x'");
    });
}

#[test]
fn logs_tail_serves_the_json_log_file_by_cursor() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let t = c.call("logs.tail", json!({"limit": 50})).await;
        assert_valid("LogsTailResult", &t);
        let lines = t["lines"].as_array().unwrap();
        assert!(!lines.is_empty());
        let first: Value = serde_json::from_str(lines[0].as_str().unwrap()).unwrap();
        assert!(first["_meta"]["logLevelName"].is_string() && first["time"].is_string() && first["message"].is_string(), "{first}");
        assert!(lines.iter().any(|l| l.as_str().unwrap().contains("listening on")));
        // Follow: a failed call logs a line, which the next tail from the cursor returns.
        let cursor = t["cursor"].as_u64().unwrap();
        c.request("no.such.method", Value::Null).await;
        let t2 = c.call("logs.tail", json!({"cursor": cursor})).await;
        assert_valid("LogsTailResult", &t2);
        assert!(t2["lines"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("no.such.method")), "{t2}");
        assert!(t2["cursor"].as_u64().unwrap() > cursor);
    });
    let log = gw.log_file();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&log).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(log.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn ticks_and_health_events_carry_per_connection_seq() {
    let gw = Gw::builder().env("OPENCLAW_TICK_INTERVAL_MS", "150").env("OPENCLAW_HEALTH_INTERVAL_MS", "400").start();
    block_on(async {
        let (mut a, hello) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        assert_eq!(hello["policy"]["tickIntervalMs"], 150);
        let t1 = a.event("tick", WAIT).await.unwrap();
        let (mut b, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let t2 = a.event("tick", WAIT).await.unwrap();
        assert!(t2["seq"].as_u64().unwrap() > t1["seq"].as_u64().unwrap());
        let h = a.event("health", WAIT).await.unwrap();
        assert!(h["stateVersion"]["health"].as_u64().unwrap() >= 2, "{h}");
        let bt = b.event("tick", WAIT).await.unwrap();
        assert!(bt["seq"].as_u64().unwrap() <= 3, "b counts from 1: {bt}");
        // A fresh connection counts its events 1, 2, 3… with no gaps.
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        for expected in 1..=5u64 {
            assert_eq!(c.recv().await.unwrap()["seq"], expected);
        }
    });
}

#[test]
fn unresponsive_clients_are_dropped_by_the_ping_watchdog() {
    let gw = Gw::builder().env("OPENCLAW_WS_PING_INTERVAL_MS", "200").start();
    block_on(async {
        let (mut live, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let (mut dead, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        // `live` keeps reading (its library answers pings); `dead` reads nothing for a while.
        let deadline = Instant::now() + Duration::from_millis(1200);
        while Instant::now() < deadline {
            let _ = timeout(Duration::from_millis(50), live.recv()).await;
        }
        assert_eq!(live.call("health", Value::Null).await["ok"], true, "the reading client stays");
        let r = timeout(Duration::from_secs(2), dead.recv()).await;
        assert!(matches!(r, Ok(None) | Err(())), "the silent client was disconnected: {r:?}");
    });
    assert!(gw.wait_line("ping timeout", WAIT).is_some(), "{:?}", gw.lines());
}

#[test]
fn a_client_that_does_not_read_is_dropped_not_buffered() {
    let gw = Gw::builder().env("OPENCLAW_MAX_BUFFERED_BYTES", "2000000").start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        // Each request's error response echoes its 1 MB id; we never read them.
        let id = "i".repeat(1_000_000);
        for _ in 0..40 {
            let frame = json!({"type": "req", "id": id, "method": "nope"}).to_string();
            if !matches!(timeout(Duration::from_secs(2), c.try_send_text(&frame)).await, Ok(true)) {
                break;
            }
        }
    });
    assert!(gw.wait_line("client too slow", WAIT).is_some(), "{:?}", gw.lines());
    block_on(async {
        let r = http_get(gw.port, "/health").await;
        assert_eq!(r.status, 200, "the gateway is unharmed");
    });
}

#[test]
fn oversized_frame_after_hello_closes_1009() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        // A masked text frame header announcing maxPayload + 1 bytes, then only a little data:
        // the gateway must refuse it from the header, without waiting for (or buffering) 25 MiB.
        let mut frame = vec![0x81, 0x80 | 127];
        frame.extend_from_slice(&(26_214_401u64).to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame.extend_from_slice(&[b'x' ^ 1; 64]);
        c.send_raw(&frame).await;
        let closed = c.closed().await.expect("closed");
        assert_eq!(closed.code, 1009);
    });
}

#[test]
fn upgrade_works_on_any_path_and_echoes_the_first_subprotocol() {
    let gw = Gw::start();
    block_on(async {
        let mut c = Client::open_with(gw.port, "/foo/bar", &[]).await;
        assert_eq!(c.recv().await.unwrap()["event"], "connect.challenge");
        let r = http_raw(
            gw.port,
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        )
        .await;
        assert_eq!(r.status, 101);
        assert_eq!(r.header("Sec-WebSocket-Accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert_eq!(r.header("Sec-WebSocket-Protocol"), Some("a"));
        assert!(r.header("Sec-WebSocket-Extensions").is_none(), "no permessage-deflate");
        let r = http_raw(gw.port, b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").await;
        assert_eq!(r.status, 426);
        assert_eq!(r.header("Sec-WebSocket-Version"), Some("13"));
    });
}

#[test]
fn sigterm_sends_shutdown_then_1012_and_exits_zero_quickly() {
    let mut gw = Gw::start();
    block_on(async {
        let (mut a, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let (mut b, _) = Client::connect(gw.port, TOKEN, &[]).await;
        let started = Instant::now();
        gw.signal(libc::SIGTERM);
        for c in [&mut a, &mut b] {
            let ev = c.event("shutdown", WAIT).await.expect("no shutdown event");
            assert_eq!(ev["payload"], json!({"reason": "gateway stopping"}));
            assert!(ev["seq"].as_u64().is_some());
            assert_eq!(c.closed().await.unwrap(), Closed { code: 1012, reason: "service restart".into() });
        }
        let code = gw.wait_exit(Duration::from_secs(2)).expect("did not exit within 2 s");
        assert_eq!(code, 0);
        assert!(started.elapsed() < Duration::from_secs(2));
    });
    assert!(gw.lines().iter().any(|l| l.contains("received SIGTERM; shutting down")));
}

#[test]
fn sigint_also_stops_cleanly() {
    let mut gw = Gw::start();
    gw.signal(libc::SIGINT);
    assert_eq!(gw.wait_exit(Duration::from_secs(2)), Some(0));
}

/// A `connect` signed with a device identity, as the official clients build it.
fn device_connect(token: &str, nonce: &str, ts: u64, tamper: bool) -> Value {
    use ring::signature::KeyPair;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let kp = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public = kp.public_key().as_ref().to_vec();
    let id = openclaw::encoding::hex(ring::digest::digest(&ring::digest::SHA256, &public).as_ref());
    let payload = format!("v3|{id}|cli|cli|operator|operator.read|{ts}|{token}|{nonce}|linux|linux");
    let mut sig = kp.sign(payload.as_bytes()).as_ref().to_vec();
    if tamper {
        sig[0] ^= 1;
    }
    let mut p = connect_params(token, &["operator.read"]);
    p["device"] = json!({"id": id, "publicKey": openclaw::encoding::base64url(&public),
                         "signature": openclaw::encoding::base64url(&sig), "signedAt": ts, "nonce": nonce});
    p
}

#[test]
fn device_proofs_are_verified_against_the_challenge() {
    let gw = Gw::start();
    block_on(async {
        let mut c = Client::open(gw.port).await;
        let ch = c.recv().await.unwrap();
        let (nonce, ts) = (ch["payload"]["nonce"].as_str().unwrap().to_string(), ch["payload"]["ts"].as_u64().unwrap());
        c.send_json(&json!({"type": "req", "id": "d", "method": "connect", "params": device_connect(TOKEN, &nonce, ts, false)})).await;
        let res = c.recv().await.unwrap();
        assert_eq!(res["ok"], true, "{res}");
        assert_eq!(res["payload"]["auth"]["scopes"], json!(["operator.read"]));

        let mut c = Client::open(gw.port).await;
        let ch = c.recv().await.unwrap();
        let (nonce, ts) = (ch["payload"]["nonce"].as_str().unwrap().to_string(), ch["payload"]["ts"].as_u64().unwrap());
        c.send_json(&json!({"type": "req", "id": "d", "method": "connect", "params": device_connect(TOKEN, &nonce, ts, true)})).await;
        let res = c.recv().await.unwrap();
        assert_eq!(res["error"]["message"], "device signature invalid");
        assert_eq!(res["error"]["details"]["code"], "DEVICE_AUTH_SIGNATURE_INVALID");
        assert_eq!(c.closed().await.unwrap().code, 1008);

        let mut c = Client::open(gw.port).await;
        let ch = c.recv().await.unwrap();
        let ts = ch["payload"]["ts"].as_u64().unwrap();
        c.send_json(&json!({"type": "req", "id": "d", "method": "connect", "params": device_connect(TOKEN, "another-nonce", ts, false)}))
            .await;
        let res = c.recv().await.unwrap();
        assert_eq!(res["error"]["message"], "device nonce mismatch");
    });
}

#[test]
fn verbose_logs_every_request() {
    let gw = Gw::builder().arg("--verbose").start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        c.call("health", Value::Null).await;
    });
    assert!(gw.wait_line("⇄ res ✓ health", WAIT).is_some(), "{:?}", gw.lines());
}

#[test]
fn the_schema_check_itself_rejects_bad_frames() {
    // Guards the guard: a frame missing required fields must fail validation.
    let bad = std::panic::catch_unwind(|| crate::support::schema::assert_frame(&json!({"type": "res", "id": "x"})));
    assert!(bad.is_err());
    let bad = std::panic::catch_unwind(|| {
        crate::support::schema::assert_frame(&json!({"type": "event", "event": "tick", "payload": {"ts": "x"}}))
    });
    assert!(bad.is_err());
}

#[test]
fn large_responses_arrive_whole() {
    // Responses over 16 KiB leave as a text frame plus continuation frames; clients see one message.
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let id = "q".repeat(70_000);
        c.send_json(&json!({"type": "req", "id": id, "method": "nope"})).await;
        let r = c.response(&id).await;
        assert_eq!(r["error"]["message"], "unknown method: nope");
        assert_eq!(c.call("health", Value::Null).await["ok"], true, "the stream stays in sync afterwards");
    });
}

/// Any id, on any method (implemented or not), is answered and never stops the gateway: ids
/// with multi-byte characters (a log line once cut one by byte index and aborted the process),
/// empty, huge and non-string ids.
#[test]
fn every_method_answers_any_id_and_the_gateway_stays_up() {
    let mut gw = Gw::start();
    block_on(async {
        let (mut c, hello) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let mut methods: Vec<String> =
            hello["features"]["methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
        methods.extend(["no.such.method", "", "€", "connect"].map(String::from));
        let huge = "€".repeat(40_000);
        let string_ids = ["€€€€€", "😀😀😀😀😀😀😀😀😀😀😀😀😀😀", "a€b€c€d€e€f€g€h€", huge.as_str()];
        for method in &methods {
            for id in string_ids {
                c.send_json(&json!({"type": "req", "id": id, "method": method})).await;
                let res = c.collect_until(WAIT, |f| f["type"] == "res").await.pop().expect("an answer");
                assert_eq!(res["id"], id, "{method}: the answer goes to the request's own id");
            }
            for id in [json!(""), json!(5), json!(null), json!({"a": 1}), json!(["x"])] {
                c.send_json(&json!({"type": "req", "id": id, "method": method})).await;
                let res = c.collect_until(WAIT, |f| f["type"] == "res").await.pop().expect("an answer");
                assert_eq!(res["id"], "invalid", "{method} with id {id}: {res}");
                assert_eq!(res["error"]["code"], "INVALID_REQUEST");
            }
        }
        // Valid JSON nested past the parser's limit is refused on its own id.
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        c.send_text(&format!(r#"{{"type":"req","id":"deep-€","method":"health","params":{deep}}}"#)).await;
        let res = c.collect_until(WAIT, |f| f["type"] == "res").await.pop().expect("an answer");
        assert_eq!(res["id"], "deep-€");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST");
        assert!(res["error"]["message"].as_str().unwrap().contains("nested deeper than 128 levels"), "{res}");
        assert_eq!(c.call("health", Value::Null).await["ok"], true, "still serving");
    });
    assert!(gw.child.try_wait().unwrap().is_none(), "the gateway process is alive");
}

/// Scopes are default-deny: every method, called with no scope, with read, with write and with
/// admin, is refused exactly when the official method table says so, with the official details.
#[test]
fn every_method_is_refused_without_its_scope_and_allowed_with_it() {
    let gw = Gw::start();
    block_on(async {
        let (_, hello) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let methods: Vec<String> =
            hello["features"]["methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
        let table = schema::methods_table();
        for held in [vec![], vec!["operator.read"], vec!["operator.write"], vec!["operator.pairing"], vec!["operator.admin"]] {
            let (mut c, _) = Client::connect(gw.port, TOKEN, &held).await;
            for method in &methods {
                // "dynamic" officially depends on the params; this gateway fixes one scope for
                // each (the README says which and why).
                let official = table[method]["scope"].as_str().unwrap_or_else(|| {
                    assert!(schema::NEWER_METHODS.contains(&method.as_str()), "{method} is not in the method table");
                    "operator.read"
                });
                let needed = match (official, method.as_str()) {
                    ("dynamic", "channels.pairing.approve") => "operator.pairing",
                    ("dynamic", "sessions.delete") => "operator.admin",
                    ("dynamic", _) => "operator.write",
                    (scope, _) => scope,
                };
                let allowed = held.contains(&"operator.admin")
                    || held.contains(&needed)
                    || (needed == "operator.read" && held.contains(&"operator.write"));
                // No params: a method that is allowed answers (or refuses its params); one
                // that is not must never look at them.
                let r = c.request(method, Value::Null).await;
                let forbidden = r["error"]["code"] == "FORBIDDEN";
                if allowed {
                    assert!(!forbidden, "{held:?} may call {method}: {r}");
                } else {
                    assert!(forbidden, "{held:?} called {method} without {needed}: {r}");
                    assert_eq!(
                        r["error"],
                        json!({"code": "FORBIDDEN", "message": format!("missing scope: {needed}"),
                               "details": {"code": "MISSING_SCOPE", "missingScope": needed, "requiredScopes": [needed]}}),
                        "{method}"
                    );
                }
            }
        }
        // Events follow the same rule: a client without read scope gets no chat or agent events.
        let (mut none, _) = Client::connect(gw.port, TOKEN, &[]).await;
        let (mut admin, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        let r = admin.request("chat.inject", json!({"sessionKey": "main", "message": "hello"})).await;
        assert_eq!(r["ok"], true);
        assert!(admin.event("chat", WAIT).await.is_some());
        assert!(none.event("chat", Duration::from_millis(500)).await.is_none(), "no chat event without operator.read");
    });
}

/// The frames of one message read off a raw socket: (opcode, FIN, payload) each, until FIN.
fn raw_message(s: &mut std::net::TcpStream) -> Vec<(u8, bool, Vec<u8>)> {
    use std::io::Read;
    let mut frames = Vec::new();
    loop {
        let mut head = [0u8; 2];
        s.read_exact(&mut head).unwrap();
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                s.read_exact(&mut b).unwrap();
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                s.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        s.read_exact(&mut payload).unwrap();
        let fin = head[0] & 0x80 != 0;
        frames.push((head[0] & 0x0f, fin, payload));
        if fin {
            return frames;
        }
    }
}

#[test]
fn hello_ok_arrives_in_frames_small_enough_for_a_1_kib_write_buffer() {
    use std::io::{Read, Write};
    let gw = Gw::start();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").unwrap();
    // The response head a byte at a time, so the frames after it stay on the socket.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    let challenge = raw_message(&mut s);
    assert_eq!(challenge.len(), 1, "the challenge is small and goes whole");
    let connect = json!({"type": "req", "id": "c", "method": "connect", "params": connect_params(TOKEN, &["operator.admin"])});
    s.write_all(&client_frame(1, connect.to_string().as_bytes(), true)).unwrap();
    let frames = raw_message(&mut s);
    assert!(frames.len() >= 2, "hello-ok (about 3 KB) is fragmented: {} frame(s)", frames.len());
    for (i, (opcode, _, payload)) in frames.iter().enumerate() {
        assert_eq!(*opcode, if i == 0 { 1 } else { 0 }, "a text frame, then continuations");
        assert!(payload.len() <= 1004, "frame {i} carries {} bytes", payload.len());
    }
    let text: Vec<u8> = frames.into_iter().flat_map(|(_, _, p)| p).collect();
    let res: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!((res["id"].as_str(), res["ok"].as_bool()), (Some("c"), Some(true)), "{res}");
    assert_valid("HelloOk", &res["payload"]);
}
