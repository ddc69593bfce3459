//! Config reload: each mode (hybrid, hot, restart, off), hot changes, restart changes that rebind
//! on the new port in the same process, invalid files, includes, auth rotation and the signals.

use crate::support::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn cfg(extra: Value) -> Value {
    let mut base = json!({"gateway": {"mode": "local", "auth": {"token": TOKEN}}});
    crate::support::merge(&mut base, extra);
    base
}

fn config_path(gw: &Gw) -> PathBuf {
    gw.state_dir().join("openclaw.json")
}

/// Rewrites the config the way editors and tools do: a new file renamed over the old one.
fn write_config(gw: &Gw, v: &Value) {
    let path = config_path(gw);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(v).unwrap()).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

#[test]
fn hot_change_is_applied_in_place_and_announced() {
    let gw = Gw::builder().config(cfg(json!({}))).start();
    block_on(async {
        let (mut c, hello) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let before = hello["snapshot"]["appliedConfigHash"].clone();
        let written = Instant::now();
        write_config(&gw, &cfg(json!({"logging": {"level": "debug"}})));
        let ev = c.event("config.changed", Duration::from_secs(3)).await.expect("config.changed");
        let took = written.elapsed();
        assert_eq!(ev["payload"]["path"], "~/.openclaw/openclaw.json");
        assert!(ev["payload"]["ts"].as_u64().is_some());
        assert_ne!(ev["payload"]["hash"], before);
        assert!(took < Duration::from_secs(1), "file write -> config.changed took {took:?}");
        // Same connection, same process: nothing restarted.
        assert_eq!(c.call("health", Value::Null).await["ok"], true);
        let cfg = c.call("config.get", Value::Null).await;
        assert_eq!(cfg["appliedConfigHash"], ev["payload"]["hash"]);
    });
    assert!(gw.wait_line("config hot reload applied (logging)", WAIT).is_some(), "{:?}", gw.lines());
    // The new level really applies: debug lines now reach the log file.
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        c.call("health", Value::Null).await;
    });
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(gw.log_file()).unwrap();
    assert!(log.contains("⇄ res ✓ health"), "debug lines are written after the change");
}

#[test]
fn port_change_restarts_in_process_on_the_new_port() {
    let old_port_gw = Gw::builder().config(cfg(json!({"gateway": {"port": free_port()}}))).start_without_port_flag();
    let gw = old_port_gw;
    let pid = gw.child.id();
    let new_port = free_port();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        write_config(&gw, &cfg(json!({"gateway": {"port": new_port}})));
        let changed = c.event("config.changed", Duration::from_secs(3)).await.expect("config.changed first");
        assert!(changed["payload"]["hash"].is_string());
        let ev = c.event("shutdown", Duration::from_secs(3)).await.expect("shutdown");
        assert_eq!(ev["payload"], json!({"reason": "gateway restarting", "restartExpectedMs": 1000}));
        assert_eq!(c.closed().await.unwrap(), Closed { code: 1012, reason: "service restart".into() });
    });
    let line = gw.wait_line("restarted in-process", WAIT).expect("restart finished");
    assert!(line.contains(&format!("same pid {pid}")), "{line}");
    block_on(async {
        let (mut c, _) = Client::connect(new_port, TOKEN, &["operator.read"]).await;
        let s = c.call("status", Value::Null).await;
        assert_eq!(s["pid"], pid);
        assert_eq!(s["gateway"]["port"], new_port);
        assert!(smol::net::TcpStream::connect(("127.0.0.1", gw.port)).await.is_err(), "the old port is closed");
    });
}

#[test]
fn invalid_file_is_skipped_once_and_the_last_good_config_keeps_running() {
    let gw = Gw::builder().config(cfg(json!({}))).start();
    std::fs::write(config_path(&gw), "{gateway: {mode: 'local', port: }").unwrap();
    assert!(gw.wait_line("config reload skipped (invalid config)", WAIT).is_some());
    // Touching the same broken file again does not repeat the message.
    std::thread::sleep(Duration::from_millis(400));
    std::fs::write(config_path(&gw), "{gateway: {mode: 'local', port: }").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let n = gw.lines().iter().filter(|l| l.contains("config reload skipped")).count();
    assert_eq!(n, 1, "{:?}", gw.lines());
    // A typo in a known section is invalid too.
    write_config(&gw, &json!({"gateway": {"mode": "local", "prot": 1, "auth": {"token": "other"}}}));
    assert!(gw.wait_line("gateway.prot: unknown key", WAIT).is_some());
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        assert_eq!(c.call("health", Value::Null).await["ok"], true, "still running with the old token");
    });
}

#[test]
fn hot_mode_warns_about_restart_changes_and_keeps_the_port() {
    let gw = Gw::builder().config(cfg(json!({"gateway": {"reload": {"mode": "hot"}}}))).start();
    let port = gw.port;
    write_config(&gw, &cfg(json!({"gateway": {"reload": {"mode": "hot"}, "port": free_port()}, "logging": {"level": "debug"}})));
    assert!(gw.wait_line("not applied because gateway.reload.mode is hot", WAIT).is_some(), "{:?}", gw.lines());
    assert!(gw.wait_line("config hot reload applied (logging)", WAIT).is_some());
    block_on(async {
        let (mut c, _) = Client::connect(port, TOKEN, &["operator.read"]).await;
        assert_eq!(c.call("status", Value::Null).await["gateway"]["port"], port);
    });
}

#[test]
fn restart_mode_restarts_on_any_change() {
    let gw = Gw::builder().config(cfg(json!({"gateway": {"reload": {"mode": "restart"}}}))).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let hot_only = json!({"gateway": {"reload": {"mode": "restart"}, "controlUi": {"allowedOrigins": ["http://x"]}}});
        write_config(&gw, &cfg(hot_only));
        assert!(c.event("shutdown", Duration::from_secs(3)).await.is_some(), "a hot-safe change restarts in restart mode");
    });
    assert!(gw.wait_line("restarted in-process", WAIT).is_some());
}

#[test]
fn off_mode_ignores_the_file_until_sighup() {
    let gw = Gw::builder().config(cfg(json!({"gateway": {"reload": {"mode": "off"}}}))).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        write_config(&gw, &cfg(json!({"gateway": {"reload": {"mode": "off"}}, "logging": {"level": "debug"}})));
        assert!(c.event("config.changed", Duration::from_millis(1200)).await.is_none(), "off: no polling");
        gw.signal(libc::SIGHUP);
        assert!(c.event("config.changed", Duration::from_secs(3)).await.is_some(), "SIGHUP reloads now");
    });
}

#[test]
fn token_rotation_closes_clients_with_4001() {
    let gw = Gw::builder().config(cfg(json!({}))).start();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        write_config(&gw, &json!({"gateway": {"mode": "local", "auth": {"token": "rotated-token"}}}));
        assert!(c.event("shutdown", Duration::from_secs(3)).await.is_some());
        assert_eq!(c.closed().await.unwrap(), Closed { code: 4001, reason: "gateway auth changed".into() });
    });
    gw.wait_line("restarted in-process", WAIT).expect("restart");
    block_on(async {
        Client::connect(gw.port, "rotated-token", &["operator.read"]).await;
        let mut c = Client::open(gw.port).await;
        c.recv().await.unwrap();
        c.send_json(&json!({"type": "req", "id": "x", "method": "connect", "params": connect_params(TOKEN, &[])})).await;
        assert_eq!(c.recv().await.unwrap()["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH", "the old token is gone");
    });
}

#[test]
fn sigusr1_restarts_in_the_same_process() {
    let gw = Gw::builder().config(cfg(json!({}))).start();
    let pid = gw.child.id();
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        gw.signal(libc::SIGUSR1);
        let ev = c.event("shutdown", WAIT).await.expect("shutdown");
        assert_eq!(ev["payload"]["reason"], "gateway restarting");
    });
    gw.wait_line("restarted in-process", WAIT).expect("restart");
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        assert_eq!(c.call("status", Value::Null).await["pid"], pid);
    });
}

#[test]
fn included_files_are_watched_and_touches_are_not_changes() {
    let gw = Gw::builder()
        .config(json!({"$include": "./gateway.json5", "gateway": {"auth": {"token": TOKEN}}}))
        .start_with(|home| std::fs::write(home.join(".openclaw/gateway.json5"), "{gateway: {mode: 'local'}}").unwrap());
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        // A touch (same content) is not a change.
        let inc = gw.state_dir().join("gateway.json5");
        std::fs::write(&inc, "{gateway: {mode: 'local'}}").unwrap();
        assert!(c.event("config.changed", Duration::from_millis(800)).await.is_none());
        std::fs::write(&inc, "{gateway: {mode: 'local'}, logging: {level: 'debug'}}").unwrap();
        assert!(c.event("config.changed", Duration::from_secs(3)).await.is_some(), "an edit of the included file reloads");
    });
}

#[test]
fn a_restart_that_cannot_bind_keeps_the_old_listener() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = holder.local_addr().unwrap().port();
    let gw = Gw::builder().config(cfg(json!({"gateway": {"port": free_port()}}))).start_without_port_flag();
    let port = gw.port;
    write_config(&gw, &cfg(json!({"gateway": {"port": busy}})));
    let line = gw.wait_line("cannot listen on the new address", Duration::from_secs(15)).expect("bind failure reported");
    assert!(line.contains(&format!("still listening on ws://127.0.0.1:{port}")), "{line}");
    // Clients are answered UNAVAILABLE (retry) until the restart has finished on the old socket.
    gw.wait_line("restarted in-process", Duration::from_secs(15)).expect("the restart finished");
    block_on(async {
        let (mut c, _) = Client::connect(port, TOKEN, &["operator.read"]).await;
        assert_eq!(c.call("health", Value::Null).await["ok"], true);
    });
    drop(holder);
}
