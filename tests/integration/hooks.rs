//! Webhooks (`/hooks/wake`, `/hooks/agent`) and `POST /tools/invoke`: auth, the official
//! errors, limits and what they run.

use serde_json::{Value, json};

use crate::support::fake_llm::{FakeLlm, Flavor};
use crate::support::*;

const HOOK_TOKEN: &str = "hooktoken456";

fn gateway(fake: &FakeLlm) -> Gw {
    Gw::builder()
        .config(json!({
            "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
            "hooks": {"enabled": true, "token": HOOK_TOKEN},
            "models": {"providers": {"mock": {"baseUrl": fake.base_url(), "apiKey": "k"}}},
            "agents": {"defaults": {"model": "mock/echo"}}
        }))
        .start()
}

async fn hook(port: u16, path: &str, headers: &[(&str, &str)], body: Value) -> HttpResponse {
    http_post(port, path, headers, &body.to_string()).await
}

const AUTH: (&str, &str) = ("Authorization", "Bearer hooktoken456");

#[test]
fn hooks_take_only_the_hook_token_in_a_header() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some("k"));
    let gw = gateway(&fake);
    block_on(async {
        let body = json!({"text": "wake up"});
        let r = hook(gw.port, "/hooks/wake", &[], body.clone()).await;
        assert_eq!((r.status, r.text().as_str()), (401, "Unauthorized"));
        let r = hook(gw.port, "/hooks/wake", &[("Authorization", BEARER)], body.clone()).await;
        assert_eq!(r.status, 401, "the gateway token is not a hook token");
        let r = hook(gw.port, "/hooks/wake?token=hooktoken456", &[], body.clone()).await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.text(),
            "Hook token must be provided via Authorization: Bearer <token> or X-OpenClaw-Token header (query parameters are not allowed)."
        );
        let r = hook(gw.port, "/hooks/wake", &[("X-OpenClaw-Token", HOOK_TOKEN)], body.clone()).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"ok": true, "mode": "now", "eventOutcome": "queued"}));
        let r = http_raw(gw.port, b"GET /hooks/wake HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        assert_eq!((r.status, r.header("Allow")), (405, Some("POST")));
        let r = hook(gw.port, "/hooks/unknown", &[AUTH], json!({})).await;
        assert_eq!((r.status, r.text().as_str()), (404, "Not Found"));
    });
}

#[test]
fn wake_and_agent_hooks_run_the_agent_with_the_payload_fenced() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some("k"));
    let gw = gateway(&fake);
    block_on(async {
        let r = hook(gw.port, "/hooks/wake", &[AUTH], json!({})).await;
        assert_eq!(r.json(), json!({"ok": false, "error": "text required"}));
        let r = hook(gw.port, "/hooks/agent", &[AUTH], json!({})).await;
        assert_eq!(r.json(), json!({"ok": false, "error": "message required"}));

        let r = hook(gw.port, "/hooks/wake", &[AUTH], json!({"text": "the package arrived"})).await;
        assert_eq!(r.status, 200);
        assert!(fake.wait_for(1, WAIT));
        let text = fake.requests()[0].last_user_text();
        assert!(text.contains("the package arrived") && text.contains("EXTERNAL_UNTRUSTED_CONTENT"), "{text}");

        let r = hook(gw.port, "/hooks/agent", &[AUTH], json!({"message": "summarise my day", "name": "calendar"})).await;
        assert_eq!(r.status, 200);
        let run_id = r.json()["runId"].as_str().unwrap().to_string();
        assert!(!run_id.is_empty());
        let r = hook(gw.port, "/hooks/agent", &[AUTH], json!({"message": "and now wait", "waitForCompletion": true})).await;
        let completion = &r.json()["completion"];
        assert_eq!(completion["status"], "ok");
        assert_eq!(completion["text"], "Hello from the mock model.");
        assert_eq!((completion["delivered"].as_bool(), completion["deliveryAttempted"].as_bool()), (Some(false), Some(false)));

        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let list = c.call("sessions.list", json!({})).await;
        let keys: Vec<&str> = list["sessions"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
        assert!(keys.contains(&"agent:main:main"), "wake runs in the main session: {keys:?}");
        assert_eq!(keys.iter().filter(|k| k.starts_with("agent:main:cron:")).count(), 2, "each hook run is isolated: {keys:?}");

        let r = hook(gw.port, "/hooks/agent", &[AUTH], json!({"message": "x", "sessionKey": "mine"})).await;
        assert_eq!(r.status, 400, "callers may not pick sessions unless allowed");
        let r = hook(gw.port, "/hooks/agent", &[AUTH], json!({"message": "x", "channel": "telegram", "to": "42"})).await;
        assert_eq!(r.status, 400);
    });
}

#[test]
fn failed_hook_auth_is_rate_limited_and_bodies_are_bounded() {
    let fake = FakeLlm::start(Flavor::OpenAi, Some("k"));
    let gw = gateway(&fake);
    block_on(async {
        let big = json!({"text": "y".repeat(300 * 1024)});
        let r = http_post(gw.port, "/hooks/agent", &[AUTH], &big.to_string()).await;
        assert_eq!(r.status, 413);
        // Without the token the body is not even read: refused on the head.
        let mut conn = HttpConn::open(gw.port).await;
        conn.send(b"POST /hooks/agent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{").await;
        assert_eq!(conn.response(false).await.expect("an answer before the body").status, 401);
        // Nineteen more wrong tokens at once (each is answered after a delay), then a lockout.
        let tasks: Vec<_> = (0..19)
            .map(|_| {
                let port = gw.port;
                smol::spawn(
                    async move { hook(port, "/hooks/wake", &[("Authorization", "Bearer nope")], json!({"text": "x"})).await.status },
                )
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await, 401);
        }
        let r = hook(gw.port, "/hooks/wake", &[AUTH], json!({"text": "x"})).await;
        assert_eq!(r.status, 429, "even the right token waits out the lockout");
        assert!(r.header("Retry-After").unwrap().parse::<u64>().unwrap() > 0);
        assert_eq!(fake.count(), 0);
    });
}

#[test]
fn hooks_are_off_until_enabled_and_need_a_token_when_on() {
    let gw = Gw::start();
    block_on(async {
        let r = hook(gw.port, "/hooks/wake", &[AUTH], json!({"text": "x"})).await;
        assert_eq!(r.status, 404);
    });
    let (code, err) = Gw::builder().config(json!({"gateway": {"mode": "local"}, "hooks": {"enabled": true}})).refuse(WAIT);
    assert_eq!(code, 78);
    assert!(err.contains("hooks.token: hooks.enabled is true, so hooks.token is required"), "{err}");
}

#[test]
fn tools_invoke_runs_allowed_tools_and_refuses_the_deny_list() {
    let gw = Gw::start();
    block_on(async {
        let port = gw.port;
        let call = |body: Value| async move { http_post(port, "/tools/invoke", &[("Authorization", BEARER)], &body.to_string()).await };
        let r = http_post(gw.port, "/tools/invoke", &[], "{}").await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json(), json!({"error": {"message": "Unauthorized", "type": "unauthorized"}}));
        let r = call(json!({})).await;
        assert_eq!(
            (r.status, r.json()),
            (400, json!({"ok": false, "error": {"type": "invalid_request", "message": "tools.invoke requires name"}}))
        );
        for denied in ["exec", "shell", "nope_tool"] {
            let r = call(json!({"tool": denied, "args": {}})).await;
            assert_eq!(r.status, 404);
            assert_eq!(r.json()["error"]["message"], format!("Tool not available: {denied}"));
        }
        let r = call(json!({"tool": "write", "args": {"path": "hello.txt", "content": "hi there"}})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = call(json!({"name": "read", "tool": "ignored", "args": {"path": "hello.txt"}})).await;
        assert_eq!(r.json(), json!({"ok": true, "result": {"content": [{"type": "text", "text": "hi there"}]}}));
        let r = call(json!({"tool": "read", "args": {"path": "../openclaw.json"}})).await;
        assert_eq!(r.status, 400);
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("outside the workspace"));
        let r = call(json!({"tool": "time"})).await;
        let time: Value = serde_json::from_str(r.json()["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
        assert!(time["unixMs"].as_u64().unwrap() > 0);
        let r = call(json!({"tool": "sessions_list"})).await;
        assert!(r.json()["result"]["content"][0]["text"].as_str().unwrap().contains("\"count\": 0"));
        let big = format!("{{\"tool\":\"time\",\"args\":{{\"pad\":\"{}\"}}}}", "x".repeat(3 * 1024 * 1024));
        let r = http_post(gw.port, "/tools/invoke", &[("Authorization", BEARER)], &big).await;
        assert_eq!(r.status, 413);
    });
}

#[test]
fn hooks_and_the_openai_endpoints_switch_on_with_a_hot_reload() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.admin"]).await;
        assert_eq!(hook(gw.port, "/hooks/wake", &[AUTH], json!({"text": "x"})).await.status, 404);
        let models = format!("GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: {BEARER}\r\nConnection: close\r\n\r\n");
        assert_eq!(http_raw(gw.port, models.as_bytes()).await.status, 404);
        let cfg = json!({
            "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN},
                        "http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
            "hooks": {"enabled": true, "token": HOOK_TOKEN}
        });
        std::fs::write(gw.state_dir().join("openclaw.json"), cfg.to_string()).unwrap();
        c.event("config.changed", WAIT).await.expect("config.changed");
        let r = hook(gw.port, "/hooks/wake", &[AUTH], json!({"text": "x", "mode": "next-heartbeat"})).await;
        assert_eq!(r.json(), json!({"ok": true, "mode": "next-heartbeat", "eventOutcome": "queued"}));
        assert_eq!(http_raw(gw.port, models.as_bytes()).await.status, 200);
        // The log line follows the event; wait for it rather than race it.
        assert!(gw.wait_line("hot reload applied", WAIT).is_some(), "applied without a restart");
    });
}
