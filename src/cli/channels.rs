//! `openclaw channels status`: the state of the chat channels, from the running gateway.

use argh::FromArgs;
use serde_json::{Value, json};

use super::client::{self, CliError, TargetFlags};
use super::print_json;
use crate::config::Paths;

/// Chat channels.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "channels")]
pub struct ChannelsCmd {
    #[argh(subcommand)]
    sub: ChannelsSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum ChannelsSub {
    Status(StatusCmd),
}

/// Show each channel's state (`--probe` also checks the credentials with the service).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
struct StatusCmd {
    #[argh(switch, description = "ask each service whether the credentials work")]
    probe: bool,
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
    #[argh(option, description = "only this channel")]
    channel: Option<String>,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000; 60000 with --probe)")]
    timeout: Option<u64>,
}

pub fn run(paths: &Paths, cmd: ChannelsCmd) -> Result<(), CliError> {
    let ChannelsSub::Status(cmd) = cmd.sub;
    let timeout = cmd.timeout.unwrap_or(if cmd.probe { 60_000 } else { 10_000 });
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: Some(timeout) };
    let mut params = json!({"probe": cmd.probe, "timeoutMs": timeout});
    if let Some(c) = &cmd.channel {
        params["channel"] = json!(c);
    }
    if cmd.probe && !cmd.json {
        println!("Checking channel status (probe)…");
    }
    let status = client::one_call(paths, &flags, &["operator.read"], "channels.status", Some(params))?;
    if cmd.json {
        print_json(&status);
        return Ok(());
    }
    println!("Gateway reachable.");
    let order: Vec<String> = status["channelOrder"].as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect();
    if order.is_empty() {
        println!("- no configured chat channels (add one under channels.<name> in the config)");
        return Ok(());
    }
    for id in order {
        let label = status["channelLabels"][&id].as_str().unwrap_or(&id).to_string();
        for acct in status["channelAccounts"][&id].as_array().into_iter().flatten() {
            println!("- {label} ({}): {}", acct["accountId"].as_str().unwrap_or("default"), describe(acct));
        }
    }
    Ok(())
}

/// `connected · running · last inbound 2m ago` style summary of one account.
fn describe(acct: &Value) -> String {
    let mut parts = Vec::new();
    if acct["enabled"] == false {
        parts.push("disabled".to_string());
    } else if acct["configured"] == false {
        parts.push("not configured".to_string());
    } else {
        parts.push(if acct["connected"] == true { "connected".into() } else { "not connected".into() });
        parts.push(if acct["running"] == true { "running".into() } else { "stopped".into() });
    }
    if let Some(probe) = acct.get("probe").filter(|p| !p.is_null()) {
        parts.push(if probe["ok"] == true {
            "probe: works".to_string()
        } else {
            format!("probe failed: {}", probe["error"].as_str().unwrap_or("unknown"))
        });
    }
    if let Some(err) = acct["lastError"].as_str() {
        parts.push(format!("last error: {err}"));
    }
    parts.join(" · ")
}
