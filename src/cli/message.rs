//! `openclaw message send`: text straight to a chat through the running gateway (`send` RPC).

use argh::FromArgs;
use serde_json::json;

use super::client::{self, CliError, TargetFlags};
use super::print_json;
use crate::config::Paths;

/// Send messages through the chat channels.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "message")]
pub struct MessageCmd {
    #[argh(subcommand)]
    sub: MessageSub,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum MessageSub {
    Send(SendCmd),
}

/// Send a text message: `openclaw message send --channel telegram --to 123456 "hello"`.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "send")]
struct SendCmd {
    #[argh(option, description = "telegram, discord or whatsapp (may be left out when one channel is configured)")]
    channel: Option<String>,
    #[argh(option, description = "the chat: a Telegram chat id or @channel, a Discord channel:<id> or user:<id>, a WhatsApp phone number")]
    to: Option<String>,
    #[argh(option, short = 't', description = "same as --to")]
    target: Option<String>,
    #[argh(option, short = 'm', description = "the text (or give it as the last argument)")]
    message: Option<String>,
    #[argh(positional, greedy, description = "the text")]
    text: Vec<String>,
    #[argh(switch, description = "print the result as JSON")]
    json: bool,
    #[argh(option, description = "gateway URL (ws://host:port); needs --token or --password")]
    url: Option<String>,
    #[argh(option, description = "gateway token")]
    token: Option<String>,
    #[argh(option, description = "gateway password")]
    password: Option<String>,
    #[argh(option, description = "timeout in milliseconds (default 60000)")]
    timeout: Option<u64>,
}

pub fn run(paths: &Paths, cmd: MessageCmd) -> Result<(), CliError> {
    let MessageSub::Send(cmd) = cmd.sub;
    let Some(to) = cmd.to.or(cmd.target) else {
        return Err(CliError::new("message send needs --to <target> (for example --to 123456789)"));
    };
    let text = match cmd.message {
        Some(m) => m,
        None => cmd.text.join(" "),
    };
    if text.trim().is_empty() {
        return Err(CliError::new("message send needs the text: --message \"…\" or as the last argument"));
    }
    let flags = TargetFlags { url: cmd.url, token: cmd.token, password: cmd.password, timeout_ms: Some(cmd.timeout.unwrap_or(60_000)) };
    let mut params = json!({"to": to, "message": text, "idempotencyKey": crate::ids::uuid()});
    if let Some(c) = &cmd.channel {
        params["channel"] = json!(c.to_ascii_lowercase());
    }
    let result = client::one_call(paths, &flags, &["operator.write"], "send", Some(params))?;
    if cmd.json {
        print_json(&result);
    } else {
        println!(
            "Sent to {to} on {} (message id {}).",
            result["channel"].as_str().unwrap_or("?"),
            result["messageId"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
