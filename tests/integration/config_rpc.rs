//! `config.set`, `config.patch`, `config.apply` and `secrets.reload` over WebSocket: optimistic
//! concurrency with `baseHash`, validation before anything is written, atomic writes with a
//! `.bak`, and the reloader applying what was written.

use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

fn base() -> Value {
    json!({"gateway": {"mode": "local", "auth": {"token": TOKEN}}})
}

async fn admin(gw: &Gw) -> Client {
    Client::connect(gw.port, TOKEN, &["operator.admin"]).await.0
}

#[test]
fn config_set_checks_base_hash_validates_and_writes_atomically_with_a_backup() {
    let gw = Gw::builder().config(base()).start();
    let path = gw.state_dir().join("openclaw.json");
    let before = std::fs::read_to_string(&path).unwrap();
    block_on(async {
        let mut c = admin(&gw).await;
        let hash = c.call("config.get", Value::Null).await["hash"].as_str().unwrap().to_string();
        let raw =
            "// written over RPC\n{gateway: {mode: 'local', auth: {token: '".to_string() + TOKEN + "'}}, logging: {level: 'debug'}}\n";

        let r = c.request("config.set", json!({"raw": raw})).await;
        assert_eq!(r["error"]["details"]["code"], "CONFIG_BASE_HASH_REQUIRED");
        let r = c.request("config.set", json!({"raw": raw, "baseHash": "hmac-sha256:v1:stale"})).await;
        assert_eq!(r["error"]["details"]["code"], "CONFIG_BASE_HASH_MISMATCH");
        assert_eq!(r["error"]["details"]["currentHash"], hash);

        let r = c.request("config.set", json!({"raw": "{gateway: {mode: 'local', prot: 1}}", "baseHash": hash})).await;
        assert_eq!(r["error"]["code"], "INVALID_REQUEST");
        assert!(r["error"]["message"].as_str().unwrap().contains("gateway.prot: unknown key"), "{r}");
        let r = c.request("config.set", json!({"raw": "{gateway: {mode: 'remote'}}", "baseHash": hash})).await;
        assert!(r["error"]["message"].as_str().unwrap().contains("gateway.mode=local"), "{r}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "refused writes leave the file alone");

        let ok = c.call("config.set", json!({"raw": raw, "baseHash": hash})).await;
        assert_eq!(ok["ok"], true);
        assert_eq!(ok["changedPaths"], json!(["logging"]));
        assert!(ok.get("restart").is_none(), "a hot change needs no restart");
        assert!(!ok.to_string().contains(TOKEN), "the result is redacted");
        let ev = c.event("config.changed", Duration::from_secs(3)).await.expect("applied by the reloader");
        assert_eq!(ev["payload"]["hash"], ok["hash"]);
    });
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().next(), Some("// written over RPC"), "raw text kept as written");
    assert_eq!(std::fs::read_to_string(gw.state_dir().join("openclaw.json.bak")).unwrap(), before);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn config_patch_merges_and_guards_lists() {
    let gw = Gw::builder()
        .config(json!({"gateway": {"mode": "local", "auth": {"token": TOKEN}, "controlUi": {"allowedOrigins": ["http://a", "http://b"]}}}))
        .start();
    block_on(async {
        let mut c = admin(&gw).await;
        let hash = c.call("config.get", Value::Null).await["hash"].as_str().unwrap().to_string();
        let r = c.request("config.patch", json!({"raw": "{gateway: {controlUi: {allowedOrigins: ['http://a']}}}", "baseHash": hash})).await;
        assert_eq!(r["error"]["details"]["code"], "CONFIG_PATCH_REPLACE_PATHS_REQUIRED", "{r}");
        let ok = c
            .call(
                "config.patch",
                json!({"raw": "{gateway: {controlUi: {allowedOrigins: ['http://a']}}, logging: {level: 'debug'}}", "baseHash": hash,
                       "replacePaths": ["gateway.controlUi.allowedOrigins"]}),
            )
            .await;
        assert_eq!(ok["changedPaths"], json!(["gateway.controlUi.allowedOrigins", "logging"]));
        let cfg = c.call("config.get", Value::Null).await;
        assert_eq!(cfg["parsed"]["gateway"]["controlUi"]["allowedOrigins"], json!(["http://a"]));
        assert_eq!(cfg["parsed"]["logging"]["level"], "debug");
        assert_eq!(cfg["parsed"]["gateway"]["auth"]["token"], "__OPENCLAW_REDACTED__", "untouched keys stay");
        // Once applied, a null removes a key (changedPaths are relative to the running config).
        c.event("config.changed", Duration::from_secs(3)).await.expect("first patch applied");
        let ok = c.call("config.patch", json!({"raw": "{logging: null}", "baseHash": cfg["hash"]})).await;
        assert_eq!(ok["changedPaths"], json!(["logging"]));
    });
}

#[test]
fn config_apply_restarts_in_process() {
    let gw = Gw::builder().config(base()).start();
    block_on(async {
        let mut c = admin(&gw).await;
        let hash = c.call("config.get", Value::Null).await["hash"].as_str().unwrap().to_string();
        let raw =
            serde_json::to_string(&json!({"gateway": {"mode": "local", "auth": {"token": TOKEN}}, "meta": {"note": "applied"}})).unwrap();
        let ok = c.call("config.apply", json!({"raw": raw, "baseHash": hash, "note": "test"})).await;
        assert_eq!(ok["restart"]["reason"], "config.apply");
        let ev = c.event("shutdown", Duration::from_secs(3)).await.expect("restart");
        assert_eq!(ev["payload"]["reason"], "gateway restarting");
    });
    assert!(gw.wait_line("restarted in-process", WAIT).is_some());
}

#[test]
fn config_writes_need_admin() {
    let gw = Gw::builder().config(base()).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.write"]).await;
        let r = c.request("config.set", json!({"raw": "{}"})).await;
        assert_eq!(r["error"]["details"]["missingScope"], "operator.admin");
        let r = c.request("secrets.reload", Value::Null).await;
        assert_eq!(r["error"]["code"], "FORBIDDEN");
    });
}

#[test]
fn secrets_reload_picks_up_a_rotated_secret_file() {
    let home = std::sync::Arc::new(TempDir::new("secrets"));
    let secret_file = home.path().join("gw-secret.txt");
    std::fs::write(&secret_file, "first-secret-token\n").unwrap();
    let gw = Gw::builder()
        .home(home.clone())
        .config(json!({
            "gateway": {"mode": "local", "auth": {"token": {"source": "file", "provider": "local", "id": "value"}}},
            "secrets": {"providers": {"local": {"source": "file", "path": secret_file.to_str().unwrap(), "mode": "singleValue"}}}
        }))
        .start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, "first-secret-token", &["operator.admin"]).await;
        std::fs::write(&secret_file, "second-secret-token\n").unwrap();
        let r = c.call("secrets.reload", Value::Null).await;
        assert_eq!(r, json!({"ok": true, "warningCount": 0}));
        assert_eq!(c.closed().await.unwrap(), Closed { code: 4001, reason: "gateway auth changed".into() });
        Client::connect(gw.port, "second-secret-token", &["operator.read"]).await;
        // A secret that no longer resolves keeps the previous one.
        std::fs::remove_file(&secret_file).unwrap();
        let (mut c, _) = Client::connect(gw.port, "second-secret-token", &["operator.admin"]).await;
        let r = c.request("secrets.reload", Value::Null).await;
        assert!(r["error"]["message"].as_str().unwrap().contains("previous secrets kept"), "{r}");
        Client::connect(gw.port, "second-secret-token", &["operator.read"]).await;
    });
}

#[test]
fn control_plane_writes_are_rate_limited_per_method() {
    let gw = Gw::builder().config(base()).start();
    block_on(async {
        let mut c = admin(&gw).await;
        let mut hash = c.call("config.get", Value::Null).await["hash"].as_str().unwrap().to_string();
        for i in 0..30 {
            let r = c.call("config.patch", json!({"raw": format!("{{meta: {{n: {i}}}}}"), "baseHash": hash})).await;
            hash = r["hash"].as_str().unwrap().to_string();
        }
        let r = c.request("config.patch", json!({"raw": "{meta: {n: 99}}", "baseHash": hash})).await;
        assert_eq!(r["error"]["code"], "UNAVAILABLE");
        assert!(r["error"]["message"].as_str().unwrap().starts_with("rate limit exceeded for config.patch; retry after"));
        assert_eq!(r["error"]["details"], json!({"method": "config.patch", "limit": "30 per 60s"}));
        assert_eq!(r["error"]["retryable"], true);
    });
}
