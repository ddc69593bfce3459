//! Start-up rules of `openclaw gateway`: the embedded dev default, config refusals (exit 78 with
//! the official messages), auth requirements for non-loopback binds, one gateway per state dir,
//! busy ports, `--force`, and where the port comes from.

use crate::support::*;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(15);

#[test]
fn dev_gateway_bootstraps_a_fresh_home_and_serves() {
    let home = Arc::new(TempDir::new("dev"));
    let gw = Gw::builder().home(home.clone()).no_config().global("--dev").arg("--allow-unconfigured").start();
    let cfg_path = home.path().join(".openclaw-dev/openclaw.json");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    assert_eq!(cfg["gateway"]["mode"], "local");
    let token = cfg["gateway"]["auth"]["token"].as_str().unwrap().to_string();
    for f in ["AGENTS.md", "SOUL.md", "IDENTITY.md", "USER.md"] {
        assert!(home.path().join(".openclaw-dev/workspace").join(f).is_file(), "{f}");
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&cfg_path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(home.path().join(".openclaw-dev")).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(gw.lines().iter().any(|l| l.contains("openclaw-dev-") && l.contains("log file")), "dev log file name: {:?}", gw.lines());
    block_on(async {
        assert_eq!(http_get(gw.port, "/health").await.status, 200);
        let (mut c, _) = Client::connect(gw.port, &token, &["operator.read"]).await;
        assert_eq!(c.call("health", serde_json::Value::Null).await["ok"], true);
    });
}

#[test]
fn dev_profile_defaults_to_port_19001_and_the_flag_wins() {
    let port = free_port();
    let gw = Gw::builder().no_config().global("--dev").arg("--allow-unconfigured").arg("--port").arg(&port.to_string()).start();
    assert_eq!(gw.port, port, "the flag wins over the dev profile's port");
    drop(gw);
    // Without the flag the dev profile's port is 19001. It may be held by another program on a
    // shared machine: then the refusal names it, which proves the same thing.
    let home = Arc::new(TempDir::new("devport"));
    let builder = Gw::builder().home(home).no_config().global("--dev").arg("--allow-unconfigured");
    if std::net::TcpListener::bind("127.0.0.1:19001").is_ok() {
        let mut gw = builder.start_without_port_flag();
        assert_eq!(gw.port, 19001, "dev profile port");
        gw.signal(libc::SIGTERM);
        gw.wait_exit(LIMIT);
    } else {
        let (code, err) = builder.no_port_flag().refuse(LIMIT);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("Port 19001 is already in use."), "{err}");
    }
}

#[test]
fn missing_config_is_refused_with_the_setup_hint() {
    let (code, err) = Gw::builder().no_config().refuse(LIMIT);
    assert_eq!(code, 78);
    assert_eq!(err.trim(), "Missing config. Run `openclaw setup` or set gateway.mode=local (or pass --allow-unconfigured).");
    let (code, err) = Gw::builder().no_config().global("--profile").global("work").refuse(LIMIT);
    assert_eq!(code, 78);
    assert!(err.contains("Run `openclaw --profile work setup`"), "{err}");
}

#[test]
fn missing_config_with_allow_unconfigured_starts() {
    let gw = Gw::builder().no_config().arg("--allow-unconfigured").start();
    block_on(async { assert_eq!(http_get(gw.port, "/health").await.status, 200) });
    assert!(gw.lines().iter().any(|l| l.contains("Generated a runtime token")), "ephemeral token is announced");
    assert!(!gw.lines().iter().any(|l| l.contains("runtime token") && l.contains("token:")), "and not printed");
}

#[test]
fn non_local_mode_is_blocked_with_the_official_message() {
    for mode in ["remote", "bogus"] {
        let (code, err) = Gw::builder().config(json!({"gateway": {"mode": mode}})).refuse(LIMIT);
        assert_eq!(code, 78);
        assert_eq!(err.trim(), format!("Gateway start blocked: set gateway.mode=local (current: {mode}) or pass --allow-unconfigured."));
    }
    let gw = Gw::builder().config(json!({"gateway": {"mode": "remote", "auth": {"token": TOKEN}}})).arg("--allow-unconfigured").start();
    block_on(async { assert_eq!(http_get(gw.port, "/health").await.status, 200) });
}

#[test]
fn config_without_mode_is_treated_as_suspicious() {
    let (code, err) = Gw::builder().config(json!({"gateway": {"port": 1234}})).refuse(LIMIT);
    assert_eq!(code, 78);
    assert!(err.starts_with("Gateway start blocked: existing config is missing gateway.mode."), "{err}");
}

#[test]
fn unparseable_config_names_the_file_and_position() {
    let (code, err) = Gw::builder().config_text("{gateway: {mode: 'local',\n  port: }\n}").refuse(LIMIT);
    assert_eq!(code, 78);
    assert!(err.contains("Invalid config at ~/.openclaw/openclaw.json"), "{err}");
    assert!(err.contains("openclaw.json: ") && err.contains("line 2"), "{err}");
}

#[test]
fn typo_in_a_known_section_names_the_key_path() {
    let (code, err) = Gw::builder().config(json!({"gateway": {"mode": "local", "prot": 18790, "auth": {"token": TOKEN}}})).refuse(LIMIT);
    assert_eq!(code, 78);
    assert!(err.contains("- gateway.prot: unknown key (did you mean \"port\"?)"), "{err}");
    let (code, err) = Gw::builder().config(json!({"gateway": {"mode": "local", "port": "x"}})).refuse(LIMIT);
    assert_eq!(code, 78);
    assert!(err.contains("- gateway.port: expected an integer from 1 to 65535, got a string"), "{err}");
}

#[test]
fn sections_of_a_real_openclaw_config_are_kept_and_reported_as_ignored() {
    // The shape `openclaw setup` writes, plus sections this gateway does not use.
    let gw = Gw::builder()
        .config(json!({
            "agents": {"defaults": {"workspace": "~/.openclaw/workspace"}, "entries": {"main": {"name": "main"}}},
            "plugins": {"entries": {"anthropic": {"config": {}}}},
            "meta": {"lastTouchedVersion": "2026.9.6"},
            "wizard": {"lastRunAt": "x"},
            "gateway": {"mode": "local", "auth": {"token": TOKEN}, "controlUi": {"allowedOrigins": ["http://x"]}, "tailscale": {"mode": "off"}}
        }))
        .start();
    let line = gw.wait_line("not used by this gateway", WAIT).expect("ignored sections reported");
    assert!(line.contains("plugins") && line.contains("wizard"), "{line}");
    assert!(!line.contains("agents"), "agents is a section this gateway uses: {line}");
}

#[test]
fn env_substitution_and_env_token_work() {
    let gw = Gw::builder()
        .config_text(r#"{"gateway": {"mode": "local", "auth": {"token": "${MY_GW_TOKEN}"}}}"#)
        .env("MY_GW_TOKEN", "from-env-var")
        .start();
    block_on(async {
        Client::connect(gw.port, "from-env-var", &["operator.read"]).await;
    });
    let gw = Gw::builder().config(json!({"gateway": {"mode": "local"}})).env("OPENCLAW_GATEWAY_TOKEN", "env-token-1").start();
    block_on(async {
        Client::connect(gw.port, "env-token-1", &["operator.read"]).await;
    });
}

#[test]
fn non_loopback_bind_without_auth_is_refused() {
    let (code, err) = Gw::builder().config(json!({"gateway": {"mode": "local"}})).arg("--bind").arg("lan").refuse(LIMIT);
    assert_eq!(code, 78);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.contains(&"Refusing to bind gateway to lan without auth."), "{err}");
    assert!(
        lines.contains(&"Set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_PASSWORD, or pass --token/--password to start with auth."),
        "{err}"
    );
    let (code, err) =
        Gw::builder().config(json!({"gateway": {"mode": "local"}})).arg("--bind").arg("lan").arg("--auth").arg("none").refuse(LIMIT);
    assert_eq!(code, 78);
    assert!(err.contains("auth mode=none explicitly configured") && err.contains("Refusing to bind gateway to lan without auth."), "{err}");
}

#[test]
fn lan_bind_with_a_token_listens_on_all_interfaces() {
    let gw = Gw::builder().config(json!({"gateway": {"mode": "local", "bind": "lan", "auth": {"token": TOKEN}}})).start();
    let line = gw.wait_line("listening on", WAIT).unwrap();
    assert!(line.contains(&format!("ws://0.0.0.0:{}", gw.port)), "{line}");
    assert!(gw.lines().iter().any(|l| l.contains("non-loopback address")));
}

#[test]
fn both_secrets_without_a_mode_is_refused() {
    let (code, err) = Gw::builder().config(json!({"gateway": {"mode": "local", "auth": {"token": "a", "password": "b"}}})).refuse(LIMIT);
    assert_eq!(code, 78);
    assert!(err.contains("both a gateway token and a gateway password"), "{err}");
}

#[test]
fn one_gateway_per_state_dir() {
    let first = Gw::start();
    let started = Instant::now();
    let (code, err) = Gw::builder().home(first.home.clone()).refuse(LIMIT);
    assert_eq!(code, 78);
    assert!(err.contains(&format!("gateway already running (pid {})", first.child.id())), "{err}");
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[test]
fn a_dead_owner_does_not_block_the_next_gateway() {
    let mut first = Gw::start();
    let home = first.home.clone();
    first.signal(libc::SIGKILL);
    first.wait_exit(LIMIT);
    let second = Gw::builder().home(home).start();
    block_on(async { assert_eq!(http_get(second.port, "/health").await.status, 200) });
}

#[test]
fn busy_port_is_reported_with_the_holding_gateway_pid() {
    let first = Gw::start();
    let port = first.port.to_string();
    let (code, err) = Gw::builder().arg("--port").arg(&port).refuse(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("another gateway instance is already listening on ws://127.0.0.1:{port}")), "{err}");
    assert!(err.contains("EADDRINUSE"), "{err}");
    assert!(err.contains(&format!("- pid {} (openclaw gateway)", first.child.id())), "{err}");
    assert!(err.contains(&format!("Port {port} is already in use.")), "{err}");
}

#[test]
fn force_stops_the_gateway_holding_the_port() {
    let mut first = Gw::start();
    let port = first.port;
    let second = Gw::builder().arg("--port").arg(&port.to_string()).arg("--force").start();
    assert_eq!(second.port, port);
    assert_eq!(first.wait_exit(LIMIT), Some(0), "the old gateway stopped cleanly");
    block_on(async { assert_eq!(http_get(port, "/health").await.status, 200) });
}

#[test]
fn force_refuses_to_stop_other_programs() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let (code, err) = Gw::builder().arg("--port").arg(&port).arg("--force").refuse(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("which is not an OpenClaw gateway"), "{err}");
    drop(holder);
}

#[test]
fn port_comes_from_flag_then_env_then_config() {
    let env_port = free_port();
    let cfg_port = free_port();
    let gw = Gw::builder()
        .config(json!({"gateway": {"mode": "local", "port": cfg_port, "auth": {"token": TOKEN}}}))
        .arg("--port")
        .arg(&env_port.to_string())
        .env("OPENCLAW_GATEWAY_PORT", &cfg_port.to_string())
        .start();
    assert_eq!(gw.port, env_port, "flag wins");
    drop(gw);
    let gw = Gw::builder()
        .config(json!({"gateway": {"mode": "local", "port": cfg_port, "auth": {"token": TOKEN}}}))
        .env("OPENCLAW_GATEWAY_PORT", &env_port.to_string())
        .start_without_port_flag();
    assert_eq!(gw.port, env_port, "env beats config");
    drop(gw);
    let gw =
        Gw::builder().config(json!({"gateway": {"mode": "local", "port": cfg_port, "auth": {"token": TOKEN}}})).start_without_port_flag();
    assert_eq!(gw.port, cfg_port, "config beats the default");
}

#[test]
fn help_is_available_on_every_command() {
    let home = Arc::new(TempDir::new("help"));
    for args in [vec!["--help"], vec!["gateway", "--help"], vec!["gateway", "run", "--help"]] {
        let (code, out, _) = Cmd::new(home.clone()).args(&args).output(LIMIT);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage:") || out.contains("usage"), "{args:?}: {out}");
    }
    let (code, out, _) = Cmd::new(home.clone()).args(["gateway", "--help"]).output(LIMIT);
    assert_eq!(code, 0);
    for flag in ["--port", "--bind", "--token", "--password", "--auth", "--allow-unconfigured", "--force", "--verbose"] {
        assert!(out.contains(flag), "gateway --help lacks {flag}");
    }
    let (code, _, err) = Cmd::new(home).args(["gateway", "--bind", "everywhere"]).output(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("expected loopback, lan"), "{err}");
}

#[test]
fn gateway_run_is_the_same_command() {
    let gw = Gw::builder().arg("run").start();
    block_on(async { assert_eq!(http_get(gw.port, "/health").await.status, 200) });
}
