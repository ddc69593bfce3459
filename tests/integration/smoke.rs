//! The smoke test CI runs on every built target, including the ARM binaries under qemu
//! (`OPENCLAW_TEST_BIN=… OPENCLAW_TEST_RUNNER=qemu-aarch64-static cargo test --test integration smoke`):
//! the embedded dev default starts in an empty home, answers `/health` and a WebSocket `health`,
//! and stops cleanly on SIGTERM after telling its client.

use crate::support::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn smoke_dev_gateway_health_ws_and_clean_sigterm() {
    let home = Arc::new(TempDir::new("smoke"));
    let mut gw = Gw::builder().home(home.clone()).no_config().global("--dev").arg("--allow-unconfigured").start();
    let cfg: Value = serde_json::from_str(&std::fs::read_to_string(home.path().join(".openclaw-dev/openclaw.json")).unwrap()).unwrap();
    let token = cfg["gateway"]["auth"]["token"].as_str().unwrap().to_string();
    block_on(async {
        let r = http_get(gw.port, "/health").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"ok": true, "status": "live"}));
        let (mut c, hello) = Client::connect(gw.port, &token, &["operator.read"]).await;
        assert_eq!(hello["protocol"], 4);
        assert_eq!(c.call("health", Value::Null).await["ok"], true);
        gw.signal(libc::SIGTERM);
        let ev = c.event("shutdown", WAIT).await.expect("shutdown event");
        assert_eq!(ev["payload"]["reason"], "gateway stopping");
        assert_eq!(c.closed().await.unwrap().code, 1012);
    });
    assert_eq!(gw.wait_exit(Duration::from_secs(5)), Some(0), "clean exit");
}
