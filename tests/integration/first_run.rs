//! The first run as the origin document describes it: the token the user gives is the token
//! clients use, a non-loopback bind needs a secret the user configured, and a gateway started
//! with no secret at all still serves the same user's client commands.

use crate::support::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);
const USER_TOKEN: &str = "the-users-own-token-42";

fn dev_config(home: &TempDir) -> Value {
    serde_json::from_str(&std::fs::read_to_string(home.path().join(".openclaw-dev/openclaw.json")).unwrap()).unwrap()
}

#[test]
fn the_token_given_at_the_first_dev_start_is_the_token_clients_use() {
    let home = Arc::new(TempDir::new("usertok"));
    let port = free_port().to_string();
    let gw = Gw::builder()
        .home(home.clone())
        .no_config()
        .global("--dev")
        .arg("--allow-unconfigured")
        .arg("--port")
        .arg(&port)
        .env("OPENCLAW_GATEWAY_TOKEN", USER_TOKEN)
        .start();
    let cfg = dev_config(&home);
    assert_eq!(cfg["gateway"]["auth"], json!({"mode": "token"}), "no generated token beside the user's: {cfg}");
    assert!(gw.lines().iter().any(|l| l.contains("the token you gave is the token")), "{:?}", gw.lines());
    assert!(!gw.lines().iter().any(|l| l.contains(USER_TOKEN)), "the token is never printed");
    block_on(async {
        let (mut c, hello) = Client::connect(gw.port, USER_TOKEN, &["operator.read"]).await;
        assert_eq!(hello["auth"]["role"], "operator");
        assert_eq!(c.call("health", Value::Null).await["ok"], true);
    });
    // Our own CLI, with the same environment, gets in too.
    let (code, out, err) =
        Cmd::new(home.clone()).args(["--dev", "health", "--json"]).env("OPENCLAW_GATEWAY_TOKEN", USER_TOKEN).output(LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["ok"], true);

    // A password given the same way becomes a password-mode config.
    let home = Arc::new(TempDir::new("userpw"));
    let gw = Gw::builder()
        .home(home.clone())
        .no_config()
        .global("--dev")
        .arg("--allow-unconfigured")
        .env("OPENCLAW_GATEWAY_PASSWORD", "the-users-password")
        .start();
    assert_eq!(dev_config(&home)["gateway"]["auth"], json!({"mode": "password"}));
    block_on(async {
        let mut c = Client::open(gw.port).await;
        c.recv().await.unwrap();
        let params = json!({"minProtocol": 4, "maxProtocol": 4, "role": "operator", "scopes": ["operator.read"],
            "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"}, "auth": {"password": "the-users-password"}});
        let hello = c.request("connect", params).await;
        assert_eq!(hello["ok"], true, "{hello}");
    });
}

#[test]
fn a_config_token_that_differs_from_the_environment_is_named_once_at_start() {
    let gw = Gw::builder().env("OPENCLAW_GATEWAY_TOKEN", "another-token-from-env").start();
    let warnings: Vec<String> = gw.lines().into_iter().filter(|l| l.contains("OPENCLAW_GATEWAY_TOKEN differ")).collect();
    assert_eq!(warnings.len(), 1, "{:?}", gw.lines());
    assert!(warnings[0].contains("gateway.auth.token in ~/.openclaw/openclaw.json"), "{}", warnings[0]);
    assert!(warnings[0].contains("the config's token is the one clients must use"), "{}", warnings[0]);
    assert!(!gw.lines().iter().any(|l| l.contains("another-token-from-env") || l.contains(TOKEN)), "no secret printed");
    // The same token in both places is no conflict.
    let same = Gw::builder().env("OPENCLAW_GATEWAY_TOKEN", TOKEN).start();
    assert!(!same.lines().iter().any(|l| l.contains("differ")), "{:?}", same.lines());
    // A flag wins over both, so neither is shadowing the other.
    let flagged = Gw::builder().env("OPENCLAW_GATEWAY_TOKEN", "x-from-env").arg("--token").arg("x-from-flag").start();
    assert!(!flagged.lines().iter().any(|l| l.contains("differ")), "{:?}", flagged.lines());
}

#[test]
fn a_lan_bind_on_a_fresh_dev_home_is_refused_without_a_user_secret() {
    let home = Arc::new(TempDir::new("devlan"));
    let (code, err) =
        Gw::builder().home(home.clone()).no_config().global("--dev").arg("--allow-unconfigured").arg("--bind").arg("lan").refuse(LIMIT);
    assert_eq!(code, 78, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.first().copied(), Some("Refusing to bind gateway to lan without auth."), "{err}");
    assert!(
        err.contains("Set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_PASSWORD, or pass --token/--password to start with auth."),
        "{err}"
    );
    assert!(!home.path().join(".openclaw-dev/openclaw.json").exists(), "nothing written by a refused start");

    // With the user's own token the same start binds the LAN.
    let gw = Gw::builder()
        .home(home)
        .no_config()
        .global("--dev")
        .arg("--allow-unconfigured")
        .arg("--bind")
        .arg("lan")
        .env("OPENCLAW_GATEWAY_TOKEN", USER_TOKEN)
        .start();
    assert!(gw.lines().iter().any(|l| l.contains("listening on ws://0.0.0.0:")), "{:?}", gw.lines());
}

#[test]
fn a_runtime_only_token_is_shared_with_the_same_users_commands_and_removed_at_shutdown() {
    let home = Arc::new(TempDir::new("rttok"));
    let port = free_port().to_string();
    let mut gw = Gw::builder().home(home.clone()).no_config().arg("--allow-unconfigured").arg("--port").arg(&port).start();
    let file = home.path().join(".openclaw/gateway.runtime-token");
    assert!(file.is_file(), "{:?}", gw.lines());
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&file).unwrap();
    assert!(!gw.lines().iter().any(|l| l.contains(token.trim())), "the token itself is not logged");

    for args in [vec!["status"], vec!["health", "--json"], vec!["gateway", "call", "health"], vec!["agent", "-m", "hi"]] {
        let (code, out, err) = Cmd::new(home.clone()).args(&args).env("OPENCLAW_GATEWAY_PORT", &port).output(LIMIT);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    // Another user's client (no file to read, no token) is told what to do.
    let other = Arc::new(TempDir::new("rtother"));
    let (code, out, err) = Cmd::new(other).args(["health"]).env("OPENCLAW_GATEWAY_PORT", &port).output(LIMIT);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("device identity required"), "{err}");
    assert!(err.contains("Pass --token <token>, set OPENCLAW_GATEWAY_TOKEN"), "the hint says what to do: {err}");

    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(LIMIT), Some(0));
    assert!(!file.exists(), "removed at shutdown");
}

#[test]
fn a_wrong_token_gets_a_hint_that_names_where_it_came_from() {
    let gw = Gw::start();
    let (code, out, err) = Cmd::new(gw.home.clone()).args(["health", "--url", &gw.url(), "--token", "not-the-token"]).output(LIMIT);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("gateway token mismatch"), "{err}");
    assert!(err.contains("The token this command sent (from the command line) is not the gateway's."), "{err}");
}

#[test]
fn last_heartbeat_is_null_before_any_heartbeat() {
    let gw = Gw::start();
    block_on(async {
        let (mut c, hello) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        assert!(hello["features"]["methods"].as_array().unwrap().iter().any(|m| m == "last-heartbeat"));
        let r = c.request("last-heartbeat", json!({})).await;
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["payload"], Value::Null);
        let (mut none, _) = Client::connect(gw.port, TOKEN, &[]).await;
        let r = none.request("last-heartbeat", json!({})).await;
        assert_eq!(r["error"]["code"], "FORBIDDEN", "it needs operator.read: {r}");
    });
}
