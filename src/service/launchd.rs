//! launchd (macOS): a LaunchAgent `ai.openclaw.gateway` (or `ai.openclaw.<profile>`) in
//! `~/Library/LaunchAgents`, kept alive and started at login. Its output goes to
//! `~/Library/Logs/openclaw/gateway[-<profile>].log`.

use super::Spec;
use crate::config::Paths;

/// `gui/<uid>/<label>`: how launchctl names a user agent.
pub fn target(label: &str) -> String {
    format!("{}/{label}", domain())
}

/// `gui/<uid>`.
pub fn domain() -> String {
    // SAFETY: getuid has no preconditions.
    format!("gui/{}", unsafe { libc::getuid() })
}

/// The log file of the agent.
pub fn log_path(paths: &Paths) -> std::path::PathBuf {
    let name = match &paths.profile {
        Some(p) => format!("gateway-{}.log", p.to_ascii_lowercase()),
        None => "gateway.log".to_string(),
    };
    paths.home.join("Library").join("Logs").join("openclaw").join(name)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The plist text.
pub fn render(spec: &Spec, paths: &Paths) -> String {
    let mut args = vec![spec.exe.display().to_string()];
    args.extend(spec.args.iter().cloned());
    let log = log_path(paths).display().to_string();
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n");
    s.push_str("<plist version=\"1.0\">\n<dict>\n");
    s.push_str(&format!("  <key>Label</key>\n  <string>{}</string>\n", xml(&spec.name)));
    s.push_str("  <key>ProgramArguments</key>\n  <array>\n");
    for a in &args {
        s.push_str(&format!("    <string>{}</string>\n", xml(a)));
    }
    s.push_str("  </array>\n");
    if !spec.env.is_empty() {
        s.push_str("  <key>EnvironmentVariables</key>\n  <dict>\n");
        for (k, v) in &spec.env {
            s.push_str(&format!("    <key>{}</key>\n    <string>{}</string>\n", xml(k), xml(v)));
        }
        s.push_str("  </dict>\n");
    }
    s.push_str("  <key>RunAtLoad</key>\n  <true/>\n");
    s.push_str("  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n");
    s.push_str(&format!("  <key>StandardOutPath</key>\n  <string>{}</string>\n", xml(&log)));
    s.push_str(&format!("  <key>StandardErrorPath</key>\n  <string>{}</string>\n", xml(&log)));
    s.push_str("</dict>\n</plist>\n");
    s
}

/// `ProgramArguments` of an installed plist (for drift checks).
pub fn parse_args(text: &str) -> Vec<String> {
    let Some(start) = text.find("<key>ProgramArguments</key>") else { return Vec::new() };
    let (_, rest) = text.split_at(start);
    let Some((array, _)) = rest.split_once("</array>") else { return Vec::new() };
    array
        .split("<string>")
        .skip(1)
        .filter_map(|s| s.split("</string>").next())
        .map(|s| s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plist_holds_label_arguments_and_keepalive() {
        let paths = Paths::resolve_with(false, Some("work"), &|k| (k == "HOME").then(|| "/Users/a".to_string())).unwrap();
        let spec = Spec {
            name: "ai.openclaw.work".into(),
            exe: "/usr/local/bin/openclaw".into(),
            args: vec!["--profile".into(), "work".into(), "gateway".into(), "--port".into(), "18790".into()],
            env: vec![],
            user: None,
            port: 18790,
        };
        let text = render(&spec, &paths);
        assert!(text.contains("<string>ai.openclaw.work</string>"));
        assert!(text.contains("<key>KeepAlive</key>") && text.contains("<key>RunAtLoad</key>"));
        assert!(text.contains("/Users/a/Library/Logs/openclaw/gateway-work.log"));
        assert_eq!(parse_args(&text), vec!["/usr/local/bin/openclaw", "--profile", "work", "gateway", "--port", "18790"]);
    }
}
