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

/// Every value that would brick the gateway or reach outside it is refused by all three write
/// methods, with the key path, and the file stays as it was.
#[test]
fn config_writes_accept_only_a_config_the_gateway_would_start_with() {
    let gw = Gw::builder().config(base()).start();
    let path = gw.state_dir().join("openclaw.json");
    let before = std::fs::read(&path).unwrap();
    let with = |patch: Value| {
        let mut v = base();
        merge(&mut v, patch);
        v
    };
    let huge = format!("{{gateway: {{mode: 'local', auth: {{token: '{TOKEN}'}}}}, pad: '{}'}}", "x".repeat(3 << 20));
    let cases: Vec<(String, &str)> = vec![
        (with(json!({"gateway": {"bind": "lan", "auth": {"mode": "none", "token": null}}})).to_string(), "gateway.auth"),
        (with(json!({"gateway": {"mode": "remote"}})).to_string(), "gateway.mode"),
        (json!({"gateway": null}).to_string(), "gateway.mode"),
        (with(json!({"gateway": {"auth": {"password": "pw"}}})).to_string(), "gateway.auth"),
        (with(json!({"agents": {"defaults": {"model": "nosuchprovider/model"}}})).to_string(), "agents.defaults.model"),
        (with(json!({"logging": {"file": "/etc/passwd"}})).to_string(), "logging.file"),
        (with(json!({"agents": {"defaults": {"workspace": "/usr/local/ws"}}})).to_string(), "agents.defaults.workspace"),
        (huge, "the gateway reads at most"),
    ];
    block_on(async {
        let mut c = admin(&gw).await;
        for (raw, why) in &cases {
            for method in ["config.set", "config.apply"] {
                let hash = c.call("config.get", Value::Null).await["hash"].clone();
                let r = c.request(method, json!({"raw": raw, "baseHash": hash})).await;
                assert_eq!(r["ok"], false, "{method} accepted {}", &raw[..raw.len().min(200)]);
                assert_eq!(r["error"]["code"], "INVALID_REQUEST");
                assert_eq!(r["error"]["details"]["code"], "INVALID_CONFIG", "{r}");
                assert!(r["error"]["message"].as_str().unwrap().contains(why), "{method} {why}: {r}");
            }
            if raw.len() < 10_000 {
                // The same document as a patch of the current one.
                let hash = c.call("config.get", Value::Null).await["hash"].clone();
                let mut patch: Value = serde_json::from_str(raw).unwrap();
                if patch["gateway"].is_null() {
                    patch = json!({"gateway": null});
                }
                let r = c.request("config.patch", json!({"raw": patch.to_string(), "baseHash": hash})).await;
                assert_eq!(r["ok"], false, "config.patch accepted {raw}");
                assert!(r["error"]["message"].as_str().unwrap().contains(why), "config.patch {why}: {r}");
            }
        }
    });
    assert_eq!(std::fs::read(&path).unwrap(), before, "refused writes leave the file untouched");
    block_on(async { assert_eq!(http_get(gw.port, "/health").await.status, 200) });
}

#[test]
fn temp_files_left_by_a_killed_config_write_are_removed_at_the_next_start() {
    let home = std::sync::Arc::new(TempDir::new("cfgtmp"));
    let dir = home.path().join(".openclaw");
    std::fs::create_dir_all(&dir).unwrap();
    // What a write cut short by kill -9 leaves: the temp file of a process that is gone.
    let orphan = dir.join(".openclaw.json.tmp-999999999-0f0f");
    let orphan_bak = dir.join(".openclaw.json.bak.tmp-999999998-0f0f");
    let session_orphan = dir.join(".gateway.runtime-token.tmp-999999997-0f0f");
    for f in [&orphan, &orphan_bak, &session_orphan] {
        std::fs::write(f, "{half").unwrap();
    }
    let gw = Gw::builder().home(home).config(base()).start();
    assert!(!orphan.exists() && !orphan_bak.exists() && !session_orphan.exists());
    assert!(gw.lines().iter().any(|l| l.contains("removed 3 temporary file(s)")), "{:?}", gw.lines());
}

#[test]
fn a_config_path_that_is_a_symlink_loop_is_refused_not_replaced() {
    let home = std::sync::Arc::new(TempDir::new("cfgloop"));
    let dir = home.path().join(".openclaw-dev");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("openclaw.json");
    std::os::unix::fs::symlink(dir.join("loop-b"), &path).unwrap();
    std::os::unix::fs::symlink(&path, dir.join("loop-b")).unwrap();
    let (code, err) =
        Gw::builder().home(home.clone()).no_config().global("--dev").arg("--allow-unconfigured").refuse(Duration::from_secs(15));
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("openclaw.json") && err.to_lowercase().contains("symbolic links"), "{err}");
    assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink(), "the link is left as it was");
}

/// A patch built from `config.get` output carries the redaction marker where secrets were:
/// the stored secrets stay, and a marker with no secret behind it is refused.
#[test]
fn config_patch_with_redacted_secrets_keeps_them() {
    let gw = Gw::builder()
        .config(json!({"gateway": {"mode": "local", "auth": {"token": TOKEN}},
                       "channels": {"telegram": {"enabled": false, "botToken": "123456:KEEP-me"}}}))
        .start();
    let path = gw.state_dir().join("openclaw.json");
    block_on(async {
        let mut c = admin(&gw).await;
        let got = c.call("config.get", Value::Null).await;
        assert_eq!(got["parsed"]["channels"]["telegram"]["botToken"], "__OPENCLAW_REDACTED__");
        let patch = json!({"gateway": {"auth": {"token": "__OPENCLAW_REDACTED__"}},
                           "channels": {"telegram": got["parsed"]["channels"]["telegram"].clone()},
                           "logging": {"level": "debug"}});
        let ok = c.call("config.patch", json!({"raw": patch.to_string(), "baseHash": got["hash"]})).await;
        assert_eq!(ok["changedPaths"], json!(["logging"]), "the secrets did not change: {ok}");
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(file["gateway"]["auth"]["token"], TOKEN);
        assert_eq!(file["channels"]["telegram"]["botToken"], "123456:KEEP-me");
        assert_eq!(file["logging"]["level"], "debug");

        // The marker where the file has no secret: refused, nothing written.
        let before = std::fs::read_to_string(&path).unwrap();
        let r = c
            .request("config.patch", json!({"raw": "{channels: {discord: {token: '__OPENCLAW_REDACTED__'}}}", "baseHash": ok["hash"]}))
            .await;
        assert_eq!(r["ok"], false, "{r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("channels.discord.token"), "{r}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    });
    // The gateway still takes its token.
    block_on(async {
        Client::connect(gw.port, TOKEN, &["operator.read"]).await;
    });
}
