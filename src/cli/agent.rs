//! `openclaw agent --message …`: one turn with the agent through the running gateway (the
//! official CLI's `agent` command). Prints the reply; exit 0 when the run completed, 1 when it
//! failed or timed out, 130/143 when interrupted (the run is aborted first).

use argh::FromArgs;
use async_signal::{Signal, Signals};
use serde_json::{Value, json};
use smol::future::FutureExt;
use smol::stream::StreamExt;
use std::time::Duration;

use super::client::{self, CallError, CliError, GatewayClient, TargetFlags};
use super::print_json;
use crate::config::Paths;
use crate::limits::AGENT_CLI_TIMEOUT_SECS;

/// Send one message to the agent through the running gateway and print its reply.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "agent")]
pub struct AgentCmd {
    #[argh(option, short = 'm', description = "the message to send")]
    message: String,
    #[argh(option, description = "agent id (default: the default agent)")]
    agent: Option<String>,
    #[argh(option, description = "session key to continue (default: a session of its own)")]
    session_key: Option<String>,
    #[argh(option, description = "model for this run only (provider/model)")]
    model: Option<String>,
    #[argh(option, description = "seconds the run may take (default 600)")]
    timeout: Option<u64>,
    #[argh(switch, description = "print the final result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
}

pub fn run(paths: &Paths, cmd: AgentCmd) -> Result<(), CliError> {
    let timeout = cmd.timeout.unwrap_or(AGENT_CLI_TIMEOUT_SECS).max(1);
    let flags = TargetFlags { url: cmd.url.clone(), token: cmd.token.clone(), password: cmd.password.clone(), timeout_ms: None };
    let cfg = client::client_config(paths);
    let target = client::resolve_target(paths, &cfg, &flags)?;
    let run_id = crate::ids::uuid();
    let mut params = json!({"message": cmd.message, "deliver": false, "timeout": timeout, "idempotencyKey": run_id});
    if let Some(a) = &cmd.agent {
        params["agentId"] = json!(a);
    }
    if let Some(k) = &cmd.session_key {
        params["sessionKey"] = json!(k);
    }
    if let Some(m) = &cmd.model {
        params["model"] = json!(m);
    }
    let mut signals = Signals::new([Signal::Int, Signal::Term]).map_err(|e| CliError::new(format!("cannot watch signals: {e}")))?;
    smol::block_on(async {
        let mut c = GatewayClient::connect(&target, &["operator.write"], "cli").await.map_err(|e| CliError::new(e.explain(&target)))?;
        // A little longer than the run's own timeout, so the gateway reports the timeout itself.
        let limit = Duration::from_secs(timeout.saturating_add(5));
        let outcome = async { Ok(c.call_final("agent", params, limit).await) }
            .or(async {
                let sig = signals.next().await;
                Err(if matches!(sig, Some(Ok(Signal::Term))) { 143u8 } else { 130u8 })
            })
            .await;
        let result = match outcome {
            Ok(r) => r,
            Err(code) => {
                // Stop the run before leaving, so it does not go on without anyone waiting.
                let key = cmd.session_key.clone().unwrap_or_else(|| format!("explicit:{run_id}"));
                let mut abort = json!({"sessionKey": key, "runId": run_id});
                if let Some(a) = &cmd.agent {
                    // The key is relative to the agent the run went to.
                    abort["agentId"] = json!(a);
                }
                let _ = c.call("chat.abort", Some(abort)).await;
                c.close().await;
                return Err(CliError { code, message: "Interrupted; the run was aborted.".into() });
            }
        };
        c.close().await;
        match result {
            Ok(payload) => {
                if cmd.json {
                    print_json(&payload);
                } else {
                    println!("{}", reply_text(&payload));
                }
                if payload["result"]["meta"]["aborted"] == true {
                    return Err(CliError::new("The run was aborted."));
                }
                Ok(())
            }
            Err((e, payload)) => {
                if cmd.json {
                    if let Some(p) = &payload {
                        print_json(p);
                    }
                }
                let message = match &e {
                    CallError::Gateway(g) => format!("Agent failed: {}", g.message),
                    other => other.explain(&target),
                };
                Err(CliError::new(message))
            }
        }
    })
}

fn reply_text(payload: &Value) -> String {
    let parts: Vec<&str> =
        payload["result"]["payloads"].as_array().map(|a| a.iter().filter_map(|p| p["text"].as_str()).collect()).unwrap_or_default();
    parts.join("\n")
}
