//! `openclaw logs`: the gateway's log, read through `logs.tail` (so it works for a remote
//! gateway too), once or following new lines.

use argh::FromArgs;
use serde_json::{Value, json};
use std::time::Duration;

use super::client::{self, CallError, CliError, GatewayClient, TargetFlags};
use crate::config::Paths;

/// Print the gateway log (`--follow` keeps printing new lines).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "logs")]
pub struct LogsCmd {
    #[argh(switch, description = "keep printing new lines")]
    follow: bool,
    #[argh(switch, description = "one JSON record per line")]
    json: bool,
    #[argh(switch, description = "time, level and message only (the default output)")]
    #[allow(dead_code)]
    plain: bool,
    #[argh(option, description = "most lines per read (default 200)")]
    limit: Option<u64>,
    #[argh(option, description = "most bytes per read (default 250000)")]
    max_bytes: Option<u64>,
    #[argh(option, description = "poll interval with --follow, in milliseconds (default 1000)")]
    interval: Option<u64>,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 10000)")]
    timeout: Option<u64>,
}

/// One log record as a line: `time level [subsystem] message`.
fn render(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(v) => {
            let time = v["time"].as_str().unwrap_or("");
            let level = v["level"]
                .as_str()
                .map(String::from)
                .or_else(|| v["_meta"]["logLevelName"].as_str().map(|s| s.to_ascii_lowercase()))
                .unwrap_or_default();
            let sub = v["subsystem"].as_str().map(|s| format!("[{s}] ")).unwrap_or_default();
            let msg = v["message"].as_str().or_else(|| v["1"].as_str()).unwrap_or("");
            format!("{time} {level} {sub}{msg}")
        }
        Err(_) => line.to_string(),
    }
}

pub fn run(paths: &Paths, cmd: LogsCmd) -> Result<(), CliError> {
    let cfg = client::client_config(paths);
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: cmd.timeout };
    let target = client::resolve_target(paths, &cfg, &flags)?;
    let limit = cmd.limit.unwrap_or(200).clamp(1, 5000);
    let max_bytes = cmd.max_bytes.unwrap_or(250_000).clamp(1, 1_000_000);
    let interval = Duration::from_millis(cmd.interval.unwrap_or(1000).max(50));
    smol::block_on(async {
        let mut c = GatewayClient::connect(&target, &["operator.read"], "cli").await.map_err(|e| CliError::new(e.explain(&target)))?;
        let mut cursor: Option<u64> = None;
        let mut first = true;
        loop {
            let mut params = json!({"limit": limit, "maxBytes": max_bytes});
            if let Some(c) = cursor {
                params["cursor"] = json!(c);
            }
            let page = match c.call("logs.tail", Some(params)).await {
                Ok(p) => p,
                Err(CallError::Transport(why)) if cmd.follow => {
                    // The gateway restarted or the link dropped: reconnect and continue.
                    eprintln!("[logs] connection lost ({why}); reconnecting");
                    c = reconnect(&target).await?;
                    continue;
                }
                Err(e) => return Err(CliError::new(e.explain(&target))),
            };
            if first && !cmd.json {
                println!("Log file: {}", page["file"].as_str().unwrap_or("?"));
            }
            if page["reset"] == true && !first {
                emit_notice(cmd.json, "log file rotated; reading from its start");
            }
            for line in page["lines"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if cmd.json {
                    let record = serde_json::from_str::<Value>(line).unwrap_or_else(|_| json!(line));
                    println!("{}", json!({"type": "log", "record": record}));
                } else {
                    println!("{}", render(line));
                }
            }
            if page["truncated"] == true && !cmd.follow {
                emit_notice(cmd.json, "Log tail truncated (increase --limit or --max-bytes).");
            }
            cursor = page["cursor"].as_u64();
            first = false;
            if !cmd.follow {
                c.close().await;
                return Ok(());
            }
            smol::Timer::after(interval).await;
        }
    })
}

fn emit_notice(json: bool, text: &str) {
    if json {
        println!("{}", json!({"type": "notice", "message": text}));
    } else {
        println!("{text}");
    }
}

async fn reconnect(target: &client::Target) -> Result<GatewayClient, CliError> {
    let mut delay = Duration::from_millis(250);
    for _ in 0..8 {
        smol::Timer::after(delay).await;
        if let Ok(c) = GatewayClient::connect(target, &["operator.read"], "cli").await {
            eprintln!("[logs] gateway reconnected");
            return Ok(c);
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    Err(CliError::new(format!("Gateway not reachable at {} any more; giving up.", target.url)))
}
