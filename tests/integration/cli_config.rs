//! The commands a user of the official CLI expects, through the real binary: `-h` and "did you
//! mean", `config get|set|unset|file|validate` (on the file, and through a running gateway),
//! `channels list|add|remove`, `sessions`, `models`, `agents` and `onboard` (flags and a terminal).

use crate::support::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

fn run(home: &Arc<TempDir>, args: &[&str]) -> (i32, String, String) {
    Cmd::new(home.clone()).args(args).output(LIMIT)
}

fn config_file(home: &TempDir) -> Value {
    serde_json::from_str(&std::fs::read_to_string(home.path().join(".openclaw/openclaw.json")).unwrap()).unwrap()
}

#[test]
fn dash_h_is_help_and_unknown_words_get_the_closest_one() {
    let home = Arc::new(TempDir::new("help"));
    let every_new_command = [
        vec!["-h"],
        vec!["gateway", "-h"],
        vec!["config", "-h"],
        vec!["config", "get", "-h"],
        vec!["config", "set", "-h"],
        vec!["config", "unset", "-h"],
        vec!["config", "file", "-h"],
        vec!["config", "validate", "-h"],
        vec!["channels", "list", "-h"],
        vec!["channels", "add", "-h"],
        vec!["channels", "remove", "-h"],
        vec!["sessions", "-h"],
        vec!["models", "-h"],
        vec!["agents", "-h"],
        vec!["onboard", "-h"],
    ];
    for args in every_new_command {
        let (code, out, err) = run(&home, &args);
        let (_, long, _) = run(&home, &args.iter().map(|a| if *a == "-h" { "--help" } else { a }).collect::<Vec<_>>());
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.starts_with("Usage: openclaw"), "{args:?}: {out}");
        assert_eq!(out, long, "-h prints what --help prints");
    }
    let cases = [
        (vec!["statuss"], "Did you mean `status`?"),
        (vec!["gateway", "--prot", "1"], "Did you mean `--port`?"),
        (vec!["status", "--jsn"], "Did you mean `--json`?"),
        (vec!["channels", "lst"], "Did you mean `list`?"),
        (vec!["config", "unst", "x"], "Did you mean `unset`?"),
    ];
    for (args, hint) in cases {
        let (code, _, err) = run(&home, &args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains(hint), "{args:?}: {err}");
    }
    let (code, _, err) = run(&home, &["zzzzqqq"]);
    assert_eq!(code, 1);
    assert!(!err.contains("Did you mean"), "no suggestion for nothing close: {err}");
}

#[test]
fn config_set_get_unset_on_the_file_when_no_gateway_runs() {
    let home = Arc::new(TempDir::new("cfgfile"));
    let (code, out, err) = run(&home, &["config", "set", "gateway.port", "19555"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no gateway is running"), "{out}");
    let path = home.path().join(".openclaw/openclaw.json");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(config_file(&home), json!({"gateway": {"mode": "local", "port": 19555}}), "a new file is for a local gateway");

    run(&home, &["config", "set", "gateway.auth.token", "s3cret-value"]);
    run(&home, &["config", "set", "gateway.controlUi.allowedOrigins", "['http://a', 'http://b']"]);
    run(&home, &["config", "set", "logging.level", "debug"]);
    let (_, out, _) = run(&home, &["config", "get", "gateway.port"]);
    assert_eq!(out.trim(), "19555");
    let (_, out, _) = run(&home, &["config", "get", "gateway.auth.token"]);
    assert_eq!(out.trim(), "__OPENCLAW_REDACTED__");
    let (_, out, _) = run(&home, &["config", "get", "gateway.auth.token", "--show-secrets"]);
    assert_eq!(out.trim(), "s3cret-value");
    let (_, out, _) = run(&home, &["config", "get", "gateway.controlUi.allowedOrigins[1]"]);
    assert_eq!(out.trim(), "http://b");
    let (_, out, _) = run(&home, &["config", "get", "logging.level", "--json"]);
    assert_eq!(out.trim(), "\"debug\"");
    let (code, out, err) = run(&home, &["config", "get", "gateway.nope"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("Config path not found: gateway.nope"), "{err}");
    let (code, out, _) = run(&home, &["config", "get", "gateway.nope", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!({"error": "Config path not found: gateway.nope"}));

    // A list is set as a whole (shorter is fine: it is what was asked), items are not.
    let (code, ..) = run(&home, &["config", "set", "gateway.controlUi.allowedOrigins", "['http://a']"]);
    assert_eq!(code, 0);
    let (code, _, err) = run(&home, &["config", "set", "gateway.controlUi.allowedOrigins[0]", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("set the whole list instead"), "{err}");

    let (code, out, err) = run(&home, &["config", "unset", "logging"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(config_file(&home).get("logging").is_none());
    assert!(home.path().join(".openclaw/openclaw.json.bak").is_file(), "the previous file is kept");
    let (code, _, err) = run(&home, &["config", "unset", "logging"]);
    assert_eq!(code, 1);
    assert!(err.contains("Config path not found: logging"), "{err}");

    let (_, out, _) = run(&home, &["config", "file"]);
    assert_eq!(out.trim(), "~/.openclaw/openclaw.json");
    let (code, out, _) = run(&home, &["config", "validate"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), "Config valid: ~/.openclaw/openclaw.json");
}

#[test]
fn a_config_change_the_gateway_would_not_start_with_leaves_the_file_untouched() {
    let home = Arc::new(TempDir::new("cfgguard"));
    run(&home, &["config", "set", "gateway.auth.token", "tok-1234567890"]);
    let path = home.path().join(".openclaw/openclaw.json");
    let before = std::fs::read(&path).unwrap();
    let bad: &[(&[&str], &str)] = &[
        (&["config", "set", "gateway.mode", "remote"], "gateway.mode"),
        (&["config", "set", "gateway.bind", "lan"], ""),
        (&["config", "set", "logging.file", "/etc/passwd"], "logging.file"),
        (&["config", "set", "agents.defaults.model", "nosuch/model"], "agents.defaults.model"),
        (&["config", "set", "gateway.prot", "1"], "gateway.prot"),
        (&["config", "set", "gateway", "null"], "gateway.mode"),
        (&["config", "set", "models.providers", "{x: {baseUrl: 'http://h'}}"], "map of entries"),
        (&["config", "set", "gateway.port", "x", "--strict-json"], "not valid JSON5"),
    ];
    for (args, why) in bad {
        let (code, out, err) = run(&home, args);
        if args.get(3) == Some(&"lan") {
            // A token is configured, so a LAN bind is allowed: the control case.
            assert_eq!(code, 0, "{out}{err}");
            run(&home, &["config", "unset", "gateway.bind"]);
            continue;
        }
        assert_eq!(code, 1, "{args:?} was accepted: {out}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was written");
    let (code, out, _) = run(&home, &["config", "set", "gateway.port", "19001", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing was written"), "{out}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "--dry-run writes nothing");
}

#[test]
fn config_set_through_a_running_gateway_is_applied_by_hot_reload() {
    let gw = Gw::start();
    block_on(async { assert_eq!(http_get(gw.port, "/v1/models").await.status, 404) });
    let (code, out, err) =
        Cmd::new(gw.home.clone()).args(["config", "set", "gateway.http.endpoints.chatCompletions.enabled", "true"]).output(LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("The gateway wrote ~/.openclaw/openclaw.json and applied it without a restart."), "{out}");
    assert!(gw.wait_line("config hot reload applied (gateway.http", LIMIT).is_some(), "{:?}", gw.lines());
    block_on(async {
        let r = http_post(gw.port, "/v1/chat/completions", &[("Authorization", BEARER)], "{}").await;
        assert_eq!(r.status, 400, "the endpoint is on now: {}", r.text());
    });
    // Refused by the gateway itself, with the key path.
    let (code, _, err) = Cmd::new(gw.home.clone()).args(["config", "set", "logging.file", "/etc/passwd"]).output(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("logging.file"), "{err}");
    // Written under the hash guard: an edit made meanwhile by someone else is not lost.
    let path = gw.home.path().join(".openclaw/openclaw.json");
    let mut doc = config_file(&gw.home);
    doc["hooks"] = json!({"enabled": false});
    std::fs::write(&path, doc.to_string()).unwrap();
    let (code, out, err) = Cmd::new(gw.home.clone()).args(["config", "set", "logging.level", "debug"]).output(LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    let after = config_file(&gw.home);
    assert_eq!(after["hooks"], json!({"enabled": false}), "{after}");
    assert_eq!(after["logging"]["level"], "debug");
}

#[cfg(feature = "telegram")]
#[test]
fn channels_add_list_remove_and_the_running_gateway_connects_the_channel() {
    use crate::support::fake_telegram::FakeTelegram;
    let tg = FakeTelegram::start("42:abc");
    let mut cfg = json!({"gateway": {"mode": "local", "auth": {"token": TOKEN}}});
    // Where the fake Bot API lives; `channels add` then supplies the token.
    cfg["channels"] = json!({"telegram": {"apiRoot": tg.api_root(), "enabled": false}});
    let gw = Gw::builder().config(cfg).env("OPENCLAW_CHANNEL_POLL_TIMEOUT_MS", "1000").start();
    let cli = |args: &[&str]| Cmd::new(gw.home.clone()).args(args).output(LIMIT);

    let (code, out, _) = cli(&["channels", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("- Telegram: configured, disabled · credentials missing"), "{out}");
    if cfg!(feature = "discord") {
        assert!(out.contains("- Discord: not configured (openclaw channels add --channel discord --token <bot token>)"), "{out}");
    } else {
        assert!(out.contains("- Discord: not in this build (rebuild with --features discord)"), "{out}");
    }

    let (code, out, err) = cli(&["channels", "add", "--channel", "telegram", "--token", "42:abc", "--allow-from", "7,8"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Updated Telegram. The gateway wrote ~/.openclaw/openclaw.json and applied it without a restart."), "{out}");
    assert!(wait_for(LIMIT, || tg.calls("getUpdates") > 0), "the gateway started polling after the hot reload");
    let (_, out, _) = cli(&["channels", "list", "--json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        list["channels"][0],
        json!({"id": "telegram", "label": "Telegram", "builtIn": true, "configured": true, "enabled": true, "credentials": "config"})
    );
    assert_eq!(config_file(&gw.home)["channels"]["telegram"]["allowFrom"], json!(["7", "8"]));

    let (code, _, err) = cli(&["channels", "add", "--channel", "telegram", "--app-secret", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("--app-secret does not apply to telegram"), "{err}");

    let (code, out, _) = cli(&["channels", "remove", "--channel", "telegram"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(config_file(&gw.home)["channels"]["telegram"]["enabled"], false);
    assert_eq!(config_file(&gw.home)["channels"]["telegram"]["botToken"], "42:abc", "settings kept");
    let (code, ..) = cli(&["channels", "remove", "--channel", "telegram", "--delete"]);
    assert_eq!(code, 0);
    assert!(config_file(&gw.home)["channels"].get("telegram").is_none());
}

#[test]
fn sessions_models_and_agents_show_the_rpc_data_as_tables_and_json() {
    let gw = Gw::start();
    let cli = |args: &[&str]| Cmd::new(gw.home.clone()).args(args).output(LIMIT);
    let (code, out, _) = cli(&["sessions"]);
    assert_eq!((code, out.trim()), (0, "No sessions"));
    let (code, ..) = cli(&["agent", "-m", "hello"]);
    assert_eq!(code, 0);

    let (code, out, _) = cli(&["sessions"]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Key") && lines[0].contains("Kind") && lines[0].contains("Tokens"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("agent:main:")), "{out}");
    let (_, out, _) = cli(&["sessions", "--json"]);
    let json: Value = serde_json::from_str(&out).unwrap();
    let rpc = block_on(async {
        let (mut c, _) = Client::connect(gw.port, TOKEN, &["operator.read"]).await;
        c.call("sessions.list", json!({"limit": 100})).await
    });
    assert_eq!(json["count"], 1);
    assert_eq!(json["sessions"][0]["key"], rpc["sessions"][0]["key"], "the same data as the RPC");

    let (code, out, _) = cli(&["models"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Model") && out.contains("offline/"), "{out}");
    let (_, out, _) = cli(&["models", "--json"]);
    schema::assert_valid("ModelsListResult", &serde_json::from_str(&out).unwrap());

    let (code, out, _) = cli(&["agents"]);
    assert_eq!(code, 0);
    assert!(out.lines().nth(1).is_some_and(|l| l.starts_with("main (default)")), "{out}");
    let (_, out, _) = cli(&["agents", "--json"]);
    schema::assert_valid("AgentsListResult", &serde_json::from_str(&out).unwrap());
}

#[test]
fn onboard_without_a_terminal_asks_for_the_flags_and_with_them_is_safe_to_repeat() {
    let home = Arc::new(TempDir::new("onboard"));
    let (code, _, err) = run(&home, &["onboard"]);
    assert_eq!(code, 1);
    assert!(err.contains("Onboarding needs an interactive TTY. Use `openclaw onboard --non-interactive"), "{err}");

    let args = [
        "onboard",
        "--non-interactive",
        "--model",
        "anthropic/claude-sonnet-4-5",
        "--api-key-env",
        "MY_ANTHROPIC_KEY",
        "--channel",
        "telegram",
        "--channel-token",
        "1:tok",
    ];
    let (code, out, err) = run(&home, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Dashboard: http://127.0.0.1:18789/"), "{out}");
    let cfg = config_file(&home);
    assert_eq!(cfg["agents"]["defaults"]["model"]["primary"], "anthropic/claude-sonnet-4-5");
    assert_eq!(cfg["models"]["providers"]["anthropic"]["apiKey"], "${MY_ANTHROPIC_KEY}");
    assert_eq!(cfg["channels"]["telegram"], json!({"enabled": true, "botToken": "1:tok"}));
    assert!(cfg["gateway"]["auth"]["token"].is_string(), "setup's files are there");
    assert!(home.path().join(".openclaw/workspace/AGENTS.md").is_file());
    let first = std::fs::read(home.path().join(".openclaw/openclaw.json")).unwrap();
    let (code, ..) = run(&home, &args);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read(home.path().join(".openclaw/openclaw.json")).unwrap(), first, "a second run changes nothing");

    let (code, _, err) = run(&home, &["onboard", "--non-interactive", "--model", "nosuch/x"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown model provider"), "{err}");
    let (code, _, err) = run(&home, &["onboard", "--non-interactive", "--channel", "whatsapp", "--channel-token", "x"]);
    assert_eq!(code, 1);
    assert!(err.contains("openclaw channels add --channel whatsapp"), "{err}");
}

#[test]
fn onboard_on_a_terminal_asks_and_writes_the_answers() {
    let home = Arc::new(TempDir::new("onboardtty"));
    let cmd = Cmd::new(home.clone()).args(["onboard"]).env("OPENCLAW_SERVICE_MANAGER", "none");
    // Model 5 (another server): its URL and model id, no key; Telegram with a token; no service.
    let answers = ["5", "http://127.0.0.1:9/v1", "qwen2.5", "", "1", "77:hidden-token", "2"];
    let (code, screen) = pty::run(cmd.command(), &answers, LIMIT);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("1. Which model should answer?") && screen.contains("3. Start the gateway at boot"), "{screen}");
    assert!(!screen.contains("77:hidden-token"), "the token is not echoed: {screen}");
    let cfg = config_file(&home);
    assert_eq!(cfg["agents"]["defaults"]["model"]["primary"], "local/qwen2.5");
    assert_eq!(
        cfg["models"]["providers"]["local"],
        json!({"baseUrl": "http://127.0.0.1:9/v1", "api": "openai-completions", "models": [{"id": "qwen2.5"}]})
    );
    assert_eq!(cfg["channels"]["telegram"]["botToken"], "77:hidden-token");
}
