//! `openclaw status` and `openclaw health`: summaries from the running gateway.

use argh::FromArgs;
use serde_json::Value;

use super::client::{self, CliError, GatewayClient, TargetFlags};
use super::print_json;
use crate::config::Paths;

/// Summarise the gateway: reachability, service, agents, sessions and channels.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct StatusCmd {
    #[argh(switch, description = "print one JSON document")]
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

/// Ask the running gateway for its health snapshot.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "health")]
pub struct HealthCmd {
    #[argh(switch, description = "print the health payload as JSON")]
    json: bool,
    #[argh(switch, description = "ask for a fresh probe instead of the cached snapshot")]
    verbose: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

pub fn status(paths: &Paths, cmd: StatusCmd) -> Result<(), CliError> {
    let cfg = client::client_config(paths);
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let target = client::resolve_target(paths, &cfg, &flags)?;
    let started = std::time::Instant::now();
    let result = smol::block_on(async {
        let mut c = GatewayClient::connect(&target, &["operator.read"], "cli").await?;
        let status = c.call("status", None).await?;
        let channels = c.call("channels.status", None).await?;
        c.close().await;
        Ok::<_, client::CallError>((status, channels))
    });
    let ms = started.elapsed().as_millis();
    let manager = crate::service::Manager::detect(false);
    let svc = crate::service::state(paths, manager);
    let unit = crate::service::service_name(paths, manager);
    let (status, channels) = match result {
        Ok(r) => r,
        Err(e) => {
            if cmd.json {
                print_json(
                    &serde_json::json!({"ok": false, "gateway": {"url": target.url, "reachable": false, "error": e.explain(&target)}}),
                );
            }
            return Err(CliError::new(e.explain(&target)));
        }
    };
    if cmd.json {
        print_json(
            &serde_json::json!({"ok": true, "gateway": {"url": target.url, "reachable": true, "latencyMs": ms}, "status": status, "channels": channels,
                                       "service": {"manager": manager.describe(), "label": unit, "installed": svc.installed, "active": svc.active}}),
        );
        return Ok(());
    }
    let scope = if target.source == "local" { "local loopback" } else { target.source };
    println!(
        "Gateway: {} · {} ({scope}) · reachable {ms} ms · pid {}",
        if target.source == "remote" { "remote" } else { "local" },
        target.url,
        status["pid"]
    );
    println!(
        "Version: {} · up {}",
        status["runtimeVersion"].as_str().unwrap_or("?"),
        super::gateway::human_ms(status["uptimeMs"].as_u64().unwrap_or(0))
    );
    let service = if manager == crate::service::Manager::None {
        "no supported service manager detected".to_string()
    } else if svc.installed {
        format!("{} · {unit} · {}", manager.describe(), svc.detail)
    } else {
        format!("{} · not installed", manager.describe())
    };
    println!("Service: {service}");
    println!("Agents: 1 · default main");
    println!("Sessions: {} stored", status["sessions"]["count"].as_u64().unwrap_or(0));
    let order = channels["channelOrder"].as_array().cloned().unwrap_or_default();
    if order.is_empty() {
        println!("Channels: none configured");
    } else {
        let names: Vec<String> = order.iter().filter_map(Value::as_str).map(String::from).collect();
        println!("Channels: {}", names.join(", "));
    }
    println!("Clients: {}", status["gateway"]["clients"]);
    Ok(())
}

pub fn health(paths: &Paths, cmd: HealthCmd) -> Result<(), CliError> {
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let params = cmd.verbose.then(|| serde_json::json!({"probe": true}));
    let started = std::time::Instant::now();
    let h = client::one_call(paths, &flags, &["operator.read"], "health", params)?;
    if cmd.json {
        print_json(&h);
        return Ok(());
    }
    println!("Gateway: {} (probe {} ms)", if h["ok"] == true { "ok" } else { "not ok" }, started.elapsed().as_millis());
    println!("Config reload: {}", h["configReload"]["hotReloadStatus"].as_str().unwrap_or("unknown"));
    let agents: Vec<String> = h["agents"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| format!("{}{}", x["agentId"].as_str().unwrap_or("?"), if x["isDefault"] == true { " (default)" } else { "" }))
                .collect()
        })
        .unwrap_or_default();
    println!("Agents: {}", agents.join(", "));
    let channels = h["channelOrder"].as_array().map(|a| a.len()).unwrap_or(0);
    if channels == 0 {
        println!("Channels: none configured");
    } else {
        for (id, ch) in h["channels"].as_object().into_iter().flatten() {
            println!("- {id}: {}", ch["summary"].as_str().unwrap_or(if ch["connected"] == true { "connected" } else { "not connected" }));
        }
    }
    println!("Session store: {} ({} entries)", h["sessions"]["path"].as_str().unwrap_or("?"), h["sessions"]["count"]);
    Ok(())
}
