//! systemd units: `~/.config/systemd/user/openclaw-gateway[-<profile>].service` for a user,
//! `/etc/systemd/system/…` system-wide.
//!
//! `Restart=always` keeps the gateway up; `RestartPreventExitStatus=78` stops systemd from
//! restarting it in a loop when the config forbids starting (the gateway exits 78 then).
//! `Type=notify` with `WatchdogSec=`: the gateway says when it is ready and keeps pinging while
//! it makes progress (see `gateway::watchdog`); when the pings stop, systemd restarts it.

use super::Spec;
use crate::limits::SYSTEMD_WATCHDOG_SEC;

/// Whether an installed unit uses the notify protocol and the watchdog (older installs do not).
pub fn has_watchdog(text: &str) -> bool {
    text.lines().any(|l| l.trim() == "Type=notify") && text.lines().any(|l| l.trim().starts_with("WatchdogSec="))
}

/// The unit text.
pub fn render(spec: &Spec, user_unit: bool) -> String {
    let mut exec = vec![quote(&spec.exe.display().to_string())];
    exec.extend(spec.args.iter().map(|a| quote(a)));
    let mut s = String::new();
    s.push_str("# Written by `openclaw gateway install`; `openclaw doctor --fix` rewrites it when it drifts.\n");
    s.push_str("[Unit]\n");
    s.push_str("Description=OpenClaw Gateway\n");
    s.push_str("After=network-online.target\n");
    s.push_str("Wants=network-online.target\n");
    s.push_str("StartLimitBurst=5\n");
    s.push_str("StartLimitIntervalSec=60\n\n");
    s.push_str("[Service]\n");
    s.push_str("Type=notify\n");
    s.push_str("NotifyAccess=main\n");
    s.push_str(&format!("WatchdogSec={SYSTEMD_WATCHDOG_SEC}\n"));
    s.push_str(&format!("ExecStart={}\n", exec.join(" ")));
    for (k, v) in &spec.env {
        s.push_str(&format!("Environment={}\n", quote(&format!("{k}={v}"))));
    }
    if let Some((user, home)) = &spec.user {
        s.push_str(&format!("User={user}\n"));
        s.push_str(&format!("Environment={}\n", quote(&format!("HOME={}", home.display()))));
    }
    s.push_str("Restart=always\n");
    s.push_str("RestartSec=5\n");
    s.push_str("RestartPreventExitStatus=78\n");
    s.push_str("TimeoutStopSec=30\n");
    s.push_str("TimeoutStartSec=30\n");
    s.push_str("SuccessExitStatus=0 143\n");
    s.push_str("KillMode=control-group\n\n");
    s.push_str("[Install]\n");
    s.push_str(if user_unit { "WantedBy=default.target\n" } else { "WantedBy=multi-user.target\n" });
    s
}

/// Quotes a word for systemd's command-line and assignment syntax when it needs it.
fn quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        return word.to_string();
    }
    let escaped = word.replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%");
    format!("\"{escaped}\"")
}

/// `ExecStart`'s words and the `Environment=` pairs of an installed unit (for drift checks).
pub fn parse(text: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut exec = Vec::new();
    let mut env = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ExecStart=") {
            exec = split_words(rest);
        } else if let Some(rest) = line.strip_prefix("Environment=") {
            for w in split_words(rest) {
                if let Some((k, v)) = w.split_once('=') {
                    env.push((k.to_string(), v.to_string()));
                }
            }
        }
    }
    (exec, env)
}

fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                any = true;
            }
            '\\' if in_quotes => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '%' if chars.peek() == Some(&'%') => {
                chars.next();
                cur.push('%');
            }
            c if c.is_whitespace() && !in_quotes => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn units_round_trip_through_the_parser() {
        let spec = Spec {
            name: "openclaw-gateway-dev.service".into(),
            exe: PathBuf::from("/home/pi/my bin/openclaw"),
            args: vec!["--dev".into(), "gateway".into(), "--port".into(), "19001".into()],
            env: vec![("OPENCLAW_STATE_DIR".into(), "/srv/state 1".into())],
            user: None,
            port: 19001,
        };
        let text = render(&spec, true);
        assert!(text.contains("ExecStart=\"/home/pi/my bin/openclaw\" --dev gateway --port 19001\n"), "{text}");
        assert!(text.contains("RestartPreventExitStatus=78\n") && text.contains("Restart=always\n"));
        assert!(text.contains("WantedBy=default.target"));
        let (exec, env) = parse(&text);
        assert_eq!(exec, vec!["/home/pi/my bin/openclaw", "--dev", "gateway", "--port", "19001"]);
        assert_eq!(env, vec![("OPENCLAW_STATE_DIR".to_string(), "/srv/state 1".to_string())]);
    }

    #[test]
    fn system_units_run_as_the_installing_user() {
        let spec = Spec {
            name: "openclaw-gateway.service".into(),
            exe: PathBuf::from("/usr/local/bin/openclaw"),
            args: vec!["gateway".into(), "--port".into(), "18789".into()],
            env: vec![],
            user: Some(("pi".into(), PathBuf::from("/home/pi"))),
            port: 18789,
        };
        let text = render(&spec, false);
        assert!(text.contains("User=pi\n") && text.contains("Environment=HOME=/home/pi\n") && text.contains("WantedBy=multi-user.target"));
    }
}
