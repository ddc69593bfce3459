//! `openclaw devices list|approve|reject|remove`: browsers and apps paired with the gateway
//! (device identities), through the running gateway's `device.pair.*` methods; and
//! `openclaw dashboard`: the control panel's URL with a one-time `#token=` fragment.

use argh::FromArgs;
use serde_json::{Value, json};

use super::client::{CliError, TargetFlags, one_call};
use super::print_json;
use crate::config::Paths;

/// Device pairing: browsers and apps that connect with a device identity.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "devices")]
pub struct DevicesCmd {
    #[argh(subcommand)]
    sub: DevicesSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum DevicesSub {
    List(ListCmd),
    Approve(ApproveCmd),
    Reject(RejectCmd),
    Remove(RemoveCmd),
}

/// List waiting pairing requests and paired devices.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
struct ListCmd {
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

/// Approve a waiting device (by its request id; without one, show the newest request).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "approve")]
struct ApproveCmd {
    #[argh(positional, description = "the request id (openclaw devices list)")]
    request_id: Option<String>,
    #[argh(switch, description = "show the newest waiting request")]
    latest: bool,
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

/// Reject a waiting device.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reject")]
struct RejectCmd {
    #[argh(positional, description = "the request id")]
    request_id: String,
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

/// Remove a paired device (its open connections are closed).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "remove")]
struct RemoveCmd {
    #[argh(positional, description = "the device id")]
    device_id: String,
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

const SCOPES: &[&str] = &["operator.pairing"];

pub fn run(paths: &Paths, cmd: DevicesCmd) -> Result<(), CliError> {
    match cmd.sub {
        DevicesSub::List(c) => {
            let flags = TargetFlags { url: c.url, token: c.token, password: c.password, timeout_ms: c.timeout };
            let r = one_call(paths, &flags, SCOPES, "device.pair.list", Some(json!({})))?;
            if c.json {
                print_json(&r);
            } else {
                print_list(&r);
            }
            Ok(())
        }
        DevicesSub::Approve(c) => {
            let flags = TargetFlags { url: c.url, token: c.token, password: c.password, timeout_ms: c.timeout };
            let Some(id) = c.request_id.filter(|_| !c.latest) else {
                let r = one_call(paths, &flags, SCOPES, "device.pair.list", Some(json!({})))?;
                let newest = r["pending"].as_array().and_then(|p| p.iter().max_by_key(|q| q["ts"].as_u64().unwrap_or(0))).cloned();
                let Some(q) = newest else { return Err(CliError::new("No pending device pairing requests.")) };
                println!("Selected pending device request {}", s(&q["requestId"]));
                println!("  Device: {}", device_label(&q));
                println!("  Requested: {}", roles_scopes(&q));
                println!("  IP:     {}", s(&q["remoteIp"]));
                println!("  Code:   {}", crate::gateway::devices::confirmation_code(s(&q["deviceId"])));
                return Err(CliError::new(format!("Approve this exact request with: openclaw devices approve {}", s(&q["requestId"]))));
            };
            let r = one_call(paths, &flags, SCOPES, "device.pair.approve", Some(json!({"requestId": id})))
                .map_err(|e| unknown_request(e, &id))?;
            if c.json {
                print_json(&r);
            } else {
                println!("Approved {} ({})", s(&r["device"]["deviceId"]), s(&r["requestId"]));
            }
            Ok(())
        }
        DevicesSub::Reject(c) => {
            let flags = TargetFlags { url: c.url, token: c.token, password: c.password, timeout_ms: c.timeout };
            let r = one_call(paths, &flags, SCOPES, "device.pair.reject", Some(json!({"requestId": c.request_id})))
                .map_err(|e| unknown_request(e, &c.request_id))?;
            if c.json {
                print_json(&r);
            } else {
                println!("Rejected {}", s(&r["deviceId"]));
            }
            Ok(())
        }
        DevicesSub::Remove(c) => {
            let flags = TargetFlags { url: c.url, token: c.token, password: c.password, timeout_ms: c.timeout };
            let r = one_call(paths, &flags, SCOPES, "device.pair.remove", Some(json!({"deviceId": c.device_id})))?;
            if c.json {
                print_json(&r);
            } else {
                println!("Removed {}", s(&r["deviceId"]));
            }
            Ok(())
        }
    }
}

fn unknown_request(e: CliError, id: &str) -> CliError {
    if e.message.contains("unknown requestId") {
        CliError::new(format!("No pending device request matches {id}. Run openclaw devices list and retry with the current request ID."))
    } else {
        e
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn device_label(v: &Value) -> String {
    let name = ["displayName", "clientId", "deviceId"].iter().map(|k| s(&v[*k])).find(|x| !x.is_empty()).unwrap_or("");
    match v["remoteIp"].as_str() {
        Some(ip) if !ip.is_empty() => format!("{name} · {ip}"),
        _ => name.to_string(),
    }
}

fn roles_scopes(v: &Value) -> String {
    let join = |k: &str| v[k].as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default();
    let (roles, scopes) = (join("roles"), join("scopes"));
    if roles.is_empty() && scopes.is_empty() { "none".to_string() } else { format!("roles: {roles}; scopes: {scopes}") }
}

fn age(ts: u64) -> String {
    let secs = crate::clock::now_ms().saturating_sub(ts) / 1000;
    match secs {
        0..=59 => "just now".to_string(),
        60..=3599 => format!("{}m ago", secs / 60),
        _ => format!("{}h ago", secs / 3600),
    }
}

fn print_list(r: &Value) {
    let pending = r["pending"].as_array().cloned().unwrap_or_default();
    let paired = r["paired"].as_array().cloned().unwrap_or_default();
    if pending.is_empty() && paired.is_empty() {
        println!("No device pairing entries.");
        return;
    }
    if !pending.is_empty() {
        println!("Pending ({})", pending.len());
        println!("  Request                               Code       Device / Requested / Age");
        for q in &pending {
            let status = if q["isRepair"] == true { "re-approval" } else { "new pairing" };
            println!(
                "  {:<37} {:<10} {} · {} · {} · {status}",
                s(&q["requestId"]),
                crate::gateway::devices::confirmation_code(s(&q["deviceId"])),
                device_label(q),
                roles_scopes(q),
                age(q["ts"].as_u64().unwrap_or(0))
            );
        }
    }
    if !paired.is_empty() {
        println!("Paired ({})", paired.len());
        for d in &paired {
            let online = if d["connected"] == true { "connected" } else { "offline" };
            println!("  {} · {} · via {} · {online}", device_label(d), roles_scopes(d), s(&d["approvedVia"]));
        }
        println!("Full device IDs");
        for d in &paired {
            println!("  {}  {}", s(&d["deviceId"]), device_label(d));
        }
    }
}

/// `openclaw dashboard` without a subcommand: the panel's URL with the token in its fragment,
/// opened in a browser unless `no_open`.
pub fn dashboard(paths: &Paths, no_open: bool, json: bool) -> Result<(), CliError> {
    let cfg = super::client::client_config(paths);
    let ui = &cfg.gateway.control_ui;
    if !ui.enabled {
        return Err(CliError::new("The control panel is off (gateway.controlUi.enabled is false)."));
    }
    let port = super::client::local_port(paths, &cfg);
    let flags = TargetFlags { url: None, token: None, password: None, timeout_ms: None };
    let target = super::client::resolve_target(paths, &cfg, &flags)?;
    let http_url = format!("http://127.0.0.1:{port}{}", ui.base_path);
    // The fragment never reaches the server or its logs; the panel removes it from the address
    // bar at once and keeps the token for that tab only.
    let secret = target.token.as_ref().or(target.password.as_ref()).map(|t| t.expose().to_string());
    let url = match &secret {
        Some(t) => format!("{http_url}#token={}", percent_encode(t)),
        None => http_url.clone(),
    };
    if json {
        print_json(
            &json!({"ok": true, "url": url, "httpUrl": http_url, "wsUrl": format!("ws://127.0.0.1:{port}{}", ui.base_path.trim_end_matches('/')), "port": port, "tokenIncluded": secret.is_some()}),
        );
        return Ok(());
    }
    println!("Dashboard URL: {url}");
    if secret.is_none() {
        println!("No gateway token found: the panel will ask for it (gateway.auth.token or OPENCLAW_GATEWAY_TOKEN).");
    }
    if no_open {
        println!("Browser launch disabled (--no-open).");
        return Ok(());
    }
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let launched = std::process::Command::new(opener)
        .arg(&url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok();
    if launched {
        println!("Opened in your browser. Keep that tab to control OpenClaw.");
    } else {
        println!("No browser to open here ({opener} not found): open the URL above on this machine.");
    }
    Ok(())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
