//! The client commands against a running gateway and against none: `gateway status`, `status`,
//! `health`, `logs`, `channels status`, `gateway call`, `secrets reload`, `agent`; plus `setup`,
//! several gateways side by side, and how the commands find their gateway.

use crate::support::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);

fn cli(gw: &Gw) -> Cmd {
    Cmd::new(gw.home.clone())
}

#[test]
fn gateway_status_reports_runtime_and_a_working_probe() {
    let gw = Gw::start();
    let (code, out, err) = cli(&gw).args(["gateway", "status"]).output(LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("Runtime: running (pid {})", gw.child.id())), "{out}");
    assert!(out.contains("RPC probe: ok"), "{out}");
    assert!(out.contains("Config (cli): ~/.openclaw/openclaw.json (valid)"), "{out}");
    assert!(out.contains(&format!("Probe target: ws://127.0.0.1:{}", gw.port)), "the running gateway's port is found: {out}");

    let (code, out, _) = cli(&gw).args(["gateway", "status", "--deep", "--json"]).output(LIMIT);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["rpc"]["ok"], true);
    assert_eq!(v["runtime"], json!({"status": "running", "pid": gw.child.id()}));
    assert_eq!(v["gateway"]["status"]["gateway"]["port"], gw.port);
    assert_eq!(v["cli"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_client_command_fails_fast_when_no_gateway_runs() {
    let home = Arc::new(TempDir::new("nogw"));
    Cmd::new(home.clone()).args(["setup"]).output(LIMIT);
    // A port nothing listens on (the default 18789 may be held by another program here), given
    // the way a user would: OPENCLAW_GATEWAY_PORT.
    let port = free_port().to_string();
    for args in [
        vec!["gateway", "status"],
        vec!["status"],
        vec!["health"],
        vec!["logs"],
        vec!["channels", "status", "--probe"],
        vec!["secrets", "reload"],
        vec!["gateway", "call", "health"],
        vec!["agent", "--message", "hi"],
    ] {
        let started = Instant::now();
        let (code, out, err) = Cmd::new(home.clone()).env("OPENCLAW_GATEWAY_PORT", &port).args(&args).output(LIMIT);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?} took {:?}", started.elapsed());
        let text = format!("{out}{err}");
        assert!(text.contains(&format!("Gateway not reachable at ws://127.0.0.1:{port} (connection refused)")), "{args:?}: {text}");
    }
    let (_, out, _) = Cmd::new(home).env("OPENCLAW_GATEWAY_PORT", &port).args(["gateway", "status"]).output(LIMIT);
    assert!(out.contains("Runtime: stopped") && out.contains("RPC probe: failed"), "{out}");
}

#[test]
fn status_health_channels_and_secrets_against_a_running_gateway() {
    let gw = Gw::start();
    let (code, out, err) = cli(&gw).args(["status"]).output(LIMIT);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("ws://127.0.0.1:{} (local loopback) · reachable", gw.port)), "{out}");
    assert!(out.contains("Channels: none configured"), "{out}");

    let (code, out, _) = cli(&gw).args(["health"]).output(LIMIT);
    assert_eq!(code, 0);
    assert!(out.starts_with("Gateway: ok (probe "), "{out}");
    assert!(out.contains("Agents: main (default)"), "{out}");
    let (code, out, _) = cli(&gw).args(["health", "--json"]).output(LIMIT);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);

    let (code, out, _) = cli(&gw).args(["channels", "status", "--probe"]).output(LIMIT);
    assert_eq!(code, 0);
    assert_eq!(out.lines().collect::<Vec<_>>()[..2], ["Checking channel status (probe)…", "Gateway reachable."]);
    let (code, out, _) = cli(&gw).args(["channels", "status", "--json"]).output(LIMIT);
    assert_eq!(code, 0);
    crate::support::schema::assert_valid("ChannelsStatusResult", &serde_json::from_str(&out).unwrap());

    let (code, out, _) = cli(&gw).args(["secrets", "reload"]).output(LIMIT);
    assert_eq!((code, out.trim()), (0, "Secrets reloaded."));
}

#[test]
fn gateway_call_prints_results_and_gateway_errors() {
    let gw = Gw::start();
    let (code, out, _) = cli(&gw).args(["gateway", "call", "logs.tail", "--params", r#"{"limit": 1}"#]).output(LIMIT);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    crate::support::schema::assert_valid("LogsTailResult", &v);
    let (code, _, err) = cli(&gw).args(["gateway", "call", "no.such.method"]).output(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("Gateway error INVALID_REQUEST: unknown method: no.such.method"), "{err}");
    let (code, _, err) = cli(&gw).args(["gateway", "call", "health", "--params", "{bad"]).output(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("--params is not valid JSON"), "{err}");
}

#[test]
fn wrong_credentials_are_explained() {
    let gw = Gw::start();
    let (code, _, err) = cli(&gw).args(["health", "--token", "nope"]).output(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("unauthorized: gateway token mismatch") && err.contains("Use the gateway's own: --token / --password"), "{err}");
    let url = format!("ws://127.0.0.1:{}", gw.port);
    let (code, _, err) = cli(&gw).args(["health", "--url", &url]).output(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("gateway url override requires explicit credentials"), "{err}");
    let (code, _, _) = cli(&gw).args(["health", "--url", &url, "--token", TOKEN]).output(LIMIT);
    assert_eq!(code, 0);
    // OPENCLAW_GATEWAY_URL uses only the environment's credentials.
    let (code, _, _) = cli(&gw).args(["health"]).env("OPENCLAW_GATEWAY_URL", &url).env("OPENCLAW_GATEWAY_TOKEN", TOKEN).output(LIMIT);
    assert_eq!(code, 0);
}

#[test]
fn logs_prints_the_tail_and_follows_new_lines() {
    let gw = Gw::start();
    let (code, out, _) = cli(&gw).args(["logs", "--limit", "5"]).output(LIMIT);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Log file: "), "{out}");
    assert!(lines.len() >= 2 && lines[1].contains(" info ["), "{out}");
    let (code, out, _) = cli(&gw).args(["logs", "--json", "--limit", "2"]).output(LIMIT);
    assert_eq!(code, 0);
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["type"] == "log" || v["type"] == "notice", "{v}");
    }
    // --follow: a request made after it started shows up.
    let mut follow = cli(&gw).args(["logs", "--follow", "--interval", "100"]).command();
    let mut child = follow.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    cli(&gw).args(["gateway", "call", "no.such.followed.method"]).output(LIMIT);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = false;
    while Instant::now() < deadline && !seen {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen = l.contains("no.such.followed.method");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen, "--follow printed the new line");
}

#[test]
fn dev_setup_is_non_interactive_and_reports_what_it_wrote() {
    let home = Arc::new(TempDir::new("devsetup"));
    let (code, out, _) = Cmd::new(home.clone()).args(["--dev", "setup"]).output(LIMIT);
    assert_eq!(code, 0);
    assert!(out.contains("Wrote ~/.openclaw-dev/openclaw.json"), "{out}");
    assert!(out.contains("Workspace OK: ~/.openclaw-dev/workspace (wrote AGENTS.md, SOUL.md, IDENTITY.md, USER.md)"), "{out}");
    assert!(out.contains("Sessions OK: ~/.openclaw-dev/agents/main/sessions"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| std::fs::metadata(home.path().join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(".openclaw-dev"), 0o700);
    assert_eq!(mode(".openclaw-dev/openclaw.json"), 0o600);
    assert_eq!(mode(".openclaw-dev/workspace/SOUL.md"), 0o600);
    let (code, out, _) = Cmd::new(home).args(["--dev", "setup"]).output(LIMIT);
    assert_eq!(code, 0);
    assert!(out.contains("Config OK: ~/.openclaw-dev/openclaw.json (kept as it is)"), "{out}");
}

#[test]
fn two_gateways_run_side_by_side_and_a_third_on_the_same_state_dir_is_refused() {
    let home = Arc::new(TempDir::new("multi"));
    let root = home.path().to_path_buf();
    let setup = |name: &str, port: u16| {
        let state = root.join(format!("state-{name}"));
        let cfg = root.join(format!("{name}.json"));
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(
            &cfg,
            json!({"gateway": {"mode": "local", "port": port, "auth": {"token": format!("tok-{name}")}},
                   "agents": {"defaults": {"workspace": state.join("ws").display().to_string()}}})
            .to_string(),
        )
        .unwrap();
        (state, cfg)
    };
    let (port_a, port_b) = (free_port(), free_port());
    let (state_a, cfg_a) = setup("a", port_a);
    let (state_b, cfg_b) = setup("b", port_b);
    let start = |state: &std::path::Path, cfg: &std::path::Path| {
        Gw::builder()
            .home(home.clone())
            .no_config()
            .env("OPENCLAW_STATE_DIR", state.to_str().unwrap())
            .env("OPENCLAW_CONFIG_PATH", cfg.to_str().unwrap())
            .start_without_port_flag()
    };
    let a = start(&state_a, &cfg_a);
    let b = start(&state_b, &cfg_b);
    assert_eq!((a.port, b.port), (port_a, port_b));
    let health = |state: &std::path::Path, cfg: &std::path::Path| {
        Cmd::new(home.clone())
            .args(["gateway", "status", "--json"])
            .env("OPENCLAW_STATE_DIR", state.to_str().unwrap())
            .env("OPENCLAW_CONFIG_PATH", cfg.to_str().unwrap())
            .output(LIMIT)
    };
    let (code, out, _) = health(&state_a, &cfg_a);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runtime"]["pid"], a.child.id());
    let (code, out, _) = health(&state_b, &cfg_b);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runtime"]["pid"], b.child.id());
    assert_eq!(v["gateway"]["port"], port_b);
    let (code, err) = Gw::builder()
        .home(home.clone())
        .no_config()
        .env("OPENCLAW_STATE_DIR", state_a.to_str().unwrap())
        .env("OPENCLAW_CONFIG_PATH", cfg_b.to_str().unwrap())
        .arg("--port")
        .arg("0")
        .refuse(LIMIT);
    assert_eq!(code, 78);
    assert!(err.contains(&format!("gateway already running (pid {})", a.child.id())), "{err}");
}

#[test]
fn agent_command_prints_the_reply_and_reports_failures() {
    use crate::support::fake_llm::{FakeLlm, Flavor, Reply};
    let fake = FakeLlm::start(Flavor::OpenAi, Some("k"));
    fake.push(Reply::text(&["Hi", " from the CLI turn."]));
    fake.push(Reply::status(400, "context too long for this model"));
    let gw = Gw::builder()
        .config(json!({
            "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
            "models": {"providers": {"mock": {"baseUrl": fake.base_url(), "apiKey": "k"}}},
            "agents": {"defaults": {"model": "mock/echo"}}
        }))
        .start();
    let (code, out, err) = cli(&gw).args(["agent", "--message", "hello", "--session-key", "cli-chat"]).output(LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "Hi from the CLI turn.\n");
    assert_eq!(fake.requests()[0].last_user_text(), "hello");

    let (code, out, err) = cli(&gw).args(["agent", "-m", "again", "--session-key", "cli-chat", "--json"]).output(LIMIT);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("Agent failed: mock returned HTTP 400: context too long for this model"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "error");
    let second = fake.requests()[1].body["messages"].as_array().unwrap().len();
    assert_eq!(second, 4, "the session continued: system, hello, the reply, again");
}

#[test]
fn interrupting_the_agent_command_aborts_the_run() {
    use crate::support::fake_llm::{FakeLlm, Flavor, Reply};
    let fake = FakeLlm::start(Flavor::OpenAi, Some("k"));
    fake.push(Reply::slow(&["a", " very", " slow", " answer"], Duration::from_millis(500)));
    let gw = Gw::builder()
        .config(json!({
            "gateway": {"mode": "local", "auth": {"mode": "token", "token": TOKEN}},
            "models": {"providers": {"mock": {"baseUrl": fake.base_url(), "apiKey": "k"}}},
            "agents": {"defaults": {"model": "mock/echo"}, "entries": {"main": {}, "helper": {}}}
        }))
        .start();
    // Not the default agent: the abort must name it too.
    let mut child = cli(&gw)
        .args(["agent", "--message", "take your time", "--agent", "helper", "--session-key", "ctrl-c"])
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(fake.wait_for(1, LIMIT), "the run reached the model");
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        let deadline = Instant::now() + LIMIT;
        loop {
            let history = c.call("chat.history", json!({"sessionKey": "agent:helper:ctrl-c"})).await;
            let last = history["messages"].as_array().unwrap().last().cloned().unwrap_or_default();
            if last["stopReason"] == "aborted" {
                break;
            }
            assert!(Instant::now() < deadline, "the run was not aborted: {history}");
            smol::Timer::after(Duration::from_millis(50)).await;
        }
    });
}
