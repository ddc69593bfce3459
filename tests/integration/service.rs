//! `gateway install | uninstall | start | stop | restart` and `doctor`, with fake `systemctl` and
//! `launchctl` programs that record their calls, and unit files rendered into a temp home.

use crate::support::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// A home with a config, a fake service manager on PATH, and a unit directory.
struct Host {
    home: Arc<TempDir>,
    bin: PathBuf,
    units: PathBuf,
    calls: PathBuf,
}

impl Host {
    fn new(manager: &str) -> Host {
        let home = Arc::new(TempDir::new("svc"));
        let bin = home.path().join("fakebin");
        let units = home.path().join("units");
        let calls = home.path().join("calls.log");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(home.path().join(".openclaw")).unwrap();
        std::fs::write(
            home.path().join(".openclaw/openclaw.json"),
            json!({"gateway": {"mode": "local", "port": 18999, "auth": {"token": TOKEN}}}).to_string(),
        )
        .unwrap();
        for prog in ["systemctl", "launchctl"] {
            // is-active / is-enabled answer by whether the unit is "started" / "enabled".
            let script = format!(
                "#!/bin/sh\necho \"{prog} $*\" >> {calls}\ncase \"$*\" in\n  *is-active*) [ -f {state}/active ] && echo active && exit 0; echo inactive; exit 3 ;;\n  *is-enabled*) [ -f {state}/enabled ] && echo enabled && exit 0; echo disabled; exit 1 ;;\n  *'enable --now'*) touch {state}/enabled {state}/active ;;\n  *'disable --now'*) rm -f {state}/enabled {state}/active ;;\n  *' stop '*) rm -f {state}/active ;;\n  *' start '*|*restart*) touch {state}/active ;;\nesac\nexit 0\n",
                calls = calls.display(),
                state = home.path().display()
            );
            let p = bin.join(prog);
            std::fs::write(&p, script).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let host = Host { home, bin, units, calls };
        std::fs::write(host.home.path().join("manager"), manager).unwrap();
        host
    }

    fn cmd(&self, args: &[&str]) -> Cmd {
        let manager = std::fs::read_to_string(self.home.path().join("manager")).unwrap();
        Cmd::new(self.home.clone())
            .args(args)
            .env("PATH", &format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap()))
            .env("OPENCLAW_SERVICE_MANAGER", &manager)
            .env("OPENCLAW_SERVICE_DIR", self.units.to_str().unwrap())
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(&self.calls).unwrap_or_default()
    }
}

#[test]
fn install_writes_a_systemd_user_unit_and_enables_it() {
    let h = Host::new("systemd");
    let (code, out, err) = h.cmd(&["gateway", "install"]).output(LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    let unit = std::fs::read_to_string(h.units.join("openclaw-gateway.service")).unwrap();
    let exe = std::fs::canonicalize(bin()).unwrap();
    assert!(unit.contains(&format!("ExecStart={} gateway --port 18999\n", exe.display())), "{unit}");
    assert!(unit.contains("Restart=always\n") && unit.contains("RestartPreventExitStatus=78\n"), "{unit}");
    assert!(unit.contains("Type=notify\n") && unit.contains("NotifyAccess=main\n") && unit.contains("WatchdogSec=60\n"), "{unit}");
    assert!(!unit.contains(TOKEN), "no secrets in the unit");
    assert_eq!(h.calls(), "systemctl --user daemon-reload\nsystemctl --user enable --now openclaw-gateway.service\n");
    assert!(out.contains("loginctl enable-linger"), "{out}");

    // Status sees it.
    let (_, out, _) = h.cmd(&["gateway", "status"]).output(LIMIT);
    assert!(out.contains("Service: systemd (user) · openclaw-gateway.service · enabled · active"), "{out}");

    // A differing unit is not replaced without --force.
    let (code, _, err) = h.cmd(&["gateway", "install", "--port", "19998"]).output(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
    let (code, _, _) = h.cmd(&["gateway", "install", "--port", "19998", "--force"]).output(LIMIT);
    assert_eq!(code, 0);
    assert!(std::fs::read_to_string(h.units.join("openclaw-gateway.service")).unwrap().contains("--port 19998"));

    for (verb, expect) in [
        ("stop", "systemctl --user stop openclaw-gateway.service"),
        ("start", "systemctl --user start openclaw-gateway.service"),
        ("restart", "systemctl --user restart openclaw-gateway.service"),
    ] {
        let (code, _, err) = h.cmd(&["gateway", verb]).output(LIMIT);
        assert_eq!(code, 0, "{verb}: {err}");
        assert!(h.calls().lines().last() == Some(expect), "{verb}: {}", h.calls());
    }
    let (code, out, _) = h.cmd(&["gateway", "uninstall"]).output(LIMIT);
    assert_eq!(code, 0);
    assert!(out.contains("Removed openclaw-gateway.service"));
    assert!(!h.units.join("openclaw-gateway.service").exists());
    assert!(h.calls().contains("systemctl --user disable --now openclaw-gateway.service"));
}

#[test]
fn profiles_get_their_own_unit_with_their_flags_and_system_units_run_as_a_user() {
    let h = Host::new("systemd");
    let (code, _, err) = h.cmd(&["--profile", "work", "gateway", "install", "--port", "18800"]).output(LIMIT);
    assert_eq!(code, 0, "{err}");
    let unit = std::fs::read_to_string(h.units.join("openclaw-gateway-work.service")).unwrap();
    assert!(unit.contains(" --profile work gateway --port 18800\n"), "{unit}");
    let (code, _, err) = h.cmd(&["gateway", "install", "--system"]).env("USER", "pi").output(LIMIT);
    assert_eq!(code, 0, "{err}");
    let unit = std::fs::read_to_string(h.units.join("openclaw-gateway.service")).unwrap();
    assert!(unit.contains("User=pi\n") && unit.contains("WantedBy=multi-user.target"), "{unit}");
    assert!(h.calls().contains("systemctl daemon-reload\nsystemctl enable --now openclaw-gateway.service"), "{}", h.calls());
}

#[test]
fn launchd_agents_are_written_and_bootstrapped() {
    let h = Host::new("launchd");
    let (code, out, err) = h.cmd(&["--profile", "work", "gateway", "install"]).output(LIMIT);
    assert_eq!(code, 0, "{out}{err}");
    let plist_path = h.units.join("ai.openclaw.work.plist");
    let plist = std::fs::read_to_string(&plist_path).unwrap();
    assert!(plist.contains("<string>ai.openclaw.work</string>") && plist.contains("<key>KeepAlive</key>"), "{plist}");
    assert_eq!(std::fs::metadata(&plist_path).unwrap().permissions().mode() & 0o777, 0o600);
    let uid = unsafe { libc::getuid() };
    assert!(h.calls().contains(&format!("launchctl bootstrap gui/{uid} {}", plist_path.display())), "{}", h.calls());
    let (code, _, _) = h.cmd(&["--profile", "work", "gateway", "restart"]).output(LIMIT);
    assert_eq!(code, 0);
    assert!(h.calls().contains(&format!("launchctl kickstart -k gui/{uid}/ai.openclaw.work")));
}

#[test]
fn without_a_service_manager_stop_and_restart_act_on_the_running_gateway() {
    let mut gw = Gw::start();
    let home = gw.home.clone();
    let cmd = |args: &[&str]| Cmd::new(home.clone()).args(args).env("OPENCLAW_SERVICE_MANAGER", "none");
    let (code, _, err) = cmd(&["gateway", "install"]).output(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("No supported service manager detected"), "{err}");
    let (code, _, err) = cmd(&["gateway", "start"]).output(LIMIT);
    assert_eq!(code, 1);
    assert!(err.contains("No gateway service is installed") && err.contains("gateway install"), "{err}");

    let (code, out, _) = cmd(&["gateway", "restart"]).output(LIMIT);
    assert_eq!(code, 0);
    assert!(out.contains("restart in-process"), "{out}");
    assert!(gw.wait_line("restarted in-process", WAIT).is_some());

    let (code, out, _) = cmd(&["gateway", "stop"]).output(LIMIT);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("Stopped the gateway (pid {}).", gw.child.id()));
    assert_eq!(gw.wait_exit(Duration::from_secs(3)), Some(0));
    let (code, out, _) = cmd(&["gateway", "stop"]).output(LIMIT);
    assert_eq!(code, 0, "stopping what is not running is not an error");
    assert!(out.starts_with("No gateway is running"));
}

#[test]
fn doctor_finds_problems_and_fix_repairs_them() {
    let h = Host::new("systemd");
    let cfg = h.home.path().join(".openclaw/openclaw.json");
    std::fs::write(&cfg, json!({"gateway": {"bind": "lan", "port": 18999}}).to_string()).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(h.home.path().join(".openclaw"), std::fs::Permissions::from_mode(0o755)).unwrap();
    h.cmd(&["gateway", "install"]).output(LIMIT);
    let unit = h.units.join("openclaw-gateway.service");
    let drifted = std::fs::read_to_string(&unit).unwrap().replace("--port 18999", "--port 12345");
    std::fs::write(&unit, drifted).unwrap();

    let (code, out, _) = h.cmd(&["doctor"]).output(LIMIT);
    assert_eq!(code, 1, "{out}");
    for expect in [
        "✗ config: gateway.mode is missing",
        "✗ permissions: ~/.openclaw is mode 755 (want 700)",
        "✗ permissions: ~/.openclaw/openclaw.json is mode 644 (want 600)",
        "✗ auth: bind=lan without a token or password",
        "✗ service: openclaw-gateway.service drifted from the config: port is 12345, the config says 18999",
        "✗ workspace: ~/.openclaw/workspace has no starter files",
    ] {
        assert!(out.contains(expect), "missing {expect:?} in:\n{out}");
    }
    let (code, out, _) = h.cmd(&["doctor", "--fix"]).output(LIMIT);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("fixed: set gateway.mode=local"), "{out}");
    assert!(out.contains("fixed: generated gateway.auth.token"), "{out}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    assert_eq!(v["gateway"]["mode"], "local");
    assert_eq!(v["gateway"]["auth"]["token"].as_str().unwrap().len(), 48);
    assert_eq!(std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&unit).unwrap().contains("--port 18999"), "the unit was rewritten");
    let (code, out, _) = h.cmd(&["doctor", "--json"]).output(LIMIT);
    assert_eq!(code, 0, "{out}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["ok"], true);
}

#[test]
fn doctor_reports_what_it_cannot_fix() {
    let home = Arc::new(TempDir::new("doctor"));
    std::fs::create_dir_all(home.path().join(".openclaw")).unwrap();
    std::fs::write(home.path().join(".openclaw/openclaw.json"), "{gateway: {mode: 'local', prot: 1}}").unwrap();
    let (code, out, _) = Cmd::new(home.clone()).args(["doctor", "--fix"]).env("OPENCLAW_SERVICE_MANAGER", "none").output(LIMIT);
    assert_eq!(code, 1);
    assert!(out.contains("✗ config: ~/.openclaw/openclaw.json: gateway.prot: unknown key"), "{out}");
    assert!(out.contains("problem(s) remain"), "{out}");
    std::fs::write(
        home.path().join(".openclaw/openclaw.json"),
        json!({"gateway": {"mode": "local", "auth": {"token": "t"}}, "channels": {"telegram": {"enabled": true}},
               "agents": {"defaults": {"model": {"primary": "openai/gpt-4o", "fallbacks": ["ollama/llama3.2"]}}}})
        .to_string(),
    )
    .unwrap();
    let (code, out, _) = Cmd::new(home).args(["doctor"]).env("OPENCLAW_SERVICE_MANAGER", "none").env("OPENAI_API_KEY", "").output(LIMIT);
    assert_eq!(code, 1);
    assert!(out.contains("✗ channels: telegram is enabled but lacks botToken (or tokenFile, or TELEGRAM_BOT_TOKEN)"), "{out}");
    assert!(
        out.contains("✗ models: agent main: openai/gpt-4o: No route-compatible authentication source is configured for openai"),
        "{out}"
    );
    assert!(out.contains("✓ models: agent main: ollama/llama3.2 via http://127.0.0.1:11434/v1"), "{out}");
}
